"""Shared timers: the pauses of the services that end at the same moment share one.

Owns `Ticks`: one timer of the event loop per due time, rounded down to QUANTUM
of the loop's clock, that ends every pause due then. 1,000 services whose
rounds start on a shared probe's grid (`speaker.engine.fanout.next_start`)
wait on 16 timers, not 1,000: one heap entry and one timer handle per phase
and round instead of one per service. A pause ends at most QUANTUM early
(well within the grid's slack, `fanout.GRID_SLACK`), never late. Each pause
keeps its own future, so an event still wakes one service alone (`wake`).
Must not decide when a round starts: the speaker says how long it waits.
"""

from __future__ import annotations

import asyncio
import math

QUANTUM = 2.5e-4  # s: pauses due within the same quarter millisecond share a timer


class Ticks:
    def __init__(self) -> None:
        # due time (in QUANTUM steps of the loop's clock): the pauses it ends
        self.due: dict[int, list[asyncio.Future[None]]] = {}

    def pause(self, delay: float) -> asyncio.Future[None]:
        """A future done after `delay` seconds (or QUANTUM less), or when set earlier."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        step = math.floor((loop.time() + delay) / QUANTUM)
        waiting = self.due.get(step)
        if waiting is None:
            waiting = self.due[step] = []
            loop.call_at(step * QUANTUM, self._ring, step)
        waiting.append(waiter)
        return waiter

    def _ring(self, step: int) -> None:
        for waiter in self.due.pop(step, ()):
            if not waiter.done():  # not woken by an event, nor cancelled
                waiter.set_result(None)
