"""Which of the prefixes the services want announced get one of the router's slots.

Pure: the wanted prefixes (in priority order) and `router_limits.max_prefixes`
in, the granted and the excess out. Every prefix goes to every neighbour, so
one budget is every neighbour's budget. The priority is the config's order:
the services as listed, each one's prefixes as listed. `share` grants the
first `max_prefixes` wanted prefixes; the rest stay withdrawn and are named
(`OVER`). A prefix that stops being wanted frees its slot for the next one,
and a higher-priority prefix that is wanted again takes its slot back: for
the same health the router holds the same prefixes, whatever came before.
That a freed slot is taken only once the router cannot hold the old prefix
any more (the withdraw acknowledged before the announce is written) is the
RouteBook's part (`speaker.core.routes`). Must not log nor keep state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")


def over_reason(limit: int) -> str:
    """What status, the log and doctor say of a prefix left out."""
    return f"over router_limits.max_prefixes ({limit}): not announced"


@dataclass(frozen=True)
class Share(Generic[P]):
    granted: tuple[P, ...]  # announced (or on their way)
    over: tuple[P, ...]  # wanted, but no slot is left: withdrawn


def share(wanted: Iterable[P], limit: int | None) -> Share[P]:
    """The first `limit` of `wanted` (priority order) get a slot; None: no limit."""
    ordered = tuple(dict.fromkeys(wanted))
    if limit is None:
        return Share(ordered, ())
    return Share(ordered[:limit], ordered[limit:])
