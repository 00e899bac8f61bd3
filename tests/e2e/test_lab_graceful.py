"""RFC 8326 graceful drain against the real FRR: traffic leaves the node before the withdraw.

`speakerctl withdraw --graceful 6` on one node while the client streams queries: FRR
sets LOCAL_PREF 0 on the route that carries GRACEFUL_SHUTDOWN (65535:0) with no
router-side config (FRR 8.4), so the node's next hop leaves the FIB (the ECMP set) while
its path is still in the BGP RIB; then the withdraw takes the path away; not a query lost.
"""

from __future__ import annotations

import time

import pytest

from tests.lab import Lab
from tests.lab.gshut import Background, paths

from .scenarios import graceful_drain

pytestmark = pytest.mark.lab



def test_graceful_drain_moves_traffic_before_the_withdraw_and_loses_no_query(lab: Lab) -> None:
    """FRR takes the GSHUT path out of multipath (LOCAL_PREF 0) before the withdraw."""
    gone, took = graceful_drain(lab, seconds=6)
    assert gone < 6 <= took


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
