"""RFC 8326 graceful drain against the real FRR: traffic leaves the node before the withdraw.

`speakerctl withdraw --graceful 6` on one node while the client streams queries: FRR
sets LOCAL_PREF 0 on the route that carries GRACEFUL_SHUTDOWN (65535:0) with no
router-side config (FRR 8.4), so the node's next hop leaves the FIB (the ECMP set) while
its path is still in the BGP RIB; then the withdraw takes the path away; not a query lost.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.lab import Lab, summarize, wait_for
from tests.lab.gshut import Background, paths

pytestmark = pytest.mark.lab

SECONDS = 6


def test_graceful_drain_moves_traffic_before_the_withdraw_and_loses_no_query(lab: Lab) -> None:
    node = lab.node(2)
    hop = str(node.address)
    stream = lab.client.stream(rate=50, duration=SECONDS + 5)
    time.sleep(1.0)
    t0 = time.monotonic()
    drain = Background(node, "withdraw", "--graceful", str(SECONDS), "--drain-delay", "0")
    gone = lab.router.time_until_gone(node.address, timeout=SECONDS - 1, t0=t0)
    held = paths(lab)
    assert hop in held, f"the path left the BGP RIB with the next hop: {held}"
    assert held[hop].gshut and held[hop].local_pref == 0 and not held[hop].multipath, held
    status = json.loads(node.ctl("--json", "status").stdout)["services"][0]
    assert status["state"] == "draining" and 0 < status["draining"]["withdrawn_in"] <= SECONDS
    assert not drain.done(), "the withdraw returned before the drain time"
    result = drain.result(timeout=SECONDS + 30)
    took = time.monotonic() - t0
    assert result.returncode == 0, result.stdout + result.stderr
    assert took >= SECONDS, f"withdrawn after {took:.1f} s, before the {SECONDS} s drain"
    wait_for(lambda: hop not in paths(lab), 5, what="the withdraw to reach FRR's RIB")
    stats = summarize(stream.wait())
    assert stats["failed"] == 0, stats
    print(f"graceful drain: next hop out of the FIB after {gone:.2f} s, withdrawn after "
          f"{took:.1f} s; {stats}")
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    lab.router.time_until_back(node.address, timeout=20)


def test_announce_during_the_graceful_drain_restores_the_normal_route(lab: Lab) -> None:
    node = lab.node(3)
    hop = str(node.address)
    t0 = time.monotonic()
    drain = Background(node, "withdraw", "--graceful", "60", "--drain-delay", "0")
    lab.router.time_until_gone(node.address, timeout=10, t0=t0)
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    result = drain.result(timeout=30)
    assert result.returncode == 75 and "announced again" in result.stderr, result.stderr
    lab.router.time_until_back(node.address, timeout=10)
    held = paths(lab)[hop]
    assert not held.gshut and held.multipath, held
