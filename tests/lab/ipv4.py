"""IPv4 over the lab's IPv6 sessions: addresses, FRR's ipv4 unicast family, a /32 service.

Applied to a running lab (the lab itself is IPv6-only): the guest link gets
10.1.1.0/24 (router .1, node i .(49+i)), every node the IPv4 anycast
10.1.2.100/32 on lo, FRR activates ipv4 unicast on the same IPv6 sessions
(accepting only that /32), and a node's ExaBGP and speaker are reconfigured
with a second service announcing it with the given next hop.
"""

from __future__ import annotations

import ipaddress
import json
import re

from tests.lab.lab import Lab, LabNode
from tests.lab.system import run

GUEST4 = ipaddress.IPv4Network("10.1.1.0/24")
ANYCAST4 = ipaddress.IPv4Address("10.1.2.100")


def node_address(node: LabNode) -> ipaddress.IPv4Address:
    return GUEST4[49 + node.spec.index]


def enable(lab: Lab) -> None:
    """IPv4 on the guest link and lo, and FRR's ipv4 unicast family on the node sessions."""
    topo = lab.topo
    run(["ip", "-n", topo.router_ns, "addr", "add", f"{GUEST4[1]}/24", "dev", topo.bridge])
    run(["ip", "netns", "exec", topo.router_ns, "sysctl", "-q", "-w",
         "net.ipv4.conf.all.forwarding=1", "net.ipv4.fib_multipath_hash_policy=1"])
    for node in lab.nodes:
        run(["ip", "-n", node.ns, "addr", "add", f"{node_address(node)}/24", "dev", "eth0"])
        run(["ip", "-n", node.ns, "addr", "add", f"{ANYCAST4}/32", "dev", "lo"])
    lab.router.vtysh_config([
        f"ip prefix-list ANYCAST4-IN seq 10 permit {ANYCAST4}/32",
        "ip prefix-list ANYCAST4-IN seq 20 deny any",
        "ip prefix-list NOTHING4 seq 10 deny any",
        f"router bgp {topo.router_asn}",
        "address-family ipv4 unicast",
        "maximum-paths 64",
        "neighbor NODES activate",
        "neighbor NODES prefix-list ANYCAST4-IN in",
        "neighbor NODES prefix-list NOTHING4 out",
    ])


def announce_ipv4(node: LabNode, next_hop: str, router_id: str | None = None) -> None:
    """Restart the node's ExaBGP with ipv4 unicast and a second service `dns4`
    announcing the IPv4 anycast /32 with `next_hop` (`self` or an address);
    `router_id` replaces the node's router-id (which `self` turns into)."""
    node.kill_exabgp()
    conf = node.exabgp_conf.read_text()
    if router_id is not None:
        conf = re.sub(r"router-id [0-9.]+;", f"router-id {router_id};", conf)
    if "ipv4 unicast;" not in conf:
        conf = conf.replace("        ipv6 unicast;\n", "        ipv6 unicast;\n        ipv4 unicast;\n")
    node.exabgp_conf.write_text(conf)
    text = node.config.read_text()
    header, body = text.split("\n", 1)
    doc = json.loads(body)
    first = doc["services"][0]
    doc["services"] = [s for s in doc["services"] if s["name"] != "dns4"]
    doc["services"].append({
        "name": "dns4", "prefixes": [f"{ANYCAST4}/32"],
        "address": {"interface": "lo", "manage": False},
        "route": {"next_hop": next_hop},
        "checks": first["checks"][1:],  # the node's own IPv6 address answers for the zone
    })
    node.config.write_text(header + "\n" + json.dumps(doc, indent=2) + "\n")
    node.start_exabgp()


def fib_nexthops(lab: Lab) -> frozenset[str]:
    """Gateways of the router's route to the IPv4 anycast /32."""
    out = run(["ip", "-n", lab.topo.router_ns, "-4", "route", "show", f"{ANYCAST4}/32"]).stdout
    return frozenset(re.findall(r"via (\d+\.\d+\.\d+\.\d+)", out))


def bgp_nexthops(lab: Lab) -> dict[str, tuple[str, bool]]:
    """FRR's paths to the IPv4 anycast /32: peer -> (next hop, usable)."""
    data = json.loads(lab.router.vtysh(f"show bgp ipv4 unicast {ANYCAST4}/32 json"))
    out: dict[str, tuple[str, bool]] = {}
    for path in data.get("paths", []):
        hops = path.get("nexthops") or [{}]
        peer = path.get("peer", {}).get("peerId", "")
        out[peer] = (hops[0].get("ip", ""), bool(hops[0].get("accessible", False)))
    return out


def connections_dropped(lab: Lab, node: LabNode) -> int:
    """Sessions with `node` FRR has seen end (its counter since bgpd started)."""
    data = json.loads(lab.router.vtysh(f"show bgp neighbors {node.address} json"))
    return int(data.get(str(node.address), {}).get("connectionsDropped", 0))
