"""The graceful drains in progress (RFC 8326): which service drains until when, and its end.

Owns one `speaker.core.gshut.Drain` per draining service, the timer that ends
it and what the `withdraw --graceful` request waits for: each drain ends once,
with a `gshut.Ending` that says how, truthfully: withdrawn at its end (its time
is up), cut short (withdrawn at once before it: another withdraw, whatever its
tag, or the service went down), removed (a reload removed the service),
cancelled (`speakerctl announce`) or replaced (a newer graceful withdraw). Must
not touch routes or the maintenance record: the speaker calls `on_end` for a
drain whose time is up and re-applies the service's route itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from speaker.core import gshut
from speaker.ports import Clock


@dataclass
class _Running:
    drain: gshut.Drain
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ending: gshut.Ending | None = None
    timer: asyncio.TimerHandle | None = None


class Drains:
    def __init__(self, clock: Clock, on_end: Callable[[str], None]) -> None:
        self.clock = clock
        self.on_end = on_end
        self._running: dict[str, _Running] = {}

    def get(self, name: str) -> gshut.Drain | None:
        running = self._running.get(name)
        return running.drain if running else None

    def start(self, names: Iterable[str], tag: str, seconds: float) -> None:
        """A drain of `seconds` for each of `names` (one already running is replaced)."""
        for name in names:
            self._end(name, gshut.replaced())
            running = _Running(gshut.start(tag, seconds, self.clock()))
            with contextlib.suppress(RuntimeError):  # no loop (a synchronous caller): `due`
                running.timer = asyncio.get_running_loop().call_later(seconds, self._fire,
                                                                      name, running)
            self._running[name] = running

    def _fire(self, name: str, running: _Running) -> None:
        """The timer of `running`: its time is up (whatever the injected clock says)."""
        if self._running.get(name) is running:
            self._end(name, gshut.over(running.drain))
            self.on_end(name)

    def due(self) -> list[str]:
        """End every drain whose time is up; `on_end` withdraws each. Returns their names."""
        now = self.clock()
        over = [n for n, r in self._running.items() if r.drain.over(now)]
        for name in over:
            self._end(name, gshut.over(self._running[name].drain))
            self.on_end(name)
        return over

    def cancel(self, name: str) -> bool:
        """End the drain of `name` because it is announced again; False if none ran."""
        return self._end(name, gshut.cancelled())

    def stop(self, name: str, why: str) -> bool:
        """End the drain of `name` because it is withdrawn now, before its end, for `why`;
        False if none ran."""
        running = self._running.get(name)
        return running is not None and self._end(
            name, gshut.cut_short(running.drain, self.clock(), why))

    def removed(self, name: str, moved: dict[str, str]) -> bool:
        """End the drain of `name` because a reload removed the service (`moved`: its
        prefixes another service has now); False if none ran."""
        return self._end(name, gshut.removed(name, moved))

    def _end(self, name: str, ending: gshut.Ending) -> bool:
        running = self._running.pop(name, None)
        if running is None:
            return False
        if running.timer is not None:
            running.timer.cancel()
        running.ending = ending
        running.ended.set()
        return True

    async def wait(self, names: Sequence[str]) -> dict[str, gshut.Ending]:
        """How the drains of `names` ended (those not draining are left out)."""
        waiting = {n: self._running[n] for n in names if n in self._running}
        for running in waiting.values():
            await running.ended.wait()
        return {n: r.ending for n, r in waiting.items() if r.ending is not None}

    def close(self, why: str) -> None:
        for name in list(self._running):
            self.stop(name, why)
