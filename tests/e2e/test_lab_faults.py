"""Faults on one node of a shared 3-node lab (reset to healthy before each test).

Each test injects a fault on dns1 while the client streams queries, and checks
the router's FIB (next hop gone within a bound, back after repair) and that the
other nodes keep answering. The DNS server's own crash and hang are in
test_lab_servers.py, with BIND and with PowerDNS.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.lab import Lab, summarize, wait_for

from .fib import FibWatch

pytestmark = pytest.mark.lab


def others(lab: Lab, name: str) -> set[str]:
    return {str(n.address) for n in lab.nodes if n.name != name}


def test_anycast_address_removed_from_lo_withdraws_and_readding_returns(lab: Lab) -> None:
    """The anycast address removed from lo: withdrawn; added again: announced again."""
    node = lab.node(1)
    t0 = time.monotonic()
    node.remove_anycast()
    gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    assert lab.router.nexthops() == others(lab, node.name)
    t1 = time.monotonic()
    node.add_anycast()
    back = lab.router.time_until_back(node.address, timeout=10, t0=t1)
    print(f"address removed: gone after {gone:.3f} s; re-added: back after {back:.3f} s")


@pytest.mark.parametrize("mode", ["servfail", "refused"])
def test_zone_that_fails_to_load_is_withdrawn(lab: Lab, mode: str) -> None:
    """A zone that does not load (SERVFAIL) or is not served (REFUSED): withdrawn, and it
    stays withdrawn while named answers that way; repaired: back."""
    node = lab.node(1)
    with FibWatch(lab, node.address) as fib:
        t_break = time.monotonic()
        node.break_zone(mode)  # returns once named answers SERVFAIL / REFUSED
        t0 = t_break + fib.wait(False, t_break, 10)
        time.sleep(2.0)
        t1 = time.monotonic()
        assert fib.steady(False, t0, t1), f"re-announced a broken zone: {fib.changes}"
    node.fix_zone()
    back = lab.router.time_until_back(node.address, timeout=10, t0=t1)
    print(f"zone {mode}: withdrawn; back {back:.3f} s after the repair")


def test_speaker_maintenance_drain_loses_no_query(lab: Lab) -> None:
    """speakerctl withdraw while the client streams: 0 failed queries, next hop gone; the
    maintenance survives a restart of ExaBGP; speakerctl announce: back. `status --json`
    answers at each step."""
    node = lab.node(2)
    before = node.ctl("--json", "status")
    assert before.returncode == 0, before.stdout + before.stderr
    json.loads(before.stdout)
    stream = lab.client.stream(rate=50, duration=4)
    time.sleep(1.0)
    result = node.ctl("withdraw", "--reason", "e2e test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(node.address) not in lab.router.nexthops()
    stats = summarize(stream.wait())
    assert stats["failed"] == 0, stats
    during = node.ctl("--json", "status")
    assert during.returncode == 0 and json.loads(during.stdout) != json.loads(before.stdout)
    # The maintenance is persisted: a restarted ExaBGP (and speaker) stays withdrawn.
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        node.kill_exabgp(signal.SIGTERM)
        node.start_exabgp()
        node.wait_speaker()
        wait_for(lambda: node.ctl("--json", "status").returncode == 0, 10,
                 what="the restarted speaker's control socket")
        time.sleep(3.0)  # longer than rise * interval: a forgotten maintenance would announce
        t1 = time.monotonic()
        assert fib.steady(False, t0, t1), f"maintenance lost on restart: {fib.changes}"
    result = node.ctl("announce")
    assert result.returncode == 0, result.stdout + result.stderr
    lab.router.time_until_back(node.address, timeout=10)
