"""The overload policy (speaker.core.overload): soft and hard failures, the bound, peers."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from speaker.core import config, overload
from speaker.core.health import Health, Result, State
from speaker.core.overload import Degraded, Kind, Load

TIMEOUT = Result(False, "dns check: timeout after 0.25 s", codes=("timeout",))
REFUSED = Result(False, "dns check: refused", hard=True, codes=("refused",))
SERVFAIL = Result(False, "dns check: rcode SERVFAIL", codes=("rcode",))
OK = Result(True, "ok")
BUSY = Load(client_rate=5000.0, age=1.0)
POLICY = config.Overload(max_degraded=30.0, min_client_rate=50.0, stats_max_age=10.0)
PEERS = tuple(ipaddress.ip_address(f"fd00::{i}") for i in (1, 2, 3))
UP = Health(state=State.UP, passes=3)


def test_timeouts_of_a_busy_server_are_soft() -> None:
    assert overload.judge(TIMEOUT, BUSY, POLICY) is Kind.SOFT


def test_timeouts_without_the_policy_statistics_or_load_are_hard() -> None:
    assert overload.judge(TIMEOUT, BUSY, None) is Kind.HARD
    assert overload.judge(TIMEOUT, None, POLICY) is Kind.HARD
    assert overload.judge(TIMEOUT, Load(10.0, 1.0), POLICY) is Kind.HARD  # not busy
    assert overload.judge(TIMEOUT, Load(5000.0, 11.0), POLICY) is Kind.HARD  # reading too old


def test_refused_servfail_and_a_missing_address_are_hard_even_when_busy() -> None:
    missing = Result(False, "anycast address missing", hard=True)
    mixed = Result(False, "timeout; rcode", codes=("timeout", "rcode"))
    for result in (REFUSED, SERVFAIL, missing, mixed):
        assert overload.judge(result, BUSY, POLICY) is Kind.HARD, result


def test_soft_failure_degrades_then_withdraws_after_the_bound_and_is_no_flap() -> None:
    h, d = UP, Degraded()
    h, d = overload.observe(h, d, TIMEOUT, Kind.SOFT, 100.0, config.Timing(), POLICY)
    assert h.state is State.UP and overload.is_degraded(h, d)
    h, d = overload.observe(h, d, TIMEOUT, Kind.SOFT, 130.0, config.Timing(), POLICY)
    assert h.state is State.UP  # 30 s is not longer than the bound
    before = d
    h, d = overload.observe(h, d, TIMEOUT, Kind.SOFT, 130.5, config.Timing(), POLICY)
    assert h.state is State.DOWN and d.withdrawn and "max_degraded" in h.reason
    assert not overload.counts_as_flap(before, d)


def test_degraded_ends_after_rise_passes_and_uses_the_degraded_route() -> None:
    degraded_route = config.Route(med=500)
    policy = config.Overload(route=degraded_route)
    service = config.Service(name="s", prefixes=(ipaddress.ip_network("fd00::1/128"),),
                             checks=(), overload=policy)
    timing = config.Timing(rise=2)
    h, d = overload.observe(UP, Degraded(), TIMEOUT, Kind.SOFT, 0.0, timing, policy)
    assert overload.route(service, h, d) == degraded_route
    h, d = overload.observe(h, d, OK, Kind.OK, 1.0, timing, policy)
    assert overload.is_degraded(h, d)  # one pass is not enough
    h, d = overload.observe(h, d, OK, Kind.OK, 2.0, timing, policy)
    assert not overload.is_degraded(h, d) and overload.route(service, h, d) == service.route


def test_peers_keep_the_last_node_in() -> None:
    policy = config.Overload(max_degraded=0.0, peers=PEERS, min_up=2)
    h, d = overload.observe(UP, Degraded(), TIMEOUT, Kind.SOFT, 0.0, config.Timing(), policy)
    h, d = overload.observe(h, d, TIMEOUT, Kind.SOFT, 5.0, config.Timing(), policy, peers_up=1)
    assert h.state is State.UP
    h, d = overload.observe(h, d, TIMEOUT, Kind.SOFT, 6.0, config.Timing(), policy, peers_up=2)
    assert h.state is State.DOWN


# -- properties ---------------------------------------------------------------------------

timings = st.builds(config.Timing, rise=st.integers(1, 5), fall=st.integers(1, 5))
policies = st.builds(
    config.Overload, max_degraded=st.floats(0, 100), peers=st.just(PEERS),
    min_up=st.integers(0, 3))
HARD_RESULTS = st.sampled_from([REFUSED, SERVFAIL, TIMEOUT])
# a round: (kind, seconds since the previous round, peers that answered)
rounds = st.tuples(st.sampled_from([Kind.OK, Kind.SOFT, Kind.HARD]), st.floats(0.01, 10),
                   st.integers(0, 3))


def _run(steps: list[tuple[Kind, float, int]], timing: config.Timing, policy: config.Overload,
         hard: Result = SERVFAIL) -> list[tuple[float, Health, Degraded, Kind]]:
    h, d, now, seen = UP, Degraded(), 0.0, []
    for kind, dt, peers in steps:
        now += dt
        result = {Kind.OK: OK, Kind.SOFT: TIMEOUT, Kind.HARD: hard}[kind]
        h, d = overload.observe(h, d, result, kind, now, timing, policy, peers)
        seen.append((now, h, d, kind))
    return seen


@given(st.lists(rounds, max_size=30), timings, policies, HARD_RESULTS)
def test_a_hard_failure_always_withdraws_within_fall_rounds(
        steps: list[tuple[Kind, float, int]], timing: config.Timing, policy: config.Overload,
        hard: Result) -> None:
    hards = 0
    for _, h, _, kind in _run(steps, timing, policy, hard):
        hards = 0 if kind is Kind.OK else hards + (kind is Kind.HARD)
        if hards >= timing.fall or (kind is Kind.HARD and hard.hard):
            assert h.state is State.DOWN


@given(st.lists(st.tuples(st.just(Kind.SOFT), st.floats(0.01, 10), st.integers(0, 3)),
                max_size=30), timings, policies)
def test_soft_failures_alone_never_withdraw_before_the_bound(
        steps: list[tuple[Kind, float, int]], timing: config.Timing,
        policy: config.Overload) -> None:
    seen = _run(steps, timing, policy)
    for now, h, _, _ in seen:
        if h.state is State.DOWN:
            assert now - seen[0][0] > policy.max_degraded


@given(st.lists(st.tuples(st.sampled_from([Kind.OK, Kind.SOFT]), st.floats(0.01, 10),
                          st.integers(0, 3)), max_size=30), timings, policies)
def test_never_withdraw_on_soft_while_fewer_than_min_up_peers_answer(
        steps: list[tuple[Kind, float, int]], timing: config.Timing,
        policy: config.Overload) -> None:
    previous = State.UP
    for (_, _, peers), (_, h, _, kind) in zip(steps, _run(steps, timing, policy), strict=True):
        if kind is Kind.SOFT and previous is not State.DOWN and h.state is State.DOWN:
            assert policy.min_up == 0 or peers >= policy.min_up
        previous = h.state


@given(st.lists(rounds, max_size=30), timings, policies)
def test_soft_withdraws_and_their_recovery_never_count_as_flaps(
        steps: list[tuple[Kind, float, int]], timing: config.Timing,
        policy: config.Overload) -> None:
    h, d, now = UP, Degraded(), 0.0
    for kind, dt, peers in steps:
        now += dt
        result = {Kind.OK: OK, Kind.SOFT: TIMEOUT, Kind.HARD: SERVFAIL}[kind]
        new_h, new_d = overload.observe(h, d, result, kind, now, timing, policy, peers)
        soft_caused = (kind is Kind.SOFT and new_h.state is State.DOWN
                       and h.state is not State.DOWN)
        recovered_from_soft = d.withdrawn and new_h.state is State.UP and h.state is State.DOWN
        if soft_caused or recovered_from_soft:
            assert not overload.counts_as_flap(d, new_d)
        h, d = new_h, new_d
