"""The shipped drain template, anycast-speaker-drain@.service: its shape and its commands."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from speaker.cli import parser

TOP = Path(__file__).resolve().parents[2]
UNIT = TOP / "packaging/debian/anycast-speaker.anycast-speaker-drain@.service"
SPEAKERCTL = "/usr/bin/speakerctl"


def unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string(UNIT.read_text())
    return cp


def command(line: str) -> list[str]:
    argv = shlex.split(line.lstrip("-"))
    assert argv[0] == SPEAKERCTL, line
    return argv[1:]


def test_the_unit_is_stopped_before_and_started_after_the_dns_server() -> None:
    u = unit()
    assert u["Unit"]["PartOf"] == "%i.service"
    assert u["Unit"]["After"].split() == ["%i.service", "anycast-speaker.service"]
    assert u["Install"]["WantedBy"] == "%i.service"
    assert u["Service"]["Type"] == "oneshot" and u["Service"]["RemainAfterExit"] == "yes"


def test_stop_drains_and_start_resumes_only_the_dns_restart_tag() -> None:
    u = unit()["Service"]
    stop = parser.build_parser().parse_args(command(u["ExecStop"]))
    start = parser.build_parser().parse_args(command(u["ExecStart"]))
    assert stop.handler.__name__ == "cmd_withdraw" and stop.tag == "dns-restart" and stop.wait
    assert start.handler.__name__ == "cmd_announce" and start.tag == "dns-restart"
    assert start.wait == 60.0 and u["ExecStart"].startswith("-")  # stays active: next stop drains
    assert stop.services == start.services == []  # every service of the node


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_is_clean_for_named_and_pdns(tmp_path: Path) -> None:
    fake = tmp_path / "speakerctl"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    (tmp_path / UNIT.name.removeprefix("anycast-speaker.")).write_text(
        UNIT.read_text().replace(SPEAKERCTL, str(fake)))
    for name in ("named", "pdns", "anycast-speaker"):
        (tmp_path / f"{name}.service").write_text(
            "[Unit]\nDescription=stand-in\n[Service]\nExecStart=/bin/true\n")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        "anycast-speaker-drain@named.service", "anycast-speaker-drain@pdns.service"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
