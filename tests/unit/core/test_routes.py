"""Desired versus acknowledged routes, and the commands between them."""

import ipaddress

from speaker.core.config import Route
from speaker.core.routes import CLEAR, Action, Confirmed, RouteBook

P = ipaddress.ip_network("2001:db8::100/128")
Q = ipaddress.ip_network("192.0.2.1/32")
R = Route()


def book(*prefixes: ipaddress.IPv6Network | ipaddress.IPv4Network) -> RouteBook:
    b = RouteBook()
    for p in prefixes:
        b.add(p)
    return b


def test_first_plan_withdraws_every_prefix() -> None:
    b = book(P, Q)
    assert [(c.action, c.prefix) for c in b.plan(0)] == [(Action.WITHDRAW, P),
                                                         (Action.WITHDRAW, Q)]


def test_announced_only_after_done() -> None:
    b = book(P)
    b.plan(0)
    b.ack(True, 0)
    b.want(P, R)
    [cmd] = b.plan(0)
    assert cmd.action is Action.ANNOUNCE
    assert b.confirmed(P) is Confirmed.WITHDRAWN
    b.ack(True, 0)
    assert b.confirmed(P) is Confirmed.ANNOUNCED and b.settled(P)


def test_error_ack_is_not_counted_and_retried_after_backoff() -> None:
    b = book(P)
    b.plan(0)
    b.ack(True, 0)
    b.want(P, R)
    b.plan(0)
    result = b.ack(False, 10)
    assert result.command is not None and not result.ok
    assert b.confirmed(P) is Confirmed.WITHDRAWN
    assert b.plan(10.5) == []
    [retry] = b.plan(11)
    assert retry.action is Action.ANNOUNCE


def test_one_command_in_flight_per_prefix() -> None:
    b = book(P)
    b.plan(0)
    b.want(P, R)
    assert b.plan(0) == []  # waits for the withdraw's ack
    b.ack(True, 0)
    assert [c.action for c in b.plan(0)] == [Action.ANNOUNCE]


def test_acks_apply_in_order() -> None:
    b = book(P, Q)
    b.plan(0)
    first = b.ack(True, 0)
    assert first.command is not None and first.command.prefix == P


def test_unexpected_ack_is_reported() -> None:
    assert book(P).ack(True, 0).command is None


def test_refresh_reannounces_desired_routes() -> None:
    b = book(P, Q)
    b.plan(0)
    b.ack(True, 0)
    b.ack(True, 0)
    b.want(P, R)
    b.plan(0)
    b.ack(True, 0)
    assert [(c.action, c.prefix) for c in b.refresh()] == [(Action.ANNOUNCE, P)]


def test_withdraw_all_covers_unconfirmed_prefixes() -> None:
    b = book(P, Q)
    b.plan(0)
    b.ack(True, 0)  # P withdrawn; Q still in flight
    cmds = b.withdraw_all()
    assert [c.prefix for c in cmds] == [Q]


def test_removed_prefix_is_withdrawn_then_forgotten() -> None:
    b = book(P)
    b.plan(0)
    b.ack(True, 0)
    b.want(P, R)
    b.plan(0)
    b.ack(True, 0)
    b.remove(P)
    [cmd] = b.plan(0)
    assert cmd.action is Action.WITHDRAW
    b.ack(True, 0)
    assert b.prefixes() == []


def test_maybe_announced_is_what_a_watchdog_withdraws() -> None:
    b = book(P, Q)
    assert set(b.maybe_announced()) == {P, Q}
    b.plan(0)
    b.ack(True, 0)
    b.ack(True, 0)
    assert b.maybe_announced() == []


def test_changed_attributes_are_announced_again() -> None:
    b = book(P)
    b.plan(0)
    b.ack(True, 0)
    b.want(P, R)
    b.plan(0)
    b.ack(True, 0)
    b.want(P, Route(med=50))
    [cmd] = b.plan(0)
    assert cmd.action is Action.ANNOUNCE and cmd.route.med == 50


def test_maybe_announced_changes_are_reported_once_as_a_difference() -> None:
    b = book(P, Q)
    assert b.take_maybe_changes() == ([P, Q], [])
    assert b.take_maybe_changes() == ([], [])
    b.plan(0)
    b.ack(True, 0)
    b.ack(True, 0)  # both confirmed withdrawn
    assert b.take_maybe_changes() == ([], [P, Q])
    b.want(P, R)
    b.plan(0)  # announce in flight: at risk again
    b.ack(False, 0)  # refused: confirmed withdrawn again
    assert b.take_maybe_changes() == ([], [])  # came back to where it was: nothing to say


# -- the start-up clear (`clear adj-rib out`) -------------------------------------------


def test_clear_holds_every_command_back_until_its_ack() -> None:
    b = book(P, Q)
    assert b.clear() is CLEAR
    assert b.waiting == 1 and b.oldest_pending() is CLEAR
    b.want(P, R)
    assert b.plan(0) == []
    assert set(b.maybe_announced()) == {P, Q}  # unknown until ExaBGP confirms


def test_clear_done_confirms_every_prefix_withdrawn_without_a_withdraw() -> None:
    b = book(P, Q)
    b.clear()
    result = b.ack(True, 0)
    assert result.command is CLEAR and result.ok and result.withdrawn == (P, Q)
    assert b.confirmed(P) is Confirmed.WITHDRAWN and b.confirmed(Q) is Confirmed.WITHDRAWN
    assert b.plan(0) == [] and b.maybe_announced() == []
    assert b.take_maybe_changes() == ([], [])  # added and removed again: nothing to tell


def test_after_clear_wanted_prefixes_are_announced() -> None:
    b = book(P, Q)
    b.clear()
    b.want(P, R)  # health decided while the clear was in flight
    b.ack(True, 0)
    assert [(c.action, c.prefix) for c in b.plan(0)] == [(Action.ANNOUNCE, P)]


def test_prefix_added_after_clear_starts_withdrawn_and_sends_nothing() -> None:
    b = book(P)
    b.clear()
    b.ack(True, 0)
    b.add(Q)
    assert b.confirmed(Q) is Confirmed.WITHDRAWN and b.plan(0) == []
    assert b.maybe_announced() == []


def test_prefix_added_while_clearing_is_withdrawn_by_the_clear() -> None:
    b = book(P)
    b.clear()
    b.add(Q)
    assert b.ack(True, 0).withdrawn == (P, Q)
    assert b.plan(0) == []


def test_prefix_removed_while_clearing_is_forgotten_by_the_clear() -> None:
    b = book(P, Q)
    b.clear()
    b.remove(Q)
    b.ack(True, 0)
    assert b.prefixes() == [P] and b.plan(0) == []


def test_commands_written_after_the_clear_are_acked_after_it() -> None:
    b = book(P, Q)
    b.clear()
    b.want(P, R)
    [announce] = b.refresh()  # a session came up while clearing
    assert b.ack(True, 0).command is CLEAR
    assert b.confirmed(P) is Confirmed.WITHDRAWN and P in b.maybe_announced()
    assert b.ack(True, 0).command == announce
    assert b.confirmed(P) is Confirmed.ANNOUNCED and b.settled(P)


def test_withdraw_all_while_clearing_is_acked_after_the_clear() -> None:
    b = book(P)
    b.clear()
    [withdraw] = b.withdraw_all()
    assert b.ack(True, 0).command is CLEAR
    assert b.ack(True, 0).command == withdraw
    assert b.prefixes() == [P] and b.confirmed(P) is Confirmed.WITHDRAWN


def test_clear_refused_falls_back_to_withdrawing_each_prefix() -> None:
    b = book(P, Q)
    b.clear()
    result = b.ack(False, 0)
    assert result.command is CLEAR and not result.ok and result.withdrawn == ()
    assert b.confirmed(P) is Confirmed.UNKNOWN
    assert [(c.action, c.prefix) for c in b.plan(0)] == [(Action.WITHDRAW, P),
                                                         (Action.WITHDRAW, Q)]
    b.add(ipaddress.ip_network("2001:db8::200/128"))
    assert b.confirmed(ipaddress.ip_network("2001:db8::200/128")) is Confirmed.UNKNOWN


def test_clear_that_could_not_be_written_is_forgotten() -> None:
    b = book(P)
    b.unsent(b.clear())
    assert b.waiting == 0
    assert [(c.action, c.prefix) for c in b.plan(0)] == [(Action.WITHDRAW, P)]
