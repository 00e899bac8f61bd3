"""Overload: a busy server's timeouts (soft) are not a broken server (hard). Pure.

Owns telling the two apart (`judge`), folding a probe round into a service's
health when it may be soft or a check asks for the degraded state
(`observe`), the route of a degraded service (`degraded_route`, `route`) and
whether a change of state counts for flap damping (`counts_as_flap`). Must not
read a clock, the statistics or the network: the engine passes the time, the
server's load and how many peers answered.

The policy (README, "Timing"), for a service with `overload` configured:
- Hard failures are what `speaker.core.health` has always judged: refusals,
  SERVFAIL or wrong answers, the address missing, a timeout while the server
  is not visibly busy or its statistics are unknown or too old. They withdraw
  after `fall` of them with no pass between (or at once for `fail_at_once`),
  whatever soft rounds come between.
- A soft failure is a round whose only failures are timeouts while the
  server's statistics show at least `min_client_rate` client queries per
  second. It leaves the health's state and failure count alone: the service
  stays announced, degraded (with the degraded route, `degraded_route`). Only
  once the soft failure has lasted longer than `max_degraded` does it
  withdraw, and then only while at least `min_up` of the configured peers
  answer.
- Degraded ends after `rise` passing rounds in a row, which also restarts its
  clock; one lucky answer does not.
- A withdraw from the soft bound, and the recovery after it, are no flap.

A check may also ask for the degraded state (`Result.degrade`: the `soa`
check's `action: degrade` on a stale zone). Such a round passes (it counts
towards `rise` like any pass) and the service, once up, is announced degraded
with the degraded route (`degraded_route`); it never withdraws for it, however
long it lasts, and needs no `overload` block. It ends after `rise` passing
rounds in a row that do not ask. A stale zone is no passing load: `withdraw`
is the action for those who want out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from speaker.core import config, health
from speaker.core.health import Health, Result, State


class Kind(enum.Enum):
    OK = "ok"
    HARD = "hard"
    SOFT = "soft"
    DEGRADE = "degrade"  # passed, but a check asks for the degraded state


@dataclass(frozen=True)
class Load:
    """The server's client query rate from its statistics, and how old the reading is."""

    client_rate: float
    age: float  # seconds


@dataclass(frozen=True)
class Degraded:
    """What is known of the current soft failure of a service."""

    since: float | None = None  # monotonic start of the soft failure; None: none
    passes: int = 0  # passing rounds in a row since; `rise` of them end it
    last: Kind = Kind.OK  # the kind of the last round
    withdrawn: bool = False  # the service is down because the soft failure outlasted the bound
    peers_up: int | None = None  # peers that answered at the last soft round (None: not asked)
    asked: float | None = None  # monotonic start of a check's ask for it; None: none asks
    asked_passes: int = 0  # passing rounds in a row since that do not ask; `rise` end it

    @property
    def active(self) -> bool:
        """A soft failure is under way (not a check's ask)."""
        return self.since is not None


def judge(result: Result, load: Load | None, policy: config.Overload | None) -> Kind:
    """The kind of one probe round: OK, a HARD failure, or a SOFT one (see the module)."""
    if result.ok:
        return Kind.DEGRADE if result.degrade else Kind.OK
    if policy is None or result.hard or load is None or not result.codes:
        return Kind.HARD
    if any(code != "timeout" for code in result.codes):
        return Kind.HARD
    if load.age > policy.stats_max_age or load.client_rate < policy.min_client_rate:
        return Kind.HARD
    return Kind.SOFT


def may_withdraw(policy: config.Overload, peers_up: int | None) -> bool:
    """Whether a soft failure past its bound may withdraw: enough peers carry the service."""
    if not policy.peers or policy.min_up == 0:
        return True
    return peers_up is not None and peers_up >= policy.min_up


def observe(health_: Health, degraded: Degraded, result: Result, kind: Kind, now: float,
            timing: config.Timing, policy: config.Overload | None,
            peers_up: int | None = None) -> tuple[Health, Degraded]:
    """Fold one round of `kind` into (health, degraded); `now` is the monotonic clock."""
    if kind in (Kind.OK, Kind.DEGRADE):
        new = health.observe(health_, result, timing)
        passes = degraded.passes + 1
        if not degraded.active or passes >= timing.rise:
            after = Degraded(withdrawn=degraded.withdrawn and new.state is State.DOWN)
        else:
            after = replace(degraded, passes=passes, last=Kind.OK)
        return new, _asking(after, degraded, kind is Kind.DEGRADE, now, timing.rise)
    if kind is Kind.HARD or policy is None:
        new = health.observe(health_, result, timing)
        if new.state is State.DOWN:
            return new, Degraded(last=Kind.HARD)  # a hard down: its recovery is a flap
        return new, replace(degraded, passes=0, last=Kind.HARD, asked_passes=0)
    since = now if degraded.since is None else degraded.since
    lasted = now - since
    if (health_.state is not State.DOWN and lasted > policy.max_degraded
            and may_withdraw(policy, peers_up)):
        down = Health(state=State.DOWN, passes=0, fails=health_.fails, reason=(
            f"soft failure for {lasted:.1f} s, longer than overload.max_degraded "
            f"({policy.max_degraded:g} s): {result.reason}"))
        return down, Degraded(since=since, last=Kind.SOFT, withdrawn=True, peers_up=peers_up)
    held = replace(health_, passes=0, reason=f"degraded (server busy): {result.reason}")
    return held, replace(degraded, since=since, passes=0, last=Kind.SOFT, peers_up=peers_up,
                         asked_passes=0)


def _asking(after: Degraded, before: Degraded, asks: bool, now: float, rise: int) -> Degraded:
    """`after` with a check's ask carried on: it starts at the first round that asks and
    ends after `rise` passing rounds in a row that do not."""
    if asks:
        return replace(after, asked=now if before.asked is None else before.asked,
                       asked_passes=0)
    passes = before.asked_passes + 1
    if before.asked is None or passes >= rise:
        return after
    return replace(after, asked=before.asked, asked_passes=passes)


def hard_only(degraded: Degraded) -> Degraded:
    """What is left once the overload policy is gone: a check's ask, no soft failure."""
    return Degraded(asked=degraded.asked, asked_passes=degraded.asked_passes)


def is_degraded(health_: Health, degraded: Degraded) -> bool:
    """Announced but soft-failing or asked by a check (or not yet `rise` passes past it)."""
    return health_.state is State.UP and (degraded.active or degraded.asked is not None)


def degraded_route(service: config.Service) -> config.Route | None:
    """The route while degraded, whatever the cause: `overload.route`, else the service's
    `degraded_route` (the config refuses both at once); None: the service's own route."""
    policy = service.overload
    if policy is not None and policy.route is not None:
        return policy.route
    return service.degraded_route


def route(service: config.Service, health_: Health, degraded: Degraded) -> config.Route:
    """The attributes to announce with: the degraded route while degraded, if one is set."""
    worse = degraded_route(service)
    if worse is not None and is_degraded(health_, degraded):
        return worse
    return service.route


def counts_as_flap(before: Degraded, after: Degraded) -> bool:
    """A change of state counts for flap damping unless the soft bound caused it or its end."""
    return not (before.withdrawn or after.withdrawn)
