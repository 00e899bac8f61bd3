"""core/freshness: RFC 1982 serial arithmetic and the lag judgement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.core.freshness import (
    HALF,
    MODULUS,
    Freshness,
    Soa,
    add,
    compare,
    duration,
    judge,
)

serials = st.integers(min_value=0, max_value=MODULUS - 1)
steps = st.integers(min_value=1, max_value=HALF - 1)
ZONE = "example.com."


# -- serial arithmetic ----------------------------------------------------------------


def test_wraparound_the_largest_serial_is_behind_zero() -> None:
    assert compare(MODULUS - 1, 0) == -1
    assert compare(0, MODULUS - 1) == 1
    assert add(MODULUS - 1, 1) == 0


def test_wraparound_across_the_top_by_many_steps() -> None:
    assert compare(4_294_967_000, 200) == -1  # 200 is 496 steps past 4294967000
    assert compare(200, 4_294_967_000) == 1


def test_exactly_two_to_the_31_apart_is_undefined_both_ways() -> None:
    assert compare(0, HALF) is None
    assert compare(HALF, 0) is None
    assert compare(5, 5 + HALF) is None


def test_one_step_either_side_of_the_2_31_boundary() -> None:
    assert compare(0, HALF - 1) == -1  # the farthest a serial can be ahead
    assert compare(HALF - 1, 0) == 1
    assert compare(0, HALF + 1) == 1  # one step past: it wraps, 0 is now the newer one
    assert compare(HALF + 1, 0) == -1


def test_date_serials_in_order() -> None:
    assert compare(2025112003, 2025112005) == -1
    assert compare(2025112005, 2025112005) == 0


def test_add_refuses_2_31_and_more() -> None:
    with pytest.raises(ValueError, match=r"0\.\.2147483647"):
        add(1, HALF)


def test_out_of_range_serials_are_refused() -> None:
    with pytest.raises(ValueError, match="serials are"):
        compare(-1, 0)
    with pytest.raises(ValueError, match="serials are"):
        compare(0, MODULUS)


@given(serials, steps)
def test_adding_a_step_makes_a_serial_greater(s: int, n: int) -> None:
    assert compare(s, add(s, n)) == -1
    assert compare(add(s, n), s) == 1


@given(serials, serials)
def test_compare_is_antisymmetric(a: int, b: int) -> None:
    forward, backward = compare(a, b), compare(b, a)
    if forward is None:
        assert backward is None
    else:
        assert backward == -forward


@given(serials)
def test_a_serial_equals_itself_only(s: int) -> None:
    assert compare(s, s) == 0
    assert compare(s, add(s, 1)) != 0


# -- the lag judgement ----------------------------------------------------------------


def soa(serial: int) -> Soa:
    return Soa(serial, refresh=120, retry=60)


def test_in_sync_is_ok() -> None:
    j = judge(Freshness(), ZONE, soa(7), soa(7), now=100.0)
    assert (j.code, j.stale, j.warning) == ("ok", False, "")


def test_behind_within_max_lag_is_not_stale() -> None:
    first = judge(Freshness(), ZONE, soa(3), soa(5), now=100.0, max_lag=180)
    later = judge(first.state, ZONE, soa(3), soa(5), now=280.0, max_lag=180)
    assert (first.code, later.code) == ("behind", "behind")
    assert later.lag == 180.0 and not later.stale


def test_behind_past_max_lag_is_stale_with_the_reason_of_the_issue() -> None:
    first = judge(Freshness(), ZONE, soa(2025112003), soa(2025112005), now=0.0, max_lag=180)
    j = judge(first.state, ZONE, soa(2025112003), soa(2025112005), now=252.0, max_lag=180)
    assert j.stale and j.code == "stale"
    assert j.reason == ("zone example.com. serial 2025112003 behind master 2025112005 "
                        "for 4m12s (max 3m)")


def test_default_max_lag_is_the_masters_refresh_plus_retry() -> None:
    state = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0).state
    assert not judge(state, ZONE, soa(1), soa(2), now=180.0).stale
    assert judge(state, ZONE, soa(1), soa(2), now=180.5).stale


def test_lag_is_time_not_serial_distance() -> None:
    # a million serials behind for one second is fresh; one serial for an hour is stale
    far = judge(Freshness(), ZONE, soa(1), soa(1_000_001), now=0.0)
    far = judge(far.state, ZONE, soa(1), soa(1_000_001), now=1.0)
    near = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0)
    near = judge(near.state, ZONE, soa(1), soa(2), now=3600.0)
    assert not far.stale and near.stale


def test_behind_across_the_wrap_counts() -> None:
    j = judge(Freshness(), ZONE, soa(MODULUS - 1), soa(3), now=0.0, max_lag=10)
    assert j.code == "behind"


def test_catching_up_resets_the_timer() -> None:
    state = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0, max_lag=10).state
    state = judge(state, ZONE, soa(1), soa(2), now=20.0, max_lag=10).state
    assert state.stale
    caught = judge(state, ZONE, soa(2), soa(2), now=21.0, max_lag=10)
    assert caught.code == "ok" and caught.state.behind_since is None and not caught.state.stale
    again = judge(caught.state, ZONE, soa(2), soa(3), now=22.0, max_lag=10)
    assert again.code == "behind" and again.lag == 0.0


def test_a_master_that_moves_on_again_keeps_the_timer() -> None:
    state = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0, max_lag=10).state
    j = judge(state, ZONE, soa(2), soa(3), now=11.0, max_lag=10)  # never caught up: still behind
    assert j.stale


def test_ahead_of_the_master_warns_and_is_never_stale() -> None:
    state = judge(Freshness(), ZONE, soa(9), soa(5), now=0.0, max_lag=1).state
    j = judge(state, ZONE, soa(9), soa(5), now=1000.0, max_lag=1)
    assert (j.code, j.stale) == ("ahead", False) and "went backwards" in j.warning


def test_2_31_apart_warns_and_is_never_stale() -> None:
    j = judge(Freshness(), ZONE, soa(0), soa(HALF), now=0.0, max_lag=1)
    j = judge(j.state, ZONE, soa(0), soa(HALF), now=100.0, max_lag=1)
    assert (j.code, j.stale) == ("serial-undefined", False) and "2^31" in j.warning


def test_master_never_seen_warns() -> None:
    j = judge(Freshness(), ZONE, soa(1), None, now=0.0, master_error="timeout after 1 s")
    assert (j.code, j.stale) == ("master-unreachable", False)
    assert "timeout after 1 s" in j.warning


def test_master_unreachable_never_turns_a_node_stale() -> None:
    state = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0, max_lag=10).state
    j = judge(state, ZONE, soa(1), None, now=1000.0, max_lag=10, master_error="refused")
    assert (j.code, j.stale) == ("master-unreachable", False)
    assert "behind master 2" in j.reason and "refused" in j.warning


def test_master_unreachable_keeps_a_stale_node_stale() -> None:
    state = judge(Freshness(), ZONE, soa(1), soa(2), now=0.0, max_lag=10).state
    state = judge(state, ZONE, soa(1), soa(2), now=11.0, max_lag=10).state
    j = judge(state, ZONE, soa(1), None, now=12.0, max_lag=10, master_error="timeout")
    assert j.stale and j.warning


def test_master_unreachable_node_in_sync_with_last_seen_is_not_stale() -> None:
    state = judge(Freshness(), ZONE, soa(4), soa(4), now=0.0).state
    j = judge(state, ZONE, soa(4), None, now=99999.0, master_error="timeout")
    assert (j.code, j.stale) == ("master-unreachable", False)


@given(st.lists(st.tuples(serials, st.one_of(st.none(), serials),
                          st.floats(min_value=0, max_value=1e6)), max_size=30))
def test_rounds_without_the_master_never_make_a_node_stale(
        rounds: list[tuple[int, int | None, float]]) -> None:
    """Whatever happened before, a round that cannot ask the master never turns a
    not-stale node stale."""
    state, now = Freshness(), 0.0
    for served, master, step in rounds:
        now += step
        j = judge(state, ZONE, soa(served), None if master is None else soa(master), now,
                  max_lag=5)
        if master is None and not state.stale:
            assert not j.stale
        state = j.state


@given(serials, steps, st.floats(min_value=0, max_value=1e6),
       st.floats(min_value=0, max_value=1e6))
def test_stale_exactly_when_behind_longer_than_max_lag(s: int, n: int, lag: float,
                                                      max_lag: float) -> None:
    state = judge(Freshness(), ZONE, soa(s), soa(add(s, n)), now=0.0, max_lag=max_lag).state
    j = judge(state, ZONE, soa(s), soa(add(s, n)), now=lag, max_lag=max_lag)
    assert j.stale == (lag > max_lag)


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "0.5s"), (12, "12s"), (180, "3m"), (252, "4m12s"), (18120, "5h02m"),
    (3600, "1h"), (86400, "1d"), (183600, "2d03h"),
])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text
