"""The watchdog process: withdraws for a hung or dead speaker, quiet after a goodbye."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab.lanes import SPEAKER_PYTHON
from tests.lab.system import children as lab_children
from tests.lab.system import is_watchdog

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


class Rig:
    """A stand-in parent (sleep), a heartbeat pipe and the ExaBGP pipe we read."""

    def __init__(self, timeout: float = 0.6) -> None:
        self.parent = subprocess.Popen(["sleep", "60"])
        beat_r, self.beat_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.dog = subprocess.Popen(
            [SPEAKER_PYTHON, "-m", "speaker.adapters.watchdog", str(self.parent.pid), str(beat_r),
             str(out_w), str(timeout)],
            pass_fds=(beat_r, out_w), cwd=REPO, stderr=subprocess.PIPE, text=True)
        os.close(beat_r)
        os.close(out_w)

    def send(self, line: str) -> None:
        os.write(self.beat_w, (line + "\n").encode())

    def read(self, timeout: float) -> str:
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.out_r], [], [], 0.05)
            if ready:
                chunk = os.read(self.out_r, 65536)
                if not chunk:
                    break
                data += chunk
        return data.decode()

    def close(self) -> None:
        for proc in (self.parent, self.dog):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for fd in (self.beat_w, self.out_r):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    yield r  # type: ignore[misc]
    r.close()


def test_silence_withdraws_and_kills_the_speaker(rig: Rig) -> None:
    rig.send("add 2001:db8::53/128 192.0.2.53/32 2001:db8::54/128")
    rig.send("remove 2001:db8::54/128")
    start = time.monotonic()
    out = rig.read(2.0)
    assert out.splitlines() == ["withdraw route 2001:db8::53/128 next-hop self",
                                "withdraw route 192.0.2.53/32 next-hop self"]
    assert rig.parent.wait(timeout=2) == -9
    assert time.monotonic() - start < 1.5
    assert rig.dog.wait(timeout=2) == 1
    assert "speaker hung" in rig.dog.stderr.read()  # type: ignore[union-attr]


def test_heartbeats_keep_it_quiet(rig: Rig) -> None:
    rig.send("add 2001:db8::53/128")
    for _ in range(10):
        rig.send("beat")
        time.sleep(0.1)
    assert rig.parent.poll() is None
    rig.send("bye")
    assert rig.dog.wait(timeout=2) == 0
    assert rig.read(0.2) == ""


def test_speaker_gone_without_goodbye_withdraws(rig: Rig) -> None:
    rig.send("add 2001:db8::53/128")
    os.close(rig.beat_w)
    assert rig.read(1.0) == "withdraw route 2001:db8::53/128 next-hop self\n"
    assert rig.dog.wait(timeout=2) == 0


def test_the_speaker_restarts_a_dead_watchdog(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"control: {{socket: {tmp_path}/s.sock}}\nstate_dir: {tmp_path}/state\n"
                   "services:\n  - name: dns\n    prefixes: ['2001:db8::53/128']\n"
                   "    checks: [{type: dns, server: '::1', port: 9, qname: example.com.}]\n")
    speaker = subprocess.Popen([SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg)],
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, cwd=REPO, text=True)
    try:
        def children() -> list[int]:
            """The speaker's watchdog processes (it runs other short-lived children too):
            the forked one first, then those it starts."""
            return [p for p in lab_children(speaker.pid) if is_watchdog(p)]

        deadline = time.monotonic() + 10
        while not children() and time.monotonic() < deadline:
            time.sleep(0.05)
        [first] = children()
        os.kill(first, 9)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [p for p in children() if p != first] == []:
            time.sleep(0.05)
        assert [p for p in children() if p != first], "watchdog not restarted"
    finally:
        speaker.stdin.close()  # type: ignore[union-attr]
        assert speaker.wait(timeout=10) == 0
    assert "watchdog process restarted" in speaker.stderr.read()  # type: ignore[union-attr]


def test_the_watchdog_process_imports_nothing_heavy() -> None:
    """As `python3 -m speaker.adapters.watchdog` runs it: no typing, subprocess or dependencies."""
    code = ("import runpy, sys; sys.argv = ['watchdog']; "
            "runpy.run_module('speaker.adapters.watchdog', run_name='not-main'); "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([SPEAKER_PYTHON, "-c", code], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    heavy = {"typing", "subprocess", "dns", "yaml", "pyroute2", "asyncio", "logging", "re"}
    assert "select" in out and not heavy & set(out)  # select: the module did run
