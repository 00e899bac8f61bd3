"""The rise/fall state machine."""

from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.core.config import Timing
from speaker.core.health import Health, Result, State, next_delay, observe

OK = Result(True, "ok")
FAIL = Result(False, "timeout")
HARD = Result(False, "address missing", hard=True)


def run(results: list[Result], timing: Timing) -> list[Health]:
    h = Health()
    out = []
    for r in results:
        h = observe(h, r, timing)
        out.append(h)
    return out


def test_starts_withdrawn_and_rises_after_rise_passes() -> None:
    states = [h.state for h in run([OK, OK, OK], Timing(rise=3))]
    assert states == [State.STARTING, State.STARTING, State.UP]


def test_falls_after_fall_failures() -> None:
    states = [h.state for h in run([OK, OK, OK, FAIL, FAIL], Timing(rise=3, fall=2))]
    assert states[-2:] == [State.UP, State.DOWN]


def test_hard_failure_is_down_at_once() -> None:
    states = [h.state for h in run([OK, OK, OK, HARD], Timing(rise=3, fall=5))]
    assert states[-1] is State.DOWN


def test_fast_interval_only_while_a_failure_is_unconfirmed() -> None:
    t = Timing(interval=0.5, fast_interval=0.1, rise=1, fall=3)
    up = observe(Health(), OK, t)
    assert next_delay(up, t) == 0.5
    once = observe(up, FAIL, t)
    assert once.state is State.UP and next_delay(once, t) == 0.1
    down = observe(observe(once, FAIL, t), FAIL, t)
    assert down.state is State.DOWN and next_delay(down, t) == 0.5


def test_reason_is_the_last_result() -> None:
    assert run([OK, FAIL], Timing())[-1].reason == "timeout"


timings = st.builds(Timing, rise=st.integers(1, 6), fall=st.integers(1, 6))
results = st.lists(st.sampled_from([OK, FAIL]), max_size=60)


@settings(max_examples=500)
@given(timings, results)
def test_never_up_without_rise_consecutive_passes(timing: Timing, seq: list[Result]) -> None:
    h = Health()
    streak = 0
    for r in seq:
        before = h.state
        h = observe(h, r, timing)
        streak = streak + 1 if r.ok else 0
        if h.state is State.UP and before is not State.UP:
            assert streak >= timing.rise


@settings(max_examples=500)
@given(timings, results)
def test_one_failure_never_withdraws_when_fall_above_one(timing: Timing, seq: list[Result]) -> None:
    h = Health()
    fails = 0
    for r in seq:
        before = h.state
        h = observe(h, r, timing)
        fails = 0 if r.ok else fails + 1
        if before is State.UP and h.state is not State.UP:
            assert fails >= timing.fall
            if timing.fall > 1:
                assert fails > 1


@settings(max_examples=300)
@given(st.integers(2, 6), st.integers(2, 6), st.integers(1, 40))
def test_alternating_results_never_change_state(rise: int, fall: int, n: int) -> None:
    t = Timing(rise=rise, fall=fall)
    h = observe(observe(observe(observe(observe(observe(Health(), OK, t), OK, t), OK, t),
                                OK, t), OK, t), OK, t)
    assert h.state is State.UP
    for i in range(n):
        h = observe(h, FAIL if i % 2 == 0 else OK, t)
        assert h.state is State.UP


def test_rise_rounds_after_a_start_run_at_fast_interval() -> None:
    t = Timing(interval=0.3, fast_interval=0.1, rise=3)
    once = observe(Health(), OK, t)
    assert once.state is State.STARTING and next_delay(once, t) == 0.1
    up = observe(observe(once, OK, t), OK, t)
    assert up.state is State.UP and next_delay(up, t) == 0.3


def test_a_round_that_only_timed_out_is_confirmed_at_once() -> None:
    t = Timing(interval=0.3, fast_interval=0.1, rise=1, fall=2)
    up = observe(Health(), OK, t)
    timed_out = Result(False, "timeout", codes=("timeout",))
    assert next_delay(observe(up, timed_out, t), t, timed_out) == 0.0
    mixed = Result(False, "timeout; rcode", codes=("timeout", "rcode"))
    assert next_delay(observe(up, mixed, t), t, mixed) == 0.1


@settings(max_examples=500)
@given(timings, st.lists(st.sampled_from([OK, FAIL, Result(False, "t", codes=("timeout",))]),
                         max_size=60))
def test_fast_cold_start_never_announces_before_rise_passing_rounds(
        timing: Timing, seq: list[Result]) -> None:
    """Rounds paced by next_delay from a start: the first UP follows `rise` passes in a row,
    and no sooner than `rise - 1` pauses of at least `fast_interval` after the first of them."""
    h, now, streak_started, streak = Health(), 0.0, 0.0, 0
    for r in seq:
        before = h.state
        h = observe(h, r, timing)
        if r.ok:
            streak_started = now if streak == 0 else streak_started
            streak += 1
        else:
            streak = 0
        if h.state is State.UP and before is not State.UP:
            assert streak >= timing.rise
            assert now - streak_started >= (timing.rise - 1) * timing.fast_interval - 1e-9
            break
        now += next_delay(h, timing, r)
