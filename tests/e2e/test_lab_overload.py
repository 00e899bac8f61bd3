"""Overload in the lab (issue 12): a busy service is not turned into a total outage.

Every node's named is CPU-starved (a cgroup quota of 5 % of a core) while
dnsperf offers 10k q/s to every node's unicast address and the client streams
50 q/s to the anycast address. With `services[].overload` the nodes stay
announced (degraded): the prefix never has zero next hops over the whole
interval (watched every 10 ms), and a real SIGKILL of one node's named during
the same flood still withdraws that node at once (a hard failure). The same
scenario without `overload` is run and printed: the outage the policy prevents.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Lab, LabNode, summarize

from .fib import FibWatch
from .flood import CpuQuota, Flood, least_hops, outages, withdraws

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(not Path("/usr/bin/dnsperf").exists(),
                                 reason="lab: missing /usr/bin/dnsperf (tests/bootstrap.sh)")]

RATE = 10_000          # q/s offered by dnsperf to every node's unicast address
SHARE = 0.05           # named's CPU quota: 5 % of one core
WARMUP = 2.0           # flood before the quota: the statistics show the client rate
STARVED = 14.0         # seconds starved before the kill (with the policy) or in all (without)
AFTER_KILL = 5.0       # seconds the two other nodes are watched after the kill
KILL_BOUND = 1.0       # the usual bound for a killed named (the event path: ~0.1 s)
FAILED_BOUND = 0.10    # share of client queries that may fail (measured: under 1 %; 41-68 %
                       # without the policy)
DEGRADED_LINE = "service degraded"
OVERLOAD = {"max_degraded": 60, "min_client_rate": 50, "stats_max_age": 10, "min_up": 1}


def configure(lab: Lab, overload: bool) -> None:
    """Every node's speaker restarted with (or without) the overload policy; with it, each
    node's peers are the other nodes' unicast addresses."""
    for node in lab.nodes:
        extra: dict[str, Any] | None = None
        if overload:
            peers = [str(n.address) for n in lab.nodes if n is not node]
            extra = {"service": {"overload": {**OVERLOAD, "peers": peers}}}
        node.write_speaker_yaml(extra=extra)
        node.kill_exabgp(signal.SIGTERM)
        node.start_exabgp()
    lab.wait_ecmp(timeout=30)


def starve(lab: Lab, kill: LabNode | None) -> dict[str, Any]:
    """The scenario: flood, starve every named, optionally SIGKILL `kill`'s named after
    STARVED seconds; every number the test asserts or prints."""
    total = WARMUP + STARVED + (AFTER_KILL if kill is not None else 0.0)
    out: dict[str, Any] = {}
    with FibWatch(lab) as watch:
        stream = lab.client.stream(rate=50, duration=total + 1)
        with Flood(lab, RATE, total + 1) as flood:
            time.sleep(WARMUP)
            with CpuQuota(lab, SHARE) as quota:
                t0 = time.monotonic()
                marks = {n.name: len(n.log_text()) for n in lab.nodes}
                time.sleep(STARVED)
                t_kill = time.monotonic()
                if kill is not None:
                    kill.kill_named(signal.SIGKILL)
                    gone = watch.when(lambda hops: str(kill.address) not in hops, t_kill)
                    deadline = t_kill + 3
                    while gone is None and time.monotonic() < deadline:
                        time.sleep(0.02)
                        gone = watch.when(lambda hops: str(kill.address) not in hops, t_kill)
                    out["gone"] = None if gone is None else gone - t_kill
                    time.sleep(max(0.0, t_kill + AFTER_KILL - time.monotonic()))
                t_end = time.monotonic()
                out["throttled"] = quota.throttled()
        records = stream.wait()
        out["degraded"] = {n.name: n.log_text()[marks[n.name]:].count(DEGRADED_LINE)
                           for n in lab.nodes}
        out["flood"] = flood.results()
        out["outages"] = outages(watch, t0, t_end)
        out["withdraws"] = withdraws(watch, t0, t_kill)
        out["starved"] = summarize(records, since=t0, until=t_kill)
        out["after_kill"] = summarize(records, since=t_kill, until=t_end)
        out["least_hops"] = least_hops(watch, t0, t_end)
    out["seconds"] = t_kill - t0
    return out


def report(label: str, got: dict[str, Any]) -> str:
    lines = [f"{label}: {got['seconds']:.1f} s starved ({SHARE:.0%} of a core per named, "
             f"{RATE} q/s offered per node)"]
    starved = got["starved"]
    gaps = ", ".join(f"{seconds:.2f} s" for _, seconds in got["outages"]) or "none"
    lines.append(f"  client queries failed: {starved['failed']}/{starved['sent']} "
                 f"({starved['failed_share']:.1%}); answered by {starved['per_node']}")
    lines.append(f"  withdraws: {sum(got['withdraws'].values())} {got['withdraws']}; "
                 f"zero next hops: {len(got['outages'])} ({gaps}); "
                 f"fewest next hops: {got['least_hops']}; degraded: {got['degraded']}")
    if "gone" in got:
        after = got["after_kill"]
        gone = "never" if got["gone"] is None else f"{got['gone']:.3f} s"
        lines.append(f"  SIGKILL of one named: gone from the FIB after {gone}; afterwards "
                     f"{after['failed']}/{after['sent']} client queries failed")
    flood = ", ".join(f"{name} {r['qps']:.0f} q/s answered, {r['lost']:.0f} lost"
                      for name, r in got["flood"].items())
    lines.append(f"  dnsperf: {flood}")
    lines.append("  throttled: " + ", ".join(f"{name} {s:.1f} s"
                                             for name, s in got["throttled"].items()))
    return "\n".join(lines)


def test_starved_nodes_stay_announced_and_a_killed_named_still_withdraws(lab: Lab) -> None:
    """With overload: every named starved under a flood, the prefix never has zero next hops,
    client failures stay under FAILED_BOUND; SIGKILL of one named: withdrawn within 1 s."""
    configure(lab, overload=True)
    node = lab.node(1)
    got = starve(lab, kill=node)
    print("\n" + report("with overload", got))
    assert got["outages"] == [], f"zero next hops under the policy: {got['outages']}"
    assert got["withdraws"] == {}, f"starved nodes withdrew under the policy: {got['withdraws']}"
    assert sum(got["degraded"].values()) >= 1, f"no node went degraded: {got['degraded']}"
    assert got["starved"]["sent"] > 0.8 * 50 * STARVED, got["starved"]
    assert got["starved"]["failed_share"] <= FAILED_BOUND, got["starved"]
    assert got["after_kill"]["failed_share"] <= FAILED_BOUND, got["after_kill"]
    assert got["gone"] is not None and got["gone"] <= KILL_BOUND, (
        f"killed named under the flood: next hop gone after {got['gone']} s")
    assert all(r["qps"] > 0 for r in got["flood"].values()), got["flood"]


def test_without_the_policy_starved_nodes_withdraw(lab: Lab) -> None:
    """Without overload (shown, not asserted: it is the problem, flaky by nature): the same
    starvation withdraws nodes, and the prefix may have zero next hops."""
    configure(lab, overload=False)
    got = starve(lab, kill=None)
    print("\n" + report("without overload", got))
    assert got["starved"]["sent"] > 0.8 * 50 * STARVED, got["starved"]
