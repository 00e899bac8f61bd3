"""Geographic anycast in the lab: two zones, London and Sofia, each a lab of its own.

Each zone is a `Lab` (router, nodes, client) with its own router AS, router-id,
node names (NSID) and client network; the anycast address is the same in both.
The inter-zone link (the provider between the zones) is a bridge, `vz`, in
London's first router's namespace, fd00:99::/64; every router of the zones is on
it and peers over eBGP with every router of the other zone (full mesh: one
session with one router per zone, four with `routers=2`), exchanging only the
anycast host route. A router prefers its own zone's nodes whatever their AS path
(routes from the other zone get local preference 50), and among them the
shortest AS path: a node whose `route.as_path` prepends its AS is a backup, used
only when the primaries are gone. Static routes on each zone's first router (the
nodes' default route, so every answer leaves through it) carry the other zone's
client network across, for the answers of the other zone's nodes.

With `routers=2` each zone has a second FRR router (tests.lab.routers: its
namespace, FRR, kill and restart by PID); its nodes peer with both, and the
zone's client gets a second uplink to it (`client_via` picks the uplink).

    client-lon fd00:20::2 -- London (AS 65101) == fd00:99::/64 == Sofia (AS 65102) -- client-sof fd00:21::2
                        lon1 lon2 (primaries), lon3 (backup)   sof1 sof2
    link addresses: London router 1 ::1, router 2 ::3; Sofia router 1 ::2, router 2 ::4
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import secrets
import time
from collections.abc import Callable

from tests.lab import routers
from tests.lab.lab import Lab, Router, nsid
from tests.lab.system import run, wait_for
from tests.lab.topology import Topology, build

LINK = ipaddress.IPv6Network("fd00:99::/64")
LINK_PORT = "vz"
PREPEND = 1  # the backup's AS path: its own AS 1 + PREPEND times


@dataclasses.dataclass(frozen=True)
class Zone:
    name: str
    prefix: str  # node names: lon1, lon2, ...
    asn: int
    router_id: str
    client_net: ipaddress.IPv6Network
    link_address: ipaddress.IPv6Address
    nodes: int

    def link(self, index: int) -> ipaddress.IPv6Address:
        """Router `index`'s address on the inter-zone link (the zones' routers alternate)."""
        return self.link_address + 2 * (index - 1)


LONDON = Zone("London", "lon", 65101, "10.1.0.1", ipaddress.IPv6Network("fd00:20::/64"),
              LINK[1], 3)
SOFIA = Zone("Sofia", "sof", 65102, "10.2.0.1", ipaddress.IPv6Network("fd00:21::/64"),
             LINK[2], 2)


def topology(zone: Zone, lab_id: str) -> Topology:
    base = build(lab_id, zone.nodes)
    nodes = tuple(dataclasses.replace(n, name=f"{zone.prefix}{n.index}") for n in base.nodes)
    return dataclasses.replace(
        base, nodes=nodes, router_asn=zone.asn, router_id=zone.router_id,
        client_net=zone.client_net, router_client_address=zone.client_net[1],
        client_address=zone.client_net[2])


def backup_route(lab: Lab, index: int) -> dict[str, object]:
    """speaker.yaml's `service` override that makes node `index` a backup (prepend)."""
    asn = lab.topo.node(index).asn
    return {"route": {"as_path": [asn] * (1 + PREPEND)}}


class Geo:
    """The two zones; `up()` starts both and joins their routers, `down()` removes all."""

    def __init__(self, exabgp_version: str = "4.2", routers: int = 1) -> None:
        self.count = routers
        self.london = Lab(topology=topology(LONDON, secrets.token_hex(3)[:5]),
                          exabgp_version=exabgp_version, routers=routers)
        self.sofia = Lab(topology=topology(SOFIA, secrets.token_hex(3)[:5]),
                         exabgp_version=exabgp_version, routers=routers)
        self.zones = ((LONDON, self.london), (SOFIA, self.sofia))
        self.backup: int | None = None

    def up(self, backup: int | None = 3, timeout: float = 30.0) -> None:
        """Both zones, London's node `backup` (None: none) announcing with a prepend."""
        self.backup = backup
        try:
            self.london.up(wait=False)
            self.sofia.up(wait=False)
            if backup is not None:
                node = self.london.node(backup)
                node.write_speaker_yaml(extra={"service": backup_route(self.london, backup)})
                node.wait_speaker()
                node.sighup_speaker()
            for _, lab in self.zones:
                lab.more_routers.uplink_client()
            self._join()
            for _, lab in self.zones:
                self.wait_sessions(lab, timeout)
            self.wait_zone(self.london, self.primaries(backup), timeout)
            self.wait_zone(self.sofia, self.own(self.sofia), timeout)
        except BaseException:
            self.down()
            raise

    def primaries(self, backup: int | None = 3) -> set[str]:
        return {str(n.address) for n in self.london.nodes if n.spec.index != backup}

    @staticmethod
    def own(lab: Lab) -> set[str]:
        return {str(n.address) for n in lab.nodes}

    def _other(self, lab: Lab) -> tuple[Zone, Zone]:
        """(this zone, the other zone) of `lab`."""
        return (LONDON, SOFIA) if lab is self.london else (SOFIA, LONDON)

    def routers(self, lab: Lab) -> list[Router]:
        """The zone's routers, its first (the one with the client and the nodes' default
        route) first."""
        return routers.all_routers(lab)

    def _join(self) -> None:
        """The inter-zone bridge in London's first router's netns, every other router on
        it by a veth, the static routes and every router's eBGP sessions."""
        hub = self.london.topo.router_ns
        run(["ip", "-n", hub, "-batch", "-"], input="\n".join([
            f"link add {LINK_PORT} type bridge stp_state 0 mcast_snooping 0",
            f"link set {LINK_PORT} up",
        ]) + "\n")
        for zone, lab in self.zones:
            for index, router in enumerate(self.routers(lab), start=1):
                ns = router.lab.topo.router_ns
                if ns != hub:
                    port = f"{LINK_PORT}{zone.prefix}{index}"
                    run(["ip", "-n", hub, "-batch", "-"], input="\n".join([
                        f"link add {port} type veth peer name {LINK_PORT} netns {ns}",
                        f"link set {port} master {LINK_PORT}",
                        f"link set {port} up",
                    ]) + "\n")
                other = self._other(lab)[1]
                run(["ip", "-n", ns, "-batch", "-"], input="\n".join([
                    f"addr add {zone.link(index)}/{LINK.prefixlen} dev {LINK_PORT} nodad",
                    f"link set {LINK_PORT} up",
                    *([f"route add {other.client_net} via {other.link(1)} dev {LINK_PORT}"]
                      if index == 1 else []),
                ]) + "\n")
                self._peer(lab, index)

    def _peer(self, lab: Lab, index: int) -> None:
        """Router `index` of `lab`'s zone: an eBGP session to every router of the other
        zone, whose routes get local preference 50 (vtysh: lost when bgpd restarts)."""
        zone, other = self._other(lab)
        lines = ["route-map FROM-ZONE permit 10", "set local-preference 50", "exit",
                 f"router bgp {zone.asn}"]
        for peer in (other.link(i) for i in range(1, self.count + 1)):
            lines += [f"neighbor {peer} remote-as {other.asn}",
                      f"neighbor {peer} description {other.name}",
                      f"neighbor {peer} timers connect 1",
                      f"neighbor {peer} advertisement-interval 0"]
        lines.append("address-family ipv6 unicast")
        for peer in (other.link(i) for i in range(1, self.count + 1)):
            lines += [f"neighbor {peer} activate",
                      f"neighbor {peer} prefix-list ANYCAST-IN in",
                      f"neighbor {peer} prefix-list ANYCAST-IN out",
                      f"neighbor {peer} route-map FROM-ZONE in"]
        self.routers(lab)[index - 1].vtysh_config(lines)

    def zone_session(self, router: Router, other: Zone) -> bool:
        """Whether `router`'s sessions to every router of `other` are up, each with a
        prefix received."""
        peers = router.bgp_summary_json().get("peers", {})
        return all(peers.get(str(other.link(i)), {}).get("state") == "Established"
                   and peers.get(str(other.link(i)), {}).get("pfxRcd", 0) >= 1
                   for i in range(1, self.count + 1))

    def wait_sessions(self, lab: Lab, timeout: float = 30.0) -> None:
        other = self._other(lab)[1]
        for router in self.routers(lab):
            wait_for(functools.partial(self.zone_session, router, other), timeout,
                     what=f"{router.lab.topo.router_ns}'s eBGP sessions to {other.name} with "
                          "its anycast route")

    def wait_zone(self, lab: Lab, hops: set[str], timeout: float = 30.0) -> float:
        """Wait until every router of the zone sends the anycast to exactly `hops` (seconds
        taken, the slowest router's)."""
        t0 = time.monotonic()
        for router in self.routers(lab):
            router.wait_nexthops(lambda h: h == hops, timeout,
                                 what=f"next hops {sorted(hops)} in {router.lab.topo.router_ns}")
        return time.monotonic() - t0

    def client_via(self, lab: Lab, index: int) -> None:
        """Send the zone's client's queries through its router `index`."""
        routers.client_via(lab, index)

    def kill_router(self, lab: Lab, index: int) -> None:
        routers.kill(lab, index)

    def restart_router(self, lab: Lab, index: int, timeout: float = 60.0) -> None:
        """Router `index` of the zone started again: its nodes' sessions from its config
        files, its inter-zone sessions again, and its FIB back to the zone's own hops."""
        routers.respawn(lab, index)
        self._peer(lab, index)
        hops = self.primaries(self.backup) if lab is self.london else self.own(lab)
        routers.wait_back(lab, index, frozenset(hops), timeout)
        wait_for(lambda: self.zone_session(self.routers(lab)[index - 1], self._other(lab)[1]),
                 timeout, what=f"router {index}'s eBGP sessions across the zones")

    def answered_by(self, lab: Lab, tries: int = 20) -> set[str]:
        """The NSIDs that answer `tries` queries of the zone's client (None: no answer)."""
        seen: set[str] = set()
        for _ in range(tries):
            answer = lab.client.query(timeout=1.0)
            seen.add((nsid(answer) or "?") if answer is not None else "no answer")
        return seen

    def wait_answered(self, lab: Lab, test: Callable[[set[str]], bool], what: str,
                      timeout: float = 15.0) -> set[str]:
        found: list[set[str]] = []

        def ok() -> bool:
            found.append(self.answered_by(lab, 10))
            return test(found[-1])

        wait_for(ok, timeout, interval=0.1, what=f"{what} (last: {found[-1] if found else '-'})")
        return found[-1]

    def down(self) -> list[str]:
        return self.london.down() + self.sofia.down()
