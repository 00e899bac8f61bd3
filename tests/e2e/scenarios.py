"""Lab scenarios that run the same against either router (FRR or BIRD 2).

A helper module, not a test: tests/e2e/test_lab_graceful.py and test_lab_bird.py call
these with their lab. Each streams client queries through the fault or the drain and
asserts the FIB (the router's next hops) and the lost queries; returns what it measured.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

from tests.lab import Lab, summarize, wait_for
from tests.lab.gshut import Background, paths
from tests.lab.lab import LabNode, QueryStream


def others(lab: Lab, name: str) -> set[str]:
    return {str(n.address) for n in lab.nodes if n.name != name}


def drain_loses_no_query(lab: Lab, which: int = 2) -> dict[str, Any]:
    """speakerctl withdraw while the client streams: next hop gone, 0 failed; announce: back."""
    node = lab.node(which)
    stream = lab.client.stream(rate=50, duration=4)
    time.sleep(1.0)
    result = node.ctl("withdraw", "--reason", "e2e drain")
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(node.address) not in lab.router.nexthops()
    return lost_nothing_then_announce(lab, node, stream)


def lost_nothing_then_announce(lab: Lab, node: LabNode, stream: QueryStream) -> dict[str, Any]:
    """The stream lost no query; `speakerctl announce`: the next hop is back. Its counts."""
    stats = summarize(stream.wait())
    assert stats["failed"] == 0, stats
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    lab.router.time_until_back(node.address, timeout=20)
    return stats


def sigkill_withdraws(lab: Lab, kill: str, bound: float, which: int = 1) -> float:
    """The node's `kill` ("named": the DNS server, or "exabgp") SIGKILLed while the client
    streams: its next hop leaves the FIB within `bound` s, no query fails after that;
    started again: back. Returns the time to withdraw."""
    node = lab.node(which)
    stream = lab.client.stream(rate=50, duration=4)
    time.sleep(1.0)
    t0 = time.monotonic()
    (node.kill_named if kill == "named" else node.kill_exabgp)(signal.SIGKILL)
    gone = lab.router.time_until_gone(node.address, timeout=bound + 5, t0=t0)
    records = stream.wait()
    assert gone <= bound, f"{kill} SIGKILL: next hop left {gone:.2f} s after (bound {bound} s)"
    assert lab.router.nexthops() == others(lab, node.name)
    after = summarize(records, since=t0 + gone + 0.1)
    assert after["sent"] > 50 and after["failed"] == 0, after
    node.start_named() if kill == "named" else node.start_exabgp()
    lab.router.time_until_back(node.address, timeout=20)
    return gone


def graceful_drain(lab: Lab, seconds: float = 6, which: int = 2) -> tuple[float, float]:
    """`withdraw --graceful SECONDS` while the client streams: the next hop leaves the FIB
    (the ECMP set) while the node's path, with GRACEFUL_SHUTDOWN and LOCAL_PREF 0, is still
    in the BGP RIB; the withdraw comes after SECONDS; 0 failed; announce: back. Returns
    (next hop out of the FIB, withdrawn) in seconds after the command."""
    node = lab.node(which)
    hop = str(node.address)
    stream = lab.client.stream(rate=50, duration=seconds + 5)
    time.sleep(1.0)
    t0 = time.monotonic()
    drain = Background(node, "withdraw", "--graceful", f"{seconds:g}", "--drain-delay", "0")
    gone = lab.router.time_until_gone(node.address, timeout=seconds - 1, t0=t0)
    held = paths(lab)
    assert hop in held, f"the path left the BGP RIB with the next hop: {held}"
    assert held[hop].gshut and held[hop].local_pref == 0 and not held[hop].multipath, held
    status = json.loads(node.ctl("--json", "status").stdout)["services"][0]
    assert status["state"] == "draining" and 0 < status["draining"]["withdrawn_in"] <= seconds
    assert not drain.done(), "the withdraw returned before the drain time"
    result = drain.result(timeout=seconds + 30)
    took = time.monotonic() - t0
    assert result.returncode == 0, result.stdout + result.stderr
    assert took >= seconds, f"withdrawn after {took:.1f} s, before the {seconds:g} s drain"
    wait_for(lambda: hop not in paths(lab), 5, what="the withdraw to reach the router's RIB")
    stats = lost_nothing_then_announce(lab, node, stream)
    print(f"graceful drain ({lab.router_kind}): next hop out of the FIB after {gone:.2f} s, "
          f"withdrawn after {took:.1f} s; {stats}")
    return gone, took
