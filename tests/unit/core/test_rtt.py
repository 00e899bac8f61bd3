"""The adaptive probe timeout: the RFC 6298 estimator, its bounds, the hang window, and
what kind of run a round is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.core import rtt
from speaker.core.config import Overload, Timing
from speaker.core.health import Health, State
from speaker.core.overload import Degraded, Kind, Load
from speaker.core.rtt import Run

latencies = st.lists(st.floats(0.0, 5.0, allow_nan=False), max_size=80)
bounds = st.tuples(st.floats(0.001, 1.0), st.floats(0.001, 60.0)).map(sorted)


def fold(samples: list[float]) -> rtt.Rtt:
    est = rtt.Rtt()
    for r in samples:
        est = rtt.sample(est, r)
    return est


@settings(max_examples=500)
@given(latencies, bounds)
def test_the_timeout_stays_between_the_floor_and_the_ceiling(samples: list[float],
                                                             limits: list[float]) -> None:
    floor, ceiling = limits
    est = rtt.Rtt()
    for r in samples:
        est = rtt.sample(est, r)
        assert floor <= rtt.timeout(est, floor, ceiling) <= ceiling


@settings(max_examples=200)
@given(st.floats(0.0, 1.0), st.floats(0.0001, 0.01), st.floats(0.05, 2.0))
def test_steady_latency_converges_to_it_within_the_bounds(r: float, floor: float,
                                                          ceiling: float) -> None:
    est = fold([r] * 200)
    assert est.srtt == pytest.approx(r, abs=1e-9)
    assert rtt.timeout(est, floor, ceiling) == pytest.approx(min(ceiling, max(floor, r)),
                                                             abs=1e-6)


@given(st.lists(st.floats(0.0, 1.0), max_size=rtt.WARMUP - 1))
def test_the_ceiling_until_warmup_samples(samples: list[float]) -> None:
    assert rtt.timeout(fold(samples), 0.001, 0.25) == 0.25


def test_the_first_sample_sets_srtt_and_half_of_it_as_variation() -> None:
    assert rtt.sample(rtt.Rtt(), 0.004) == rtt.Rtt(srtt=0.004, rttvar=0.002, samples=1,
                                                   peak=0.004)


def test_a_local_server_gets_the_floor_and_a_slower_one_more() -> None:
    fast = fold([0.0003] * 20)
    assert rtt.timeout(fast, 0.02, 0.25) == 0.02
    slower = fold([0.0003] * 20 + [0.04] * 3)
    assert 0.04 < rtt.timeout(slower, 0.02, 0.25) < 0.25  # the variation pushes it up


def test_only_services_that_confirm_get_an_adaptive_timeout() -> None:
    assert rtt.floor(Timing()) == Timing().min_timeout
    assert rtt.floor(Timing(adaptive_timeout=False)) is None
    assert rtt.floor(Timing(fall=1)) is None  # one early timeout would withdraw


def test_a_round_after_a_failure_of_a_quiet_server_confirms_with_the_hang_window() -> None:
    assert rtt.confirms(Health(State.UP), Degraded()) is Run.FIRST
    assert rtt.confirms(Health(State.UP, fails=1), Degraded()) is Run.CONFIRM
    assert rtt.confirms(Health(State.DOWN, fails=5), Degraded()) is Run.CONFIRM


POLICY = Overload(min_client_rate=50, stats_max_age=10)


@pytest.mark.parametrize(("load", "expected"), [
    (Load(client_rate=5, age=1), Run.CONFIRM),  # fresh statistics show it is not busy
    (Load(client_rate=500, age=1), Run.FULL),  # busy
    (Load(client_rate=5, age=11), Run.FULL),  # too old to tell
    (None, Run.FULL),  # no statistics yet
])
def test_the_full_timeout_confirms_while_the_overload_policy_may_call_it_busy(
        load: Load | None, expected: Run) -> None:
    assert rtt.confirms(Health(State.UP, fails=1), Degraded(), POLICY, load) is expected


def test_a_degraded_service_is_confirmed_at_the_full_timeout() -> None:
    degraded = Degraded(since=1.0, last=Kind.SOFT)
    assert rtt.confirms(Health(State.UP), degraded) is Run.FULL
    assert rtt.confirms(Health(State.UP), degraded, POLICY, Load(5, 1)) is Run.FULL


def test_the_hang_window_of_a_local_server_is_its_floor_times_confirm_floors() -> None:
    fast = fold([0.0003] * 20)
    assert rtt.window(fast, 0.02, 0.25) == pytest.approx(0.03)
    assert rtt.window(fold([0.0003] * 3), 0.02, 0.25) == 0.25  # not warm yet: the ceiling


def test_a_server_measured_slow_gets_the_full_timeout_as_its_window() -> None:
    slow = fold([0.03, 0.2, 0.1, 0.15, 0.05, 0.18] * 5)  # alive, answering in 30-200 ms
    assert rtt.timeout(slow, 0.02, 0.25) == 0.25
    assert rtt.window(slow, 0.02, 0.25) == 0.25


def test_a_stall_lengthens_the_window_and_is_forgotten_slowly() -> None:
    est = rtt.stalled(fold([0.0003] * 20), 0.08)  # answered 80 ms after a query timed out
    assert est.srtt == pytest.approx(0.0003) and est.samples == 20  # Karn: no RTT sample
    assert rtt.window(est, 0.02, 0.25) == pytest.approx(0.16)  # twice the stall
    later = est
    for _ in range(100):
        later = rtt.sample(later, 0.0003)
    assert rtt.window(later, 0.02, 0.25) > 0.09  # 100 answers later it still counts
    for _ in range(1000):
        later = rtt.sample(later, 0.0003)
    assert rtt.window(later, 0.02, 0.25) == pytest.approx(0.03)


@settings(max_examples=300)
@given(latencies, bounds)
def test_the_window_is_never_shorter_than_the_first_timeout(samples: list[float],
                                                           limits: list[float]) -> None:
    floor, ceiling = limits
    est = fold(samples)
    assert rtt.timeout(est, floor, ceiling) <= rtt.window(est, floor, ceiling) <= ceiling
    assert rtt.window(est, floor, ceiling) >= min(ceiling, rtt.CONFIRM_PEAKS * est.peak)
