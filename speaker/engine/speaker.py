"""The speaker's state and its reactions: probe rounds, ExaBGP messages, operator requests.

`Speaker` holds what is known about every service, prefix and neighbour and
decides what to announce. It reaches the outside world only through the
objects handed to it: a Sink for ExaBGP commands, an Addresses for the anycast
addresses, probes for the checks, a MaintenanceStore and clocks. The wiring of
the real ones, and the event loop, live in `speaker.daemon`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speaker import __version__, logs
from speaker.adapters import checks, metrics
from speaker.adapters.channel import ChannelClosed, Sink
from speaker.adapters.loopback import AddressError, Addresses
from speaker.adapters.state import ALL, Maintenance, MaintenanceStore
from speaker.core import config, exabgp_api, flap, health, watch
from speaker.core.config import Config, IPNetwork, Service
from speaker.core.exabgp_api import Ack, Garbage, Message, NeighborState, Other, Shutdown
from speaker.core.health import Health, Result, State
from speaker.core.routes import Action, Command, RouteBook
from speaker.core.watch import NoEvents, ServerEvents

LOG = logs.get("speaker")
EVENTS_KEPT = 500
ACK_WARN_AFTER = 5.0


@dataclass(frozen=True)
class Event:
    """A state transition, kept in memory for `speakerctl events`."""

    time: float  # wall clock
    service: str
    old: str
    new: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "service": self.service, "old": self.old, "new": self.new,
                "reason": self.reason}


@dataclass
class ServiceRun:
    """One configured service and everything known about it."""

    service: Service
    probes: list[checks.Probe]
    health: Health = field(default_factory=Health)
    damping: flap.Damping = field(default_factory=flap.Damping)
    since: float = field(default_factory=time.time)
    outcomes: list[checks.Outcome] = field(default_factory=list)
    # prefixes added by a reload to a healthy service: passing rounds each still needs
    fresh: dict[IPNetwork, int] = field(default_factory=dict)
    address_ok: bool | None = None
    task: asyncio.Task[None] | None = None
    rounds: int = 0
    shown: str = "starting"  # the state last reported to operators
    waiter: asyncio.Future[None] | None = None  # the pause between rounds, while it lasts
    probe_now: bool = False  # an event came during a round: start the next one at once


@dataclass
class Neighbor:
    peer: str
    state: str
    since: float
    local: str = ""
    peer_as: int | None = None
    reason: str = ""
    ups: int = 0
    downs: int = 0


class Speaker:
    def __init__(
        self,
        cfg: Config,
        sink: Sink,
        addresses: Addresses | None,
        store: MaintenanceStore,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        probe_factory: Callable[[config.Check, float], checks.Probe] = checks.build,
        config_path: Path | None = None,
        recorder: metrics.Recorder | None = None,
        server_events: ServerEvents | None = None,
    ) -> None:
        self.config = cfg
        self.recorder = metrics.Guard(recorder or metrics.NullRecorder())
        self.config_path = config_path
        self.sink = sink
        self.addresses = addresses
        self.store = store
        self.clock = clock
        self.wall = wall
        self.probe_factory = probe_factory
        self.server_events: ServerEvents = server_events or NoEvents()
        self.book = RouteBook()
        self.runs: dict[str, ServiceRun] = {}
        self.maintenance: dict[str, Maintenance] = {}
        self.neighbors: dict[str, Neighbor] = {}
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.event_waiters: list[asyncio.Event] = []
        self.started = wall()
        self.stopping = asyncio.Event()
        self.acks = {"done": 0, "error": 0, "unexpected": 0}
        self.garbage = 0
        self.probes_sent = 0
        self.dns_stats: Callable[[], dict[str, Any] | None] = lambda: None
        self.settle_waiters: list[asyncio.Event] = []
        self._ack_warned = False
        self._ack_waiting_since: float | None = None
        self.on_prefixes_changed: Callable[[list[str], list[str]], None] = lambda a, r: None
        for service in cfg.services:
            self._add_service(service)

    # -- services ------------------------------------------------------------------

    def _add_service(self, service: Service) -> ServiceRun:
        probes = [self.probe_factory(c, service.timing.timeout) for c in service.checks]
        run = ServiceRun(service=service, probes=probes, since=self.wall())
        self.runs[service.name] = run
        for prefix in service.prefixes:
            self.book.add(prefix)
        return run

    def in_maintenance(self, name: str) -> Maintenance | None:
        return self.maintenance.get(name) or self.maintenance.get(ALL)

    def state_name(self, run: ServiceRun) -> str:
        """The state shown to operators: maintenance and hold-down win over health."""
        if self.in_maintenance(run.service.name):
            return "maintenance"
        if run.damping.held(self.clock()):
            return "held-down"
        return run.health.state.value

    def wants_announced(self, run: ServiceRun) -> bool:
        return (run.health.state is State.UP and not self.in_maintenance(run.service.name)
                and not run.damping.held(self.clock()))

    def start(self) -> None:
        """Withdraw everything a previous process may have announced, before anything else."""
        self.maintenance = self.store.load()
        if ALL in self.maintenance:
            logs.log(LOG, logging.ERROR, "maintenance file unreadable: every service stays "
                     "withdrawn until `speakerctl announce`",
                     reason=self.maintenance[ALL].reason)
        for name, item in self.maintenance.items():
            if name != ALL:
                logs.log(LOG, logging.WARNING, "service in maintenance: stays withdrawn",
                         service=name, reason=item.reason)
        self.flush()
        for run in self.runs.values():
            self._ensure_address(run)
            self.server_events.watch(run.service.name, watch.of_service(run.service))

    def _ensure_address(self, run: ServiceRun) -> None:
        addr = run.service.address
        if addr is None or not addr.manage or self.addresses is None:
            return
        for prefix in run.service.prefixes:
            try:
                if self.addresses.ensure(addr.interface, prefix.network_address):
                    logs.log(LOG, logging.INFO, "anycast address added", service=run.service.name,
                             address=prefix.network_address, interface=addr.interface)
            except AddressError as exc:
                logs.log(LOG, logging.ERROR, "cannot add anycast address",
                         service=run.service.name, error=exc)

    # -- probing ---------------------------------------------------------------------

    async def probe_round(self, run: ServiceRun) -> Result:
        """Run the address check, then every check concurrently; all must pass."""
        service = run.service
        addr = service.address
        if addr is not None and addr.check and self.addresses is None:
            run.address_ok = None  # unknown, so never announced: nothing unverified goes out
            return Result(False, "anycast address check: netlink unavailable (see the log at "
                                 "start-up)", hard=True)
        if addr is not None and addr.check and self.addresses is not None:
            missing = []
            try:
                for prefix in service.prefixes:
                    if not self.addresses.present(addr.interface, prefix.network_address):
                        missing.append(str(prefix.network_address))
            except AddressError as exc:
                run.address_ok = False
                return Result(False, f"anycast address check: {exc}", hard=True)
            run.address_ok = not missing
            self.recorder.check(service.name, f"address on {addr.interface}",
                                "missing" if missing else "ok", 0.0)
            if missing:
                for probe in run.probes:  # their sockets were connected with it in place
                    probe.close()
                if addr.manage:
                    self._ensure_address(run)
                return Result(False, f"anycast address {', '.join(missing)} missing from "
                                     f"{addr.interface}", hard=True)
        self.probes_sent += len(run.probes)
        if len(run.probes) == 1:  # the common case, without gather's task and future
            outcomes = [await run.probes[0].run()]
        else:
            outcomes = list(await asyncio.gather(*(p.run() for p in run.probes)))
        run.outcomes = outcomes
        for probe, outcome in zip(run.probes, outcomes, strict=True):
            self.recorder.check(service.name, probe.check.describe(), outcome.code,
                                outcome.latency)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            at_once = any(o.code in service.timing.fail_at_once for o in failed)
            return Result(False, "; ".join(o.reason for o in failed), hard=at_once)
        slowest = max(o.latency for o in outcomes)
        return Result(True, f"{len(outcomes)} checks ok (slowest {slowest * 1000:.1f} ms)")

    def observe(self, run: ServiceRun, result: Result) -> None:
        """Fold a probe round into the service's state and act on a change."""
        old = run.health
        run.health = health.observe(old, result, run.service.timing)
        run.rounds += 1
        if result.ok and old.passes == 0:  # the first pass after failures: a restarted server
            self.server_events.rearm(run.service.name)
        rise = run.service.timing.rise
        run.fresh = ({p: n - 1 for p, n in run.fresh.items() if n > 1} if result.ok
                     else dict.fromkeys(run.fresh, rise))
        if run.health.state is not old.state:
            run.since = self.wall()
            # a flap is a change of the route; the first verdict after a start, a resume or
            # a reload (from STARTING) is not one
            if old.state is not State.STARTING and State.UP in (old.state, run.health.state):
                run.damping = flap.record(run.damping, self.clock(), run.service.flap)
        self.update(run, result.reason)

    def update(self, run: ServiceRun, reason: str) -> None:
        """Log a change of the shown state, then bring the routes in line."""
        new = self.state_name(run)
        if new != run.shown:
            old, run.shown = run.shown, new
            self._transition(run, old, new, reason)
        self.apply(run)

    def _transition(self, run: ServiceRun, old: str, new: str, reason: str) -> None:
        service = run.service
        if new == "held-down":
            reason = (f"flapping: {service.flap.max_transitions} transitions within "
                      f"{service.flap.window:g} s; held withdrawn for "
                      f"{run.damping.remaining(self.clock()):.0f} s")
        level = logging.WARNING if new in ("down", "held-down") else logging.INFO
        logs.log(LOG, level, f"service {new}", service=service.name,
                 prefixes=",".join(str(p) for p in service.prefixes), old=old, new=new,
                 reason=reason)
        self.events.append(Event(self.wall(), service.name, old, new, reason))
        self.recorder.transition(service.name, old, new)
        for waiter in self.event_waiters:
            waiter.set()

    def apply(self, run: ServiceRun) -> None:
        """Set the desired state of the service's prefixes and send what changed."""
        route = run.service.route if self.wants_announced(run) else None
        for prefix in run.service.prefixes:
            self.book.want(prefix, None if prefix in run.fresh else route)
        self.flush()

    async def service_loop(self, run: ServiceRun, start_delay: float = 0.0) -> None:
        """Probe `run` forever; `start_delay` spreads the first rounds of many services."""
        await asyncio.sleep(start_delay)
        while True:
            start = self.clock()
            result = await self.probe_round(run)
            self.observe(run, result)
            delay = health.next_delay(run.health, run.service.timing)
            await _pause(run, max(0.0, start + delay - self.clock()))

    def server_gone(self, name: str, reason: str) -> None:
        """An event source saw the server die: a hard failure now, then a confirming probe."""
        run = self.runs.get(name)
        if run is None:
            return
        logs.log(LOG, logging.WARNING, "server gone: withdrawing now, a probe confirms",
                 service=name, reason=reason)
        self.observe(run, Result(False, f"event: {reason}", hard=True))
        if run.waiter is not None:
            _wake(run.waiter)
        else:
            run.probe_now = True

    # -- ExaBGP ----------------------------------------------------------------------

    def write(self, command: Command) -> None:
        line = exabgp_api.render(command)
        try:
            self.sink.write(line)
        except ChannelClosed as exc:
            self.book.unsent(command)
            logs.log(LOG, logging.ERROR, "cannot send to ExaBGP", command=line, error=exc)
            self.stopping.set()
            return
        logs.log(LOG, logging.DEBUG, "sent", command=line)

    def flush(self) -> None:
        announced = False
        for command in self.book.plan(self.clock()):
            self.write(command)
            announced = announced or command.action is Action.ANNOUNCE
        if announced:  # the watchdog must know before the route can be at risk
            self.sync_watchdog()

    def sync_watchdog(self) -> None:
        """Tell the watchdog which prefixes started or stopped being at risk."""
        added, removed = self.book.take_maybe_changes()
        if added or removed:
            self.on_prefixes_changed([str(p) for p in added], [str(p) for p in removed])

    def on_message(self, message: Message) -> None:
        if isinstance(message, Ack):
            self._on_ack(message.ok)
        elif isinstance(message, NeighborState):
            self._on_neighbor(message)
        elif isinstance(message, Shutdown):
            logs.log(LOG, logging.INFO, "ExaBGP is shutting down: withdrawing and exiting")
            self.stopping.set()
        elif isinstance(message, Garbage):
            self.garbage += 1
            self.recorder.ignored_line()
            logs.log(LOG, logging.WARNING, "ignored unexpected line from ExaBGP",
                     problem=message.reason, line=message.sample)
        elif isinstance(message, Other):
            logs.log(LOG, logging.DEBUG, "ignored ExaBGP message", kind=message.kind)

    def _on_ack(self, ok: bool) -> None:
        result = self.book.ack(ok, self.clock())
        command = result.command
        kind = "unexpected" if command is None else "done" if ok else "error"
        self.recorder.ack(kind)
        if command is None:
            self.acks["unexpected"] += 1
            logs.log(LOG, logging.WARNING, "ExaBGP acknowledged a command we did not send",
                     ack="done" if ok else "error")
            return
        self.acks["done" if ok else "error"] += 1
        if not ok:
            logs.log(LOG, logging.ERROR, "ExaBGP refused a command; will retry",
                     command=exabgp_api.render(command),
                     hint="is the neighbour's api block naming this process?")
        elif command.action is Action.ANNOUNCE:
            logs.log(LOG, logging.INFO, "announced", prefix=command.prefix)
        else:
            logs.log(LOG, logging.INFO, "withdrawn", prefix=command.prefix)
        self._ack_warned = False
        for waiter in self.settle_waiters:
            waiter.set()

    def _on_neighbor(self, message: NeighborState) -> None:
        old = self.neighbors.get(message.peer)
        now = self.wall()
        if old is None or old.state != message.state:
            entry = Neighbor(peer=message.peer, state=message.state, since=now,
                             local=message.local, peer_as=message.peer_as, reason=message.reason,
                             ups=old.ups if old else 0, downs=old.downs if old else 0)
            if message.state == "up":
                entry.ups += 1
            elif message.state == "down":
                entry.downs += 1
            self.neighbors[message.peer] = entry
            self.recorder.neighbor(message.peer, message.state)
            level = logging.WARNING if message.state == "down" else logging.INFO
            logs.log(LOG, level, f"BGP neighbor {message.state}", peer=message.peer,
                     peer_as=message.peer_as, reason=message.reason)
        if message.state == "up":
            for command in self.book.refresh():
                self.write(command)

    def check_acks(self) -> None:
        """Warn once when ExaBGP leaves a command unacknowledged for too long."""
        oldest = self.book.oldest_pending()
        now = self.clock()
        if oldest is None:
            self._ack_waiting_since = None
            return
        if self._ack_waiting_since is None:
            self._ack_waiting_since = now
        elif now - self._ack_waiting_since > ACK_WARN_AFTER and not self._ack_warned:
            self._ack_warned = True
            logs.log(LOG, logging.WARNING, "no ack from ExaBGP",
                     waiting=self.book.waiting, oldest=exabgp_api.render(oldest),
                     hint="exabgp.api.ack must be true")

    def close(self) -> None:
        for run in self.runs.values():
            _close(run.probes)

    def shutdown_commands(self) -> None:
        for command in self.book.withdraw_all():
            self.write(command)

    # -- maintenance -----------------------------------------------------------------

    def resolve(self, names: list[str]) -> list[ServiceRun]:
        unknown = [n for n in names if n not in self.runs]
        if unknown:
            raise KeyError(", ".join(unknown))
        return [self.runs[n] for n in names] if names else list(self.runs.values())

    def set_maintenance(self, runs: list[ServiceRun], reason: str, by: str) -> None:
        """Persist, then withdraw at once (before any check runs again)."""
        entries = dict(self.maintenance)
        now = self.wall()
        for run in runs:
            entries[run.service.name] = Maintenance(reason=reason, since=now, by=by)
        self.store.save(entries)
        self.maintenance = entries
        for run in runs:
            self.update(run, f"speakerctl withdraw: {reason}" if reason else "speakerctl withdraw")

    def clear_maintenance(self, runs: list[ServiceRun]) -> None:
        """Persist, then let the checks bring the service back after `rise` passes.

        Only `runs` leave maintenance: an all-services entry (ALL) stays in force
        for every other service.
        """
        entries = dict(self.maintenance)
        everything = entries.pop(ALL, None)
        if everything is not None:
            for name in self.runs:
                entries.setdefault(name, everything)
        for run in runs:
            entries.pop(run.service.name, None)
        self.store.save(entries)
        self.maintenance = entries
        for run in runs:
            run.health = Health(reason="maintenance ended")
            run.since = self.wall()
            self.update(run, f"speakerctl announce: announced again after "
                             f"{run.service.timing.rise} passing checks")

    def settled(self, runs: list[ServiceRun]) -> bool:
        return all(self.book.settled(p) for r in runs for p in r.service.prefixes)

    async def wait_settled(self, runs: list[ServiceRun], timeout: float) -> bool:
        deadline = self.clock() + timeout
        while not self.settled(runs):
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            waiter = asyncio.Event()
            self.settle_waiters.append(waiter)
            try:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(waiter.wait(), min(remaining, 0.5))
            finally:
                self.settle_waiters.remove(waiter)
        return True

    # -- reload ----------------------------------------------------------------------

    def reload(self, new: Config) -> dict[str, list[str]]:
        """Swap in a validated config: removed prefixes are withdrawn, new ones start withdrawn."""
        summary: dict[str, list[str]] = {"added": [], "removed": [], "changed": [],
                                         "unchanged": []}
        new_names = {s.name for s in new.services}
        for name, run in list(self.runs.items()):
            if name not in new_names:
                if run.task:
                    run.task.cancel()
                _close(run.probes)
                for prefix in run.service.prefixes:
                    self.book.remove(prefix)
                del self.runs[name]
                self.server_events.unwatch(name)
                summary["removed"].append(name)
        for service in new.services:
            current = self.runs.get(service.name)
            if current is None:
                self._add_service(service)
                self.server_events.watch(service.name, watch.of_service(service))
                summary["added"].append(service.name)
                continue
            run = current
            if run.service == service:
                summary["unchanged"].append(service.name)
                continue
            summary["changed"].append(service.name)
            # A healthy service stays announced across a reload: new checks take over at
            # the next round (and withdraw after `fall` if they fail, as any check would);
            # prefixes added to it are withdrawn until they have seen `rise` passing rounds.
            added = [p for p in service.prefixes if p not in run.service.prefixes]
            run.fresh = {p: n for p, n in run.fresh.items() if p in service.prefixes}
            run.fresh.update(dict.fromkeys(added, service.timing.rise))
            for prefix in run.service.prefixes:
                if prefix not in service.prefixes:
                    self.book.remove(prefix)
            for prefix in service.prefixes:
                self.book.add(prefix)
            if run.service.checks != service.checks:
                _close(run.probes)
                run.probes = [self.probe_factory(c, service.timing.timeout)
                              for c in service.checks]
                run.outcomes = []
            if watch.of_service(run.service) != watch.of_service(service):
                self.server_events.watch(service.name, watch.of_service(service))
            run.service = service
            self.update(run, "config reloaded")
        self.config = new
        self.flush()
        return summary

    # -- reading -----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        now = self.clock()
        services = []
        for run in self.runs.values():
            service = run.service
            maint = self.in_maintenance(service.name)
            services.append({
                "name": service.name,
                "state": self.state_name(run),
                "health": run.health.state.value,
                "since": run.since,
                "reason": run.health.reason,
                "passes": run.health.passes,
                "fails": run.health.fails,
                "rise": service.timing.rise,
                "fall": service.timing.fall,
                "maintenance": None if maint is None else {
                    "reason": maint.reason, "since": maint.since, "by": maint.by},
                "held_down_for": round(run.damping.remaining(now), 1),
                "flap_holds": run.damping.holds,
                "address_present": run.address_ok,
                "detection": [d.as_dict() for d in self.server_events.report(service.name)],
                "checks": [
                    {"check": p.check.describe(), "ok": o.ok, "code": o.code,
                     "reason": o.reason, "latency_ms": round(o.latency * 1000, 2)}
                    for p, o in zip(run.probes, run.outcomes, strict=False)
                ],
                "prefixes": [
                    {"prefix": str(p), "desired": "announced" if self.book.desired(p)
                     else "withdrawn", "confirmed": self.book.confirmed(p).value}
                    for p in service.prefixes
                ],
            })
        return {
            "version": __version__,
            "pid": os.getpid(),
            "started": self.started,
            "uptime": round(self.wall() - self.started, 1),
            "config": str(self.config_path) if self.config_path else self.config.source,
            "services": services,
            "neighbors": [
                {"peer": n.peer, "state": n.state, "since": n.since, "local": n.local,
                 "peer_as": n.peer_as, "reason": n.reason, "ups": n.ups, "downs": n.downs}
                for n in self.neighbors.values()
            ],
            "dns_server": self.dns_stats(),
            "exabgp": {"acks_done": self.acks["done"], "acks_error": self.acks["error"],
                       "acks_unexpected": self.acks["unexpected"], "waiting": self.book.waiting,
                       "ignored_lines": self.garbage},
        }


async def _pause(run: ServiceRun, delay: float) -> None:
    """Sleep `delay` seconds, or less if an event wakes the service (`_wake`)."""
    if run.probe_now:
        run.probe_now = False
        return
    loop = asyncio.get_running_loop()
    waiter = run.waiter = loop.create_future()
    timer = loop.call_later(delay, _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
        run.waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _close(probes: list[checks.Probe]) -> None:
    for probe in probes:
        probe.close()
