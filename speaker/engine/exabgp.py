"""The engine's side of the conversation with ExaBGP: commands out, acks and events in.

Owns writing the RouteBook's commands to the Sink, reading ExaBGP's messages
(acks, neighbour changes, shutdown, lines it did not understand), the
neighbour table (and which sessions keep resetting: core.resets), the ack
counters and the waits for a prefix to settle. At start it asks `show neighbor
summary`: ExaBGP sends neighbour changes only, so a respawned process would
otherwise know no session. The answer is known by its content: its text lines,
then the `done` that follows them (not by counting acks: a respawned process
can first get the `done` of what the watchdog wrote for the dead one). Until
it, the neighbour table is "unknown", not empty. It decides nothing about
health: the speaker sets what each prefix should be in the RouteBook, and this
sends the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from speaker import logs
from speaker.core import config, exabgp_api, resets
from speaker.core.exabgp_api import (
    Ack,
    Garbage,
    Message,
    NeighborState,
    Other,
    Shutdown,
    SummaryRow,
    Text,
)
from speaker.core.routes import Action, Clear, Command, RouteBook
from speaker.engine.wake import Waker
from speaker.ports import ChannelClosed, Clock, NullRecorder, Recorder, Sink

LOG = logs.get("speaker")
ACK_WARN_AFTER = 5.0


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
    down_reason: str = ""  # what ExaBGP said at the last down (the NOTIFICATION)

    def as_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "state": self.state, "since": self.since,
                "local": self.local, "peer_as": self.peer_as, "reason": self.reason,
                "ups": self.ups, "downs": self.downs, "down_reason": self.down_reason}


@dataclass
class _Query:
    """`show neighbor summary` in flight, and the text lines of its answer so far."""

    lines: list[str]


class ExaBGP:
    """Sends what the RouteBook plans and folds ExaBGP's answers back into it."""

    def __init__(self, sink: Sink, book: RouteBook, stopping: asyncio.Event, *,
                 clock: Clock, wall: Clock) -> None:
        self.sink = sink
        self.book = book
        self.stopping = stopping  # set when ExaBGP is gone or shutting down
        self.clock = clock
        self.wall = wall
        self.recorder: Recorder = NullRecorder()
        self.neighbors: dict[str, Neighbor] = {}
        self.resets: dict[str, resets.Resets] = {}
        self._last_update: float | None = None  # when the last announce/withdraw was sent
        self._resetting: set[str] = set()  # peers logged as resetting
        self.acks = {"done": 0, "error": 0, "unexpected": 0}
        self.garbage = 0
        self.settle_waiters: list[asyncio.Event] = []
        self.on_prefixes_changed: Callable[[list[str], list[str]], None] = lambda a, r: None
        self._ack_warned = False
        self._ack_waiting_since: float | None = None
        self.neighbors_known = False  # the table holds every session ExaBGP has
        self._query: _Query | None = None
        self._lines: deque[int] = deque()  # book entries of each line awaiting its ack
        self.waker = Waker(sink, lambda: bool(self._lines))
        self._held: asyncio.Handle | None = None  # a deferred flush (`defer`)
        self._held_flushes = 0  # flushes held since the last one sent

    # -- commands out --------------------------------------------------------------

    def write(self, commands: Sequence[Command] | Clear) -> None:
        """Write commands the book recorded as sent, as few lines as ExaBGP allows
        (`exabgp_api.batches`); each line gets one ack (`_lines`)."""
        for run in ([commands] if isinstance(commands, Clear) else
                    exabgp_api.batches(commands, lambda c: self.book.line_limit(c.prefix))):
            sent: list[Command | Clear] = [run] if isinstance(run, Clear) else list(run)
            line = (exabgp_api.render(run) if isinstance(run, Clear)
                    else exabgp_api.render_batch(run))
            try:
                self.sink.write(line)
            except ChannelClosed as exc:
                for command in sent:
                    self.book.unsent(command)
                logs.log(LOG, logging.ERROR, "cannot send to ExaBGP", command=line, error=exc)
                self.stopping.set()
                continue
            self._lines.append(len(sent))
            self.waker.sent(len(sent))
            self._last_update = self.clock()
            logs.log(LOG, logging.DEBUG, "sent", command=line)

    def defer(self) -> None:
        """Hold `flush` until the callbacks of this turn of the event loop ran: what many
        services change at once (one event, one shared probe) goes out as few lines.
        Every MAX_BATCH held flushes one goes through, so that ExaBGP starts on the
        first lines while the speaker still folds the later services."""
        if self._held is None:
            self._held = asyncio.get_running_loop().call_soon(self._release)

    def _release(self) -> None:
        self._held, self._held_flushes = None, 0
        self.flush()

    def flush(self) -> None:
        """Send the commands that bring ExaBGP to the desired state."""
        if self._held is not None:
            self._held_flushes += 1
            if self._held_flushes < exabgp_api.MAX_BATCH:
                return
            self._held_flushes = 0
        commands = self.book.plan(self.clock())
        self.write(commands)
        if any(c.action is Action.ANNOUNCE for c in commands):
            self.sync_watchdog()  # the watchdog must know before the route can be at risk

    def sync_watchdog(self) -> None:
        """Tell the watchdog which prefixes started or stopped being at risk."""
        added, removed = self.book.take_maybe_changes()
        if added or removed:
            self.on_prefixes_changed([str(p) for p in added], [str(p) for p in removed])

    def start(self) -> None:
        """The first commands of a process: clear what a previous one left, then ask
        which sessions are up."""
        self.clear()
        self.ask_neighbors()

    def ask_neighbors(self) -> None:
        """Write `show neighbor summary`; its answer fills the neighbour table."""
        if self._query is not None:
            return
        try:
            self.sink.write(exabgp_api.SHOW_NEIGHBOR_SUMMARY)
        except ChannelClosed as exc:
            logs.log(LOG, logging.ERROR, "cannot send to ExaBGP",
                     command=exabgp_api.SHOW_NEIGHBOR_SUMMARY, error=exc)
            self.stopping.set()
            return
        self._query = _Query(lines=[])
        logs.log(LOG, logging.DEBUG, "sent", command=exabgp_api.SHOW_NEIGHBOR_SUMMARY)

    @property
    def asking(self) -> bool:
        """`show neighbor summary` is written and its answer not read yet."""
        return self._query is not None

    def clear(self) -> None:
        """Have ExaBGP withdraw whatever it announces (`clear adj-rib out`): what a
        previous process left, and nothing it never announced."""
        self.write(self.book.clear())

    def withdraw_all(self) -> None:
        self.write(self.book.withdraw_all())

    # -- messages in ---------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        if isinstance(message, Ack):
            if self.waker.ack():
                return
            if self._query is not None and self._query.lines:  # the answer's own `done`
                self._on_summary(message.ok)
                return
            self._on_ack(message.ok)
        elif isinstance(message, Text):
            if self.waker.text(message.line):
                return
            if self._query is not None:
                self._query.lines.append(message.line)
            else:
                self.on_message(message.garbage())
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
        """One ack: for every command of the oldest line in flight."""
        try:
            self._on_route_ack(ok)
        finally:
            self.waker.acked()

    def _on_route_ack(self, ok: bool) -> None:
        now = self.clock()
        results = [self.book.ack(ok, now) for _ in range(self._lines.popleft()
                                                          if self._lines else 1)]
        commands = [r.command for r in results if isinstance(r.command, Command)]
        kind = "unexpected" if results[0].command is None else "done" if ok else "error"
        self.recorder.ack(kind)
        self.acks[kind] += 1
        if isinstance(results[0].command, Clear):
            self._on_clear_ack(ok, results[0].command, results[0].withdrawn)
            return
        if not commands:
            logs.log(LOG, logging.WARNING, "ExaBGP acknowledged a command we did not send",
                     ack="done" if ok else "error")
            return
        if not ok:
            if len(commands) > 1:
                self.book.refused([c.prefix for c in commands], len(commands))
            logs.log(LOG, logging.ERROR, "ExaBGP refused a command; will retry",
                     command=exabgp_api.render_batch(commands),
                     retry=f"{max(1, len(commands) // 2)} prefixes a line"
                     if len(commands) > 1 else None,
                     hint="is the neighbour's api block naming this process?")
        else:
            for command in commands:
                logs.log(LOG, logging.INFO, "announced" if command.action is Action.ANNOUNCE
                         else "withdrawn", prefix=command.prefix)
            if self.book.deferred and commands[0].action is Action.WITHDRAW:
                self.flush()  # an announce waited for this slot (router_limits)
        self._ack_warned = False
        for waiter in self.settle_waiters:
            waiter.set()

    def _on_clear_ack(self, ok: bool, command: Clear,
                      withdrawn: Iterable[config.IPNetwork]) -> None:
        if ok:
            withdrawn = list(withdrawn)
            logs.log(LOG, logging.INFO, "ExaBGP adj-rib-out cleared", withdrawn=len(withdrawn))
            for prefix in withdrawn:
                logs.log(LOG, logging.INFO, "withdrawn", prefix=prefix)
        else:
            logs.log(LOG, logging.WARNING, "ExaBGP refused to clear its adj-rib-out; "
                     "withdrawing prefix by prefix", command=exabgp_api.render(command))
        self._ack_warned = False
        for waiter in self.settle_waiters:
            waiter.set()
        self.flush()
        self.sync_watchdog()

    def _on_neighbor(self, message: NeighborState) -> None:
        old = self.neighbors.get(message.peer)
        if old is None or old.state != message.state:
            entry = Neighbor(peer=message.peer, state=message.state, since=self.wall(),
                             local=message.local, peer_as=message.peer_as, reason=message.reason,
                             ups=old.ups if old else 0, downs=old.downs if old else 0,
                             down_reason=old.down_reason if old else "")
            session = self.resets.setdefault(message.peer, resets.Resets())
            if message.state == "up":
                entry.ups += 1
                session.up(self.clock())
            elif message.state == "down":
                entry.downs += 1
                entry.down_reason = message.reason
                session.down(self.clock(), self._last_update)
            self.neighbors[message.peer] = entry
            self.recorder.neighbor(message.peer, message.state)
            level = logging.WARNING if message.state == "down" else logging.INFO
            logs.log(LOG, level, f"BGP neighbor {message.state}", peer=message.peer,
                     peer_as=message.peer_as, reason=message.reason)
            self._log_resetting(entry, session)
        if message.state == "up":
            self.write(self.book.refresh())

    def _on_summary(self, ok: bool) -> None:
        assert self._query is not None
        lines, self._query = self._query.lines, None
        rows = exabgp_api.parse_summary(lines) if ok else None
        if rows is None:
            logs.log(LOG, logging.WARNING, "ExaBGP did not answer show neighbor summary; "
                     "BGP sessions unknown until the next change",
                     answer="error" if not ok else (lines[0] if lines else "nothing"))
            return
        for row in rows:
            self._from_summary(row)
        self.neighbors_known = True

    def _from_summary(self, row: SummaryRow) -> None:
        """A session as the summary shows it; an event already seen keeps its counts."""
        old = self.neighbors.get(row.peer)
        if old is not None and old.state == row.state:
            return
        since = self.wall() - (row.for_seconds or 0.0)
        self.neighbors[row.peer] = Neighbor(
            peer=row.peer, state=row.state, since=since, peer_as=row.peer_as,
            local=old.local if old else "", reason="" if row.state == "up" else row.fsm,
            ups=old.ups if old else 0, downs=old.downs if old else 0)
        self.recorder.neighbor(row.peer, row.state)
        logs.log(LOG, logging.INFO, f"BGP neighbor {row.state} (ExaBGP's summary)",
                 peer=row.peer, peer_as=row.peer_as, fsm=row.fsm)

    def _log_resetting(self, entry: Neighbor, session: resets.Resets) -> None:
        now = self.clock()
        if not session.resetting(now):
            self._resetting.discard(entry.peer)
        elif entry.peer not in self._resetting:
            self._resetting.add(entry.peer)
            logs.log(LOG, logging.ERROR, "BGP session keeps resetting: the router does not "
                     "hold our routes", peer=entry.peer, downs=session.recent(now),
                     window=f"{resets.WINDOW:g}s", reason=entry.down_reason)

    def resetting(self) -> list[str]:
        """The peers whose session keeps resetting (core.resets), now."""
        now = self.clock()
        return sorted(p for p, r in self.resets.items() if r.resetting(now))

    def neighbor_status(self) -> list[dict[str, Any]]:
        """The neighbour table as status shows it, with each session's resets."""
        now = self.clock()
        out = []
        for n in self.neighbors.values():
            session = self.resets.get(n.peer, resets.Resets())
            out.append({**n.as_dict(), "resetting": session.resetting(now),
                        "recent_resets": session.recent(now), "resets": session.total})
        return out

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

    # -- settling ------------------------------------------------------------------

    def settled(self, prefixes: Iterable[config.IPNetwork]) -> bool:
        return all(self.book.settled(p) for p in prefixes)

    async def wait_settled(self, prefixes: list[config.IPNetwork], timeout: float,
                           announced: bool = False) -> bool:
        """True once ExaBGP confirmed the desired state of every prefix (with `announced`:
        once that state is announced); False at `timeout`."""
        deadline = self.clock() + timeout
        while not self.settled(prefixes) or (
                announced and not all(self.book.desired(p) for p in prefixes)):
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

    # -- reading -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {"acks_done": self.acks["done"], "acks_error": self.acks["error"],
                "acks_unexpected": self.acks["unexpected"], "waiting": self.book.waiting,
                "ignored_lines": self.garbage, "neighbors_known": self.neighbors_known,
                "wakes": self.waker.written}
