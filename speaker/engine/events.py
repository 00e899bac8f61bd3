"""The transitions shown to operators: kept in memory, listed and followed.

Owns `Event` and `EventLog`, the last `KEPT` transitions and the waiters of
the `speakerctl events --follow` requests. Must not log or decide: the
speaker appends what it decided.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

KEPT = 500


@dataclass(frozen=True)
class Event:
    """A state transition, kept in memory for `speakerctl events`."""

    time: float  # wall clock
    service: str
    old: str
    new: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "service": self.service, "old": self.old, "new": self.new,
                "reason": self.reason}


class EventLog:
    """The last `KEPT` events, oldest first; followers are woken by each new one."""

    def __init__(self) -> None:
        self._kept: deque[Event] = deque(maxlen=KEPT)
        self.count = 0  # events appended since the start, kept or not
        self.waiters: list[asyncio.Event] = []

    def __iter__(self) -> Iterator[Event]:
        return iter(self._kept)

    def __len__(self) -> int:
        return len(self._kept)

    def append(self, event: Event) -> None:
        self._kept.append(event)
        self.count += 1
        for waiter in self.waiters:
            waiter.set()

    def since(self, seen: int) -> list[Event]:
        """The kept events appended after the first `seen` ones."""
        first = self.count - len(self._kept)  # the number of the oldest kept event
        return list(self._kept)[max(0, seen - first):]

    async def follow(self, stopping: asyncio.Event) -> AsyncGenerator[dict[str, Any], None]:
        """Every kept event, then each new one, until `stopping` is set (and woken)."""
        seen = 0
        waiter = asyncio.Event()
        self.waiters.append(waiter)
        try:
            while True:
                fresh, seen = self.since(seen), self.count
                for event in fresh:
                    yield event.as_dict()
                if stopping.is_set():
                    return
                await waiter.wait()
                waiter.clear()
        finally:
            self.waiters.remove(waiter)
