"""Housekeeping wakes as seldom as the watchdog allows, and at once for a SIGHUP reload."""

from __future__ import annotations

import asyncio

from speaker import daemon
from speaker.adapters import watchdog
from speaker.core import config
from tests.unit.engine_rig import EngineRig

YAML = """
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks: [{type: dns, server: "2001:db8::100", qname: example.com.}]
"""


class Dog:
    restarts = 0

    def __init__(self) -> None:
        self.beats = 0

    def alive(self) -> bool:
        return True

    def beat(self) -> None:
        self.beats += 1


def test_the_beat_is_a_quarter_of_the_watchdog_timeout_and_never_below_beat() -> None:
    assert watchdog.beat_period(2.0) == 0.5  # the default watchdog_timeout: 2 wake-ups a second
    assert watchdog.beat_period(0.4) == watchdog.BEAT
    assert watchdog.beat_period(8.0) == 2.0


def test_a_reload_request_runs_a_step_at_once_reload_first() -> None:
    rig = EngineRig(config.parse(YAML))
    dog = Dog()
    order: list[str] = []

    async def scenario() -> None:
        supervisor = daemon.Supervisor(asyncio.get_running_loop(), rig.speaker.stopping)
        keeper = daemon.Housekeeping(rig.speaker, dog, supervisor,  # type: ignore[arg-type]
                                     lambda: order.append(f"reload after {dog.beats} beats"),
                                     period=3600)
        task = asyncio.create_task(keeper.run())
        for _ in range(3):
            await asyncio.sleep(0)
        assert dog.beats == 1  # the first step; the next would be an hour later
        keeper.request_reload()
        for _ in range(3):
            await asyncio.sleep(0)
        assert dog.beats == 2 and order == ["reload after 1 beats"]
        task.cancel()
        for run in rig.speaker.runs.values():
            if run.task:
                run.task.cancel()

    asyncio.run(asyncio.wait_for(scenario(), 5))
