"""Redundant routers in the geo lab (`Geo(routers=2)`): two FRR routers per zone.

London (lon1, lon2 primaries, lon3 a prepending backup) and Sofia (sof1, sof2),
each zone with two routers its nodes both peer with, every router of one zone in
eBGP with both of the other's (tests/lab/geo.py), each zone's client with an
uplink to either router. Each client is served by its own zone through either
router; a dead London router leaves the other with London's next hops; a drain
leaves both London routers; London without nodes is served by Sofia through
either router, and by London again when its nodes return. A dead router is its
bgpd and zebra killed: its namespace, links and kernel forwarding stay, so answers
still come back through router 1 (the nodes' default route) while router 1 is down.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import routers
from tests.lab.geo import LONDON, SOFIA, Geo
from tests.lab.system import run

from .conftest import running_geo

LON = {"lon1", "lon2"}  # the primaries
SOF = {"sof1", "sof2"}


@pytest.fixture(scope="module")
def geo() -> Iterator[Geo]:
    yield from running_geo(routers=2, timeout=60)


def test_each_client_is_answered_by_its_own_zone_through_either_router(geo: Geo) -> None:
    """(a) Both routers of each zone have the zone's own next hops and an eBGP session to
    each router of the other zone; London's client, sent through router 1 and then router
    2 (its route to the anycast shows the uplink), gets lon1/lon2, Sofia's client
    sof1/sof2."""
    for lab, want in ((geo.london, LON), (geo.sofia, SOF)):
        hops = geo.primaries(3) if lab is geo.london else geo.own(lab)
        for router in geo.routers(lab):
            assert router.nexthops() == hops, router.lab.topo.router_ns
        try:
            for via in (1, 2):
                geo.client_via(lab, via)
                route = run(["ip", "-n", lab.topo.client_ns, "-6", "route", "get",
                             str(lab.anycast)]).stdout
                assert f"dev {'eth0' if via == 1 else routers.UPLINK}" in route, route
                seen = geo.answered_by(lab)
                assert seen <= want, (via, seen)
        finally:
            geo.client_via(lab, 1)
    for lab, other in ((geo.london, SOFIA), (geo.sofia, LONDON)):
        for router in geo.routers(lab):
            assert geo.zone_session(router, other), router.lab.topo.router_ns


@pytest.mark.parametrize("killed", [1, 2])
def test_a_dead_london_router_leaves_the_other_with_every_london_hop(
        geo: Geo, killed: int) -> None:
    """(b) One London router's bgpd and zebra SIGKILLed: the other London router's FIB
    keeps lon1 and lon2 (watched every 20 ms for 12 s), and London's client, sent through
    the surviving router, is still answered by London."""
    lon = geo.london
    alive = 3 - killed
    other = geo.routers(lon)[alive - 1]
    try:
        geo.kill_router(lon, killed)
        geo.client_via(lon, alive)
        seen = routers.hop_sets(other, 12.0)
        assert seen == {frozenset(geo.primaries(3))}, f"{other.lab.topo.router_ns} showed {seen}"
        answered = geo.answered_by(lon)
        assert answered <= LON, answered
    finally:
        geo.client_via(lon, 1)
        geo.restart_router(lon, killed)
    geo.wait_zone(lon, geo.primaries(3))


def test_a_drained_london_node_leaves_both_london_routers(geo: Geo) -> None:
    """(c) `speakerctl withdraw` on lon1: its next hop leaves both London routers (lon2
    stays on both); `announce` brings it back on both."""
    lon = geo.london
    node = lon.node(1)
    done = node.ctl("withdraw", "--drain-delay", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        geo.wait_zone(lon, {str(lon.node(2).address)}, timeout=15)
        for via in (1, 2):
            geo.client_via(lon, via)
            assert geo.answered_by(lon) <= {"lon2"}
    finally:
        geo.client_via(lon, 1)
        back = node.ctl("announce")
        assert back.returncode == 0, back.stdout + back.stderr
    geo.wait_zone(lon, geo.primaries(3))


def test_london_without_nodes_is_served_by_sofia_through_either_router(geo: Geo) -> None:
    """(d) lon1 and lon2 drained, lon3's named killed: both London routers send the
    anycast across the zones (to both Sofia routers, on the inter-zone link), London's client is answered by
    Sofia through either router, and by London again once its nodes return."""
    lon = geo.london
    local = geo.own(lon)
    try:
        for i in (1, 2):
            done = lon.node(i).ctl("withdraw", "--drain-delay", "0")
            assert done.returncode == 0, done.stdout + done.stderr
        lon.node(3).kill_named()
        for router in geo.routers(lon):
            # FRR installs the Sofia routers' link-local next hops, one per router (ECMP)
            router.wait_nexthops(lambda h: len(h) == geo.count and not h & local, 20,
                                 what=f"{router.lab.topo.router_ns} pointing at Sofia")
            assert "dev vz" in router.route_text() and str(geo.london.anycast) in \
                router.route_text()
        for via in (1, 2):
            geo.client_via(lon, via)
            geo.wait_answered(lon, lambda s: s <= SOF, f"Sofia answering London via {via}")
        assert geo.answered_by(geo.sofia) <= SOF
    finally:
        geo.client_via(lon, 1)
        lon.node(3).restart_named()
        for i in (1, 2):
            back = lon.node(i).ctl("announce")
            assert back.returncode == 0, back.stdout + back.stderr
    geo.wait_zone(lon, geo.primaries(3))
    for via in (1, 2):
        geo.client_via(lon, via)
        try:
            geo.wait_answered(lon, lambda s: s <= LON, f"London answering London via {via}")
        finally:
            geo.client_via(lon, 1)
