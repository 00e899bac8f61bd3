"""RFC 8326 graceful shutdown: a withdraw that first asks the routers to move traffic away.

`speakerctl withdraw --graceful SECONDS` re-announces a service's prefixes with
the well-known community GRACEFUL_SHUTDOWN (65535:0) added, waits SECONDS (the
routers prefer the other nodes' routes meanwhile: FRR sets LOCAL_PREF 0 on a
route that carries it), then withdraws as a plain withdraw does.

Owns the community, the bound and validation of SECONDS, the `Drain` record
(one service's drain: its tag and its end on the monotonic clock), the route
announced while draining, and whether a drain may still announce. Pure: no
clock (the caller passes `now`), no I/O; the engine (`speaker.engine.graceful`)
runs the timer. The maintenance is recorded before a drain starts, so a
process that dies meanwhile comes back withdrawn, never with this route.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from speaker.core.maintenance import ALL, Held

if TYPE_CHECKING:  # speakerctl imports this module: the config model only for the types
    from speaker.core.config import Route

GRACEFUL_SHUTDOWN = "65535:0"  # RFC 8326 section 5
MAX_SECONDS = 3600.0

# how a drain ends: withdrawn at its end, cut short (withdrawn at once before it), the
# service removed by a reload (withdrawn with it), or not withdrawn by it at all
WITHDRAWN = "withdrawn"
CUT_SHORT = "cut-short"
REMOVED = "removed"
CANCELLED = "cancelled"
REPLACED = "replaced"
REFUSED = (CANCELLED, REPLACED)  # the waiting withdraw fails: the drain did not withdraw


def seconds_problem(value: object) -> str:
    """Why `value` is not a graceful drain time ('' if it is): a number, 0 < s <= MAX."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"not a number of seconds: {str(value)[:40]!r}"
    if not 0 < value <= MAX_SECONDS:
        return f"must be more than 0 and at most {MAX_SECONDS:g} seconds (got {value:g})"
    return ""


def parse_seconds(text: str) -> tuple[float, str]:
    """`text` (a command-line word) as seconds, and the problem with it ('' if none)."""
    try:
        value = float(text)
    except ValueError:
        return 0.0, f"not a number of seconds: {text[:40]!r}"
    return value, seconds_problem(value)


@dataclass(frozen=True)
class Drain:
    """One service's graceful drain: maintenance `tag` withdraws it at `until`."""

    tag: str
    until: float  # monotonic seconds
    seconds: float

    def remaining(self, now: float) -> float:
        return max(0.0, self.until - now)

    def over(self, now: float) -> bool:
        return now >= self.until


def start(tag: str, seconds: float, now: float) -> Drain:
    return Drain(tag, now + seconds, seconds)


@dataclass(frozen=True)
class Ending:
    """How one drain ended: `code` (WITHDRAWN, CUT_SHORT, ...) and what its client is told."""

    code: str
    text: str


def over(drain: Drain) -> Ending:
    return Ending(WITHDRAWN, f"graceful drain over ({drain.seconds:g} s): withdrawing")


def cut_short(drain: Drain, now: float, why: str) -> Ending:
    """Withdrawn at once, before its end, because of `why` (e.g. another withdraw)."""
    ran = drain.seconds - drain.remaining(now)
    return Ending(CUT_SHORT, f"graceful drain cut short after {ran:.0f} s of "
                             f"{drain.seconds:g} s: withdrawn at once ({why})")


def removed(name: str, moved: dict[str, str] | None = None) -> Ending:
    """Service `name` is gone from the config; `moved`: its prefixes that another service
    now has ({prefix: service}), which follow that service's health, not this drain."""
    kept = ", ".join(f"{prefix} (now service {to})" for prefix, to in (moved or {}).items())
    return Ending(REMOVED, f"service {name} was removed by a reload during the drain; its "
                           f"routes were withdrawn{f', except {kept}' if kept else ''}")


def cancelled() -> Ending:
    return Ending(CANCELLED, "announced again (speakerctl announce)")


def replaced() -> Ending:
    return Ending(REPLACED, "a newer graceful withdraw drains it")


def drained(route: Route) -> Route:
    """`route` with GRACEFUL_SHUTDOWN added to its communities (once)."""
    if GRACEFUL_SHUTDOWN in route.communities:
        return route
    return dataclasses.replace(route, communities=(*route.communities, GRACEFUL_SHUTDOWN))


def announces(entries: Held, name: str, drain: Drain | None, now: float) -> bool:
    """True while `drain` keeps service `name` announced (with GRACEFUL_SHUTDOWN).

    Only until its end, and only while the drain's own maintenance is all that
    holds the service: any other tag, or an unreadable file (ALL), withdraws now.
    """
    if drain is None or drain.over(now) or entries.get(ALL):
        return False
    held = entries.get(name, ())
    return bool(held) and all(m.tag == drain.tag for m in held)
