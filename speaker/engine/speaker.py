"""The speaker's state and its reactions: probe rounds, operator requests, reloads.

`Speaker` holds what is known about every service and decides what to
announce: a prefix is announced while its service is up, not in maintenance
and not held down for flapping. It reaches the outside world only through the
ports (`speaker.ports`) handed to it: a Sink for ExaBGP, Addresses for the
anycast addresses, a probe factory, a MaintenanceStore, a Recorder, a HookRunner and clocks.
ExaBGP's side is `engine.exabgp`, probe rounds `engine.probing`, maintenance
`engine.maintenance`; `speaker.daemon` wires the adapters (none imported here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any

from speaker import __version__, logs
from speaker.core import config, flap, gshut, health, hooks, overload, watch
from speaker.core.exabgp_api import Message
from speaker.core.health import Health, Result, State
from speaker.core.maintenance import OPERATOR, Entries, Maintenance
from speaker.core.routes import RouteBook
from speaker.engine import reloading, status, ticks
from speaker.engine.events import Event, EventLog
from speaker.engine.exabgp import ExaBGP
from speaker.engine.fanout import next_start
from speaker.engine.gone import GoneLog
from speaker.engine.graceful import Drains
from speaker.engine.maintenance import Maintenances
from speaker.engine.probing import Prober
from speaker.engine.runs import ServiceRun, close_probes
from speaker.engine.slots import Slots
from speaker.ports import (
    Addresses,
    Clock,
    HookRunner,
    MaintenanceStore,
    NoEvents,
    NullHooks,
    NullRecorder,
    Probe,
    ProbeFactory,
    Recorder,
    ServerEvents,
    Sink,
    UnknownService,
)

LOG = logs.get("speaker")


class Speaker:
    def __init__(
        self,
        cfg: config.Config,
        sink: Sink,
        addresses: Addresses | None,
        store: MaintenanceStore,
        *,
        probe_factory: ProbeFactory,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
        config_path: Path | None = None,
        recorder: Recorder | None = None,
        hook_runner: HookRunner | None = None,
        server_events: ServerEvents | None = None,
    ) -> None:
        self.config = cfg
        self.config_path = config_path
        self.clock = clock
        self.wall = wall
        self.probe_factory = probe_factory
        self.hook_runner: HookRunner = hook_runner or NullHooks()
        self.server_events: ServerEvents = server_events or NoEvents()
        self.book = RouteBook()
        self.slots = Slots(self.book)  # the router's max_prefixes, shared in config order
        self.stopping = asyncio.Event()
        self.exabgp = ExaBGP(sink, self.book, self.stopping, clock=clock, wall=wall)
        self.prober = Prober(addresses)
        self.maint = Maintenances(store, wall)
        self.drains = Drains(clock, self._drain_over)
        self.events, self.gone, self.ticks = EventLog(), GoneLog(), ticks.Ticks()
        self.runs: dict[str, ServiceRun] = {}
        self.started = wall()
        # the DNS server's own statistics, when the daemon polls them
        self.dns_stats: Callable[[], dict[str, Any] | None] = lambda: None
        self._load: tuple[float, float] | None = None  # last (client rate, wall time) seen
        self._recorder: Recorder = NullRecorder()
        self.recorder = recorder or NullRecorder()
        for service in cfg.services:
            self._add_service(service)

    @property
    def recorder(self) -> Recorder:
        return self._recorder

    @recorder.setter
    def recorder(self, recorder: Recorder) -> None:
        self._recorder = self.exabgp.recorder = self.prober.recorder = recorder

    @property
    def maintenance(self) -> Entries:
        return self.maint.entries

    @property
    def event_waiters(self) -> list[asyncio.Event]:
        return self.events.waiters

    @property
    def probes_sent(self) -> int:
        return self.prober.sent

    # -- services ------------------------------------------------------------------

    def _add_service(self, service: config.Service) -> ServiceRun:
        run = ServiceRun(service=service, probes=self._probes(service), since=self.wall())
        run.peer_probes = self._peer_probes(service)
        self.runs[service.name] = run
        for prefix in service.prefixes:
            self.book.add(prefix)
        return run

    def _probes(self, service: config.Service) -> list[Probe]:
        return self.prober.probes(self.probe_factory, service)

    def _peer_probes(self, service: config.Service) -> list[list[Probe]]:
        return self.prober.peer_probes(self.probe_factory, service)

    def load(self) -> overload.Load | None:
        """The DNS server's client query rate and its age, from the last good statistics."""
        snap = self.dns_stats()
        if snap and snap.get("client_rate") is not None and snap.get("updated") is not None:
            self._load = (float(snap["client_rate"]), float(snap["updated"]))
        if self._load is None:
            return None
        rate, updated = self._load
        return overload.Load(client_rate=rate, age=max(0.0, self.wall() - updated))

    def in_maintenance(self, name: str) -> Maintenance | None:
        return self.maint.of(name)

    def state_name(self, run: ServiceRun) -> str:
        """The state shown to operators: maintenance and hold-down win over health."""
        if self.in_maintenance(run.service.name):
            return "draining" if self.draining(run) else "maintenance"
        if run.damping.held(self.clock()):
            return "held-down"
        if overload.is_degraded(run.health, run.degraded):
            return "degraded"
        return run.health.state.value

    def draining(self, run: ServiceRun) -> bool:
        """In a graceful drain that still announces it (with GRACEFUL_SHUTDOWN)."""
        name = run.service.name
        return (run.health.state is State.UP
                and gshut.announces(self.maint.entries, name, self.drains.get(name),
                                    self.clock()))

    def wants_announced(self, run: ServiceRun) -> bool:
        return (run.health.state is State.UP
                and (not self.in_maintenance(run.service.name) or self.draining(run))
                and not run.damping.held(self.clock()))

    def start(self) -> None:
        """Withdraw everything a previous process may have announced, before anything else:
        `clear adj-rib out` (ExaBGP withdraws what it announces, nothing else)."""
        self.maint.load()
        self.slots.check(self.config, "start")
        self.slots.share(self.config)
        self.exabgp.start()
        for run in self.runs.values():
            self.prober.ensure_addresses(run)
            self.server_events.watch(run.service.name, watch.of_service(run.service))

    # -- probing ---------------------------------------------------------------------

    async def probe_round(self, run: ServiceRun) -> Result:
        """One round; on a soft failure, also ask the overload peers (never the last one out)."""
        result = await self.prober.round(run, self.load() if run.service.overload else None)
        if run.peer_probes and self.kind(run, result) is overload.Kind.SOFT:
            up = await self.prober.peers_up(run)
            run.degraded = dataclasses.replace(run.degraded, peers_up=up)
        return result

    def kind(self, run: ServiceRun, result: Result) -> overload.Kind:
        policy = run.service.overload  # the load matters to a policy only
        return overload.judge(result, self.load() if policy else None, policy)

    def observe(self, run: ServiceRun, result: Result) -> None:
        """Fold a probe round into the service's state and act on a change."""
        old, old_degraded = run.health, run.degraded
        run.health, run.degraded = overload.observe(
            old, old_degraded, result, self.kind(run, result), self.clock(), run.service.timing,
            run.service.overload, old_degraded.peers_up)
        run.rounds += 1
        if result.ok and old.passes == 0:  # the first pass after failures: a restarted server
            self.server_events.rearm(run.service.name)
        rise = run.service.timing.rise
        run.fresh = ({p: n - 1 for p, n in run.fresh.items() if n > 1} if result.ok
                     else dict.fromkeys(run.fresh, rise))
        if run.health.state is not old.state:
            run.since = self.wall()
            # a flap is a change of the route; the first verdict after a start, a resume or
            # a reload (from STARTING) is not one, nor is a change in maintenance (withdrawn
            # already), nor a withdraw because a soft failure outlasted its bound, or its end
            if (old.state is not State.STARTING and State.UP in (old.state, run.health.state)
                    and overload.counts_as_flap(old_degraded, run.degraded)
                    and not self.in_maintenance(run.service.name)):
                run.damping = flap.record(run.damping, self.clock(), run.service.flap)
        self.update(run, result.reason)

    def update(self, run: ServiceRun, reason: str) -> None:
        """Log a change of the shown state, bring the routes in line, then run its hooks."""
        new = self.state_name(run)
        if run.settled(self.config, new):  # at rest: the routes are as they were
            return
        changed = None
        if new != run.shown:
            old, run.shown = run.shown, new
            changed = self._transition(run, old, new, reason)
        self.apply(run)
        if changed is not None:
            self.hook_runner.run(*hooks.plan(run.service.hooks, self.config.hooks, changed))

    def _transition(self, run: ServiceRun, old: str, new: str, reason: str) -> hooks.Transition:
        service = run.service
        if new == "held-down":
            reason = (f"flapping: {service.flap.max_transitions} transitions within "
                      f"{service.flap.window:g} s; held withdrawn for "
                      f"{run.damping.remaining(self.clock()):.0f} s")
        level = logging.WARNING if new in ("down", "held-down", "degraded") else logging.INFO
        logs.log(LOG, level, f"service {new}", service=service.name,
                 prefixes=",".join(str(p) for p in service.prefixes), old=old, new=new,
                 reason=reason)
        self.events.append(Event(self.wall(), service.name, old, new, reason))
        self.recorder.transition(service.name, old, new)
        return hooks.Transition(service.name, old, new, reason, tuple(map(str, service.prefixes)))

    def apply(self, run: ServiceRun) -> None:
        """Set the desired state of the service's prefixes and send what changed."""
        if run.health.state is not State.UP:  # down mid-drain: withdrawn, not back at rise
            self.drains.stop(run.service.name, "the service went down")
        route = (overload.route(run.service, run.health, run.degraded)
                 if self.wants_announced(run) else None)
        if route is not None and self.in_maintenance(run.service.name):  # draining
            route = gshut.drained(route)
        self.slots.update(self.config, {prefix: None if prefix in run.fresh else route
                                        for prefix in run.service.prefixes})
        self.flush()

    async def service_loop(self, run: ServiceRun, start_delay: float = 0.0) -> None:
        """Probe `run` forever; `start_delay` spreads the first rounds of many services."""
        await asyncio.sleep(start_delay)
        while True:
            start = self.clock()
            result = await self.probe_round(run)
            self.exabgp.defer()  # the services that shared this probe: their routes together
            self.observe(run, result)
            delay = health.next_delay(run.health, run.service.timing, result)
            await run.pause(max(0.0, next_start(run.probes, start, delay) - self.clock()),
                            self.ticks)

    def server_gone(self, name: str, reason: str) -> None:
        """An event source saw the server die: a hard failure now, then a confirming probe."""
        if (run := self.runs.get(name)) is None:
            return
        if run.health.state is State.DOWN:  # another of its sockets, or its process: no news
            return self.gone.already_down(name, reason)
        self.gone.add(name, reason)  # one line per server, at the end of this pass
        self.exabgp.defer()  # every service of that server: their withdraws together
        self.observe(run, Result(False, f"event: {reason}", hard=True))
        run.wake()

    # -- ExaBGP ----------------------------------------------------------------------

    def flush(self) -> None:
        self.exabgp.flush()

    def sync_watchdog(self) -> None:
        self.exabgp.sync_watchdog()

    def on_message(self, message: Message) -> None:
        self.exabgp.on_message(message)

    def check_acks(self) -> None:
        self.exabgp.check_acks()

    def shutdown_commands(self) -> None:
        self.exabgp.withdraw_all()

    def close(self) -> None:
        self.drains.close("the speaker stopped")  # a waiting `withdraw --graceful` returns
        for run in self.runs.values():
            close_probes([*run.probes, *(p for peer in run.peer_probes for p in peer)])

    # -- operator requests (speaker.ports.Controlled) -----------------------------------

    def services(self, names: Sequence[str]) -> list[config.Service]:
        return [r.service for r in self._resolve(names or list(self.runs))]

    def _resolve(self, names: Sequence[str]) -> list[ServiceRun]:
        unknown = [n for n in names if n not in self.runs]
        if unknown:
            raise UnknownService(unknown, list(self.runs))
        return [self.runs[n] for n in names]

    async def set_maintenance(self, names: Sequence[str], reason: str, by: str,
                              tag: str = OPERATOR, graceful: float = 0.0) -> list[str]:
        """Persist (off the loop), then withdraw at once (before any check runs again).

        With `graceful` seconds, those of `names` announced now are announced with
        GRACEFUL_SHUTDOWN until then, and withdrawn at its end; returns their names.
        A plain withdraw ends a drain at once."""
        runs = self._resolve(names)
        drained = [r.service.name for r in runs if graceful and self.wants_announced(r)]
        self.drains.start(drained, tag, graceful)  # before the record: never withdrawn between
        try:
            await self.maint.enter(names, reason, by, tag)
        except Exception:
            for name in drained:
                self.drains.cancel(name)  # not recorded: the normal route, as before
            raise
        for name in names:
            if name not in drained:
                self.drains.stop(name, f"a withdraw with tag {tag!r}")
        what = "speakerctl withdraw --graceful" if drained else "speakerctl withdraw"
        for run in [self.runs[n] for n in names if n in self.runs]:  # a reload may have run
            self.update(run, f"{what}: {reason}" if reason else what)
        return drained

    def _drain_over(self, name: str) -> None:
        if name in self.runs:
            self.update(self.runs[name], "graceful drain over: withdrawn")

    async def graceful_wait(self, names: Sequence[str]) -> dict[str, gshut.Ending]:
        return await self.drains.wait(names)

    async def clear_maintenance(self, names: Sequence[str],
                                tag: str | None = None) -> dict[str, list[str]]:
        """Persist (off the loop); those no tag holds any more return after `rise` passes,
        one not in maintenance is left as it is. Returns {name: the tags that still hold it}."""
        self._resolve(names)
        held = {n for n in names if self.in_maintenance(n)}
        await self.maint.leave(names, list(self.runs), tag)
        for run in [self.runs[n] for n in names if n in self.runs]:
            name, drain = run.service.name, self.drains.get(run.service.name)
            if drain is not None and all(m.tag != drain.tag for m in self.maint.all_of(name)):
                self.drains.cancel(name)  # announced all along: the normal route now
                self.update(run, "speakerctl announce: graceful drain cancelled")
            elif name in held and not self.in_maintenance(name):
                run.health, run.since = Health(reason="maintenance ended"), self.wall()
                self.update(run, f"speakerctl announce: announced again after "
                                 f"{run.service.timing.rise} passing checks")
                run.wake()  # its rise rounds start now, `fast_interval` apart
        return {n: [m.tag for m in self.maint.all_of(n)] for n in names}

    async def wait_settled(self, names: Sequence[str], timeout: float,
                           announced: bool = False) -> bool:
        prefixes = [p for r in self._resolve(names) for p in r.service.prefixes]
        return await self.exabgp.wait_settled(prefixes, timeout, announced)

    def event_list(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.events]

    def follow_events(self) -> AsyncGenerator[dict[str, Any], None]:
        return self.events.follow(self.stopping)

    # -- reload ----------------------------------------------------------------------

    def reload(self, new: config.Config) -> dict[str, list[str]]:
        """Swap in a validated config (see `speaker.engine.reloading.reload`)."""
        return reloading.reload(self, new)

    # -- reading -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.clock()
        return {
            "version": __version__,
            "pid": os.getpid(),
            "started": self.started,
            "uptime": round(self.wall() - self.started, 1),
            "config": str(self.config_path) if self.config_path else self.config.source,
            "services": [status.service(r, self.state_name(r), self.maint.all_of(r.service.name),
                                        self.book, now, self.server_events.report(r.service.name),
                                        self.exabgp.resetting(),
                                        self.drains.get(r.service.name) if self.draining(r)
                                        else None, self.slots.over)
                         for r in self.runs.values()],
            "neighbors": self.exabgp.neighbor_status(),
            "dns_server": self.dns_stats(),
            "exabgp": self.exabgp.status(),
        }

