"""Explicit next hops: the YAML's route.next_hop, the API line, and check-config's rule."""

from __future__ import annotations

import ipaddress

import pytest

from speaker.core import config, exabgp_api, exabgp_conf
from speaker.core.errors import ConfigError
from speaker.core.routes import Action, Command

YAML_PATH = "/etc/speaker/speaker.yaml"

CONF = """\
process speaker {
    run /usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml;
    encoder json;
}
neighbor PEER {
    router-id 10.0.0.50;
    local-address LOCAL;
    local-as 65201;
    peer-as 65101;
    hold-time 9;
    family {
        FAMILIES
    }
    api {
        processes [ speaker ];
        neighbor-changes;
    }
}
"""
V6 = {"PEER": "2001:db8::1", "LOCAL": "2001:db8::50"}
V4 = {"PEER": "192.0.2.1", "LOCAL": "192.0.2.50"}
BOTH = "ipv4 unicast;\n        ipv6 unicast;"


def conf(session: dict[str, str], families: str = BOTH) -> str:
    text = CONF.replace("FAMILIES", families)
    for key, value in session.items():
        text = text.replace(key, value)
    return text


def yaml(prefix: str, route: str = "") -> str:
    server = prefix.split("/")[0]
    return ("services:\n  - name: dns\n"
            f'    prefixes: ["{prefix}"]\n'
            f'    checks: [{{type: dns, server: "{server}", qname: example.com.}}]\n'
            + (f"    route: {route}\n" if route else ""))


def check(conf_text: str, yaml_text: str) -> list[str]:
    cfg = config.parse(yaml_text, source=YAML_PATH)
    return [str(f) for f in exabgp_conf.cross_check(conf_text, "/etc/speaker/speaker.conf",
                                                   cfg, YAML_PATH)]


def test_next_hop_defaults_to_self() -> None:
    assert config.parse(yaml("2001:db8::53/128")).services[0].route.next_hop == "self"


def test_an_explicit_next_hop_is_kept_normalised() -> None:
    cfg = config.parse(yaml("192.0.2.53/32", "{next_hop: 192.0.2.50}"))
    assert cfg.services[0].route.next_hop == "192.0.2.50"
    cfg = config.parse(yaml("2001:db8::53/128", '{next_hop: "2001:DB8:0::50"}'))
    assert cfg.services[0].route.next_hop == "2001:db8::50"


@pytest.mark.parametrize(("prefix", "value", "words"), [
    ("192.0.2.53/32", '"2001:db8::50"', "is an IPv6 address but 192.0.2.53/32 is IPv4"),
    ("2001:db8::53/128", "192.0.2.50", "is an IPv4 address but 2001:db8::53/128 is IPv6"),
    ("2001:db8::53/128", "nowhere", "is not an IP address: 'nowhere'"),
    ("2001:db8::53/128", "5", "must be an IP address as a string (got 5)"),
    ("2001:db8::53/128", '"::"', "must be 'self' or a unicast address"),
    ("192.0.2.53/32", "127.0.0.1", "must be 'self' or a unicast address"),
])
def test_a_bad_next_hop_is_refused_with_its_path(prefix: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.parse(yaml(prefix, f"{{next_hop: {value}}}"), source="s.yaml")
    assert any(p.startswith("s.yaml: /services/0/route/next_hop: ") and words in p
               for p in exc.value.problems), exc.value.problems


def test_the_announce_carries_the_configured_next_hop() -> None:
    route = config.Route(next_hop="192.0.2.50", med=10)
    line = exabgp_api.render(Command(Action.ANNOUNCE, ipaddress.ip_network("192.0.2.53/32"),
                                     route))
    assert line == "announce route 192.0.2.53/32 next-hop 192.0.2.50 med 10"


def test_an_ipv4_prefix_with_next_hop_self_over_an_ipv6_session_fails_naming_the_fix() -> None:
    found = check(conf(V6), yaml("192.0.2.53/32"))
    assert len(found) == 1, found
    assert found[0].startswith("/etc/speaker/speaker.conf:7: neighbor 2001:db8::1: service dns "
                               "announces 192.0.2.53/32 with next-hop self over an IPv6 "
                               "session (local-address 2001:db8::50)")
    assert "router-id" in found[0] and "martian" in found[0]
    assert "set route: {next_hop: <this node's IPv4 address" in found[0]
    assert "an IPv4 local-address" in found[0]


def test_the_mirror_case_an_ipv6_prefix_over_an_ipv4_session_fails_too() -> None:
    found = check(conf(V4), yaml("2001:db8::53/128"))
    assert len(found) == 1, found
    assert "2001:db8::53/128 with next-hop self over an IPv4 session" in found[0]
    assert "next_hop: <this node's IPv6 address" in found[0]


@pytest.mark.parametrize(("session", "prefix", "route"), [
    (V6, "192.0.2.53/32", "{next_hop: 192.0.2.50}"),  # explicit next hop of the family
    (V4, "192.0.2.53/32", ""),  # same family: self is the local address
    (V6, "2001:db8::53/128", ""),
])
def test_a_next_hop_the_session_can_carry_passes(session: dict[str, str], prefix: str,
                                                 route: str) -> None:
    assert check(conf(session), yaml(prefix, route)) == []


def test_a_family_the_neighbour_does_not_carry_is_reported_once_as_a_family() -> None:
    found = check(conf(V6, "ipv6 unicast;"), yaml("192.0.2.53/32"))
    assert len(found) == 1 and "family ipv4 unicast is not configured" in found[0], found
