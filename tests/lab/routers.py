"""Redundant routers in the plain lab (`--routers 2`): a second FRR router on the guest link.

Owns the second router of a lab: its namespace (`<base>-r2`), its veth into the
guest bridge (which lives in the first router's namespace, so the first router's
daemons can die without cutting the link), its address fd00:10:1::2, its FRR
(zebra+bgpd, the same AS as the first router, its own router-id and FRR pathspace
/run/frr/spk<id>r2) and its view (a `Router`: FIB and vtysh). Every node's ExaBGP
gets one neighbour per router (Topology.peers, rendered by render.exabgp_conf).
Also FRR's start-up for either router, the router faults (daemons killed by
PID, restarted from their recorded command lines), FIB sampling, and an optional
second client uplink (the client's eth1 to the second router, `uplink_client`,
and `client_via` to send the client's queries through either router). It never
changes the first router's config. The geo lab (tests.lab.geo) uses all of it for
the second router of each zone.
"""

from __future__ import annotations

import dataclasses
import grp
import ipaddress
import os
import pwd
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

from tests.lab import render
from tests.lab.system import LabError, ns_argv, run, wait_for
from tests.lab.topology import GUEST_NET, Topology

if TYPE_CHECKING:
    from tests.lab.lab import Lab, Router

FRR_RUN = Path("/run/frr")
FRR_BIN = Path("/usr/lib/frr")
COUNTS = (1, 2)
SECOND_ADDRESS = GUEST_NET[2]
PORT = "vr2"  # the second router's veth end on the guest bridge (first router's netns)
UPLINK = "eth1"  # the client's second uplink, to the second router (uplink_client)
UPLINK_ROUTER = "fe80::1"  # the second router's link-local address on that uplink


def topology(topo: Topology, routers: int) -> Topology:
    """The lab's topology with `routers` routers on the guest link (1: unchanged)."""
    if routers not in COUNTS:
        raise ValueError(f"routers must be one of {', '.join(map(str, COUNTS))} (got {routers})")
    if routers == 1:
        return topo
    second = second_topology(topo)
    return dataclasses.replace(topo, peers=(SECOND_ADDRESS,),
                               namespaces=(*topo.namespaces, second.router_ns))


def second_topology(topo: Topology) -> Topology:
    """The second router as a topology of its own: its netns, address, router-id (the
    first's plus one: 10.1.0.1 -> 10.1.0.2) and FRR pathspace; the nodes and the AS are
    the lab's (render.bgpd_conf renders its bgpd)."""
    first = ipaddress.IPv4Address(topo.router_id)
    return dataclasses.replace(topo, lab_id=f"{topo.lab_id}r2", router_ns=f"{topo.router_ns}2",
                               router_address=SECOND_ADDRESS, router_id=str(first + 1),
                               bridge="eth0", peers=())


@dataclasses.dataclass
class _View:
    """What `Router` reads of a lab, for a router that is not the lab's first."""

    topo: Topology
    anycast: Any
    router_kind: str = "frr"


def start_frr(lab: Lab, key: str, topo: Topology, rdir: Path) -> None:
    """zebra then bgpd of `topo`'s router (configs in `rdir`), recorded as `key`/zebra and
    `key`/bgpd; returns once bgpd's vty socket exists."""
    frr_dir = FRR_RUN / topo.frr_name
    frr_dir.mkdir(mode=0o755, exist_ok=False)
    os.chown(frr_dir, pwd.getpwnam("frr").pw_uid, grp.getgrnam("frr").gr_gid)
    lab._save()
    for daemon, ready in (("zebra", "zserv.api"), ("bgpd", "bgpd.vty")):
        lab.spawn(f"{key}/{daemon}", topo.router_ns,
                  [str(FRR_BIN / daemon), "-N", topo.frr_name, "-f", str(rdir / f"{daemon}.conf"),
                   "--log", "stdout"], rdir / f"{daemon}.log")
        wait_for((frr_dir / ready).exists, 10, what=f"{daemon}'s {ready} in {topo.router_ns}")


class Redundant:
    """The routers after the lab's first (none for `routers=1`)."""

    def __init__(self, lab: Lab, routers: int) -> None:
        from tests.lab.lab import Router

        self.lab = lab
        self.topos = [second_topology(lab.topo)] if routers == 2 else []
        self.routers: list[Router] = [Router(_View(t, lab.topo.anycast))  # type: ignore[arg-type]
                                      for t in self.topos]

    @property
    def dirs(self) -> list[str]:
        return [str(FRR_RUN / t.frr_name) for t in self.topos]

    def start(self) -> None:
        """The second router's link onto the guest bridge, its configs and its FRR."""
        for topo in self.topos:
            first = self.lab.topo
            run(ns_argv(topo.router_ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1",
                                         "net.ipv6.fib_multipath_hash_policy=1"]))
            run(["ip", "-n", first.router_ns, "-batch", "-"], input="\n".join([
                f"link add {PORT} type veth peer name eth0 netns {topo.router_ns}",
                f"link set {PORT} master {first.bridge}",
                f"link set {PORT} up",
            ]) + "\n")
            run(["ip", "-n", topo.router_ns, "-batch", "-"], input="\n".join([
                "link set lo up",
                "link set eth0 up",
                f"addr add {topo.router_address}/{topo.guest_net.prefixlen} dev eth0 nodad",
            ]) + "\n")
            rdir = self.lab.root / "router2"
            rdir.mkdir(mode=0o755)
            (rdir / "zebra.conf").write_text(render.zebra_conf(topo))
            (rdir / "bgpd.conf").write_text(render.bgpd_conf(topo))
            for f in rdir.iterdir():
                f.chmod(0o644)
            start_frr(self.lab, "router2", topo, rdir)

    def uplink_client(self) -> None:
        """A second uplink for the client: its eth1 to the second router (link-local only;
        `client_via` picks the uplink). Replies still come back through the first router,
        the nodes' default route."""
        for topo in self.topos:
            client_ns = self.lab.topo.client_ns
            run(["ip", "-n", topo.router_ns, "-batch", "-"], input="\n".join([
                f"link add {topo.client_port} type veth peer name {UPLINK} netns {client_ns}",
                f"link set {topo.client_port} up",
                f"addr add {UPLINK_ROUTER}/64 dev {topo.client_port} nodad",
            ]) + "\n")
            run(["ip", "-n", client_ns, "link", "set", UPLINK, "up"])

    def wait_ecmp(self, timeout: float) -> None:
        want = frozenset(str(n.address) for n in self.lab.topo.nodes)
        for router in self.routers:
            router.wait_nexthops(lambda h: h == want, timeout,
                                 what=f"all next hops in {router.lab.topo.router_ns}")

    def close(self) -> None:
        for router in self.routers:
            router.close()


# -- the routers of a lab, and faults on them -----------------------------------------------

def all_routers(lab: Lab) -> list[Router]:
    """Every router of the lab, the first (the lab's own `lab.router`) first."""
    return [lab.router, *lab.more_routers.routers]


def _key(index: int) -> str:
    return "router" if index == 1 else f"router{index}"


def _topo(lab: Lab, index: int) -> Topology:
    return lab.topo if index == 1 else lab.more_routers.topos[index - 2]


def kill(lab: Lab, index: int) -> None:
    """SIGKILL router `index`'s bgpd and zebra (by the PIDs the lab recorded)."""
    for daemon in ("bgpd", "zebra"):
        proc = lab.procs[f"{_key(index)}/{daemon}"]
        if not proc.signal(signal.SIGKILL) or not proc.wait_gone(10):
            raise LabError(f"router {index}: {daemon} (PID {proc.pid}) did not die")


def client_via(lab: Lab, index: int) -> None:
    """Send the client's traffic through router `index` (2: the uplink of `uplink_client`);
    its source address stays the client's own."""
    topo = lab.topo
    via = (f"{topo.router_client_address} dev eth0" if index == 1
           else f"{UPLINK_ROUTER} dev {UPLINK}")
    run(["ip", "-n", topo.client_ns, "-6", "route", "replace", "default", "via", *via.split(),
         "src", str(topo.client_address)])


def restart(lab: Lab, index: int, timeout: float = 30.0) -> None:
    """Start router `index`'s zebra and bgpd again (their recorded command lines), and wait
    until it has every node's session and every next hop in its FIB."""
    respawn(lab, index)
    wait_back(lab, index, frozenset(str(n.address) for n in lab.topo.nodes), timeout)


def respawn(lab: Lab, index: int) -> None:
    """Start router `index`'s zebra and bgpd again from their recorded command lines (the
    config files: what a caller added with vtysh since is gone)."""
    topo = _topo(lab, index)
    frr_dir = FRR_RUN / topo.frr_name
    # The dead zebra's routes use nexthop objects (nhid), which the new zebra (FRR 8.4)
    # does not sweep: left, the kernel keeps forwarding by the stale route next to the
    # new one. Flushing the objects removes those routes (only zebra makes them here).
    run(["ip", "-n", topo.router_ns, "nexthop", "flush"])
    for daemon, ready in (("zebra", "zserv.api"), ("bgpd", "bgpd.vty")):
        old = lab.procs[f"{_key(index)}/{daemon}"]
        (frr_dir / ready).unlink(missing_ok=True)  # left behind by the SIGKILL
        lab.spawn(old.key, topo.router_ns, old.argv,
                  lab.root / _key(index) / f"{daemon}.log")
        wait_for((frr_dir / ready).exists, 10, what=f"{daemon}'s {ready} in {topo.router_ns}")


def wait_back(lab: Lab, index: int, hops: frozenset[str], timeout: float = 30.0) -> None:
    """Wait until restarted router `index` has every node's session (and maybe more) and
    exactly `hops` in its FIB."""
    # Every session again before the FIB, which is empty until bgpd has the paths again.
    router = all_routers(lab)[index - 1]
    ns = _topo(lab, index).router_ns
    nodes = frozenset(str(n.address) for n in lab.topo.nodes)
    wait_for(lambda: nodes <= _established(router), timeout, interval=0.2,
             what=f"every node's session Established in {ns}")
    router.wait_nexthops(lambda h: h == hops, timeout, what=f"next hops {sorted(hops)} in {ns}")


def _established(router: Router) -> frozenset[str]:
    try:
        return frozenset(router.established())
    except (LabError, ValueError):  # bgpd not answering yet, or half an answer
        return frozenset()


def hop_sets(router: Router, seconds: float, interval: float = 0.02) -> set[frozenset[str]]:
    """Every set of next hops `router`'s FIB showed while watched for `seconds`."""
    seen: set[frozenset[str]] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            seen.add(router.nexthops())
        except NetlinkDumpInterrupted:  # the FIB changed during the dump: dump again
            continue
        time.sleep(interval)
    return seen
