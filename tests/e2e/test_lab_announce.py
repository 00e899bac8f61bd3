"""A fresh lab per ExaBGP version: ECMP forms, ExaBGP dies, teardown leaves nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.lab import Lab, state
from tests.lab.system import alive, cmdline, pids

from .conftest import keep_logs


def processes_mentioning(text: str) -> list[int]:
    return [p for p in pids() if p != os.getpid() and any(text in a for a in cmdline(p))]


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_ecmp_forms_exabgp_kill_drops_path_teardown_is_clean(exabgp_version: str) -> None:
    """ECMP with 3 next hops within 10 s of start; killing a node's ExaBGP drops its path
    at once (TCP closes) and a restart brings it back; teardown leaves nothing behind."""
    lab = Lab(exabgp_version=exabgp_version)
    try:
        lab.up(wait=False)
        assert lab.started_at is not None
        lab.wait_ecmp(timeout=10 - (time.monotonic() - lab.started_at))
        assert len(lab.router.established()) == 3
        node = lab.node(3)
        t0 = time.monotonic()
        node.kill_exabgp()
        gone = lab.router.time_until_gone(node.address, timeout=3, t0=t0)
        assert gone < 1.0, f"path of {node.name} dropped {gone:.2f} s after ExaBGP died"
        assert lab.router.nexthops() == {str(n.address) for n in lab.nodes[:2]}
        node.start_exabgp()
        lab.router.time_until_back(node.address, timeout=10)
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []
    assert lab.leftovers() == []
    netns = {line.split()[0] for line in os.popen("ip netns list").read().splitlines() if line}
    assert not netns & set(lab.topo.namespaces)
    assert not lab.root.exists() and not lab.frr_dir.exists()
    assert processes_mentioning(str(lab.root)) == []
    assert not Path(f"/run/frr/{lab.topo.frr_name}").exists()


def test_down_cleans_up_after_a_crashed_run() -> None:
    """A lab whose owner died (SIGKILL) is torn down by `python3 -m tests.lab down`:
    no process, namespace or directory of it is left."""
    repo = Path(__file__).resolve().parents[2]
    script = ("import os, signal\n"
              "from tests.lab import Lab\n"
              "lab = Lab()\n"
              "lab.up()\n"
              "print(lab.lab_id, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n")
    crashed = subprocess.run(["/usr/bin/python3", "-c", script], cwd=repo, capture_output=True,
                             text=True, timeout=60, check=False)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    lab_id = crashed.stdout.strip()
    root = Path(f"/run/spklab-{lab_id}")
    data = state.load(root)
    assert data is not None and not state.owner_alive(data)
    assert any(alive(p["pid"], p["start"]) for p in data["procs"])
    down = subprocess.run(["/usr/bin/python3", "-m", "tests.lab", "down", "--id", lab_id],
                          cwd=repo, capture_output=True, text=True, timeout=60, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "nothing left" in down.stdout
    assert state.leftovers(data) == []
    assert processes_mentioning(str(root)) == []
