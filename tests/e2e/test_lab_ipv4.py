"""IPv4 over the IPv6 sessions: `next-hop self` is refused by FRR (and by check-config),
an explicit IPv4 `route.next_hop` gets the /32 into the router's FIB.

One lab, 2 nodes, FRR and ExaBGP 4.2, IPv4 added to the running lab (tests/lab/ipv4.py).
"""

from __future__ import annotations

import time

from tests.lab import Lab, ipv4
from tests.lab.system import wait_for

from .conftest import keep_logs


def test_ipv4_over_an_ipv6_session_needs_an_explicit_next_hop() -> None:
    """Node 1 announces 10.1.2.100/32 with next_hop 10.1.1.50: it is in the FIB via that
    address and its session stays up. Node 2 announces it with next-hop self, which
    ExaBGP turns into its router-id: 10.1.0.51 is an unreachable next hop (the path is
    in BGP, never in the FIB); 0.0.0.51 (the issue's case) is martian: FRR 8.4 logs
    "Martian nexthop" and drops the path (issue 17 saw FRR reset the session). check-config fails node 2's config naming the fix
    and passes node 1's."""
    lab = Lab(nodes=2)
    try:
        lab.up(timeout=30)
        ipv4.enable(lab)
        good, bad = lab.node(1), lab.node(2)
        ipv4.announce_ipv4(good, str(ipv4.node_address(good)))
        wait_for(lambda: ipv4.fib_nexthops(lab) == {str(ipv4.node_address(good))}, 30,
                 what="the IPv4 /32 via node 1 in the router's FIB")
        lab.wait_ecmp(timeout=10)  # the IPv6 service of both nodes is untouched
        ipv4.announce_ipv4(bad, "self")
        peer = str(bad.address)
        wait_for(lambda: peer in ipv4.bgp_nexthops(lab), 30, what="node 2's IPv4 path in BGP")
        assert ipv4.bgp_nexthops(lab)[peer] == (bad.spec.router_id, False)
        assert ipv4.fib_nexthops(lab) == {str(ipv4.node_address(good))}
        bgpd_log = lab.root / "router" / "bgpd.log"
        ipv4.announce_ipv4(bad, "self", router_id="0.0.0.51")
        wait_for(lambda: "Martian nexthop 0.0.0.51" in bgpd_log.read_text(), 30,
                 what="FRR refusing node 2's martian next hop 0.0.0.51")
        wait_for(lambda: peer not in ipv4.bgp_nexthops(lab), 10,
                 what="node 2's IPv4 path gone from BGP (its UPDATE treated as a withdraw)")
        assert ipv4.fib_nexthops(lab) == {str(ipv4.node_address(good))}
        before = ipv4.connections_dropped(lab, good)
        time.sleep(2)
        assert ipv4.connections_dropped(lab, good) == before  # node 1's session holds
        refused = bad.ctl("check-config", "--exabgp", str(bad.exabgp_conf))
        assert refused.returncode != 0, refused.stdout + refused.stderr
        said = refused.stdout + refused.stderr
        assert "10.1.2.100/32 with next-hop self over an IPv6 session" in said, said
        assert "next_hop: <this node's IPv4 address" in said, said
        passed = good.ctl("check-config", "--exabgp", str(good.exabgp_conf))
        assert passed.returncode == 0, passed.stdout + passed.stderr
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []
