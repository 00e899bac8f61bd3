"""No death goes unseen: housekeeping, service loops and threads are logged, then stop or restart."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

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
    """The watchdog's handle: alive; `beat` raises `error` when set."""

    restarts = 0

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.beats = 0

    def alive(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def beat(self) -> None:
        if self.error is not None:
            raise self.error
        self.beats += 1


def critical(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [{"message": r.getMessage(), **r.__dict__.get("fields", {})}
            for r in caplog.records if r.levelname == "CRITICAL"]


def in_loop(scenario: Callable[[asyncio.AbstractEventLoop], Any]) -> None:
    async def main() -> None:
        await asyncio.wait_for(scenario(asyncio.get_running_loop()), 5)

    asyncio.run(main())


def test_a_housekeeping_crash_is_logged_and_withdraws_and_exits(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = EngineRig(config.parse(YAML))
    dog = Dog()

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        supervisor = daemon.Supervisor(loop, rig.speaker.stopping)
        keeper = daemon.Housekeeping(rig.speaker, dog, supervisor, lambda: None)  # type: ignore[arg-type]
        keeper.step()
        assert dog.beats == 1 and not rig.speaker.stopping.is_set()
        dog.error = OSError("pipe to the watchdog broke")
        task = asyncio.create_task(keeper.run(), name="housekeeping")
        task.add_done_callback(supervisor.watch("housekeeping"))
        await rig.speaker.stopping.wait()
        assert supervisor.crashed == ["housekeeping crashed"]
        for run in rig.speaker.runs.values():
            if run.task:
                run.task.cancel()

    in_loop(scenario)
    [line] = critical(caplog)
    assert line["message"] == ("housekeeping crashed: withdrawing and exiting "
                               "(ExaBGP starts a fresh process)")
    assert "pipe to the watchdog broke" in line["error"]


def test_a_crashed_service_loop_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    rig = EngineRig(config.parse(YAML))

    async def broken() -> None:
        raise RuntimeError("injected bug")

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        supervisor = daemon.Supervisor(loop, rig.speaker.stopping)
        keeper = daemon.Housekeeping(rig.speaker, Dog(), supervisor, lambda: None)  # type: ignore[arg-type]
        run = rig.speaker.runs["dns"]
        run.task = asyncio.create_task(broken())
        await asyncio.sleep(0)
        keeper.step()
        keeper.step()
        assert rig.speaker.stopping.is_set()

    in_loop(scenario)
    [line] = critical(caplog)
    assert line["message"].startswith("service loop crashed: withdrawing and exiting")
    assert line["service"] == "dns" and "injected bug" in line["error"]


def die(name: str, supervisor: daemon.Supervisor) -> None:
    """A thread named `name` that dies of an uncaught exception, seen by the supervisor."""
    previous, threading.excepthook = threading.excepthook, supervisor.thread_died
    try:
        def bug() -> None:
            raise RuntimeError(f"injected bug in {name}")

        thread = threading.Thread(target=bug, name=name)
        thread.start()
        thread.join()
    finally:
        threading.excepthook = previous


@pytest.mark.parametrize("name", daemon.ESSENTIAL_THREADS)
def test_an_essential_thread_that_dies_stops_the_process(
        caplog: pytest.LogCaptureFixture, name: str) -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        stopping = asyncio.Event()
        supervisor = daemon.Supervisor(loop, stopping)
        die(name, supervisor)
        await stopping.wait()
        assert supervisor.crashed == ["thread died"]

    in_loop(scenario)
    [line] = critical(caplog)
    assert line["message"].startswith("thread died: withdrawing and exiting")
    assert line["thread"] == name and f"injected bug in {name}" in line["error"]


def test_another_thread_that_dies_is_logged_and_health_checking_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        stopping = asyncio.Event()
        supervisor = daemon.Supervisor(loop, stopping)
        die("metrics-http", supervisor)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not stopping.is_set() and supervisor.crashed == []

    in_loop(scenario)
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == "thread died; health checking goes on without it"
    assert record.__dict__["fields"]["thread"] == "metrics-http"


# -- housekeeping wakes as seldom as the watchdog allows, at once for a SIGHUP reload


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
