"""check-config on MD5 and GTSM: a world-readable md5-password, incoming-ttl on ExaBGP 4.2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speaker.cli import parser
from speaker.core import config, exabgp_conf
from speaker.core.exabgp_security import Host, enforces_incoming_ttl

YAML_PATH = "/etc/speaker/speaker.yaml"
YAML = """\
services:
  - name: dns
    prefixes: ["2001:db8::53/128"]
    checks: [{type: dns, server: "2001:db8::53", qname: example.com.}]
"""
CONF = """\
process speaker {{
    run /usr/bin/python3 -m speaker --config {yaml};
    encoder json;
}}
neighbor 2001:db8::1 {{
    router-id 10.0.0.1;
    local-address 2001:db8::50;
    local-as 65201;
    peer-as 65101;
    hold-time 3;
{extra}
    family {{ ipv6 unicast; }}
    api {{ processes [ speaker ]; neighbor-changes; }}
}}
"""


def check(extra: str, host: Host | None = None) -> list[str]:
    cfg = config.parse(YAML, source=YAML_PATH)
    text = CONF.format(yaml=YAML_PATH, extra=extra)
    return [str(f) for f in exabgp_conf.cross_check(text, "/x/speaker.conf", cfg, YAML_PATH,
                                                     host=host)]


def test_md5_password_in_a_world_readable_file_is_a_warning_naming_the_mode() -> None:
    found = check('    md5-password "s3cret";', Host(mode=0o100644))
    assert found == ["/x/speaker.conf:11: warning: neighbor 2001:db8::1: md5-password in a "
                     "file every user can read (mode 0644); chmod o-r it (0640, group of "
                     "the ExaBGP user)"]


@pytest.mark.parametrize("mode", [0o100640, 0o100600, None])
def test_md5_password_in_a_file_others_cannot_read_is_fine(mode: int | None) -> None:
    assert check('    md5-password "s3cret";', Host(mode=mode)) == []


def test_incoming_ttl_on_exabgp_4_2_warns_that_it_is_not_enforced() -> None:
    found = check("    incoming-ttl 255;\n    outgoing-ttl 255;",
                  Host("4.2.21", "installed for /usr/bin/python3"))
    assert len(found) == 1
    assert found[0].startswith("/x/speaker.conf:11: warning: neighbor 2001:db8::1: ExaBGP "
                               "4.2.21 (installed for /usr/bin/python3): ExaBGP 4.2 accepts "
                               "incoming-ttl and does not enforce it")


def test_incoming_ttl_on_exabgp_5_is_fine() -> None:
    assert check("    incoming-ttl 255;\n    outgoing-ttl 255;", Host("5.0.1", "x")) == []


def test_incoming_ttl_with_an_unknown_version_warns_and_says_how_to_tell() -> None:
    found = check("    incoming-ttl 255;")
    assert len(found) == 1 and "version is unknown" in found[0]
    assert "--exabgp-version" in found[0] and "does not enforce it" in found[0]


@pytest.mark.parametrize(("line", "got"), [("outgoing-ttl 256;", "256"),
                                           ("incoming-ttl x;", "x")])
def test_a_ttl_outside_1_to_255_is_an_error(line: str, got: str) -> None:
    found = check(f"    {line}", Host("5.0", "x"))
    assert [f for f in found if "warning" not in f] == [
        f"/x/speaker.conf:11: neighbor 2001:db8::1: {line.split()[0]} {got} is not a TTL "
        "(1-255)"]


@pytest.mark.parametrize(("version", "enforced"), [("4.2.21", False), ("5.0.1", True),
                                                   ("5", None), ("main", None)])
def test_enforces_incoming_ttl_from_5_0_on(version: str, enforced: bool | None) -> None:
    assert enforces_incoming_ttl(version) is enforced


def test_check_config_reads_the_file_mode_and_takes_the_exabgp_version(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    yaml = folder / "speaker.yaml"
    yaml.write_text(YAML)
    conf = folder / "speaker.conf"
    conf.write_text(CONF.format(yaml=yaml, extra='    md5-password "s";\n    incoming-ttl 255;'))
    conf.chmod(0o644)
    code = parser.main(["--json", "check-config", str(yaml), "--exabgp-version", "4.2.21"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"] is True and len(data["warnings"]) == 2
    assert "mode 0644" in data["warnings"][0] and "--exabgp-version" in data["warnings"][1]
    conf.chmod(0o640)
    code = parser.main(["--json", "check-config", str(yaml), "--exabgp-version", "5.0"])
    assert code == 0 and json.loads(capsys.readouterr().out)["warnings"] == []
