"""The `overload` block of a service: defaults, its checks, and what it needs."""

from __future__ import annotations

import ipaddress

import pytest

from speaker.core import config
from speaker.core.errors import ConfigError

BASE = """
{stats}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks: [{{type: dns, server: "2001:db8::100", qname: example.com.}}]
    overload: {overload}
"""
STATS = 'dns_statistics: {url: "http://127.0.0.1:8053/json/v1/server", interval: 2}'


def parse(overload: str, stats: str = STATS) -> config.Overload | None:
    return config.parse(BASE.format(stats=stats, overload=overload)).services[0].overload


def problems(overload: str, stats: str = STATS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(overload, stats)
    return info.value.problems


def test_defaults_and_every_key() -> None:
    assert parse("{}") == config.Overload()
    got = parse('{max_degraded: 60, min_client_rate: 10, stats_max_age: 5, '
                'route: {med: 500, communities: ["65000:666"], as_path: [65001, 65001]}, '
                'peers: ["fd00::51", "fd00::52"], min_up: 2}')
    assert got == config.Overload(
        max_degraded=60, min_client_rate=10, stats_max_age=5,
        route=config.Route(med=500, communities=("65000:666",), as_path=(65001, 65001)),
        peers=(ipaddress.ip_address("fd00::51"), ipaddress.ip_address("fd00::52")), min_up=2)


def test_min_up_defaults_to_one_with_peers() -> None:
    got = parse('{peers: ["fd00::51"]}')
    assert got is not None and got.min_up == 1


def test_overload_without_statistics_is_refused() -> None:
    assert any("/services/0/overload: needs dns_statistics" in p
               for p in problems("{}", stats=""))


@pytest.mark.parametrize(("overload", "where", "says"), [
    ("{min_up: 1}", "/overload/min_up", "must be <= the number of peers (0)"),
    ('{peers: ["fd00::51"], min_up: 2}', "/overload/min_up", "must be <= the number of peers"),
    ('{peers: ["fd00::51", "fd00::51"]}', "/overload/peers/1", "is listed twice"),
    ('{peers: ["nope"]}', "/overload/peers/0", "is not an IP address"),
    ("{max_degraded: -1}", "/overload/max_degraded", "must be >= 0"),
    ("{stats_max_age: 1}", "/overload/stats_max_age", "must be >= dns_statistics/interval"),
    ("{route: {med: -1}}", "/overload/route/med", "must be >= 0"),
    ("{bound: 3}", "/overload/bound", "unknown key"),
])
def test_bad_values_are_named(overload: str, where: str, says: str) -> None:
    found = problems(overload)
    assert any(f"/services/0{where}: {says}" in p for p in found), found
