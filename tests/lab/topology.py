"""Names and addresses of one lab run (pure data, no I/O).

The seed's CloudStack network, translated to ULA space:

    client fd00:20::2 --(fd00:20::/64)-- router (VR, AS 65101) fd00:20::1
                                          |  fd00:10:1::1 on bridge br0
                    guest /64 fd00:10:1::/64 (bridge in the router netns)
          dns1 fd00:10:1::50   dns2 fd00:10:1::51   dns3 fd00:10:1::52
          AS 65201             AS 65202             AS 65203
          anycast fd00:10:1::100/128 on lo of every node
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

PREFIX = "spk"
GUEST_NET = ipaddress.IPv6Network("fd00:10:1::/64")
CLIENT_NET = ipaddress.IPv6Network("fd00:20::/64")
ANYCAST = ipaddress.IPv6Address("fd00:10:1::100")
ROUTER_ASN = 65101


@dataclass(frozen=True)
class Node:
    index: int          # 1-based, as in the seed's dns-1..dns-3
    name: str           # dns1
    ns: str             # network namespace
    address: ipaddress.IPv6Address
    asn: int
    router_id: str
    port: str           # the node's veth end in the router netns
    zone: str = "example.com"


@dataclass(frozen=True)
class Topology:
    lab_id: str
    nodes: tuple[Node, ...]
    router_ns: str
    client_ns: str
    anycast: ipaddress.IPv6Address = ANYCAST
    anycast_range: ipaddress.IPv6Network = GUEST_NET
    guest_net: ipaddress.IPv6Network = GUEST_NET
    router_address: ipaddress.IPv6Address = GUEST_NET[1]
    router_asn: int = ROUTER_ASN
    router_id: str = "10.1.0.1"
    client_net: ipaddress.IPv6Network = CLIENT_NET
    router_client_address: ipaddress.IPv6Address = CLIENT_NET[1]
    client_address: ipaddress.IPv6Address = CLIENT_NET[2]
    bridge: str = "br0"
    client_port: str = "vc"
    namespaces: tuple[str, ...] = field(default=())
    # more routers every node peers with besides router_address (tests.lab.routers)
    peers: tuple[ipaddress.IPv6Address, ...] = ()

    @property
    def frr_name(self) -> str:
        """FRR pathspace (-N): /run/frr/<name>/, `vtysh -N <name>`."""
        return f"{PREFIX}{self.lab_id}"

    def node(self, which: int | str) -> Node:
        for node in self.nodes:
            if which in (node.index, node.name):
                return node
        raise KeyError(f"no node {which!r} (nodes: {', '.join(n.name for n in self.nodes)})")


def build(lab_id: str, count: int = 3) -> Topology:
    if not 1 <= count <= 40:
        raise ValueError(f"node count must be 1..40 (got {count})")
    base = f"{PREFIX}{lab_id}"
    nodes = tuple(
        Node(
            index=i,
            name=f"dns{i}",
            ns=f"{base}-d{i}",
            address=GUEST_NET[0x50 + i - 1],
            asn=65200 + i,
            router_id=f"10.1.0.{50 + i - 1}",
            port=f"vd{i}",
        )
        for i in range(1, count + 1)
    )
    router_ns, client_ns = f"{base}-r", f"{base}-c"
    return Topology(
        lab_id=lab_id,
        nodes=nodes,
        router_ns=router_ns,
        client_ns=client_ns,
        namespaces=(router_ns, client_ns, *(n.ns for n in nodes)),
    )
