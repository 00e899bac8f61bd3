"""What should be announced versus what ExaBGP confirmed, and the commands between.

Pure: no I/O, no clock (the caller passes `now`). A prefix counts as announced
only once ExaBGP acknowledged the announce with `done`. ExaBGP acknowledges
commands in the order they were written, so in-flight commands form a FIFO
that every ack pops.

A process starts not knowing what ExaBGP announces (a previous process may
have announced prefixes this config no longer has). `clear` records the
`clear adj-rib out` written first: until its ack, `plan` holds every command
back; once done, every prefix is confirmed withdrawn and so is every prefix
added later, since ExaBGP then holds only what this book sent.

With a `limit` (router_limits.max_prefixes) the book never lets more than
`limit` prefixes be held by the router at once. A prefix counts as held from
the moment its announce is written until ExaBGP acknowledged its withdraw
(`maybe_announced`). `plan` writes every withdraw before any announce, and
holds back an announce that would take a new slot while `limit` prefixes are
held (`deferred`): it goes out once the withdraws' acks free a slot. ExaBGP
sends the UPDATEs of what it acknowledged before it reads the next command,
so the router sees the withdraw first. Which prefixes are wanted within the
limit is decided before (`speaker.core.budget`); this only keeps the order.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable
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


@dataclass(frozen=True)
class Clear:
    """`clear adj-rib out`: ExaBGP withdraws every route it announces."""


CLEAR = Clear()


@dataclass
class _Entry:
    desired: Route | None = None  # None: withdrawn
    confirmed: Confirmed = Confirmed.UNKNOWN
    announced: Route | None = None  # the attributes ExaBGP confirmed
    in_flight: int = 0
    retry_at: float = 0.0
    failures: int = 0
    line: int = 0  # at most this many prefixes on its next line (0: any); halved at a refusal
    managed: bool = True  # False once removed from the config: dropped when withdrawn


@dataclass(frozen=True)
class AckResult:
    command: Command | Clear | None  # None: an ack nothing was waiting for
    ok: bool
    withdrawn: tuple[IPNetwork, ...] = ()  # a Clear done: prefixes it confirmed withdrawn


RETRY_FIRST = 1.0
RETRY_MAX = 30.0


class RouteBook:
    """Desired and acknowledged state of every prefix the process manages."""

    def __init__(self) -> None:
        self._entries: dict[IPNetwork, _Entry] = {}
        self._pending: deque[Command | Clear] = deque()
        self._dirty: dict[IPNetwork, None] = {}  # prefixes `plan` must look at, in order
        self._maybe: set[IPNetwork] = set()  # not confirmed withdrawn: a watchdog's list
        self._maybe_changes: dict[IPNetwork, bool] = {}  # since `take_maybe_changes`
        self._clearing = False  # a Clear is in flight: plan() holds commands back
        self._cleared = False  # ExaBGP holds only what this book sent
        self.limit: int | None = None  # the most prefixes the router may hold at once
        self._deferred: set[IPNetwork] = set()  # announces held back until a slot is free

    # -- desired state ---------------------------------------------------------

    def add(self, prefix: IPNetwork) -> None:
        """Start managing `prefix`: wanted withdrawn, state unknown."""
        entry = self._entries.get(prefix)
        if entry is None:
            self._entries[prefix] = _Entry(
                confirmed=Confirmed.WITHDRAWN if self._cleared else Confirmed.UNKNOWN)
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
        """Commands that bring confirmed state towards desired state: withdraws first.

        A prefix with a command in flight waits for its ack; one whose last
        command failed waits for its retry time; an announce that does not fit
        the limit waits for a withdraw's ack. Nothing while a Clear is in flight.
        """
        if self._clearing:
            return []
        withdraws: list[Command] = []
        announces: list[Command] = []
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
                announces.append(Command(Action.ANNOUNCE, prefix, entry.desired))
            elif entry.desired is None and entry.confirmed is not Confirmed.WITHDRAWN:
                withdraws.append(Command(Action.WITHDRAW, prefix))
        self._dirty = waiting
        self._deferred = set()
        for command in withdraws:
            self.sent(command)
        return withdraws + [c for c in announces if self._send_if_fits(c)]

    def _fits(self, prefix: IPNetwork) -> bool:
        """Announcing `prefix` keeps the prefixes the router may hold within the limit
        (counting those of unknown state at start: a previous process may hold them)."""
        if self.limit is None:
            return True
        return len(self._maybe) + (prefix not in self._maybe) <= self.limit

    def _send_if_fits(self, command: Command) -> bool:
        if self._fits(command.prefix):
            self.sent(command)
            return True
        self._dirty[command.prefix] = None
        self._deferred.add(command.prefix)
        return False

    @property
    def deferred(self) -> bool:
        """An announce waits for a slot: the next withdraw ack should be followed by a plan."""
        return bool(self._deferred)

    def refresh(self) -> list[Command]:
        """Announce again every prefix that should be announced (after a session came up);
        one that does not fit the limit yet is left to `plan`."""
        return [c for c in (Command(Action.ANNOUNCE, prefix, entry.desired)
                            for prefix, entry in list(self._entries.items())
                            if entry.desired is not None and not entry.in_flight)
                if self._send_if_fits(c)]

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

    def clear(self) -> Clear:
        """Record that `clear adj-rib out` is written (before any other command)."""
        self._clearing = True
        self._pending.append(CLEAR)
        return CLEAR

    def sent(self, command: Command) -> None:
        """Record that `command` was written to ExaBGP and awaits its ack."""
        self._entries[command.prefix].in_flight += 1
        self._pending.append(command)
        self._touch(command.prefix)

    def unsent(self, command: Command | Clear) -> None:
        """Forget `command`: writing it failed."""
        self._pending.remove(command)
        if isinstance(command, Clear):
            self._clearing = False  # withdraw prefix by prefix instead
            return
        self._entries[command.prefix].in_flight -= 1
        self._dirty[command.prefix] = None
        self._touch(command.prefix)

    def ack(self, ok: bool, now: float) -> AckResult:
        """Apply ExaBGP's `done` (ok) or `error` to the oldest command in flight."""
        if not self._pending:
            return AckResult(None, ok)
        command = self._pending.popleft()
        if isinstance(command, Clear):
            return self._clear_acked(ok)
        entry = self._entries[command.prefix]
        entry.in_flight -= 1
        self._dirty[command.prefix] = None
        if ok:
            entry.failures = 0
            entry.retry_at = 0.0
            entry.line = 0
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

    def _clear_acked(self, ok: bool) -> AckResult:
        """The Clear's ack. Done: nothing is announced but what was sent after it (acked
        later, in order). Error: prefix by prefix withdraws, as if it was never sent."""
        self._clearing = False
        self._dirty.update(dict.fromkeys(self._entries))
        if not ok:
            return AckResult(CLEAR, ok)
        self._cleared = True
        withdrawn = []
        for prefix, entry in list(self._entries.items()):
            if entry.confirmed is not Confirmed.WITHDRAWN:
                withdrawn.append(prefix)
            entry.confirmed = Confirmed.WITHDRAWN
            entry.announced = None
            if not entry.managed and not entry.in_flight:
                del self._entries[prefix]
            self._touch(prefix)
        return AckResult(CLEAR, ok, tuple(withdrawn))

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

    def oldest_pending(self) -> Command | Clear | None:
        return self._pending[0] if self._pending else None

    def refused(self, prefixes: Iterable[IPNetwork], on_line: int) -> None:
        """ExaBGP refused a line of `on_line` prefixes: their retries go on lines of half
        as many, so that one bad prefix ends up alone and the others get through."""
        for prefix in prefixes:
            if (entry := self._entries.get(prefix)) is not None:
                entry.line = max(1, on_line // 2)

    def line_limit(self, prefix: IPNetwork) -> int:
        """How many prefixes the next line of `prefix` may carry (0: any)."""
        entry = self._entries.get(prefix)
        return entry.line if entry is not None else 0

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
