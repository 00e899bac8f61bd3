"""The adaptive probe timeout: the RFC 6298 estimator, its bounds, and when rounds confirm."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.core import rtt
from speaker.core.config import Timing
from speaker.core.health import Health, State
from speaker.core.overload import Degraded, Kind

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
    assert rtt.sample(rtt.Rtt(), 0.004) == rtt.Rtt(srtt=0.004, rttvar=0.002, samples=1)


def test_a_local_server_gets_the_floor_and_a_slower_one_more() -> None:
    fast = fold([0.0003] * 20)
    assert rtt.timeout(fast, 0.02, 0.25) == 0.02
    slower = fold([0.0003] * 20 + [0.04] * 3)
    assert 0.04 < rtt.timeout(slower, 0.02, 0.25) < 0.25  # the variation pushes it up


def test_only_services_that_confirm_get_an_adaptive_timeout() -> None:
    assert rtt.floor(Timing()) == Timing().min_timeout
    assert rtt.floor(Timing(adaptive_timeout=False)) is None
    assert rtt.floor(Timing(fall=1)) is None  # one early timeout would withdraw


def test_a_round_after_a_failure_or_while_degraded_confirms() -> None:
    assert not rtt.confirms(Health(State.UP), Degraded())
    assert rtt.confirms(Health(State.UP, fails=1), Degraded())
    assert rtt.confirms(Health(State.UP), Degraded(since=1.0, last=Kind.SOFT))
