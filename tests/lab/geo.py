"""Geographic anycast in the lab: two zones, London and Sofia, each a lab of its own.

Each zone is a `Lab` (router, nodes, client) with its own router AS, router-id,
node names (NSID) and client network; the anycast address is the same in both.
A veth joins the two routers, which peer over eBGP (the provider between the
zones) and exchange only the anycast host route. A router prefers its own
zone's nodes whatever their AS path (routes from the other zone get local
preference 50), and among them the shortest AS path: a node whose
`route.as_path` prepends its AS is a backup, used only when the primaries are
gone. Static routes carry each client network to the other zone, for the
answers of the other zone's nodes.

    client-lon fd00:20::2 -- London (AS 65101) == fd00:99::/64 == Sofia (AS 65102) -- client-sof fd00:21::2
                        lon1 lon2 (primaries), lon3 (backup)   sof1 sof2
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
from collections.abc import Callable

from tests.lab.lab import Lab, nsid
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

    def __init__(self, exabgp_version: str = "4.2") -> None:
        self.london = Lab(topology=topology(LONDON, secrets.token_hex(3)[:5]),
                          exabgp_version=exabgp_version)
        self.sofia = Lab(topology=topology(SOFIA, secrets.token_hex(3)[:5]),
                         exabgp_version=exabgp_version)
        self.zones = ((LONDON, self.london), (SOFIA, self.sofia))

    def up(self, backup: int | None = 3, timeout: float = 30.0) -> None:
        """Both zones, London's node `backup` (None: none) announcing with a prepend."""
        try:
            self.london.up(wait=False)
            self.sofia.up(wait=False)
            if backup is not None:
                node = self.london.node(backup)
                node.write_speaker_yaml(extra={"service": backup_route(self.london, backup)})
                node.wait_speaker()
                node.sighup_speaker()
            self._join()
            for (_, lab), (other, _) in zip(self.zones, reversed(self.zones), strict=True):
                wait_for(lambda lab=lab, other=other: self.zone_session(lab, other), timeout,
                         what=f"{lab.topo.router_ns}'s eBGP session to {other.name} with "
                              "its anycast route")
            self.wait_zone(self.london, self.primaries(backup), timeout)
            self.wait_zone(self.sofia, {str(n.address) for n in self.sofia.nodes}, timeout)
        except BaseException:
            self.down()
            raise

    def primaries(self, backup: int | None = 3) -> set[str]:
        return {str(n.address) for n in self.london.nodes if n.spec.index != backup}

    def _join(self) -> None:
        lon, sof = self.london.topo, self.sofia.topo
        run(["ip", "-n", lon.router_ns, "link", "add", LINK_PORT, "type", "veth", "peer",
             "name", LINK_PORT, "netns", sof.router_ns])
        for (zone, lab), (other, _) in zip(self.zones, reversed(self.zones), strict=True):
            peer = other.link_address
            run(["ip", "-n", lab.topo.router_ns, "-batch", "-"], input="\n".join([
                f"addr add {zone.link_address}/{LINK.prefixlen} dev {LINK_PORT} nodad",
                f"link set {LINK_PORT} up",
                f"route add {other.client_net} via {peer} dev {LINK_PORT}",
            ]) + "\n")
            lab.router.vtysh_config([
                "route-map FROM-ZONE permit 10",
                "set local-preference 50",
                "exit",
                f"router bgp {zone.asn}",
                f"neighbor {peer} remote-as {other.asn}",
                f"neighbor {peer} description {other.name}",
                f"neighbor {peer} timers connect 1",
                f"neighbor {peer} advertisement-interval 0",
                "address-family ipv6 unicast",
                f"neighbor {peer} activate",
                f"neighbor {peer} prefix-list ANYCAST-IN in",
                f"neighbor {peer} prefix-list ANYCAST-IN out",
                f"neighbor {peer} route-map FROM-ZONE in",
            ])

    @staticmethod
    def zone_session(lab: Lab, other: Zone) -> bool:
        """Whether the zone router's session to `other` is up with a prefix received."""
        peers = lab.router.bgp_summary_json().get("peers", {})
        peer = peers.get(str(other.link_address), {})
        return bool(peer.get("state") == "Established" and peer.get("pfxRcd", 0) >= 1)

    @staticmethod
    def wait_zone(lab: Lab, hops: set[str], timeout: float = 30.0) -> float:
        """Wait until the zone router's FIB sends the anycast to exactly `hops`."""
        return lab.router.wait_nexthops(lambda h: h == hops, timeout,
                                        what=f"next hops {sorted(hops)} in {lab.topo.router_ns}")

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
