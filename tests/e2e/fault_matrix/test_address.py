"""The fault matrix: the anycast address removed from lo, with manage false and true.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.lab import Lab, LabNode, summarize, wait_for

from ..faults import DNS_FAILED, assert_failed_at_most, record, service
from ..fib import FibWatch

pytestmark = pytest.mark.lab


def test_address_removed_manage_false_stays_withdrawn_until_readded(
        lab: Lab, node: LabNode) -> None:
    """manage: false (the lab's default): the address removed from lo -> withdrawn at the
    next probe and not re-added; re-added by hand -> back after rise."""
    assert lab.manage_address is False
    stream = lab.client.stream(rate=50, duration=6)
    time.sleep(1.0)
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        node.remove_anycast()
        gone = fib.wait(False, t0, 5)
        time.sleep(2.0)
        state = service(node)
        t1 = time.monotonic()
        still = fib.steady(False, t0 + gone, t1) and not node.has_anycast()
        node.add_anycast()
        back = lab.router.time_until_back(node.address, timeout=10, t0=t1)
    stats = summarize(stream.wait())
    record("anycast address removed, manage false", gone, back, stats,
           "recover from re-adding by hand")
    assert gone <= 1.5
    assert still, f"address or route came back by itself with manage: false: {fib.changes}"
    assert back <= 5.0, f"back {back:.2f} s after re-adding (measured 1.3-1.4 s)"
    assert_failed_at_most(stats, DNS_FAILED, "dns1's share until the withdraw")
    assert "missing from lo" in state["reason"] and state["address_present"] is False, state


def test_address_removed_manage_true_readded_and_announced(lab: Lab, node: LabNode) -> None:
    """manage: true: the address removed from lo -> withdrawn, put back by the speaker,
    announced again after rise."""
    node.write_speaker_yaml(manage=True)
    node.kill_exabgp(signal.SIGTERM)
    node.start_exabgp()
    lab.router.time_until_back(node.address, timeout=15)
    stream = lab.client.stream(rate=50, duration=5)
    time.sleep(1.0)
    t0 = time.monotonic()
    node.remove_anycast()
    gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    readded = wait_for(node.has_anycast, 5, interval=0.02, what="the speaker to re-add it")
    t_added = time.monotonic() - t0
    back = lab.router.time_until_back(node.address, timeout=10, t0=t0)
    stats = summarize(stream.wait())
    record("anycast address removed, manage true", gone, back, stats,
           f"re-added by the speaker after {t_added:.2f} s")
    assert readded and gone <= 1.5 and back <= 5.0
    assert t_added <= 1.5, f"re-added {t_added:.2f} s after the removal"
    assert_failed_at_most(stats, DNS_FAILED, "dns1's share until the withdraw")
