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
from speaker.core.maintenance import Entries
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome
from speaker.core.watch import Detection, Target
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
        self.min_timeout: float | None = None
        self.confirms: list[Run] = []  # the `confirm` of each run
        self.outcomes: deque[Outcome] = deque(outcomes)
        self.default = default
        self.runs = 0
        self.closed = False

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        self.runs += 1
        self.confirms.append(confirm)
        return self.outcomes.popleft() if self.outcomes else self.default

    def close(self) -> None:
        self.closed = True


def scripted(probe: object) -> Probe:
    """The fake Probe behind a service's probe (a shared one sends through its group's)."""
    inner = getattr(probe, "inner", probe)
    assert isinstance(inner, Probe), inner
    return inner


class Probes:
    """A probe factory for `Speaker(probe_factory=...)` that keeps what it built."""

    def __init__(self, default: Outcome = OK) -> None:
        self.default = default
        self.built: list[Probe] = []

    def __call__(self, check: Check, timeout: float, min_timeout: float | None = None) -> Probe:
        probe = Probe(check, timeout, default=self.default)
        probe.min_timeout = min_timeout
        self.built.append(probe)
        return probe


class Store:
    """A maintenance record in memory; `error` makes saving fail."""

    def __init__(self, entries: Entries | None = None) -> None:
        self.entries = dict(entries or {})
        self.error: str | None = None

    def load(self) -> Entries:
        return dict(self.entries)

    def save(self, entries: Entries) -> None:
        if self.error:
            raise StateError(self.error)
        self.entries = dict(entries)


class HookRunner:
    """Records each request to run commands, with how many lines ExaBGP had been sent then;
    a request without commands runs nothing and is not recorded."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.runs: list[tuple[tuple[Argv, ...], float, Transition, int]] = []

    def run(self, commands: Sequence[Argv], timeout: float, transition: Transition) -> None:
        if not commands:
            return
        sent = len(self.sink.lines) if self.sink is not None else 0
        self.runs.append((tuple(commands), timeout, transition, sent))


class Kernel:
    """sock_diag as speaker.adapters.sockdiag.Kernel: scripted dumps, queued events.

    `dumps[(family, protocol)]` is the list of replies (datagram lists) the next
    dumps return, the last one repeated; `push` queues event datagrams and makes
    the descriptor readable (a socketpair), so the event loop calls the watch.
    """

    def __init__(self) -> None:
        import socket

        self.dumps: dict[tuple[int, int], list[list[bytes]]] = {}
        self.queued: list[bytes] = []
        self.overrun = False
        self.joined: set[int] = set()
        self.ports: set[int] = set()
        self.dumped = 0
        self.closed = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)

    def join(self, groups: Iterable[int], ports: Iterable[int]) -> None:
        self.joined.update(groups)
        self.ports.update(ports)

    def fileno(self) -> int:
        return self._reader.fileno()

    def push(self, datagrams: Iterable[bytes] = (), overrun: bool = False) -> None:
        self.queued.extend(datagrams)
        self.overrun = self.overrun or overrun
        self._writer.send(b"x")

    def events(self) -> list[bytes]:
        from speaker.adapters.sockdiag import Overrun

        while True:
            try:
                self._reader.recv(4096)
            except BlockingIOError:
                break
        found, self.queued = self.queued, []
        if self.overrun:
            self.overrun = False
            raise Overrun()
        return found

    def dump(self, family: int, protocol: int, states: int) -> list[bytes]:
        self.dumped += 1
        replies = self.dumps.get((family, protocol))
        if not replies:
            done = bytes.fromhex("140000000300020007000000afa4e1b200000000")  # NLMSG_DONE
            return [done]
        return replies.pop(0) if len(replies) > 1 else replies[0]

    def close(self) -> None:
        self.closed = True
        self._reader.close()
        self._writer.close()


class ServerEvents:
    """An event source (speaker.ports.ServerEvents) that records what it was asked."""

    def __init__(self) -> None:
        self.watched: dict[str, tuple[Target, ...]] = {}
        self.calls: list[tuple[str, str]] = []
        self.reports: dict[str, list[Detection]] = {}
        self.closed = False

    def watch(self, name: str, targets: Sequence[Target]) -> None:
        self.watched[name] = tuple(targets)
        self.calls.append(("watch", name))

    def rearm(self, name: str) -> None:
        self.calls.append(("rearm", name))

    def unwatch(self, name: str) -> None:
        self.watched.pop(name, None)
        self.calls.append(("unwatch", name))

    def report(self, name: str) -> list[Detection]:
        return self.reports.get(name, [])

    def close(self) -> None:
        self.closed = True
