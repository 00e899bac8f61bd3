"""BIRD 2 as the lab's router (`--router bird`): its config, command line and session view.

Pure except `birdc`, which runs the client against the control socket of a
BIRD this lab started. The config mirrors FRR's (tests/lab/render.bgpd_conf):
only host routes inside the anycast range are imported, nothing is exported
to the nodes, and the kernel protocol has `merge paths on`, without which
BIRD installs one next hop only (the best route) instead of one per node.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.lab.system import run
from tests.lab.topology import Topology

BIRD = Path("/usr/sbin/bird")
BIRDC = Path("/usr/sbin/birdc")
BINARIES = (BIRD, BIRDC)


def conf(topo: Topology) -> str:
    """bird.conf for the router: ECMP over all nodes, only anycast /128s accepted."""
    lines = [
        "log stderr all;",
        f"router id {topo.router_id};",
        "",
        "protocol device { scan time 10; }",
        "",
        "# The FIB: one route with a next hop per node. Without `merge paths on`",
        "# BIRD exports only its best route, so the kernel gets a single next hop.",
        "protocol kernel {",
        "    ipv6 { import none; export all; };",
        "    merge paths on;",
        "}",
        "",
        "filter anycast_in {",
        f"    if ! (net ~ [ {topo.anycast_range}{{128,128}} ]) then reject;",
        "    # RFC 8326: a node draining gracefully (65535:0) is the least preferred",
        "    if (65535, 0) ~ bgp_community then bgp_local_pref = 0;",
        "    accept;",
        "}",
        "",
        "template bgp nodes {",
        f"    local {topo.router_address} as {topo.router_asn};",
        "    hold time 9;",
        "    connect delay time 1;",
        "    connect retry time 1;",
        "    error wait time 1, 5;",
        "    ipv6 { import filter anycast_in; export none; };",
        "}",
        "",
    ]
    for node in topo.nodes:
        lines.append(f"protocol bgp {node.name} from nodes "
                     f"{{ neighbor {node.address} as {node.asn}; }}")
    return "\n".join(lines) + "\n"


def argv(config: Path, socket: Path) -> list[str]:
    """BIRD in the foreground (-f), logging to stderr, with its own control socket."""
    return [str(BIRD), "-f", "-c", str(config), "-s", str(socket)]


def birdc(router_ns: str, socket: Path, command: str) -> str:
    return run(["ip", "netns", "exec", router_ns, str(BIRDC), "-s", str(socket),
                *command.split()]).stdout


PROTOCOL_RE = re.compile(r"^(\S+)\s+BGP\s+\S+\s+(\S+)\s+\S+\s*(.*)$")


def established(topo: Topology, protocols: str) -> set[str]:
    """Addresses of the nodes whose BGP protocol `show protocols` says is Established."""
    up: set[str] = set()
    names = {node.name: str(node.address) for node in topo.nodes}
    for line in protocols.splitlines():
        found = PROTOCOL_RE.match(line.strip())
        if found and found.group(1) in names and found.group(3).startswith("Established"):
            up.add(names[found.group(1)])
    return up
