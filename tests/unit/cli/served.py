"""A Speaker served in a thread for speakerctl, and how the CLI tests call speakerctl.

A helper module, not a test: tests/unit/cli/test_ctl_*.py use `Served` (a Rig,
tests/unit/rig.py, served from an event loop in a thread, so the blocking CLI
can talk to it; fixture `served` in conftest.py), `Run` (the `run` fixture:
speakerctl's main with its exit code, stdout and stderr), `cli` (argv with the
folder's config) and `write_config` (the rig's YAML in a folder, no process).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from speaker.core.exabgp_api import Ack
from tests.unit.rig import PREFIX, YAML, Rig

Run = Callable[..., tuple[int, str, str]]


class Served:
    """A Rig served from an event loop in a thread, so the blocking CLI can talk to it."""

    def __init__(self, folder: Path, auto_ack: bool = True) -> None:
        self.folder = folder
        self.auto_ack = auto_ack
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rig: Rig = self.call(self._start)

    async def _start(self) -> Rig:
        rig = Rig(self.folder)
        await rig.start()
        if self.auto_ack:
            rig.sink.on_write = lambda _: self.loop.call_soon(self._ack, rig)
        return rig

    @staticmethod
    def _ack(rig: Rig) -> None:
        if rig.speaker.book.waiting:  # the test may have acked already
            rig.speaker.on_message(Ack(True))

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (sync, or returning a coroutine) in the loop thread; return its result."""
        async def wrapper() -> Any:
            value = fn()
            return await value if asyncio.iscoroutine(value) else value

        future: Future[Any] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return future.result(10)

    def stop(self) -> None:
        self.call(self.rig.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def cli(folder: Path, *argv: str) -> list[str]:
    return ["--config", str(folder / "speaker.yaml"), *argv]


def write_config(folder: Path, text: str | None = None) -> Path:
    path = folder / "speaker.yaml"
    path.write_text(text or YAML.format(folder=folder, prefix=PREFIX))
    return path
