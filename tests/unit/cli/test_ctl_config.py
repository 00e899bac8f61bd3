"""speakerctl reload and check-config: every problem with its path, the ExaBGP
config cross-checked, exit 78.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.served import Run, Served, cli, write_config


def test_reload_invalid_config_exits_78_and_changes_nothing(served: Served, run: Run) -> None:
    path = served.folder / "speaker.yaml"
    path.write_text(path.read_text().replace("rise: 2", "rise: 0"))
    code, _, err = run(*cli(served.folder, "reload"))
    assert code == 78 and "config NOT changed" in err and "/services/0/timing/rise" in err
    path.write_text(path.read_text().replace("rise: 0", "rise: 5"))
    code, out, _ = run(*cli(served.folder, "reload"))
    assert code == 0 and "changed: dns" in out


CONF = """\
process speaker {{
    run /usr/bin/python3 -m speaker --config {yaml};
    encoder json;
}}
neighbor 2001:db8::1 {{
    router-id 10.0.0.1;
    local-address 2001:db8::50;
    local-as {asn};
    peer-as 65101;
    hold-time 9;
    family {{ ipv6 unicast; }}
    api {{ processes [ speaker ]; neighbor-changes; }}
}}
"""


def test_check_config_ok_without_a_process(folder: Path, run: Run) -> None:
    path = write_config(folder)
    code, out, _ = run("check-config", str(path))
    assert code == 0 and out.startswith("ok: ") and "2 service(s)" in out


def test_check_config_lists_every_problem_with_its_path(folder: Path, run: Run) -> None:
    path = write_config(folder, "services:\n  - name: x\n    prefixes: [nope]\n"
                                "    checks: []\n    timing: {rise: 0}\n")
    code, _, err = run("--config", str(path), "check-config")
    assert code == 78
    for where in ("/services/0/prefixes/0", "/services/0/checks", "/services/0/timing/rise"):
        assert f"{path}: {where}:" in err
    assert "Traceback" not in err


def test_check_config_cross_checks_the_exabgp_config_beside_it(
        folder: Path, run: Run) -> None:
    path = write_config(folder)
    (folder / "speaker.conf").write_text(CONF.format(yaml=path, asn=65201))
    code, out, _ = run("check-config", str(path))
    assert code == 0 and f"cross-checked with {folder}/speaker.conf" in out
    (folder / "speaker.conf").write_text(CONF.format(yaml=path, asn=64512))
    code, _, err = run("check-config", str(path))
    assert code == 78 and f"{folder}/speaker.conf:8: " in err and "outside 65200-65299" in err


def test_check_config_with_an_explicit_exabgp_file_and_json(
        folder: Path, run: Run) -> None:
    path = write_config(folder)
    conf = folder / "other.conf"
    conf.write_text(CONF.format(yaml="/etc/speaker/speaker.yaml", asn=65201))
    code, out, _ = run("--json", "check-config", str(path), "--exabgp", str(conf))
    data = json.loads(out)
    assert code == 78 and data["ok"] is False and "not with" in data["problems"][0]
    code, _, err = run("check-config", str(path), "--exabgp", str(folder / "missing.conf"))
    assert code == 78 and "no such file" in err
