"""The router's limits in the lab: FRR's maximum-prefix, and a node with one prefix more.

Applied to a running lab: `set_maximum_prefix` configures FRR's ipv6 unicast
`neighbor NODES maximum-prefix N` (no `restart`: a peer over the limit stays
down until cleared), `with_extra_prefix` rewrites a node's speaker.yaml with a
second service announcing more anycast /128s (and optional top-level keys).
"""

from __future__ import annotations

import json
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
