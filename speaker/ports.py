"""The interfaces between the engine and the outside world, and their errors.

Owns every Protocol the engine (`speaker.engine`) is written against: the
ExaBGP `Sink`, the anycast `Addresses`, a `Probe` and its factory, the metrics
`Recorder`, the `MaintenanceStore`, the `Clock`, `ServerEvents` (the event
sources that report a dead server), the `HookRunner` of the state-change hooks
and `Controlled`, what the control server asks of the running speaker. The
exceptions here are part of
those interfaces: an adapter raises them, the engine catches them without
knowing the adapter. Must not do I/O or import an adapter; the adapters in
`speaker.adapters` implement these, and `speaker.daemon` wires them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, Protocol

from speaker.core import gshut
from speaker.core.config import Check, Config, IPAddress, Service
from speaker.core.hooks import Argv, Transition
from speaker.core.maintenance import OPERATOR, Entries
from speaker.core.rtt import Run
from speaker.core.sockdiag import Listener
from speaker.core.verdicts import Outcome
from speaker.core.watch import Detection, Target


class ChannelClosed(Exception):
    """ExaBGP is gone: stdout cannot be written."""


class AddressError(Exception):
    """An address could not be read or added."""


class StateError(Exception):
    """The maintenance file cannot be read or written."""


class UnknownService(Exception):
    """A request named services that are not configured."""

    def __init__(self, unknown: Sequence[str], known: Sequence[str]) -> None:
        super().__init__(", ".join(unknown))
        self.unknown = list(unknown)
        self.known = list(known)


class Clock(Protocol):
    """Seconds as a float: `time.monotonic` for intervals, `time.time` for timestamps."""

    def __call__(self) -> float: ...


class Sink(Protocol):
    def write(self, line: str) -> None:
        """Send one API line to ExaBGP; raises ChannelClosed when ExaBGP is gone."""
        ...


class Addresses(Protocol):
    """The addresses on local interfaces; every method may raise AddressError."""

    def present(self, interface: str, address: IPAddress) -> bool: ...

    def ensure(self, interface: str, address: IPAddress) -> bool:
        """Add `address` (host prefix) to `interface`; True if it was added now."""
        ...

    def close(self) -> None: ...


class Probe(Protocol):
    @property
    def check(self) -> Check:
        """What the probe checks (read-only: each probe type has its own kind of check)."""
        ...

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        """Check once; never raises: a failure is an Outcome that says why.

        `confirm`: what the run is for; one that confirms a failure waits longer than
        an adaptive probe's early timeout (`speaker.core.rtt.Run`).
        """
        ...

    def close(self) -> None:
        """Release what the probe holds open (its socket)."""
        ...


class ProbeFactory(Protocol):
    def __call__(self, check: Check, timeout: float, min_timeout: float | None = None, /
                 ) -> Probe:
        """The probe for `check`, with the service's `timeout` unless the check sets one;
        adaptive down to `min_timeout` if one is given (`speaker.core.rtt`)."""
        ...


class Recorder(Protocol):
    """What the engine reports to metrics. The bodies record nothing: see NullRecorder."""

    def check(self, service: str, check: str, code: str, latency: float) -> None:
        return None

    def transition(self, service: str, old: str, new: str) -> None:
        return None

    def ack(self, kind: str) -> None:
        return None

    def neighbor(self, peer: str, state: str) -> None:
        return None

    def ignored_line(self) -> None:
        return None

    def hook(self, service: str, result: str) -> None:
        """A hook command finished: result is ok, failed, timeout or error (not started)."""
        return None


class NullRecorder(Recorder):
    """Records nothing: metrics are optional."""


class HookRunner(Protocol):
    def run(self, commands: Sequence[Argv], timeout: float, transition: Transition) -> None:
        """Start `commands` for `transition` in the background, one after the other.

        Returns at once and never raises: a hook can neither delay nor prevent
        what the engine sends to ExaBGP. The hooks of one service never run two
        at once; those of a later transition wait for the earlier ones.
        """
        ...


class NullHooks:
    """Runs nothing: no hooks are configured."""

    def run(self, commands: Sequence[Argv], timeout: float, transition: Transition) -> None:
        return None


class MaintenanceStore(Protocol):
    def load(self) -> Entries:
        """Services in maintenance; {ALL: ...} when the record cannot be read."""
        ...

    def save(self, entries: Entries) -> None:
        """Replace the record; raises StateError if it cannot be written.

        May block (fsync): the engine calls it in a worker thread, one call at a time.
        """
        ...


class Controlled(Protocol):
    """What the control server asks of the running speaker."""

    @property
    def config(self) -> Config: ...

    @property
    def config_path(self) -> Path | None: ...

    def status(self) -> dict[str, Any]: ...

    def event_list(self) -> list[dict[str, Any]]:
        """The transitions kept in memory, oldest first."""
        ...

    def follow_events(self) -> AsyncGenerator[dict[str, Any], None]:
        """The kept transitions, then each new one as it happens, until the speaker stops."""
        ...

    def services(self, names: Sequence[str]) -> list[Service]:
        """The services named, all of them if none is; raises UnknownService."""
        ...

    async def set_maintenance(self, names: Sequence[str], reason: str, by: str,
                              tag: str = OPERATOR, graceful: float = 0.0) -> list[str]:
        """Record maintenance `tag` (raises StateError if it cannot), then withdraw at once;
        with `graceful` seconds, those announced drain first (RFC 8326): returns them."""
        ...

    async def graceful_wait(self, names: Sequence[str]) -> dict[str, gshut.Ending]:
        """How the graceful drains of `names` ended (a `speaker.core.gshut.Ending`: its code,
        WITHDRAWN, CUT_SHORT, REMOVED, CANCELLED or REPLACED, and its text); those not
        draining are left out."""
        ...

    async def clear_maintenance(self, names: Sequence[str],
                                tag: str | None = None) -> dict[str, list[str]]:
        """End maintenance `tag` (every tag if None); raises StateError if it cannot be
        recorded. Returns, per service of `names`, the tags that still keep it withdrawn."""
        ...

    async def wait_settled(self, names: Sequence[str], timeout: float,
                           announced: bool = False) -> bool:
        """True once ExaBGP confirmed the desired state of every prefix of `names` (with
        `announced`: once that state is announced)."""
        ...

    def reload(self, new: Config) -> dict[str, list[str]]:
        """Swap in a validated config; service names by added, removed, changed, unchanged."""
        ...


class ServerEvents(Protocol):
    """An event source the engine subscribes to: it calls back when a server dies.

    The engine hands each service's targets to `watch`; the source calls its
    `on_gone(name, reason)` (given at construction) once per death, and waits
    for `rearm` (after a passing probe) to look for the restarted server.
    """

    def watch(self, name: str, targets: Sequence[Target]) -> None: ...

    def rearm(self, name: str) -> None: ...

    def unwatch(self, name: str) -> None: ...

    def report(self, name: str) -> list[Detection]: ...

    def close(self) -> None: ...


class NoEvents:
    """No event source: probes alone detect (unit tests, or nothing could be set up)."""

    def __init__(self, why: str = "no event source configured") -> None:
        self.why = why
        self._targets: dict[str, Sequence[Target]] = {}

    def watch(self, name: str, targets: Sequence[Target]) -> None:
        self._targets[name] = targets

    def rearm(self, name: str) -> None:
        return None

    def unwatch(self, name: str) -> None:
        self._targets.pop(name, None)

    def report(self, name: str) -> list[Detection]:
        return [Detection("socket" if isinstance(t, Listener) else "process", t.describe(),
                          False, self.why) for t in self._targets.get(name, ())]

    def close(self) -> None:
        return None
