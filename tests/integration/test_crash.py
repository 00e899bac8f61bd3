"""An unhandled exception in the real process: it withdraws, says why, and exits non-zero."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

# The process as ExaBGP runs it, with a check that raises: a bug in a probe.
CRASHING = """
import sys
import speaker.adapters.checks

async def broken(self):
    raise RuntimeError("injected bug")

speaker.adapters.checks.DnsProbe.run = broken
from speaker.daemon import main
sys.exit(main(["--config", sys.argv[1]]))
"""


def test_a_crashing_service_loop_withdraws_and_exits_70(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text(f"control: {{socket: {tmp_path}/s.sock}}\nstate_dir: {tmp_path}/state\n"
                   "services:\n  - name: dns\n    prefixes: ['2001:db8::53/128']\n"
                   "    checks: [{type: dns, server: '::1', port: 9, qname: example.com.}]\n")
    proc = subprocess.Popen([SPEAKER_PYTHON, "-c", CRASHING, str(cfg)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write("done\n")  # the ack of the start-up clear; stdin stays open
    proc.stdin.flush()
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    assert proc.returncode == 70, err
    assert "service loop crashed" in err and "injected bug" in err
    assert out.splitlines()[0] == "clear adj-rib out"
    assert "Traceback" not in err
