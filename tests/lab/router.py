"""The lab's (first) router: its configs, its daemons, and its view (`Router`).

Owns the router side of one lab: writing the router's config (FRR's zebra and
bgpd, BIRD or GoBGP, see tests.lab.bird and tests.lab.gobgp), starting its
daemons through `Lab.spawn`, `Router` (FRR's or BIRD's view of the sessions and
the kernel FIB read over netlink) and `wait_ecmp` (the anycast route with its
next hops, in the FIB or in GoBGP's RIB). Redundant routers are
tests.lab.routers' (it builds a `Router` for each); the nodes are tests.lab.node's.
It injects no fault.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tests.lab import bird, gobgp, render
from tests.lab import routers as routers_
from tests.lab.system import LabError, in_netns, run, wait_for

if TYPE_CHECKING:
    from tests.lab.lab import Lab


def write_configs(lab: Lab) -> None:
    """The router's config files in `<root>/router` for the lab's router kind."""
    rdir = lab.root / "router"
    rdir.mkdir(mode=0o755)
    if lab.router_kind == "bird":
        (rdir / "bird.conf").write_text(bird.conf(lab.topo))
    elif lab.router_kind == "gobgp":
        (rdir / "gobgpd.toml").write_text(gobgp.conf(lab.topo))
    else:
        (rdir / "zebra.conf").write_text(render.zebra_conf(lab.topo))
        (rdir / "bgpd.conf").write_text(render.bgpd_conf(lab.topo))
    for f in rdir.iterdir():
        f.chmod(0o644)


def start(lab: Lab) -> None:
    """The router's daemons; returns once they take commands."""
    if lab.router_kind == "gobgp":
        gobgp.start(lab)
        return
    if lab.router_kind == "bird":
        rdir = lab.root / "router"
        sock = lab.bird_socket
        lab.spawn("router/bird", lab.topo.router_ns, bird.argv(rdir / "bird.conf", sock),
                  rdir / "bird.log")
        wait_for(sock.exists, 10, what="BIRD's control socket")
        return
    routers_.start_frr(lab, "router", lab.topo, lab.root / "router")


def wait_ecmp(lab: Lab, count: int | None = None, timeout: float = 30.0) -> float:
    """Wait until the anycast route has `count` (default: all) next hops; seconds taken."""
    if lab.router_kind == "gobgp":  # no FIB: the paths in GoBGP's RIB instead
        return gobgp.wait_paths(lab, count, timeout)
    want = {str(n.address) for n in lab.topo.nodes} if count is None else None
    t0 = time.monotonic()

    def ok() -> bool:
        hops = lab.router.nexthops()
        return hops == want if want is not None else len(hops) == count

    wait_for(ok, timeout, interval=0.02,
             what=f"{count or len(lab.nodes)} next hops for {lab.anycast} "
                  f"(now: {sorted(lab.router.nexthops())})")
    if count is None:
        lab.more_routers.wait_ecmp(timeout)
    return time.monotonic() - t0


class Router:
    """The Virtual Router: FRR's view (vtysh) and the kernel FIB (netlink)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._ipr: Any = None
        self._lock = threading.Lock()

    def _netlink(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = in_netns(self.lab.topo.router_ns, IPRoute)
        return self._ipr

    def close(self) -> None:
        with self._lock:
            if self._ipr is not None:
                with contextlib.suppress(Exception):
                    self._ipr.close()
                self._ipr = None

    def nexthops(self, prefix: ipaddress.IPv6Address | None = None) -> frozenset[str]:
        """Gateways of the route to `prefix` (default: anycast /128) in the router's FIB."""
        dst = str(prefix or self.lab.anycast)
        with self._lock:
            routes = self._netlink().route("dump", family=10)
        hops: set[str] = set()
        for route in routes:
            if route.get("dst_len") != 128 or route.get_attr("RTA_DST") != dst:
                continue
            if route.get_attr("RTA_TABLE") not in (None, 254):
                continue
            gateway = route.get_attr("RTA_GATEWAY")
            if gateway:
                hops.add(gateway)
            for hop in route.get_attr("RTA_MULTIPATH") or []:
                gateway = hop.get_attr("RTA_GATEWAY")
                if gateway:
                    hops.add(gateway)
        return frozenset(hops)

    def wait_nexthops(self, predicate: Callable[[frozenset[str]], bool], timeout: float,
                      t0: float | None = None, what: str = "next hops") -> float:
        """Poll the FIB every 10 ms until predicate(hops); seconds since t0 (default now)."""
        start = time.monotonic() if t0 is None else t0
        deadline = time.monotonic() + timeout
        while True:
            hops = self.nexthops()
            now = time.monotonic()
            if predicate(hops):
                return now - start
            if now >= deadline:
                raise LabError(f"timed out after {timeout:g} s waiting for {what} "
                               f"(next hops now: {sorted(hops) or 'none'})")
            time.sleep(0.01)

    def time_until_gone(self, address: ipaddress.IPv6Address | str, timeout: float = 10.0,
                        t0: float | None = None) -> float:
        return self.wait_nexthops(lambda h: str(address) not in h, timeout, t0,
                                  what=f"next hop {address} to leave the FIB")

    def time_until_back(self, address: ipaddress.IPv6Address | str, timeout: float = 15.0,
                        t0: float | None = None) -> float:
        return self.wait_nexthops(lambda h: str(address) in h, timeout, t0,
                                  what=f"next hop {address} to be back in the FIB")

    def vtysh(self, command: str) -> str:
        return run(["vtysh", "-N", self.lab.topo.frr_name, "-c", command]).stdout

    def vtysh_config(self, lines: Sequence[str]) -> str:
        """Enter `lines` in FRR's configure mode, one command each."""
        argv = ["vtysh", "-N", self.lab.topo.frr_name, "-c", "configure terminal"]
        for line in lines:
            argv += ["-c", line]
        return run(argv).stdout

    def bgp_summary(self) -> str:
        if self.lab.router_kind == "bird":
            return self.birdc("show protocols")
        return self.vtysh("show bgp ipv6 unicast summary")

    def birdc(self, command: str) -> str:
        return bird.birdc(self.lab.topo.router_ns, self.lab.bird_socket, command)

    def bgp_summary_json(self) -> dict[str, Any]:
        return json.loads(self.vtysh("show bgp ipv6 unicast summary json"))  # type: ignore[no-any-return]

    def established(self) -> set[str]:
        if self.lab.router_kind == "bird":
            return bird.established(self.lab.topo, self.birdc("show protocols"))
        peers = self.bgp_summary_json().get("peers", {})
        return {addr for addr, peer in peers.items() if peer.get("state") == "Established"}

    def updates_received(self, address: ipaddress.IPv6Address | str) -> int:
        """UPDATE messages bgpd has received from the node at `address` (session counters
        restart with each session)."""
        data = json.loads(self.vtysh(f"show bgp neighbors {address} json"))
        stats = data.get(str(address), {}).get("messageStats", {})
        return int(stats.get("updatesRecv", 0))

    def route_text(self) -> str:
        """`ip -6 route show <anycast>` as the seed's operator runs it on the VR."""
        return run(["ip", "-n", self.lab.topo.router_ns, "-6", "route", "show",
                    str(self.lab.anycast)]).stdout
