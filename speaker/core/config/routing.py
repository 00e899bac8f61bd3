"""The schema of what the router sees: a route's next hop and the router's limits.

This module owns the rules of `route.next_hop` (`self` or one unicast address
of the prefixes' family) and of `router_limits` (with the older top-level
`local_as_range` read as its `asn_range`), written with the validators of
`types`; `speaker.core.limits` owns the limits' model and their breaches. It
never parses YAML and never reads the ExaBGP config (check-config does that).
"""

from __future__ import annotations

import ipaddress

from speaker.core.config.model import Route, Service
from speaker.core.config.types import (
    IP_ADDRESS,
    At,
    Describe,
    Fields,
    Integer,
    Invalid,
    ListOf,
    Parse,
    Refine,
)
from speaker.core.limits import RouterLimits, breaches

AS_NUMBER = Describe(Integer(1, 2**32 - 1), "must be an AS number")


def _low_high(pair: tuple[int, ...]) -> tuple[int, int]:
    if len(pair) != 2 or pair[0] > pair[1]:
        raise Invalid("not [low, high]")
    return pair[0], pair[1]


AS_RANGE = Describe(Parse(ListOf(AS_NUMBER, min_items=2, max_items=2), _low_high, errors=()),
                    "must be [low, high] with 1 <= low <= high <= 4294967295")
_UNICAST = Refine(IP_ADDRESS, lambda a: not (a.is_unspecified or a.is_multicast
                                             or a.is_loopback),
                  "must be 'self' or a unicast address of this node (got {value})")


def next_hop(value: object, at: At) -> str:
    """`self` (ExaBGP sends the session's local address) or one unicast address."""
    if value == "self":
        return "self"
    return str(_UNICAST(value, at))


def check_next_hop(at: At, route: Route, prefixes: tuple[ipaddress.IPv4Network
                                                      | ipaddress.IPv6Network, ...]) -> None:
    """An explicit next hop is of the family of every prefix it is announced for."""
    if route.next_hop == "self":
        return
    version = ipaddress.ip_address(route.next_hop).version
    for prefix in prefixes:
        if prefix.version != version:
            at.add(f"is an IPv{version} address but {prefix} is IPv{prefix.version}: put "
                   f"IPv{prefix.version} prefixes in a service of their own with an "
                   f"IPv{prefix.version} next_hop (or next_hop: self)")


def _limits_block(value: object, at: At) -> RouterLimits:
    f = Fields(value, at, ("max_prefixes", "min_length", "max_length", "asn_range"))
    d = RouterLimits()
    low = f.get("min_length", Integer(0, 128), None)
    high = f.get("max_length", Integer(0, 128), None)
    if low is not None and high is not None and low > high:
        (at / "min_length").add(f"must be <= max_length ({high}) (got {low})")
    return RouterLimits(max_prefixes=f.get("max_prefixes", Integer(1, 1_000_000), None),
                        min_length=low, max_length=high,
                        asn_range=f.get("asn_range", AS_RANGE, d.asn_range, null=True))


def router_limits(f: Fields, at: At, found: tuple[Service, ...]) -> RouterLimits:
    """`router_limits` (or the older `local_as_range` alone), and every prefix of
    `found` of a length the router refuses recorded at its path (more prefixes than
    max_prefixes are no load error: speaker.core.budget announces the first ones)."""
    d = RouterLimits()
    if not f.has("router_limits") or f.data["router_limits"] is None:
        return RouterLimits(asn_range=f.get("local_as_range", AS_RANGE, d.asn_range, null=True))
    if f.has("local_as_range"):
        (at / "local_as_range").add("is router_limits/asn_range now: move it there "
                                    "(both are set)")
    limits = (at / "router_limits").read(_limits_block, f.data["router_limits"], d)
    located = [(f"/services/{i}/prefixes/{j}", prefix)
               for i, one in enumerate(found) for j, prefix in enumerate(one.prefixes)]
    for path, message in breaches(limits, located, f"{at.path}/router_limits"):
        at.problems.add(path, message)
    return limits
