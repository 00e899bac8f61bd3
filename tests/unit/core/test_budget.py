"""router_limits.max_prefixes at run time: the share of the slots, and the RouteBook's order.

`share` is checked on its own; the RouteBook with a `limit` is driven through
any sequence of health changes, acks (done and error), session refreshes and
a start with or without `clear adj-rib out`, against a pessimistic model of
the router: an announce counts from the moment it is written, a withdraw only
from its `done`.
"""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.core import budget
from speaker.core.config import IPNetwork, Route
from speaker.core.routes import Action, Clear, Command, RouteBook

PREFIXES = [ipaddress.ip_network(f"2001:db8::{i + 1:x}/128") for i in range(6)]
R = Route()


def test_the_first_wanted_in_priority_order_get_the_slots() -> None:
    result = budget.share(["a", "c", "d", "f"], 2)
    assert result == budget.Share(("a", "c"), ("d", "f"))


def test_no_limit_grants_everything() -> None:
    assert budget.share(["a", "b"], None) == budget.Share(("a", "b"), ())


def test_the_reason_names_the_limit() -> None:
    assert budget.over_reason(5) == "over router_limits.max_prefixes (5): not announced"


@given(st.lists(st.integers(0, 9)), st.one_of(st.none(), st.integers(1, 10)))
def test_share_never_grants_more_than_the_limit_and_keeps_the_order(
        wanted: list[int], limit: int | None) -> None:
    result = budget.share(wanted, limit)
    unique = list(dict.fromkeys(wanted))
    assert list(result.granted) + list(result.over) == unique
    assert limit is None or len(result.granted) <= limit
    assert not result.over or (limit is not None and len(result.granted) == limit)


class Router:
    """What the router may hold, pessimistically, as the book's commands are written."""

    def __init__(self, book: RouteBook, limit: int, held: set[IPNetwork]) -> None:
        self.book = book
        self.limit = limit
        self.held = set(held)  # what a previous process left
        self.pending: list[tuple[Command | Clear, bool]] = []  # (command, held before)
        self.most = len(self.held)

    def write(self, commands: list[Command]) -> None:
        actions = [c.action for c in commands]
        assert actions == sorted(actions, key=lambda a: a is Action.ANNOUNCE), \
            f"an announce before a withdraw: {actions}"
        for command in commands:
            self.pending.append((command, command.prefix in self.held))
            if command.action is Action.ANNOUNCE:
                self.held.add(command.prefix)
            self.most = max(self.most, len(self.held))
            assert len(self.held) <= self.limit, (sorted(map(str, self.held)), self.limit)

    def clear(self) -> None:
        self.pending.append((self.book.clear(), False))

    def ack(self, ok: bool, now: float) -> None:
        if not self.pending:
            return
        command, before = self.pending.pop(0)
        self.book.ack(ok, now)
        if isinstance(command, Clear):
            if ok:  # emptied then: only what was written after it (still queued) is held
                self.held = {c.prefix for c, _ in self.pending
                             if isinstance(c, Command) and c.action is Action.ANNOUNCE}
        elif command.action is Action.WITHDRAW and ok:
            self.held.discard(command.prefix)
        elif command.action is Action.ANNOUNCE and not ok and not before:
            self.held.discard(command.prefix)  # ExaBGP refused it: never sent


def flush(book: RouteBook, router: Router, wanted: list[bool], limit: int, now: float) -> None:
    granted = set(budget.share([p for p, w in zip(PREFIXES, wanted, strict=True) if w],
                               limit).granted)
    for prefix in PREFIXES:
        book.want(prefix, R if prefix in granted else None)
    router.write(book.plan(now))


STEP = st.one_of(
    st.tuples(st.just("health"), st.integers(0, len(PREFIXES) - 1), st.booleans()),
    st.tuples(st.just("ack"), st.booleans()),
    st.tuples(st.just("ack"), st.just(True)),
    st.tuples(st.just("refresh")),
)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, len(PREFIXES)), clear=st.booleans(),
       left=st.sets(st.integers(0, len(PREFIXES) - 1)), steps=st.lists(STEP, max_size=80))
def test_the_router_never_holds_more_than_the_limit_and_ends_with_the_first_wanted(
        limit: int, clear: bool, left: set[int], steps: list[tuple[object, ...]]) -> None:
    """Whatever the health changes, acks and refreshes: every withdraw goes out before
    the announces of its plan, an announce that would take a new slot waits for a
    withdraw's done, the router never holds more than `limit`; once everything is
    acknowledged it holds exactly the first `limit` wanted prefixes in config order."""
    book = RouteBook()
    book.limit = limit
    for prefix in PREFIXES:
        book.add(prefix)
    router = Router(book, limit, {PREFIXES[i] for i in sorted(left)[:limit]})
    if clear:
        router.clear()
    wanted = [False] * len(PREFIXES)
    now = 0.0
    for step in steps:
        now += 1.0
        if step[0] == "health":
            wanted[int(step[1])] = bool(step[2])  # type: ignore[call-overload]
        elif step[0] == "ack":
            router.ack(bool(step[1]), now)
        else:
            router.write(book.refresh())
        flush(book, router, wanted, limit, now)
    for _ in range(4 * len(PREFIXES) + 4):  # settle: every command done
        now += 60.0
        while router.pending:
            router.ack(True, now)
            flush(book, router, wanted, limit, now)
        flush(book, router, wanted, limit, now)
    first = budget.share([p for p, w in zip(PREFIXES, wanted, strict=True) if w], limit)
    assert router.held == set(first.granted)
    assert set(book.maybe_announced()) == set(first.granted)
    assert not book.deferred
    assert router.most <= limit


def p_announced_then_q_wanted_instead() -> tuple[RouteBook, IPNetwork, IPNetwork]:
    """A book with limit 1: p announced and confirmed, then p's service fails and q's
    wants the slot; the plan of that (p's withdraw) is written."""
    book = RouteBook()
    book.limit = 1
    p, q = PREFIXES[:2]
    for prefix in (p, q):
        book.add(prefix)
    book.plan(0)
    book.ack(True, 0)
    book.ack(True, 0)
    book.want(p, R)
    book.plan(0)
    book.ack(True, 0)
    book.want(p, None)
    book.want(q, R)
    assert [(c.action, c.prefix) for c in book.plan(0)] == [(Action.WITHDRAW, p)]
    return book, p, q


def test_a_freed_slot_is_announced_only_after_the_withdraw_is_done() -> None:
    book, _, q = p_announced_then_q_wanted_instead()
    assert book.deferred
    assert book.plan(0) == []  # the withdraw is not done yet
    book.ack(True, 0)
    assert [(c.action, c.prefix) for c in book.plan(0)] == [(Action.ANNOUNCE, q)]
    assert not book.deferred


def test_a_refused_withdraw_keeps_the_slot_taken() -> None:
    book, p, _ = p_announced_then_q_wanted_instead()
    book.ack(False, 1)  # ExaBGP refused the withdraw: the router may still hold p
    assert book.plan(1.5) == []
    [retry] = book.plan(10)
    assert (retry.action, retry.prefix) == (Action.WITHDRAW, p)
