"""The event path in the lab: a killed named is withdrawn before any probe could see it.

The node's probes run every 5 s, so a withdraw within a fraction of a second
can only come from the event path (the socket and pidfd watches); the
speaker's log must say so. A restarted named is watched again.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.lab import Lab, LabNode, wait_for

pytestmark = pytest.mark.lab

INTERVAL = 5.0  # a probe-only withdraw would take up to this long (2.5 s on average)
EVENT_BOUND = 1.0
GONE_LINE = "server gone: withdrawing now, a probe confirms"


def detection(node: LabNode) -> list[dict[str, object]]:
    return list(node.status()["services"][0]["detection"])


def all_watched(node: LabNode) -> bool:
    found = detection(node)
    return bool(found) and all(d["active"] for d in found)


def kill_and_time(lab: Lab, node: LabNode) -> float:
    t0 = time.monotonic()
    node.kill_named(signal.SIGKILL)
    return lab.router.time_until_gone(node.address, timeout=INTERVAL + 3, t0=t0)


def test_killed_named_is_withdrawn_by_the_event_path_and_watched_again_after_restart(
        lab: Lab) -> None:
    """named SIGKILL with probes every 5 s: gone from the FIB within 1 s, the log names the
    event; named restarted: announced again and watched again; killed again: gone as fast."""
    node = lab.node(1)
    node.write_speaker_yaml(extra={"service": {
        "timing": {"interval": INTERVAL, "fast_interval": 0.1, "timeout": 0.25, "rise": 1},
        "watch": {"pid_file": str(node.dir / "named.pid")},
    }})
    node.kill_exabgp(signal.SIGTERM)
    node.start_exabgp()
    node.wait_speaker()
    lab.router.time_until_back(node.address, timeout=INTERVAL + 15)
    wait_for(lambda: all_watched(node), 10, what="every event source watched")
    kinds = sorted(str(d["kind"]) for d in detection(node))
    assert kinds == ["process", "socket", "socket"], detection(node)  # 2 checks, 1 pid file

    gone = kill_and_time(lab, node)
    assert gone <= EVENT_BOUND, f"next hop left {gone:.2f} s after SIGKILL (probes: {INTERVAL} s)"
    log = node.log_text()
    assert log.count(GONE_LINE) == 1, log[-3000:]
    assert "exited" in log or "last listening socket closed" in log, log[-3000:]

    node.start_named()
    node.wait_named()
    lab.router.time_until_back(node.address, timeout=INTERVAL + 10)
    wait_for(lambda: all_watched(node), 10, what="the restarted named watched again")

    again = kill_and_time(lab, node)
    assert again <= EVENT_BOUND, f"restarted named: next hop left {again:.2f} s after SIGKILL"
    assert node.log_text().count(GONE_LINE) == 2
    lines = [line for line in node.log_text().splitlines()
             if GONE_LINE in line or "event detection" in line]
    node.start_named()
    node.wait_named()
    print("\n".join(lines))
    print(f"event path: gone after {gone:.3f} s, after the restart {again:.3f} s "
          f"(probe interval {INTERVAL:g} s)")
