"""Fakes for the I/O edges of the speaker: ExaBGP sink, addresses, probes, store, clock,
hooks.

Small and general: each records what happened and lets a test script the
answers. No real time, no sockets, no netlink.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from speaker.core.config import Check, IPAddress
from speaker.core.hooks import Argv, Transition
from speaker.core.maintenance import Maintenance
from speaker.core.verdicts import Outcome
from speaker.ports import AddressError, ChannelClosed, StateError

OK = Outcome(ok=True, reason="ok", latency=0.001)


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sink:
    """Records the lines written to ExaBGP; `on_write` lets a test answer them (acks)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.closed = False
        self.on_write: Callable[[str], None] | None = None

    def write(self, line: str) -> None:
        if self.closed:
            raise ChannelClosed("fake sink closed")
        self.lines.append(line)
        if self.on_write is not None:
            self.on_write(line)


class Addresses:
    """Addresses on interfaces, kept in a set; `error` makes every call fail."""

    def __init__(self, present: Iterable[tuple[str, IPAddress]] = ()) -> None:
        self.addresses: set[tuple[str, IPAddress]] = set(present)
        self.error: str | None = None
        self.closed = False

    def present(self, interface: str, address: IPAddress) -> bool:
        if self.error:
            raise AddressError(self.error)
        return (interface, address) in self.addresses

    def ensure(self, interface: str, address: IPAddress) -> bool:
        if self.error:
            raise AddressError(self.error)
        if (interface, address) in self.addresses:
            return False
        self.addresses.add((interface, address))
        return True

    def close(self) -> None:
        self.closed = True


class Probe:
    """A check that answers with scripted outcomes, then with `default`."""

    def __init__(self, check: Check, timeout: float = 0.25,
                 outcomes: Iterable[Outcome] = (), default: Outcome = OK) -> None:
        self.check = check
        self.timeout = timeout
        self.outcomes: deque[Outcome] = deque(outcomes)
        self.default = default
        self.runs = 0
        self.closed = False

    async def run(self) -> Outcome:
        self.runs += 1
        return self.outcomes.popleft() if self.outcomes else self.default

    def close(self) -> None:
        self.closed = True


class Probes:
    """A probe factory for `Speaker(probe_factory=...)` that keeps what it built."""

    def __init__(self, default: Outcome = OK) -> None:
        self.default = default
        self.built: list[Probe] = []

    def __call__(self, check: Check, timeout: float) -> Probe:
        probe = Probe(check, timeout, default=self.default)
        self.built.append(probe)
        return probe


class Store:
    """A maintenance record in memory; `error` makes saving fail."""

    def __init__(self, entries: dict[str, Maintenance] | None = None) -> None:
        self.entries = dict(entries or {})
        self.error: str | None = None

    def load(self) -> dict[str, Maintenance]:
        return dict(self.entries)

    def save(self, entries: dict[str, Maintenance]) -> None:
        if self.error:
            raise StateError(self.error)
        self.entries = dict(entries)


class HookRunner:
    """Records each request to run hooks, with how many lines ExaBGP had been sent then."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.runs: list[tuple[tuple[Argv, ...], float, Transition, int]] = []

    def run(self, commands: Sequence[Argv], timeout: float, transition: Transition) -> None:
        sent = len(self.sink.lines) if self.sink is not None else 0
        self.runs.append((tuple(commands), timeout, transition, sent))
