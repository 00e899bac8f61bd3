"""A reload, carried out: the steps of `speaker.core.reload.plan` applied to a running speaker.

Owns the order in which a validated new config replaces the old one: services
stopped, prefixes dropped, services changed or started, prefixes moved or
added, then one flush. Must not decide what a prefix's health is: the probe
rounds do, as they always do. Reaches the speaker only through `Reloadable`.
"""

from __future__ import annotations

from typing import Protocol

from speaker.core import overload, watch
from speaker.core.config import Config, Service
from speaker.core.reload import Change, Drop, Move, Start, Stop, plan
from speaker.core.routes import RouteBook
from speaker.engine.graceful import Drains
from speaker.engine.probing import Prober
from speaker.engine.runs import ServiceRun, close_probes
from speaker.engine.slots import Slots
from speaker.ports import Probe, ServerEvents


class Reloadable(Protocol):
    """What a reload needs of the speaker."""

    config: Config
    runs: dict[str, ServiceRun]
    book: RouteBook
    server_events: ServerEvents
    prober: Prober
    slots: Slots
    drains: Drains

    def _add_service(self, service: Service) -> ServiceRun: ...
    def _probes(self, service: Service) -> list[Probe]: ...
    def _peer_probes(self, service: Service) -> list[list[Probe]]: ...
    def update(self, run: ServiceRun, reason: str) -> None: ...
    def flush(self) -> None: ...


def reload(speaker: Reloadable, new: Config) -> dict[str, list[str]]:
    """Swap in a validated config along `speaker.core.reload.plan`.

    A prefix keeps its announcement unless its health changes: one that
    stays with its service, or moves to another service while it is
    announced, stays announced as long as its (new) service wants it
    announced; the next probe rounds decide as they always do. A prefix
    that was withdrawn, or is new to the config, waits for `rise` passing
    rounds of its service (a reload alone never announces a withdrawn prefix).
    Removed prefixes are withdrawn; a new service starts as at start-up.
    A removed service's graceful drain ends (its waiting client is told so).
    The router's max_prefixes slots are shared again over the new config's
    order (its excess prefixes are listed as `over_max_prefixes`).
    """
    changes = plan(speaker.config, new)
    announced = {p for p in speaker.config.prefixes if speaker.book.desired(p)}
    touched: dict[str, ServiceRun] = {}
    for step in changes.steps:
        if isinstance(step, Stop):
            gone = speaker.runs.pop(step.name)
            speaker.server_events.unwatch(step.name)
            if gone.task:
                gone.task.cancel()
            close_probes(gone.probes)
            close_probes(p for peer in gone.peer_probes for p in peer)
            speaker.drains.removed(step.name, {str(m.prefix): m.target for m in changes.steps
                                               if isinstance(m, Move) and m.source == step.name})
        elif isinstance(step, Drop):
            speaker.book.remove(step.prefix)
        elif isinstance(step, Change):
            touched[step.service.name] = _change(speaker, step)
        elif isinstance(step, Start):
            touched[step.service.name] = speaker._add_service(step.service)
            speaker.server_events.watch(step.service.name, watch.of_service(step.service))
        else:  # Move or Add: the prefix now follows its (new) service
            run = speaker.runs[step.target if isinstance(step, Move) else step.service]
            speaker.book.add(step.prefix)
            if step.prefix not in announced:
                run.fresh[step.prefix] = run.service.timing.rise
    speaker.config = new
    over = speaker.slots.check(new, "reload")
    for run in touched.values():
        speaker.prober.ensure_addresses(run)
        speaker.update(run, "config reloaded")
    speaker.slots.share(new)
    speaker.flush()
    return {**changes.summary(), "over_max_prefixes": over}

def _change(speaker: Reloadable, step: Change) -> ServiceRun:
    """New settings for a service that keeps its health (new checks take over next round)."""
    run = speaker.runs[step.service.name]
    run.fresh = {p: n for p, n in run.fresh.items() if p in step.service.prefixes}
    if watch.of_service(run.service) != watch.of_service(step.service):
        speaker.server_events.watch(step.service.name, watch.of_service(step.service))
    if step.checks_changed:
        close_probes(run.probes)
        run.probes = speaker._probes(step.service)
        run.outcomes = []
    if step.checks_changed or step.service.overload != run.service.overload:
        close_probes(p for peer in run.peer_probes for p in peer)
        run.peer_probes = speaker._peer_probes(step.service)
    if step.service.overload is None:
        run.degraded = overload.hard_only(run.degraded)  # every failure is hard again
    run.service = step.service
    return run
