"""The shipped configs as ExaBGP itself reads them, and the process's own command line.

ExaBGP only parses here (`--test` on 4.2, `validate` on 5.0): the shipped
addresses are the seed's and are never dialled.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
EXABGP = {"4.2": ["/usr/sbin/exabgp", "--test"],
          "5.0": [str(REPO / ".venv-exabgp5/bin/exabgp"), "validate"]}
CONFS = [REPO / "conf/speaker.conf", REPO / "conf/dns-2/speaker.conf",
         REPO / "conf/dns-3/speaker.conf"]

pytestmark = pytest.mark.integration


def exabgp_env() -> dict[str, str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp"}
    for line in (REPO / "exabgp/exabgp.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            env[key] = value
    return env


@pytest.mark.parametrize("version", ["4.2", "5.0"])
@pytest.mark.parametrize("conf", CONFS, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_exabgp_config_parses(version: str, conf: Path) -> None:
    argv = EXABGP[version]
    if not Path(argv[0]).exists():
        pytest.skip(f"ExaBGP {version} not installed ({argv[0]})")
    done = subprocess.run([*argv, str(conf)], env=exabgp_env(), capture_output=True, text=True,
                          timeout=60, cwd="/", check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def run_speaker(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([SPEAKER_PYTHON, "-m", "speaker", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=30, cwd="/", check=False)


def test_bad_config_prints_every_problem_with_its_path_and_announces_nothing(
        tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  - name: dns\n    prefixes: ['2001:db8::/64']\n"
                   "    timing: {rise: 0}\n    checks: [{type: dns, server: nope, qname: x.}]\n")
    done = run_speaker("--config", str(bad))
    assert done.returncode == 78
    assert done.stdout == ""  # nothing for ExaBGP, not even a withdraw
    assert f"{bad}: /services/0/timing/rise: must be >= 1 (got 0)" in done.stderr
    assert f"{bad}: /services/0/prefixes/0: must be a host route" in done.stderr
    assert f"{bad}: /services/0/checks/0/server: is not an IP address: 'nope'" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_config_is_one_clear_line() -> None:
    done = run_speaker("--config", "/nonexistent/speaker.yaml")
    assert done.returncode == 78 and "Traceback" not in done.stderr
    assert "/nonexistent/speaker.yaml: no such file" in done.stderr


def test_check_flag_validates_the_shipped_yaml() -> None:
    for conf in CONFS:
        done = run_speaker("--config", str(conf.with_name("speaker.yaml")), "--check")
        assert done.returncode == 0, done.stderr


def test_stdin_eof_withdraws_and_exits(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"control: {{socket: {tmp_path}/s.sock}}\nstate_dir: {tmp_path}/state\n"
                   "services:\n  - name: dns\n    prefixes: ['2001:db8::53/128']\n"
                   "    checks: [{type: dns, server: '::1', port: 9, qname: example.com.}]\n")
    done = run_speaker("--config", str(cfg), stdin="done\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "clear adj-rib out"
    assert "Traceback" not in done.stderr
