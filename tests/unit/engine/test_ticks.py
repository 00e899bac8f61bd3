"""engine.ticks: the pauses of services due at the same moment share one timer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from speaker.engine.ticks import QUANTUM, Ticks


def counting_timers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The due times of the timers the running loop is asked for."""
    loop = asyncio.get_running_loop()
    asked: list[float] = []
    call_at = loop.call_at

    def spy(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        asked.append(when)
        return call_at(when, *args, **kwargs)
    monkeypatch.setattr(loop, "call_at", spy)
    return asked


def test_pauses_due_at_the_same_moment_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def body() -> None:
        asked = counting_timers(monkeypatch)
        ticks = Ticks()
        loop = asyncio.get_running_loop()
        now = (int(loop.time() / QUANTUM) + 1) * QUANTUM
        monkeypatch.setattr(loop, "time", lambda: now)  # the 64 ask at one instant
        due = now + 1.0 + QUANTUM / 2  # mid-quantum
        waiters = [ticks.pause(due - now) for _ in range(64)]
        assert len(asked) == 1 and len(set(map(id, waiters))) == 64
        assert due - QUANTUM < asked[0] <= due  # at most a quantum early, never late
        ticks.pause(3600)
        assert len(asked) == 2
    asyncio.run(body())


def test_a_pause_ends_when_it_is_due() -> None:
    async def body() -> None:
        ticks = Ticks()
        waiter = ticks.pause(0.0)
        await asyncio.wait_for(waiter, 5)
        assert waiter.done() and ticks.due == {}
    asyncio.run(body())


def test_a_woken_pause_ends_alone_and_a_cancelled_one_is_skipped() -> None:
    async def body() -> None:
        ticks = Ticks()
        woken, cancelled, kept = (ticks.pause(0.0) for _ in range(3))
        woken.set_result(None)  # an event: this service only
        cancelled.cancel()  # its service stopped
        assert not kept.done()
        await asyncio.wait_for(kept, 5)  # the shared timer skips the two, ends the third
        assert cancelled.cancelled() and woken.result() is None
    asyncio.run(body())
