"""The real process never takes a control socket path that is not its own: it exits 73."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def speaker(cfg: Path) -> subprocess.Popen[str]:
    """The process as ExaBGP starts it; the test acks the start-up clear, stdin stays open."""
    proc = subprocess.Popen([SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("done\n")
    proc.stdin.flush()
    return proc


def config(tmp: Path) -> Path:
    cfg = tmp / "s.yaml"
    cfg.write_text(f"control: {{socket: {tmp}/s.sock}}\nstate_dir: {tmp}/state\n"
                   "services:\n  - name: dns\n    prefixes: ['2001:db8::53/128']\n"
                   "    checks: [{type: dns, server: '::1', port: 9, qname: example.com.}]\n")
    return cfg


def finish(proc: subprocess.Popen[str], timeout: float = 15) -> str:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.close()
    return proc.stderr.read()


def test_a_file_at_the_socket_path_is_left_alone_and_the_process_exits_73(
        tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("not a socket\n")
    proc = speaker(config(tmp_path))
    err = finish(proc)
    assert proc.returncode == 73, err
    assert f"control socket {path} exists and is a regular file" in err
    assert path.read_text() == "not a socket\n"
    assert "Traceback" not in err


def test_a_second_speaker_on_the_same_socket_exits_73_and_the_first_keeps_it(
        tmp_path: Path) -> None:
    cfg = config(tmp_path)
    path = tmp_path / "s.sock"
    first = speaker(cfg)
    try:
        deadline = time.monotonic() + 15
        while not path.exists():
            assert time.monotonic() < deadline and first.poll() is None, "no control socket"
            time.sleep(0.05)
        second = speaker(cfg)
        err = finish(second)
        assert second.returncode == 73, err
        assert f"control socket {path} is in use: another speaker (pid {first.pid})" in err
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(str(path))  # still there, still the first one's
        done = subprocess.run([SPEAKER_PYTHON, "-m", "speaker.cli", "--config", str(cfg),
                               "status"], cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
    finally:
        first.terminate()
        finish(first)
    assert not path.exists()  # the first one removes its own socket
