"""The rise/fall state machine of one service: probe results in, state out.

Pure: no clock, no I/O, no logging. `observe` turns (health, result, timing)
into the next health; `next_delay` says when to probe again. The daemon owns
the clock and the probes; flap damping lives in `speaker.flap`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from speaker.core.config import Timing

# A DNS server binds an address added to lo at its next interface scan (BIND: on the
# netlink event, seen up to ~1 s after the speaker added it at a first start after boot).
# Until a service has passed once, a refusal may mean "not bound yet", not "dead": it
# counts as an ordinary failure, and STARTING becomes DOWN only after this long of them.
# Nothing is delayed: a STARTING service is withdrawn.
STARTUP_GRACE = 3.0


class State(enum.Enum):
    STARTING = "starting"  # no decision yet: withdrawn until `rise` passes
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Health:
    state: State = State.STARTING
    passes: int = 0  # consecutive passing rounds
    fails: int = 0  # consecutive failing rounds
    reason: str = "no probe yet"
    passed: bool = False  # some round passed since the start (a verdict can mean something)


@dataclass(frozen=True)
class Result:
    """The outcome of one probe round of a service (all of its checks)."""

    ok: bool
    reason: str
    hard: bool = False  # a failure that needs no confirmation (anycast address missing)
    codes: tuple[str, ...] = ()  # the outcome codes of the failed checks (speaker.core.overload)
    degrade: bool = False  # passed, but a check asks for the degraded state (`reason`: why)


def observe(health: Health, result: Result, timing: Timing) -> Health:
    """Fold one probe round into `health`.

    UP needs `rise` consecutive passes; DOWN needs `fall` consecutive failures,
    or a single hard failure. Any other result keeps the state and counts. A
    service that never passed since its start stays STARTING through refusals
    for `startup_rounds` rounds (see STARTUP_GRACE).
    """
    if result.ok:
        passes = health.passes + 1
        state = State.UP if passes >= timing.rise else health.state
        if health.state is State.UP:
            state = State.UP
        return Health(state=state, passes=passes, fails=0, reason=result.reason, passed=True)
    fails = health.fails + 1
    state = health.state
    if health.state is State.STARTING and not health.passed and _refusals(result, timing):
        if fails >= startup_rounds(timing):
            state = State.DOWN
    elif result.hard or fails >= timing.fall:
        state = State.DOWN
    return Health(state=state, passes=0, fails=fails, reason=result.reason,
                  passed=health.passed)


def _refusals(result: Result, timing: Timing) -> bool:
    """Every failed check of the round failed by an at-once code (e.g. refused)."""
    return bool(result.codes) and all(c in timing.fail_at_once for c in result.codes)


def startup_rounds(timing: Timing) -> int:
    """Refused rounds a never-passed service stays STARTING through (failures are
    re-probed at `fast_interval`): STARTUP_GRACE's worth, and at least `fall`."""
    return max(timing.fall, math.ceil(STARTUP_GRACE / timing.fast_interval))


def next_delay(health: Health, timing: Timing, result: Result | None = None) -> float:
    """Seconds from the start of the last round (`result`) to the start of the next one.

    A failure that is not yet confirmed is re-probed at `fast_interval`, so a
    dead server is confirmed quickly while one lost probe never withdraws; if
    the round failed only by timeouts it has waited already, and the
    confirming round starts as soon as it ends. The rise rounds after a start
    (or an `announce`, a new service) also run at `fast_interval`: a healthy
    service is announced sooner, still only after `rise` passes.
    """
    if health.fails > 0 and health.state is not State.DOWN:
        if result is not None and result.codes and all(c == "timeout" for c in result.codes):
            return 0.0
        return timing.fast_interval
    if health.state is State.STARTING:
        return timing.fast_interval
    return timing.interval


def reset(health: Health, reason: str) -> Health:
    """Forget progress (after maintenance ends or a reload changed the checks)."""
    return replace(health, passes=0, fails=0, reason=reason)
