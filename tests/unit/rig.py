"""A Speaker on fakes served by its real ControlServer: the rig of the control and CLI tests.

A helper module, not a test: tests/unit/adapters/test_control.py and
test_control_safety.py drive it from their own event loop (`run`, `ask`),
tests/unit/cli/served.py from a thread (speakerctl blocks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from speaker.adapters.control import ControlServer
from speaker.adapters.state import MaintenanceStore
from speaker.core import config, protocol
from speaker.engine.speaker import Speaker
from tests.fakes import Addresses, Clock, Probes, Sink

PREFIX = "2001:db8::53/128"

YAML = """\
control: {{socket: {folder}/s.sock}}
state_dir: {folder}/state
drain_delay: 0
services:
  - name: dns
    prefixes: ["{prefix}"]
    timing: {{rise: 2, fall: 2}}
    checks: [{{type: dns, server: "2001:db8::53", qname: example.com.}}]
  - name: other
    prefixes: ["2001:db8::54/128"]
    checks: [{{type: dns, server: "2001:db8::54", qname: example.com.}}]
"""


class Rig:
    """A Speaker on fakes plus its ControlServer; build it inside the event loop."""

    def __init__(self, folder: Path, text: str | None = None) -> None:
        self.path = folder / "speaker.yaml"
        self.path.write_text(text or YAML.format(folder=folder, prefix=PREFIX))
        self.config = config.load(self.path)
        self.sink = Sink()
        self.clock = Clock()
        self.wall = Clock(1_700_000_000.0)
        self.store = MaintenanceStore(self.config.state_dir)
        self.speaker = Speaker(self.config, self.sink, Addresses(), self.store, clock=self.clock,
                               wall=self.wall, probe_factory=Probes(), config_path=self.path)
        self.server = ControlServer(self.speaker)
        self.socket = str(self.config.control.socket)

    async def start(self) -> None:
        self.speaker.start()
        self.ack_all()
        await self.server.start()

    def ack_all(self) -> None:
        from tests.exabgp_answers import ack_everything  # (kept off the import lines)

        ack_everything(self.speaker)

    async def bring_up(self, name: str = "dns") -> None:
        """Pass `rise` probe rounds and confirm the announce."""
        run = self.speaker.runs[name]
        for _ in range(run.service.timing.rise):
            self.speaker.observe(run, await self.speaker.probe_round(run))
        self.ack_all()


def run(folder: Path, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        rig = Rig(folder)
        await rig.start()
        try:
            await asyncio.wait_for(scenario(rig), 10)
        finally:
            await rig.server.stop()

    asyncio.run(main())


async def connect(rig: Rig) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_unix_connection(rig.socket, limit=1 << 20)


async def exchange(rig: Rig, line: bytes) -> list[dict[str, Any]]:
    """Send one raw line; return every line of the answer, decoded."""
    reader, writer = await connect(rig)
    writer.write(line)
    await writer.drain()
    out = [json.loads(raw) for raw in (await reader.read()).splitlines()]
    writer.close()
    return out


async def ask(rig: Rig, cmd: str, **args: Any) -> list[dict[str, Any]]:
    return await exchange(rig, protocol.encode_request(protocol.Request(cmd, args)))
