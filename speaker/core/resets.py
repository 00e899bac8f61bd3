"""When a BGP session "keeps resetting": the router drops it right after what we send.

Pure: times come in (the monotonic clock, read by the engine), verdicts go
out; no clock reads, no I/O, no logging. A down is *quick* when it comes
within QUICK seconds of the session's up or of an UPDATE the speaker sent
(the router refusing a route: a martian next hop, a maximum-prefix). A
session is *resetting* while it has had at least COUNT quick downs within
the last WINDOW seconds; a route ExaBGP confirmed on such a session is not
held by the router, whatever the ack says.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 60.0
QUICK = 5.0
COUNT = 3


@dataclass
class Resets:
    """One session's quick downs."""

    quick: list[float] = field(default_factory=list)  # times of the quick downs in WINDOW
    total: int = 0  # every quick down since the start
    last_up: float | None = None

    def up(self, now: float) -> None:
        self.last_up = now

    def down(self, now: float, last_update: float | None) -> bool:
        """Count a down at `now`; `last_update`: when the speaker last sent an UPDATE.
        True when it was a quick one."""
        quick = any(t is not None and 0 <= now - t <= QUICK for t in (self.last_up, last_update))
        if quick:
            self.quick.append(now)
            self.total += 1
        self._forget(now)
        return quick

    def recent(self, now: float) -> int:
        """The quick downs within the last WINDOW seconds."""
        self._forget(now)
        return len(self.quick)

    def resetting(self, now: float) -> bool:
        return self.recent(now) >= COUNT

    def _forget(self, now: float) -> None:
        self.quick = [t for t in self.quick if now - t <= WINDOW]
