"""`python3 -m speaker` forks its watchdog before the heavy imports; it still withdraws.

The forked watchdog (named speaker-watchd) never maps the libraries the speaker
loads later (asyncio's, yaml's), and it withdraws what was announced when the
speaker is killed (pipe EOF) or stopped (no heartbeat), as the started one does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.dnsserver import DnsServer, Query, Reply, answer
from tests.integration.exabgp_player import Exabgp
from tests.lab.lanes import SPEAKER_PYTHON
from tests.lab.system import children, is_watchdog

REPO = Path(__file__).resolve().parents[2]
PREFIX = "2001:db8::53/128"
ANNOUNCE = f"announce route {PREFIX} next-hop self"
WITHDRAW = f"withdraw route {PREFIX} next-hop self"
pytestmark = pytest.mark.integration


def soa(query: Query) -> Reply:
    return answer(query, "SOA", ["ns1. admin. 1 3600 1800 604800 300"])


class Speaker:
    """`python3 -m speaker` as ExaBGP runs it, ExaBGP played on its pipes."""

    def __init__(self, tmp: Path, port: int, checks: str = "") -> None:
        """A dns check of 127.0.0.1:`port`, or `checks` (a YAML flow list)."""
        checks = checks or f"[{{type: dns, server: '127.0.0.1', port: {port}, qname: example.com.}}]"
        cfg = tmp / "s.yaml"
        cfg.write_text(f"control: {{socket: {tmp}/s.sock}}\nstate_dir: {tmp}/state\n"
                       "watchdog_timeout: 0.6\n"
                       f"services:\n  - name: dns\n    prefixes: ['{PREFIX}']\n"
                       f"    checks: {checks}\n")
        self.proc = subprocess.Popen([SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg)],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.exabgp = Exabgp(self.proc)

    def lines_after(self, line: str, timeout: float) -> list[str]:
        """What came after `line`, once something has (within `timeout`)."""
        deadline = time.monotonic() + timeout
        while line not in self.exabgp.lines or self.exabgp.lines[-1] == line:
            assert time.monotonic() < deadline, f"nothing after {line!r}: {self.exabgp.lines}"
            time.sleep(0.02)
        return self.exabgp.lines[self.exabgp.lines.index(line) + 1:]

    def watchdog(self) -> int:
        [dog] = [p for p in children(self.proc.pid) if is_watchdog(p)]
        return dog

    def stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.exabgp.finish()
        return self.proc.stderr.read()  # type: ignore[union-attr]


@pytest.fixture
def speaker(tmp_path: Path) -> Speaker:
    with DnsServer(soa) as dns:
        running = Speaker(tmp_path, dns.port)
        try:
            running.exabgp.wait_for(ANNOUNCE, timeout=15)
            time.sleep(0.1)  # its ack is read
            yield running  # type: ignore[misc]
        finally:
            running.stderr()


def test_the_watchdog_is_forked_before_the_heavy_imports(speaker: Speaker) -> None:
    maps = Path(f"/proc/{speaker.watchdog()}/maps").read_text()
    assert "_asyncio" in Path(f"/proc/{speaker.proc.pid}/maps").read_text()
    assert "_asyncio" not in maps and "_yaml" not in maps and "_ssl" not in maps


def test_the_forked_watchdog_withdraws_for_a_killed_speaker(speaker: Speaker) -> None:
    dog = speaker.watchdog()
    speaker.proc.kill()
    assert WITHDRAW in speaker.lines_after(ANNOUNCE, timeout=5)
    assert "speaker exited without cleaning up; withdrew 1 prefixes" in speaker.stderr()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{dog}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)  # reaped by init once it exits
    assert not Path(f"/proc/{dog}").exists() or "Z" in Path(f"/proc/{dog}/stat").read_text()


def test_the_forked_watchdog_withdraws_and_kills_a_stopped_speaker(speaker: Speaker) -> None:
    os.kill(speaker.proc.pid, signal.SIGSTOP)
    start = time.monotonic()
    assert WITHDRAW in speaker.lines_after(ANNOUNCE, timeout=5)
    assert speaker.proc.wait(timeout=5) == -signal.SIGKILL
    assert time.monotonic() - start < 2.0
    assert "speaker hung: no heartbeat" in speaker.stderr()
