"""Batched commands: which prefixes share one ExaBGP line, and how that line reads."""

from __future__ import annotations

import ipaddress

from speaker.core import exabgp_api
from speaker.core.config import Route
from speaker.core.exabgp_api import MAX_BATCH, batches, render_batch
from speaker.core.routes import Action, Command

A = ipaddress.ip_network("2001:db8::1/128")
B = ipaddress.ip_network("2001:db8::2/128")
C = ipaddress.ip_network("2001:db8::3/128")
V4 = ipaddress.ip_network("192.0.2.1/32")
PLAIN = Route()
TAGGED = Route(med=10, communities=("65000:1", "65000:2"), as_path=(65001, 65001))


def announce(prefix: ipaddress.IPv4Network | ipaddress.IPv6Network,
             route: Route = PLAIN) -> Command:
    return Command(Action.ANNOUNCE, prefix, route)


def withdraw(prefix: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Command:
    return Command(Action.WITHDRAW, prefix)


def test_withdraws_of_one_family_share_a_line() -> None:
    [batch] = batches([withdraw(A), withdraw(B), withdraw(C)])
    assert render_batch(batch) == ("withdraw attributes next-hop self nlri "
                                   "2001:db8::1/128 2001:db8::2/128 2001:db8::3/128")


def test_announces_share_a_line_only_with_identical_attributes() -> None:
    runs = batches([announce(A), announce(B), announce(C, TAGGED)])
    assert [[c.prefix for c in run] for run in runs] == [[A, B], [C]]
    assert render_batch(runs[0]) == ("announce attributes next-hop self nlri "
                                     "2001:db8::1/128 2001:db8::2/128")
    assert render_batch(runs[1]) == exabgp_api.render(announce(C, TAGGED))


def test_a_batch_carries_every_attribute_of_its_route() -> None:
    [batch] = batches([announce(A, TAGGED), announce(B, TAGGED)])
    assert render_batch(batch) == (
        "announce attributes next-hop self med 10 community [65000:1 65000:2] "
        "as-path [65001 65001] nlri 2001:db8::1/128 2001:db8::2/128")


def test_one_prefix_is_written_as_before() -> None:
    assert render_batch([withdraw(A)]) == "withdraw route 2001:db8::1/128 next-hop self"
    assert render_batch([announce(A, TAGGED)]) == exabgp_api.render(announce(A, TAGGED))


def test_families_and_actions_are_never_mixed_and_the_order_is_kept() -> None:
    commands = [withdraw(A), withdraw(V4), withdraw(B), announce(C), announce(V4)]
    runs = batches(commands)
    assert [[c.prefix for c in run] for run in runs] == [[A], [V4], [B], [C], [V4]]
    assert [c for run in runs for c in run] == commands


def test_a_batch_holds_at_most_max_batch_prefixes() -> None:
    many = [withdraw(ipaddress.ip_network(f"2001:db8::{i:x}/128")) for i in range(1, 251)]
    runs = batches(many)
    assert [len(run) for run in runs] == [MAX_BATCH, MAX_BATCH, 250 - 2 * MAX_BATCH]
    assert [c for run in runs for c in run] == many
