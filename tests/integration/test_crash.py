"""A death inside the real process, after it announced: it withdraws, says why, and exits 70.

The process runs as ExaBGP runs it, its check against a scripted DNS server on
loopback; the test plays ExaBGP (reads the commands, answers `done`). Once the
announce is acknowledged, the test creates a trigger file, and the injected
bug fires: in a probe (a service loop), in housekeeping, or in the netlink
thread. Each must end the same way: the announced prefix withdrawn by the
process itself (not by the watchdog, after taking it for hung), the cause
logged in one line, exit code 70.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.dnsserver import DnsServer, Query, Reply, answer
from tests.integration.exabgp_player import Exabgp
from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
PREFIX = "2001:db8::53/128"
pytestmark = pytest.mark.integration

# The process as ExaBGP runs it, with a bug that fires once the trigger file exists.
CRASHING = """
import os, sys
config, trigger, where = sys.argv[1:4]

def armed():
    return os.path.exists(trigger)

if where == "probe":
    import speaker.adapters.checks as checks
    real = checks.DnsProbe.run
    async def run(self, confirm=False):
        if armed():
            raise RuntimeError("injected bug")
        return await real(self, confirm)
    checks.DnsProbe.run = run
elif where == "housekeeping":
    import speaker.engine.speaker as engine
    real = engine.Speaker.check_acks
    def check_acks(self):
        if armed():
            raise RuntimeError("injected bug")
        real(self)
    engine.Speaker.check_acks = check_acks
elif where == "netlink":
    import time
    import speaker.adapters.loopback as loopback
    def watch(self):
        while not armed():
            time.sleep(0.05)
        raise RuntimeError("injected bug")
    loopback.Netlink._watch = watch
from speaker.daemon import main
sys.exit(main(["--config", config]))
"""


def soa(query: Query) -> Reply:
    return answer(query, "SOA", ["ns1. admin. 1 3600 1800 604800 300"])


@pytest.mark.parametrize(("where", "logged"), [
    ("probe", "service loop crashed: withdrawing and exiting"),
    ("housekeeping", "housekeeping crashed: withdrawing and exiting"),
    ("netlink", "thread died: withdrawing and exiting"),
])
def test_a_crash_after_an_announce_withdraws_it_and_exits_70(tmp_path: Path, where: str,
                                                             logged: str) -> None:
    with DnsServer(soa) as dns:
        cfg = tmp_path / "s.yaml"
        cfg.write_text(f"control: {{socket: {tmp_path}/s.sock}}\nstate_dir: {tmp_path}/state\n"
                       f"services:\n  - name: dns\n    prefixes: ['{PREFIX}']\n"
                       f"    checks: [{{type: dns, server: '127.0.0.1', port: {dns.port}, "
                       "qname: example.com.}]\n")
        trigger = tmp_path / "fire"
        proc = subprocess.Popen([SPEAKER_PYTHON, "-c", CRASHING, str(cfg), str(trigger), where],
                                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        exabgp = Exabgp(proc)
        try:
            exabgp.wait_for(f"announce route {PREFIX} next-hop self", timeout=15)
            time.sleep(0.1)  # its ack is read
            trigger.touch()
            proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        exabgp.finish()
        err = proc.stderr.read()  # type: ignore[union-attr]
    lines = exabgp.lines
    assert proc.returncode == 70, err
    assert logged in err and "injected bug" in err, err
    assert lines[0] == "clear adj-rib out"
    announced = lines.index(f"announce route {PREFIX} next-hop self")
    assert f"withdraw route {PREFIX} next-hop self" in lines[announced + 1:], lines
    assert "speaker-watchdog" not in err, err  # withdrawn by the process, not taken for hung
    assert "Traceback" not in err
