"""Probe groups: the identical checks of many services share one probe in flight.

Owns `ProbeGroups`, which hands each service a `SharedProbe` for a DNS check
that another service has too (the same check, field for field, and the same
timeout and adaptive floor): while one run of the group's probe is in flight,
every service that asks joins it and gets its outcome, so 1,000 services with
one identical check send one query per round, not 1,000. Each service still
judges its own rounds (`speaker.core.health`): it is only handed the outcome.

Freshness: a round only ever gets the outcome of a probe that was still in
flight when it asked, never one that had ended. A round joins only a run that
waits at least as long as its own kind (`speaker.core.rtt.Run`: FIRST, the
adaptive timeout < CONFIRM, the hang window < FULL, the configured timeout):
a round that confirms a failure never reuses an early-timeout run; it waits
for the weaker runs in flight to end, then a run of its own kind starts.

`next_start` puts the rounds of a service with a shared probe on a grid of
their delay (multiples of it on the monotonic clock, plus the service's
phase), so services that share a probe start their rounds together and share
its flights. It only ever moves a round earlier than `start + delay`, never
later. The members of a group take PHASE_SIZE to a phase, the phases spread
over the delay: 1,000 services send 16 queries a round, and the event loop
never folds more than PHASE_SIZE rounds in one go (an event waits for them).
Must not decide health nor keep an outcome once its run ended; counts the
queries really sent (`sent`).
"""

from __future__ import annotations

import asyncio
import math

from speaker.core import config
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome
from speaker.ports import Probe, ProbeFactory

SHARED_TYPES = (config.DnsCheck,)  # stateless but for the latency estimate
GRID_SLACK = 1e-3  # a round that starts this late is still on its grid point
PHASE_SIZE = 64  # services of a group whose rounds start together
GOLDEN = 0.6180339887498949  # phase k starts k * GOLDEN (mod 1) of a delay in: spread evenly

Key = tuple[config.Check, float, float | None]
STRENGTH = {Run.FIRST: 0, Run.CONFIRM: 1, Run.FULL: 2}  # how long a kind of run waits
STRONGEST_FIRST = sorted(STRENGTH, key=STRENGTH.__getitem__, reverse=True)
# the kinds of run in flight that serve a round of each kind, the strongest first
SERVES = {kind: [held for held in STRONGEST_FIRST if STRENGTH[held] >= STRENGTH[kind]]
          for kind in STRENGTH}


class _Group:
    """One probe and its runs in flight, by kind (`speaker.core.rtt.Run`)."""

    def __init__(self, groups: ProbeGroups, factory: ProbeFactory, key: Key) -> None:
        self.groups = groups
        self.key = key
        self.members = 0
        self.joined = 0  # members ever: the next one's place among the phases
        check, timeout, floor = key
        self.probe = factory(check, timeout, floor)
        self.flights: dict[Run, asyncio.Future[None]] = {}
        # the rounds waiting for each run in flight: each its own future, so that a round
        # cancelled mid-run cancels only itself (not the run), and a run's end wakes each
        # round once (no shield, no done callback per round)
        self.waiting: dict[Run, list[asyncio.Future[Outcome]]] = {}
        self.stale = False  # reset once the runs in flight ended

    def join(self, kind: Run) -> asyncio.Future[Outcome]:
        """A future for the outcome of the run in flight that serves a round of `kind`
        (the strongest one that waits at least as long), or of a new run of that kind,
        started once the weaker runs in flight ended (a probe runs one query at a time)."""
        waiter = asyncio.get_running_loop().create_future()
        self.waiting[self._flight(kind)].append(waiter)
        return waiter

    def _flight(self, kind: Run) -> Run:
        """The kind of the run in flight that serves `kind`, started if need be."""
        if self.key[2] is None:  # a fixed timeout: every kind of run waits the same
            kind = Run.FIRST
        for held in SERVES[kind]:
            if held in self.flights:
                return held
        weaker = [f for held, f in self.flights.items() if STRENGTH[held] < STRENGTH[kind]]
        self.waiting[kind] = []
        self.flights[kind] = asyncio.ensure_future(self._fly(kind, weaker))
        return kind

    async def _fly(self, kind: Run, after: list[asyncio.Future[None]]) -> None:
        """One run; its outcome (or what it raised) goes to every round waiting for it."""
        outcome: Outcome | None = None
        error: BaseException | None = None
        try:
            if after:
                await asyncio.wait(after)  # never cancels them
            outcome = await self.probe.run(kind)
            self.groups.sent += outcome.queries  # a hang confirmation asks several times
        except Exception as exc:  # the rounds get it, as from their own probe
            self.groups.sent += 1  # it may have sent its query
            error = exc
        finally:
            del self.flights[kind]
            for waiter in self.waiting.pop(kind):
                if waiter.done():  # its round was cancelled
                    continue
                if outcome is not None:
                    waiter.set_result(outcome)
                elif error is not None:
                    waiter.set_exception(error)
                else:  # the run itself was cancelled (the speaker stops)
                    waiter.cancel()
            if self.stale and not self.flights:
                self.reset()

    def reset(self) -> None:
        """Close the probe's socket (it reopens one at its next run); with a run in
        flight, once it ended: one member's missing address must not cut the others'
        query short."""
        self.stale = bool(self.flights)
        if not self.stale:
            self.probe.close()


class SharedProbe:
    """A service's handle on a probe group: a `speaker.ports.Probe`."""

    def __init__(self, group: _Group, check: config.Check) -> None:
        self._group = group
        self._check = check
        # where in a delay its rounds start, as a fraction of it (see the module)
        self.phase = (group.joined // PHASE_SIZE * GOLDEN) % 1.0
        group.joined += 1
        self.name = check.describe()  # a round's metrics name it: once, not per round
        self._released = False

    @property
    def check(self) -> config.Check:
        return self._check

    @property
    def inner(self) -> Probe:
        """The group's probe, the one that sends."""
        return self._group.probe

    @property
    def shared(self) -> bool:
        """Another service holds the same probe."""
        return self._group.members > 1

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        # its own future: a service cancelled mid-round cancels only that, never the run
        return await self._group.join(confirm)

    def reset(self) -> None:
        """Close the group's socket; the next run opens a fresh one."""
        self._group.reset()

    def close(self) -> None:
        """This service no longer uses the probe; the last one out closes it."""
        if not self._released:
            self._released = True
            self._group.groups.release(self._group)


class ProbeGroups:
    def __init__(self) -> None:
        self.sent = 0  # queries of shared probes really sent
        self._groups: dict[Key, _Group] = {}

    def probe(self, factory: ProbeFactory, check: config.Check, timeout: float,
              floor: float | None) -> Probe:
        """A probe for one service's `check` (built by `factory`): shared with every
        service that has the same."""
        if not isinstance(check, SHARED_TYPES):
            return factory(check, timeout, floor)
        key = (check, timeout, floor)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(self, factory, key)
        group.members += 1
        return SharedProbe(group, check)

    def release(self, group: _Group) -> None:
        group.members -= 1
        if group.members <= 0:
            if self._groups.get(group.key) is group:
                del self._groups[group.key]
            group.reset()

    def __len__(self) -> int:
        return len(self._groups)


def next_start(probes: list[Probe], start: float, delay: float) -> float:
    """When the next round starts: `start + delay`, or the grid point of `delay` (and
    the first shared probe's phase) at or before it, so that services sharing it ask
    together."""
    due = start + delay
    shared = next((p for p in probes if isinstance(p, SharedProbe) and p.shared), None)
    if delay <= 0 or shared is None:
        return due
    offset = shared.phase * delay
    return math.floor((due - offset + GRID_SLACK) / delay) * delay + offset


def describe(probe: Probe) -> str:
    """What the probe checks, in words (`Check.describe`)."""
    return probe.name if isinstance(probe, SharedProbe) else probe.check.describe()


def reset(probes: list[Probe]) -> None:
    """Have the probes open fresh sockets at their next run (an address moved)."""
    for probe in probes:
        if isinstance(probe, SharedProbe):
            probe.reset()
        else:
            probe.close()
