"""What a reload changes, as an ordered list of steps. Pure.

Owns `plan(old, new)`: it compares two validated configs and says which
services stop, change or start and which prefixes are dropped, moved to
another service or added, in the order they must be applied: everything that
goes (`Stop`, `Drop`) before what stays and changes (`Change`), before what
comes (`Start`, `Move`, `Add`). Each prefix gets at most one step, so a
prefix that moves from one service to another is never removed and added
again, whatever the order of the services in the file.

It must not decide about health or routes: whether a moved prefix stays
announced depends on the health of its old and new service, which only the
engine knows (`speaker.engine.speaker.Speaker.reload`).
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.core import config, rtt


@dataclass(frozen=True)
class Stop:
    """A service the new config no longer has: its loop ends, its probes close."""

    name: str


@dataclass(frozen=True)
class Drop:
    """A prefix no service of the new config has: withdrawn, then forgotten."""

    prefix: config.IPNetwork
    service: str  # the service that had it


@dataclass(frozen=True)
class Change:
    """A service in both configs whose settings changed; it keeps its health."""

    service: config.Service  # the new settings
    checks_changed: bool  # its probes must be rebuilt


@dataclass(frozen=True)
class Start:
    """A service new to the config: it starts as at process start."""

    service: config.Service


@dataclass(frozen=True)
class Move:
    """A prefix that both configs have, under another service in the new one."""

    prefix: config.IPNetwork
    source: str
    target: str


@dataclass(frozen=True)
class Add:
    """A prefix no service of the old config had."""

    prefix: config.IPNetwork
    service: str


Step = Stop | Drop | Change | Start | Move | Add


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...]  # services identical in both configs

    def summary(self) -> dict[str, list[str]]:
        """Service names by what happens to them, as `speakerctl reload` shows them."""
        return {
            "added": [s.service.name for s in self.steps if isinstance(s, Start)],
            "removed": [s.name for s in self.steps if isinstance(s, Stop)],
            "changed": [s.service.name for s in self.steps if isinstance(s, Change)],
            "unchanged": list(self.unchanged),
        }


def owners(cfg: config.Config) -> dict[config.IPNetwork, str]:
    """The service of every prefix (a validated config gives each prefix one service)."""
    return {prefix: s.name for s in cfg.services for prefix in s.prefixes}


def plan(old: config.Config, new: config.Config) -> Plan:
    """The steps that turn `old` into `new`, removals first."""
    before, after = owners(old), owners(new)
    kept = {s.name: s for s in old.services}
    names = {s.name for s in new.services}
    steps: list[Step] = [Stop(s.name) for s in old.services if s.name not in names]
    steps += [Drop(p, name) for p, name in before.items() if p not in after]
    unchanged: list[str] = []
    for service in new.services:
        current = kept.get(service.name)
        if current == service:
            unchanged.append(service.name)
        elif current is not None:
            steps.append(Change(service, current.checks != service.checks
                                or _probing(current) != _probing(service)))
    steps += [Start(s) for s in new.services if s.name not in kept]
    steps += [Move(p, before[p], name) for p, name in after.items()
              if p in before and before[p] != name]
    steps += [Add(p, name) for p, name in after.items() if p not in before]
    return Plan(tuple(steps), tuple(unchanged))


def _probing(service: config.Service) -> tuple[float, float | None]:
    """What a service's probes are built with besides its checks: rebuilt when it changes."""
    return service.timing.timeout, rtt.floor(service.timing)
