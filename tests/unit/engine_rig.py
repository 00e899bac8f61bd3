"""A Speaker on fakes and the steps its tests repeat: the rig of the engine tests.

A helper module, not a test: tests/unit/test_daemon.py and
tests/unit/engine/test_speaker_reload.py drive it. No network, no sleeps: the clock
moves 0.5 s per probe round.
"""

from __future__ import annotations

import asyncio

from speaker.core import config
from speaker.core.verdicts import Outcome
from speaker.engine import Speaker
from speaker.ports import Addresses, HookRunner, MaintenanceStore
from tests.fakes import OK, Clock, Probes, Sink, Store

TIMEOUT = Outcome(False, "dns check: timeout after 0.25 s", 0.001, "timeout")

# One service, one prefix, one check, rise and fall 1: the engine tests' smallest config.
ONE_SERVICE = """
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks:
      - {type: dns, server: "2001:db8::100", qname: example.com.}
    timing: {rise: 1, fall: 1}
"""


class EngineRig:
    def __init__(self, cfg: config.Config, addresses: Addresses | None = None,
                 store: MaintenanceStore | None = None,
                 hook_runner: HookRunner | None = None) -> None:
        self.cfg = cfg
        self.sink = Sink()
        self.clock = Clock()
        self.probes = Probes()
        self.store = store or Store()
        self.speaker = Speaker(cfg, self.sink, addresses, self.store, clock=self.clock,
                               probe_factory=self.probes, hook_runner=hook_runner)

    def round(self, n: int = 1) -> None:
        """`n` probe rounds of every service."""
        for _ in range(n):
            for run in list(self.speaker.runs.values()):
                self.speaker.observe(run, asyncio.run(self.speaker.probe_round(run)))
            self.clock.advance(0.5)

    def answer(self, name: str, outcome: Outcome) -> None:
        """Every later check of service `name` answers `outcome` (TIMEOUT, OK...)."""
        servers = {getattr(c, "server", None) for c in self.speaker.runs[name].service.checks}
        for probe in self.probes.built:
            if probe.check.server in servers:
                probe.default = outcome

    def heal(self, name: str) -> None:
        self.answer(name, OK)

    def ack_all(self, ok: bool = True) -> None:
        from tests.exabgp_answers import ack_everything  # (kept off the import lines)

        ack_everything(self.speaker, ok)

    def take(self) -> list[str]:
        """The lines written to ExaBGP since the last take."""
        out, self.sink.lines = self.sink.lines, []
        return out

    def up(self) -> None:
        """Start, pass `rise` rounds, confirm every command, forget the lines."""
        self.speaker.start()
        self.ack_all()
        self.round(max(s.timing.rise for s in self.cfg.services))
        self.ack_all()
        self.take()
