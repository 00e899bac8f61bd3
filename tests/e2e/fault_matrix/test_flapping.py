"""The fault matrix: named flapping (held down) and a check failing every other probe.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.lab import Lab, LabNode, summarize

from ..faults import RoundCounter, assert_failed_at_most, record, service
from ..fib import FibWatch

pytestmark = pytest.mark.lab


FLAPPING_FAILED = 40  # 6 stops of named at 20 q/s: measured 12 of 560 (3x)
ALTERNATING_FAILED = 10  # a 0.45 s pause is shorter than the 0.5 s timeout: measured 0


def test_flapping_named_is_held_down(lab: Lab, node: LabNode) -> None:
    """named stopped 1.5 s / running 2.5 s in a loop: after max_transitions (6) the service
    is held down (status and events say so) and stays withdrawn although named is healthy;
    UPDATEs at the router stay bounded; back after the penalty."""
    named = node.named
    updates0 = lab.router.updates_received(node.address)
    stream = lab.client.stream(rate=20, duration=28)
    held_at: float | None = None
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        for _ in range(6):
            named.signal(signal.SIGSTOP)
            time.sleep(1.5)
            named.signal(signal.SIGCONT)
            time.sleep(2.5)
            if service(node)["state"] == "held-down":
                held_at = time.monotonic()
                break
        assert held_at is not None, f"never held down: {service(node)}"
        flaps = fib.flips(t0)
        held = service(node)
        time.sleep(3.0)  # named is healthy all along now
        withdrawn_while_held = fib.steady(False, held_at, time.monotonic())
        back = lab.router.time_until_back(node.address, timeout=20, t0=held_at)
    updates = lab.router.updates_received(node.address) - updates0
    events = json.loads(node.ctl("--json", "events").stdout)
    stats = summarize(stream.wait())
    first_gone = next((t for t, present in fib.changes if not present and t >= t0), None)
    record("named flapping (1.5 s stop / 2.5 s run)",
           None if first_gone is None else first_gone - t0, back, stats,
           f"held down after {held_at - t0:.1f} s, {flaps} FIB changes, {updates} UPDATEs")
    assert withdrawn_while_held, f"re-announced while held down: {fib.changes}"
    assert held["flap_holds"] >= 1 and held["held_down_for"] > 3, held
    assert any(e["new"] == "held-down" and "flapping" in e["reason"] for e in events), events
    assert flaps <= 6, f"{flaps} FIB changes before the hold"
    assert updates <= 8, f"{updates} UPDATEs from a flapping node"
    assert first_gone is not None and first_gone - t0 <= 2.0, fib.changes
    # the penalty is 10 s from the hold, which began before held_at was seen
    assert 3.0 <= back <= 14.0, f"back {back:.2f} s after the hold was seen (penalty 10 s)"
    assert_failed_at_most(stats, FLAPPING_FAILED, "dns1's share of each stop until withdrawn")


def test_alternating_check_does_not_send_an_update_per_probe(lab: Lab, node: LabNode) -> None:
    """named paused 0.45 s of every 0.7 s for 12 s: the first pause is longer than the hang
    window and withdraws once; the answers after it teach the check the server's latency,
    so later probes that time out in a pause are answered when it ends and the check fails
    and passes alternately. No UPDATE per failing probe: fall (2 in a row) filters it;
    flap damping would bound anything that got through."""
    named = node.named
    updates0 = lab.router.updates_received(node.address)
    stream = lab.client.stream(rate=20, duration=13)
    with FibWatch(lab, node.address) as fib, RoundCounter(node) as rounds:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 12.0:
            named.signal(signal.SIGSTOP)
            time.sleep(0.45)
            named.signal(signal.SIGCONT)
            time.sleep(0.25)
        time.sleep(0.3)
        flaps = fib.flips(t0)
    updates = lab.router.updates_received(node.address) - updates0
    stats = summarize(stream.wait())
    state = service(node)
    record("named paused 0.45 s of every 0.7 s (12 s)", None, None, stats,
           f"{rounds.failed} failed / {rounds.passed} passed probe rounds -> {updates} "
           f"UPDATEs, {flaps} FIB changes; ends {state['state']}")
    assert rounds.failed >= 3, f"the check did not fail often enough ({rounds.failed})"
    assert updates <= 8 and updates < rounds.failed, (
        f"{updates} UPDATEs for {rounds.failed} failing probe rounds")
    assert_failed_at_most(stats, ALTERNATING_FAILED, "dns1's queries that wait out a pause")
