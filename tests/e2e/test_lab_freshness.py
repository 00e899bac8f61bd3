"""Zone freshness with a hidden master: real BIND as primary, the nodes its secondaries.

One lab for the module (tests/lab/master.py): the master in its own namespace,
NOTIFY and transfers to the three nodes only, every node's speaker with a soa
check (max_lag 3 s). A node whose transfers are refused goes stale after max_lag
and is withdrawn, the others stay, and it returns once it has caught up; the
master stopped withdraws no node over the whole interval; serial bumps, across
the 2^32 wrap too, propagate without a withdraw. With `action: degrade` (each
node's degraded_route a prepend of its AS) a stale node stays announced but
leaves the router's ECMP set while the others are fresh, serves alone when they
are gone, and rejoins the set once it has caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import healthy, running_lab
from tests.lab import Lab
from tests.lab.freshness import PREPEND, as_paths, use_soa

pytestmark = pytest.mark.lab

MAX_LAG = 3.0


@pytest.fixture(scope="module")
def master_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=40, hidden_master=True, soa={"max_lag": MAX_LAG})


@pytest.fixture
def hm(master_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    assert master_lab.master is not None
    for ready in healthy(master_lab, request, timeout=40):
        master_lab.master.wait_in_sync()
        yield ready


def watch(lab: Lab, seconds: float, until: Callable[[frozenset[str]], bool] | None = None
          ) -> tuple[list[frozenset[str]], float]:
    """The router's next hops sampled every 50 ms for `seconds` (or until `until`);
    (the sets seen, seconds taken)."""
    seen: list[frozenset[str]] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        hops = lab.router.nexthops()
        seen.append(hops)
        if until is not None and until(hops):
            break
        time.sleep(0.05)
    return seen, time.monotonic() - t0


def every(lab: Lab) -> frozenset[str]:
    return frozenset(str(n.address) for n in lab.nodes)


def test_blocked_transfers_go_stale_after_max_lag_and_withdraw_that_node_only(hm: Lab) -> None:
    master = hm.master
    assert master is not None
    stale = hm.node(2)
    others = every(hm) - {str(stale.address)}
    master.block_transfers(stale.name)
    t0 = time.monotonic()
    master.bump_serial()
    master.wait_in_sync([hm.node(1), hm.node(3)], timeout=10)
    seen, _ = watch(hm, 20, until=lambda hops: str(stale.address) not in hops)
    assert str(stale.address) not in seen[-1], f"{stale.name} never withdrawn: {seen[-1]}"
    assert time.monotonic() - t0 >= MAX_LAG, "withdrawn before max_lag"
    assert all(others <= hops for hops in seen), "another node left the router meanwhile"
    assert seen[-1] == others
    check = stale.status()["services"][0]["checks"][-1]
    assert check["code"] == "stale" and not check["ok"]
    assert f"behind master {master.serial}" in check["reason"], check["reason"]
    assert master.node_serial(stale) != master.serial
    master.unblock_transfers(stale.name)
    back, _ = watch(hm, 30, until=lambda hops: hops == every(hm))
    assert back[-1] == every(hm), f"{stale.name} not announced again: {back[-1]}"
    assert master.node_serial(stale) == master.serial


def test_master_stopped_withdraws_no_node_over_the_whole_interval(hm: Lab) -> None:
    master = hm.master
    assert master is not None
    master.stop()
    seen, _ = watch(hm, 4 * MAX_LAG)
    assert all(hops == every(hm) for hops in seen), \
        f"a node left the router: {[sorted(h) for h in seen if h != every(hm)][:1]}"
    for node in hm.nodes:
        check = node.status()["services"][0]["checks"][-1]
        assert check["ok"] and check["code"] == "master-unreachable", check
        assert "master unreachable" in check["warning"]


def test_serial_bumps_propagate_across_the_wrap_and_nothing_withdraws(hm: Lab) -> None:
    master = hm.master
    assert master is not None
    start = master.serial
    seen: list[frozenset[str]] = []
    for _ in range(2):  # two steps of 2^31 - 1: past 2^32 - 1, back below the start
        master.bump_serial(2**31 - 1)
        master.wait_in_sync(timeout=15)
        more, _ = watch(hm, 1.0)
        seen += more
    assert master.serial < start  # wrapped
    assert all(hops == every(hm) for hops in seen)
    for node in hm.nodes:
        check = node.status()["services"][0]["checks"][-1]
        assert check["code"] == "ok", check


def test_a_stale_node_with_degrade_leaves_the_ecmp_set_but_stays_announced(hm: Lab) -> None:
    master = hm.master
    assert master is not None
    stale, fresh = hm.node(2), [hm.node(1), hm.node(3)]
    hop = str(stale.address)
    others = every(hm) - {hop}
    use_soa(hm, degrade=True, action="degrade")
    try:
        hm.wait_ecmp(timeout=10)  # a reload alone changes no route
        master.block_transfers(stale.name)
        t0 = time.monotonic()
        master.bump_serial()
        master.wait_in_sync(fresh, timeout=10)
        seen, _ = watch(hm, 20, until=lambda hops: hops == others)
        assert seen[-1] == others, f"{stale.name} never left the ECMP set: {seen[-1]}"
        assert time.monotonic() - t0 >= MAX_LAG, "degraded before max_lag"
        assert all(others <= hops for hops in seen), "a fresh node left the router meanwhile"
        asn = str(stale.spec.asn)
        assert as_paths(hm).get(hop) == " ".join([asn] * (1 + PREPEND)), as_paths(hm)
        service = stale.status()["services"][0]
        assert service["state"] == "degraded", service
        assert f"behind master {master.serial}" in service["reason"], service["reason"]
        for node in fresh:  # the fresh ones gone: the stale node is the only one left
            assert node.ctl("withdraw").returncode == 0
        alone, _ = watch(hm, 10, until=lambda hops: hops == {hop})
        assert alone[-1] == {hop}, f"the stale node does not serve alone: {alone[-1]}"
        for node in fresh:
            assert node.ctl("announce").returncode == 0
        again, _ = watch(hm, 10, until=lambda hops: hops == others)
        assert again[-1] == others, f"fresh nodes not preferred again: {again[-1]}"
        master.unblock_transfers(stale.name)
        back, _ = watch(hm, 30, until=lambda hops: hops == every(hm))
        assert back[-1] == every(hm), f"{stale.name} not back in the ECMP set: {back[-1]}"
        assert master.node_serial(stale) == master.serial
        assert as_paths(hm).get(hop) == asn
        assert stale.status()["services"][0]["state"] == "up"
    finally:
        use_soa(hm)
