"""Flap damping."""

from speaker.core.config import Flap
from speaker.core.flap import Damping, record

POLICY = Flap(window=60, max_transitions=4, penalty=10, max_penalty=40)


def flaps(d: Damping, start: float, n: int, step: float = 1.0) -> Damping:
    for i in range(n):
        d = record(d, start + i * step, POLICY)
    return d


def test_few_transitions_are_not_held() -> None:
    d = flaps(Damping(), 0, 3)
    assert not d.held(3)


def test_too_many_transitions_in_window_hold_down() -> None:
    d = flaps(Damping(), 0, 4)
    assert d.held(3.5) and d.remaining(3) == 10
    assert not d.held(13.1)


def test_transitions_outside_window_do_not_count() -> None:
    d = flaps(Damping(), 0, 3, step=30)
    assert not d.held(61)


def test_repeated_flapping_doubles_penalty_up_to_max() -> None:
    d = flaps(Damping(), 0, 4)  # held 3..13
    d = flaps(d, 14, 4)  # held again at 17 for 20
    assert d.last_penalty == 20
    d = flaps(d, 40, 4)  # 40
    assert d.last_penalty == 40
    d = flaps(d, 90, 4)
    assert d.last_penalty == 40
    assert d.holds == 4


def test_penalty_memory_decays() -> None:
    d = flaps(Damping(), 0, 4)
    d = flaps(d, 500, 4)
    assert d.last_penalty == 10


def test_disabled_policy_never_holds() -> None:
    d = Damping()
    for i in range(20):
        d = record(d, i, Flap(enabled=False))
    assert not d.held(20)
