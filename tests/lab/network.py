"""The lab's network: its namespaces, the guest bridge, the veth links and addresses.

Owns `build(topo)`: creates every namespace of the topology (no DAD, no RAs),
makes the router forward with an L4 multipath hash, puts the guest bridge and
one veth per node in the router's namespace, the client's link beside it, and
gives every node its address, the anycast address on lo and a default route.
It records nothing (the lab saved the namespaces' names before this runs) and
starts no process; `tests.lab.state` deletes what it made.
"""

from __future__ import annotations

from tests.lab.system import ns_argv, run
from tests.lab.topology import Topology


def build(topo: Topology) -> None:
    """Create `topo`'s namespaces, links and addresses."""
    for ns in topo.namespaces:
        run(["ip", "netns", "add", ns])
        # New interfaces inherit `default`: no DAD, addresses usable at once.
        run(ns_argv(ns, ["sysctl", "-q", "-w",
                         "net.ipv6.conf.all.accept_dad=0",
                         "net.ipv6.conf.default.accept_dad=0",
                         "net.ipv6.conf.all.accept_ra=0",
                         "net.ipv6.conf.default.accept_ra=0"]))
    r = topo.router_ns
    run(ns_argv(r, ["sysctl", "-q", "-w",
                    "net.ipv6.conf.all.forwarding=1",
                    "net.ipv6.fib_multipath_hash_policy=1"]))
    batch = [
        "link set lo up",
        f"link add {topo.bridge} type bridge stp_state 0 mcast_snooping 0",
        f"link set {topo.bridge} up",
        f"addr add {topo.router_address}/{topo.guest_net.prefixlen} dev {topo.bridge} nodad",
    ]
    for node in topo.nodes:
        batch += [
            f"link add {node.port} type veth peer name eth0 netns {node.ns}",
            f"link set {node.port} master {topo.bridge}",
            f"link set {node.port} up",
        ]
    batch += [
        f"link add {topo.client_port} type veth peer name eth0 netns {topo.client_ns}",
        f"link set {topo.client_port} up",
        f"addr add {topo.router_client_address}/{topo.client_net.prefixlen} "
        f"dev {topo.client_port} nodad",
    ]
    run(["ip", "-n", r, "-batch", "-"], input="\n".join(batch) + "\n")
    for node in topo.nodes:
        run(["ip", "-n", node.ns, "-batch", "-"], input="\n".join([
            "link set lo up",
            "link set eth0 up",
            f"addr add {node.address}/{topo.guest_net.prefixlen} dev eth0 nodad",
            f"addr add {topo.anycast}/128 dev lo nodad",
            f"route add default via {topo.router_address} dev eth0",
        ]) + "\n")
    run(["ip", "-n", topo.client_ns, "-batch", "-"], input="\n".join([
        "link set lo up",
        "link set eth0 up",
        f"addr add {topo.client_address}/{topo.client_net.prefixlen} dev eth0 nodad",
        f"route add default via {topo.router_client_address} dev eth0",
    ]) + "\n")
