"""Flap damping: hold a service down when it changes state too often.

Pure: the caller passes the time (monotonic seconds) in. A service that makes
`max_transitions` transitions within `window` seconds is held withdrawn for a
penalty; each hold while the previous one is still remembered doubles the
penalty (up to `max_penalty`); the memory fades once a hold has
been over for `max_penalty` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.core.config import Flap


@dataclass(frozen=True)
class Damping:
    transitions: tuple[float, ...] = ()  # times of recent transitions
    held_until: float = 0.0
    last_penalty: float = 0.0
    last_hold: float | None = None  # when the last hold started
    holds: int = 0  # holds so far (for status and metrics)

    def held(self, now: float) -> bool:
        return now < self.held_until

    def remaining(self, now: float) -> float:
        return max(0.0, self.held_until - now)


def record(damping: Damping, now: float, policy: Flap) -> Damping:
    """Note a state transition at `now`; start a hold if it is one too many."""
    if not policy.enabled:
        return damping
    recent = (*tuple(t for t in damping.transitions if now - t < policy.window), now)
    if len(recent) < policy.max_transitions or damping.held(now):
        return Damping(recent, damping.held_until, damping.last_penalty, damping.last_hold,
                       damping.holds)
    remembered = damping.last_hold is not None and now - damping.held_until < policy.max_penalty
    if remembered:
        penalty = min(policy.max_penalty, max(policy.penalty, damping.last_penalty * 2))
    else:
        penalty = policy.penalty
    return Damping(
        transitions=(),
        held_until=now + penalty,
        last_penalty=penalty,
        last_hold=now,
        holds=damping.holds + 1,
    )
