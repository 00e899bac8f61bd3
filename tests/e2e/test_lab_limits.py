"""The router's limits: FRR with maximum-prefix, a node configured with more prefixes.

Labs of 2 nodes, FRR 8.4 and ExaBGP 4.2 (the run-time budget on 5.0 too). What the README's "The router's limits"
says: with `router_limits` the speaker takes the config but announces only the
first `max_prefixes` (the session and every route survive, the excess is
reported, a failed service's slot goes to the next prefix); without it, FRR
accepts one prefix over the limit and tears the whole session down at the next
announce, every route of the node goes with it, and the session stays down.
"""

from __future__ import annotations

import time

import pytest

from tests.lab import Lab, limits
from tests.lab.system import wait_for

from .conftest import keep_logs


def test_prefixes_over_maximum_prefix_take_the_node_out_unless_router_limits_is_set() -> None:
    """router_limits {max_prefixes: 1}: the reload to 2 prefixes is taken and names the
    excess, node 1 keeps its session and next hop, the extra prefix is never sent.
    Without router_limits: FRR takes the 2nd prefix and keeps the session, the 3rd
    announce makes it reset the session (maximum-prefix), node 1's next hop leaves the
    FIB although its service is healthy, the session stays down, and node 2 is
    untouched."""
    lab = Lab(nodes=2)
    try:
        lab.up(timeout=30)
        limits.set_maximum_prefix(lab, 1)
        node = lab.node(1)
        node.write_speaker_yaml(text=limits.with_extra_prefix(
            node, {"router_limits": {"max_prefixes": 1}}))
        taken = node.ctl("reload")
        said = taken.stdout + taken.stderr
        assert taken.returncode == 0, said
        assert f"over_max_prefixes: {limits.EXTRA_PREFIXES[0]}" in said, said
        time.sleep(3)
        assert limits.peer_state(lab, node)[0] == "Established"
        assert str(node.address) in lab.router.nexthops()
        assert limits.held_from(lab, node, limits.EXTRA_PREFIXES[:1]) == []

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


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_maximum_prefix_5_and_6_prefixes_keep_the_session_announce_5_and_report_the_6th(
        exabgp_version: str) -> None:
    """The issue's lab: FRR `maximum-prefix 5`, node 1 with 6 prefixes (its own service,
    then 5 more of one prefix each) and router_limits {max_prefixes: 5}. check-config
    refuses the config, the speaker runs it: the router holds the first 5, the 6th is
    reported (status, log); a failed 3rd service's slot goes to the 6th, and it is given
    back when the 3rd heals. FRR's drop counter of the session stays where it was
    throughout (no reset between two samples either), and FRR never logs MAXPFXEXCEED."""
    lab = Lab(nodes=2, exabgp_version=exabgp_version)
    try:
        lab.up(timeout=30)
        limits.set_maximum_prefix(lab, 5)
        node = lab.node(1)
        extra = limits.one_prefix_services(5)
        for prefix in extra:
            limits.add_address(node, prefix)
        node.write_speaker_yaml(text=limits.with_services(
            node, extra, {"router_limits": {"max_prefixes": 5}}))
        refused = node.ctl("check-config")
        assert refused.returncode != 0, refused.stdout + refused.stderr
        assert "but the router accepts 5" in refused.stderr + refused.stdout
        counts = limits.session_counts(lab, node)
        taken = node.ctl("reload")
        assert taken.returncode == 0, taken.stdout + taken.stderr
        assert f"over_max_prefixes: {extra[4]}" in taken.stdout, taken.stdout
        four = extra[:4]
        wait_for(lambda: limits.held_from(lab, node, extra) == four, 20,
                 what="the first 4 extra prefixes at the router")

        def steady(held: list[str], seconds: float) -> None:
            """Watched for `seconds`: Established, exactly `held` of node 1's extra
            prefixes (and its own) in the FIB, 5 prefixes from it in FRR, every 0.2 s."""
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                assert limits.peer_state(lab, node)[0] == "Established"
                assert limits.held_from(lab, node, extra) == held
                assert str(node.address) in lab.router.nexthops()
                assert limits.received(lab, node) == 5
                time.sleep(0.2)

        steady(four, 8)
        over = "over router_limits.max_prefixes (5): not announced"
        [sixth] = [p for s in node.status()["services"] for p in s["prefixes"]
                   if p["prefix"] == extra[4]]
        assert sixth["over_limit"] == over and sixth["confirmed"] == "withdrawn", sixth
        shown = node.ctl("status").stdout
        assert f"withdrawn: {over}" in shown, shown
        log = node.log_text()
        assert log.count("prefix not announced: over router_limits.max_prefixes") == 1, log
        doctor = node.ctl("doctor")
        assert doctor.returncode != 0 and f"FAIL  prefix {extra[4]}" in doctor.stdout, \
            doctor.stdout

        limits.remove_address(node, extra[2])  # the 3rd service (4th prefix) fails
        others = [extra[0], extra[1], extra[3], extra[4]]
        wait_for(lambda: limits.held_from(lab, node, extra) == others, 20,
                 what="the 6th prefix to take the failed service's slot")
        steady(others, 4)
        [sixth] = [p for s in node.status()["services"] for p in s["prefixes"]
                   if p["prefix"] == extra[4]]
        assert sixth["over_limit"] is None and sixth["confirmed"] == "announced", sixth

        limits.add_address(node, extra[2])  # healed: it takes its slot back
        wait_for(lambda: limits.held_from(lab, node, extra) == four, 30,
                 what="the healed service to take its slot back")
        steady(four, 4)
        assert limits.session_counts(lab, node) == counts
        assert "MAXPFXEXCEED" not in (lab.root / "router" / "bgpd.log").read_text()
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []
