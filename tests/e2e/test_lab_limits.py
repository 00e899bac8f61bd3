"""The router's limits: FRR with maximum-prefix 1, a node configured with more prefixes.

One lab, 2 nodes, FRR 8.4 and ExaBGP 4.2. What the README's "The router's limits"
says: with `router_limits` the speaker refuses the config (the session and every
route survive); without it, FRR accepts one prefix over the limit and tears the
whole session down at the next announce, every route of the node goes with it,
and the session stays down.
"""

from __future__ import annotations

import time

from tests.lab import Lab, limits

from .conftest import keep_logs


def test_prefixes_over_maximum_prefix_take_the_node_out_unless_router_limits_refuse() -> None:
    """router_limits {max_prefixes: 1}: the reload to 2 prefixes is refused (config NOT
    changed), node 1 keeps its session and next hop. Without router_limits: FRR takes
    the 2nd prefix and keeps the session, the 3rd announce makes it reset the session
    (maximum-prefix), node 1's next hop leaves the FIB although its service is healthy,
    the session stays down, and node 2 is untouched."""
    lab = Lab(nodes=2)
    try:
        lab.up(timeout=30)
        limits.set_maximum_prefix(lab, 1)
        node = lab.node(1)
        node.write_speaker_yaml(text=limits.with_extra_prefix(
            node, {"router_limits": {"max_prefixes": 1}}))
        refused = node.ctl("reload")
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0 and "config NOT changed" in said, said
        assert "the router accepts 1" in said, said
        time.sleep(2)
        assert limits.peer_state(lab, node)[0] == "Established"
        assert str(node.address) in lab.router.nexthops()

        node.write_speaker_yaml(text=limits.with_extra_prefix(node, count=1))
        assert node.ctl("reload").returncode == 0
        time.sleep(3)  # FRR 8.4: a count of max + 1 is accepted
        assert limits.peer_state(lab, node)[0] == "Established"
        node.write_speaker_yaml(text=limits.with_extra_prefix(node, count=2))
        assert node.ctl("reload").returncode == 0
        lab.router.time_until_gone(node.address, timeout=15)
        state, reason = limits.peer_state(lab, node)
        assert state != "Established", (state, reason)
        assert "MAXPFXEXCEED" in (lab.root / "router" / "bgpd.log").read_text()
        time.sleep(5)
        assert limits.peer_state(lab, node)[0] != "Established"
        assert lab.router.nexthops() == {str(lab.node(2).address)}
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []
