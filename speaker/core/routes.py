"""What should be announced versus what ExaBGP confirmed, and the commands between.

Pure: no I/O, no clock (the caller passes `now`). A prefix counts as announced
only once ExaBGP acknowledged the announce with `done`. ExaBGP acknowledges
commands in the order they were written, so in-flight commands form a FIFO
that every ack pops.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from speaker.core.config import IPNetwork, Route


class Action(enum.Enum):
    ANNOUNCE = "announce"
    WITHDRAW = "withdraw"


class Confirmed(enum.Enum):
    UNKNOWN = "unknown"  # a previous process may have announced it
    WITHDRAWN = "withdrawn"
    ANNOUNCED = "announced"


@dataclass(frozen=True)
class Command:
    action: Action
    prefix: IPNetwork
    route: Route = field(default_factory=Route)


@dataclass
class _Entry:
    desired: Route | None = None  # None: withdrawn
    confirmed: Confirmed = Confirmed.UNKNOWN
    announced: Route | None = None  # the attributes ExaBGP confirmed
    in_flight: int = 0
    retry_at: float = 0.0
    failures: int = 0
    managed: bool = True  # False once removed from the config: dropped when withdrawn


@dataclass(frozen=True)
class AckResult:
    command: Command | None  # None: an ack nothing was waiting for
    ok: bool


RETRY_FIRST = 1.0
RETRY_MAX = 30.0


class RouteBook:
    """Desired and acknowledged state of every prefix the process manages."""

    def __init__(self) -> None:
        self._entries: dict[IPNetwork, _Entry] = {}
        self._pending: deque[Command] = deque()
        self._dirty: dict[IPNetwork, None] = {}  # prefixes `plan` must look at, in order
        self._maybe: set[IPNetwork] = set()  # not confirmed withdrawn: a watchdog's list
        self._maybe_changes: dict[IPNetwork, bool] = {}  # since `take_maybe_changes`

    # -- desired state ---------------------------------------------------------

    def add(self, prefix: IPNetwork) -> None:
        """Start managing `prefix`: wanted withdrawn, state unknown."""
        entry = self._entries.get(prefix)
        if entry is None:
            self._entries[prefix] = _Entry()
        else:
            entry.managed = True
        self._dirty[prefix] = None
        self._touch(prefix)

    def remove(self, prefix: IPNetwork) -> None:
        """Stop managing `prefix`: withdraw it, then forget it."""
        entry = self._entries.get(prefix)
        if entry is not None:
            entry.desired = None
            entry.managed = False
            self._dirty[prefix] = None

    def want(self, prefix: IPNetwork, route: Route | None) -> None:
        """Set what `prefix` should be: announced with `route`, or withdrawn (None)."""
        entry = self._entries[prefix]
        if entry.desired != route:
            entry.desired = route
            self._dirty[prefix] = None

    # -- commands and acks -----------------------------------------------------

    def plan(self, now: float) -> list[Command]:
        """Commands that bring confirmed state towards desired state.

        A prefix with a command in flight waits for its ack; one whose last
        command failed waits for its retry time.
        """
        commands: list[Command] = []
        waiting: dict[IPNetwork, None] = {}
        for prefix in self._dirty:
            entry = self._entries.get(prefix)
            if entry is None:
                continue
            if entry.in_flight:
                continue  # its ack marks it dirty again
            if now < entry.retry_at:
                waiting[prefix] = None
                continue
            if entry.desired is not None and (entry.confirmed is not Confirmed.ANNOUNCED
                                              or entry.announced != entry.desired):
                commands.append(Command(Action.ANNOUNCE, prefix, entry.desired))
            elif entry.desired is None and entry.confirmed is not Confirmed.WITHDRAWN:
                commands.append(Command(Action.WITHDRAW, prefix))
        self._dirty = waiting
        for command in commands:
            self.sent(command)
        return commands

    def refresh(self) -> list[Command]:
        """Announce again every prefix that should be announced (after a session came up)."""
        commands = [
            Command(Action.ANNOUNCE, prefix, entry.desired)
            for prefix, entry in self._entries.items()
            if entry.desired is not None and not entry.in_flight
        ]
        for command in commands:
            self.sent(command)
        return commands

    def withdraw_all(self) -> list[Command]:
        """Withdraw every prefix that is or may be announced (on exit)."""
        commands = []
        for prefix, entry in self._entries.items():
            entry.desired = None
            if entry.confirmed is not Confirmed.WITHDRAWN or entry.in_flight:
                commands.append(Command(Action.WITHDRAW, prefix))
        for command in commands:
            self.sent(command)
        return commands

    def sent(self, command: Command) -> None:
        """Record that `command` was written to ExaBGP and awaits its ack."""
        self._entries[command.prefix].in_flight += 1
        self._pending.append(command)
        self._touch(command.prefix)

    def unsent(self, command: Command) -> None:
        """Forget `command`: writing it failed."""
        self._pending.remove(command)
        self._entries[command.prefix].in_flight -= 1
        self._dirty[command.prefix] = None
        self._touch(command.prefix)

    def ack(self, ok: bool, now: float) -> AckResult:
        """Apply ExaBGP's `done` (ok) or `error` to the oldest command in flight."""
        if not self._pending:
            return AckResult(None, ok)
        command = self._pending.popleft()
        entry = self._entries[command.prefix]
        entry.in_flight -= 1
        self._dirty[command.prefix] = None
        if ok:
            entry.failures = 0
            entry.retry_at = 0.0
            if command.action is Action.ANNOUNCE:
                entry.confirmed = Confirmed.ANNOUNCED
                entry.announced = command.route
            else:
                entry.confirmed = Confirmed.WITHDRAWN
                if not entry.managed and not entry.in_flight:
                    del self._entries[command.prefix]
        else:
            entry.failures += 1
            entry.retry_at = now + min(RETRY_MAX, RETRY_FIRST * 2 ** (entry.failures - 1))
            if command.action is Action.WITHDRAW:
                entry.confirmed = Confirmed.UNKNOWN
        self._touch(command.prefix)
        return AckResult(command, ok)

    def _touch(self, prefix: IPNetwork) -> None:
        """Record whether `prefix` may be announced now, if that changed."""
        entry = self._entries.get(prefix)
        maybe = entry is not None and (entry.confirmed is not Confirmed.WITHDRAWN
                                       or entry.in_flight > 0)
        if maybe != (prefix in self._maybe):
            if maybe:
                self._maybe.add(prefix)
            else:
                self._maybe.discard(prefix)
            if prefix in self._maybe_changes:
                del self._maybe_changes[prefix]  # changed back since the last take
            else:
                self._maybe_changes[prefix] = maybe

    def take_maybe_changes(self) -> tuple[list[IPNetwork], list[IPNetwork]]:
        """(added, removed) to the prefixes that may be announced, since the last call."""
        changes, self._maybe_changes = self._maybe_changes, {}
        return ([p for p, m in changes.items() if m], [p for p, m in changes.items() if not m])

    # -- reading ---------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Commands written and not yet acknowledged."""
        return len(self._pending)

    def oldest_pending(self) -> Command | None:
        return self._pending[0] if self._pending else None

    def confirmed(self, prefix: IPNetwork) -> Confirmed:
        entry = self._entries.get(prefix)
        return entry.confirmed if entry else Confirmed.WITHDRAWN

    def desired(self, prefix: IPNetwork) -> bool:
        entry = self._entries.get(prefix)
        return entry is not None and entry.desired is not None

    def settled(self, prefix: IPNetwork) -> bool:
        """True when `prefix` is confirmed in its desired state with nothing in flight."""
        entry = self._entries.get(prefix)
        if entry is None:
            return True
        target = Confirmed.ANNOUNCED if entry.desired is not None else Confirmed.WITHDRAWN
        return entry.in_flight == 0 and entry.confirmed is target

    def maybe_announced(self) -> list[IPNetwork]:
        """Prefixes not confirmed withdrawn: what a watchdog must withdraw."""
        return [p for p in self._entries if p in self._maybe]

    def prefixes(self) -> list[IPNetwork]:
        return list(self._entries)
