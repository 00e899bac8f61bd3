"""What the engine knows about one configured service while it runs. Plain data.

Owns `ServiceRun`: the service's settings, its probes (and those of its
overload peers), its health, overload state and flap damping, its last
outcomes, and the prefixes a reload gave it that still wait for passing
rounds. Must not decide anything: `speaker.engine.speaker` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from speaker.core import config, flap, overload
from speaker.core.health import Health
from speaker.core.verdicts import Outcome
from speaker.engine.ticks import Ticks
from speaker.ports import Probe


@dataclass
class ServiceRun:
    """One configured service and everything known about it."""

    service: config.Service
    probes: list[Probe]
    since: float  # wall clock of the last change of health
    health: Health = field(default_factory=Health)
    damping: flap.Damping = field(default_factory=flap.Damping)
    degraded: overload.Degraded = field(default_factory=overload.Degraded)
    # the same checks aimed at each of `overload.peers` (never the last one out)
    peer_probes: list[list[Probe]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    # prefixes a reload gave to this service while they were withdrawn: passing rounds each
    # still needs before it may be announced
    fresh: dict[config.IPNetwork, int] = field(default_factory=dict)
    address_ok: bool | None = None
    task: asyncio.Task[None] | None = None
    rounds: int = 0
    shown: str = "starting"  # the state last reported to operators
    waiter: asyncio.Future[None] | None = None  # the pause between rounds, while it lasts
    probe_now: bool = False  # an event came during a round: start the next one at once
    # what the routes were last brought in line with while up: config, service, overload
    applied: tuple[config.Config, config.Service, overload.Degraded] | None = None

    def settled(self, cfg: config.Config, shown: str) -> bool:
        """Up before and after, nothing waiting for rounds, and the same config and
        service (the very objects) and overload state as when the routes were last
        brought in line: the at-rest round, with nothing to log nor send. Otherwise
        records what they are brought in line with now (the caller does it)."""
        old = self.applied
        self.applied = (cfg, self.service, self.degraded) if shown == "up" and not self.fresh \
            else None
        return (self.applied is not None and old is not None and self.shown == "up"
                and old[0] is cfg and old[1] is self.service and old[2] == self.degraded)

    async def pause(self, delay: float, ticks: Ticks) -> None:
        """Sleep `delay` seconds (on a timer shared with the services due at the same
        moment), or less if an event wakes the service (`wake`)."""
        if self.probe_now:
            self.probe_now = False
            return
        self.waiter = ticks.pause(delay)
        try:
            await self.waiter
        finally:
            self.waiter = None

    def wake(self) -> None:
        """Start the next round now: end the pause under way, or skip the next one."""
        if self.waiter is not None:
            _wake(self.waiter)
        else:
            self.probe_now = True


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def close_probes(probes: Iterable[Probe]) -> None:
    for probe in probes:
        probe.close()
