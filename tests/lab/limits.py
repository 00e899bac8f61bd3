"""The router's limits in the lab: FRR's maximum-prefix, and a node with one prefix more.

Applied to a running lab: `set_maximum_prefix` configures FRR's ipv6 unicast
`neighbor NODES maximum-prefix N` (no `restart`: a peer over the limit stays
down until cleared), `with_extra_prefix` rewrites a node's speaker.yaml with a
second service announcing more anycast /128s (and optional top-level keys);
`with_services` adds services of one /128 each whose address check follows an
address the test adds to (`add_address`) or removes from (`remove_address`)
the node's lo, so each can fail on its own. `held_from` reads which prefixes
the router's FIB has through a node, `received` how many FRR holds from it,
`session_counts` FRR's counts of a session's establishments and drops (a drop
between two samples still counts).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any

from tests.lab.lab import Lab, LabNode

EXTRA_PREFIXES = ("fd00:10:1::101/128", "fd00:10:1::102/128")


def set_maximum_prefix(lab: Lab, count: int) -> None:
    lab.router.vtysh_config([f"router bgp {lab.topo.router_asn}", "address-family ipv6 unicast",
                             f"neighbor NODES maximum-prefix {count}"])


def with_extra_prefix(node: LabNode, top: dict[str, Any] | None = None, count: int = 1) -> str:
    """The node's speaker.yaml plus a service `extra` announcing `count` more anycast
    /128s (their address is not on lo and not checked; its check is the node's own DNS
    server), and the top-level keys `top` (router_limits is dropped unless given)."""
    header, body = node.config.read_text().split("\n", 1)
    doc = json.loads(body)
    doc["services"] = [s for s in doc["services"] if s["name"] != "extra"]
    doc["services"].append({
        "name": "extra", "prefixes": list(EXTRA_PREFIXES[:count]),
        "address": {"interface": "lo", "manage": False, "check": False},
        "checks": doc["services"][0]["checks"][1:],
    })
    doc.pop("router_limits", None)
    doc.update(top or {})
    return header + "\n" + json.dumps(doc, indent=2) + "\n"


def peer_state(lab: Lab, node: LabNode) -> tuple[str, str]:
    """FRR's (bgpState, lastResetDueTo) for the node's session."""
    data = json.loads(lab.router.vtysh(f"show bgp neighbors {node.address} json"))
    peer = data.get(str(node.address), {})
    return str(peer.get("bgpState", "")), str(peer.get("lastResetDueTo", ""))


def one_prefix_services(count: int) -> list[str]:
    """`count` /128s for `with_services`, in config order."""
    return [f"fd00:10:1::{0x110 + i:x}/128" for i in range(count)]


def with_services(node: LabNode, prefixes: Sequence[str], top: dict[str, Any]) -> str:
    """The node's speaker.yaml (its own service first) plus one service `extra-N` per
    prefix, after it in that order; each checks its address on lo (not managed) and the
    node's own DNS server; and the top-level keys `top`."""
    header, body = node.config.read_text().split("\n", 1)
    doc = json.loads(body)
    own = doc["services"][0]
    doc["services"] = [own] + [{
        "name": f"extra-{i + 1}", "prefixes": [prefix],
        "address": {"interface": "lo", "manage": False, "check": True},
        "checks": own["checks"][1:],
    } for i, prefix in enumerate(prefixes)]
    doc.update(top)
    return header + "\n" + json.dumps(doc, indent=2) + "\n"


def add_address(node: LabNode, prefix: str) -> None:
    node.run(["ip", "-6", "addr", "add", prefix, "dev", "lo", "nodad"], check=True)


def remove_address(node: LabNode, prefix: str) -> None:
    node.run(["ip", "-6", "addr", "del", prefix, "dev", "lo"], check=True)


def held_from(lab: Lab, node: LabNode, prefixes: Sequence[str]) -> list[str]:
    """Those of `prefixes` whose route in the router's FIB goes through `node`."""
    return [p for p in prefixes
            if str(node.address) in lab.router.nexthops(ipaddress.ip_network(p).network_address)]


def session_counts(lab: Lab, node: LabNode) -> tuple[int, int]:
    """FRR's (connectionsEstablished, connectionsDropped) for the node's session."""
    data = json.loads(lab.router.vtysh(f"show bgp neighbors {node.address} json"))
    peer = data.get(str(node.address), {})
    return int(peer["connectionsEstablished"]), int(peer["connectionsDropped"])


def received(lab: Lab, node: LabNode) -> int:
    """How many IPv6 prefixes FRR holds from the node's session (pfxRcd)."""
    data = json.loads(lab.router.vtysh("show bgp ipv6 unicast summary json"))
    return int(data.get("peers", {}).get(str(node.address), {}).get("pfxRcd", -1))
