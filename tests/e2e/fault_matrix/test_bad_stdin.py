"""The fault matrix's last row: the speaker outside the lab with a pipe as its stdin.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from speaker.core.exabgp_api import WAKE
from tests.lab import wait_for
from tests.lab.lab import REPO
from tests.lab.lanes import SPEAKER_PYTHON

from ..faults import record

pytestmark = pytest.mark.lab


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.integration
def test_bad_stdin_logged_memory_bounded_never_a_crash(tmp_path: Path) -> None:
    """The real process with a pipe as stdin: truncated JSON, an unknown message type,
    binary garbage, deep nesting, a 10 MB line without newline, then `done`: it stays up,
    logs each as ignored, RSS stays under 80 MB, the control socket still answers; EOF on
    stdin makes it withdraw and exit 0."""
    sock = tmp_path / "speaker.sock"
    cfg = tmp_path / "speaker.yaml"
    cfg.write_text(json.dumps({
        "control": {"socket": str(sock)},
        "state_dir": str(tmp_path / "state"),
        "services": [{"name": "dns", "prefixes": ["2001:db8:ffff::53/128"],
                      "checks": [{"type": "dns", "server": "::1", "port": 9,
                                  "qname": "example.com.", "qtype": "SOA"}]}],
    }))
    (tmp_path / "state").mkdir()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1"}
    errlog = tmp_path / "stderr.log"
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(
            [SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg), "--log-level", "debug"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, b"")),
                              daemon=True)
    reader.start()

    def ctl_status() -> dict[str, Any]:
        result = subprocess.run(
            [SPEAKER_PYTHON, "-m", "speaker.cli", "--socket", str(sock), "--json",
             "status"], capture_output=True, text=True, timeout=20, env=env, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    try:
        wait_for(sock.exists, 15, what="the control socket")
        rss0 = _rss_kb(proc.pid)
        feed = [
            b'{"exabgp": "4.0.1", "time": 1.0, "type": "state", "neighbor": {"addr',  # cut
            b'{"exabgp": "5.0.0", "type": "frobnicate", "frobnicate": {}}',
            b"\xff\xfe\x00\x80garbage\x1b[2J",
            b'{"a": ' + b"[" * 30_000,
            b"A" * 10_000_000,  # 10 MB, newline only after it
            b"done",
        ]
        t0 = time.monotonic()
        for chunk in feed:
            proc.stdin.write(chunk + b"\n")
            proc.stdin.flush()
        status = wait_for(lambda: (s := ctl_status())["exabgp"]["ignored_lines"] >= 4 and s,
                          15, what="the bad lines to be counted")
        took = time.monotonic() - t0
        rss = _rss_kb(proc.pid)
        assert proc.poll() is None, "the speaker died on bad input"
        proc.stdin.close()  # ExaBGP gone: withdraw and exit
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    reader.join(5)
    log = errlog.read_text(errors="replace")
    record("bad stdin (5 kinds incl. 10 MB line)", None, None, None,
           f"survived; RSS {rss0 // 1024} -> {rss // 1024} MB; handled in {took:.1f} s; "
           f"exit {code} on EOF")
    assert status["exabgp"]["ignored_lines"] == 4, status["exabgp"]
    assert log.count("ignored unexpected line from ExaBGP") == 4, log
    for problem in ("invalid JSON", "not UTF-8", "line longer than", "kind=frobnicate"):
        assert problem in log, f"{problem!r} not logged"
    assert rss < 80 * 1024, f"RSS {rss} kB after a 10 MB line"
    assert code == 0
    lines = [line.decode().strip() for line in out]
    # the start-up clear (acked by the `done`) and the question about the sessions; and
    # one wake for ExaBGP's reactor (engine.wake), as the clear waited over 5 ms for its
    # ack: one, not one per 5 ms, as nothing answers it
    assert [line for line in lines if line != WAKE] == [
        "clear adj-rib out", "show neighbor summary"], lines
    assert lines.count(WAKE) <= 1, lines
    assert "Traceback" not in log
