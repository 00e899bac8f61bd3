"""Scale: one node with many services (each its own /128 and DNS check), many nodes.

Both run this project's speaker only, at default timings.
"""

from __future__ import annotations

import ipaddress
import signal
import time
from typing import Any

from tests.bench import procs, scenarios, timeline
from tests.lab.speakers import SpeakerLab
from tests.lab.system import LabError, run
from tests.lab.topology import GUEST_NET

SCALE_BASE = 0x10000  # fd00:10:1::1:0 and up: inside the router's accepted range


def scale_prefixes(count: int) -> list[str]:
    return [f"{GUEST_NET[SCALE_BASE + i]}/128" for i in range(count)]


def services_config(count: int, server: ipaddress.IPv6Address) -> list[dict[str, Any]]:
    """`count` services, each one /128 (address managed on lo) and one DNS check
    against the node's own named."""
    return [{
        "name": f"s{i:04d}",
        "prefixes": [prefix],
        "address": {"interface": "lo", "manage": True},
        "checks": [{"type": "dns", "server": str(server), "qname": "example.com.",
                    "qtype": "SOA"}],
    } for i, prefix in enumerate(scale_prefixes(count))]


def routes_in_fib(lab: SpeakerLab, prefixes: set[str]) -> int:
    out = run(["ip", "-n", lab.topo.router_ns, "-6", "-o", "route", "show", "proto", "bgp"],
              check=False).stdout
    return sum(1 for line in out.splitlines()
               if line.split(" ", 1)[0] + ("" if "/" in line.split(" ", 1)[0] else "/128")
               in prefixes)


def _off(t: float | None, w0: float) -> float | None:
    return None if t is None else round(t - w0, 3)


def many_services(count: int, cpu_seconds: float, exabgp: str = "4.2",
                  profile: Any = None, log: Any = print) -> dict[str, Any]:
    """One node, `count` services: time until all announced at the router (from ExaBGP's
    start), CPU at rest, time until all withdrawn after named dies, with a breakdown."""
    from tests.lab.topology import build

    probe = build("x", 1)
    lab = SpeakerLab("speaker", nodes=1, exabgp_version=exabgp, speaker_extra={
        **scenarios.SPEAKER_DEFAULTS,
        "services": services_config(count, probe.nodes[0].address)})
    wanted = set(scale_prefixes(count))
    result: dict[str, Any] = {"services": count}
    try:
        lab.up(wait=False)
        assert lab.started_at is not None
        w_start = time.time() - (time.monotonic() - lab.started_at)
        timeline.enable_router_debug(lab)
        node: Any = lab.nodes[0]  # a SpeakerNode
        if profile is not None:
            node.wait_speaker(timeout=30)
            profile.start(lab, node, "announce")
        took = scenarios.wait_until(lambda: routes_in_fib(lab, wanted) == count, 180, lab.started_at,
                          interval=0.1)
        if profile is not None:
            profile.stop()
        events = timeline.speaker_events(node.dir / "exabgp.log", w_start - 1)
        result["announce"] = {
            "all_in_fib": None if took is None else round(took, 3),
            "in_fib_at_timeout": None if took is not None else routes_in_fib(lab, wanted),
            "speaker_started": _off(timeline.first(events, "starting"), w_start),
            "first_up": _off(timeline.first(events, "service up"), w_start),
            "last_up": _off(timeline.last(events, "service up"), w_start),
            "last_ack": _off(timeline.last(events, "announced"), w_start),
            "ups_logged": timeline.count(events, "service up"),
        }
        log(f"  {count} services: all announced {took} s after ExaBGP started")
        if took is None:
            raise LabError(f"not all {count} prefixes reached the router's FIB")
        time.sleep(2.0)
        pids = node.stack_pids()
        load0 = procs.loadavg()
        if profile is not None:
            profile.start(lab, node, "rest")
        begin = procs.cpu_begin(pids)
        time.sleep(cpu_seconds)
        sample = procs.cpu_end(pids, begin)
        if profile is not None:
            profile.stop()
        mem = procs.memory(pids)
        result["rest"] = {"cpu_share": round(sample.share, 4),
                          "cpu_by_role": {k: round(v, 4) for k, v in sample.by_role.items()},
                          "complete": sample.complete, "seconds": round(sample.seconds, 1),
                          "rss_mb": round(mem["total"]["rss_mb"], 1),
                          "pss_mb": round(mem["total"]["pss_mb"], 1),
                          "load1": load0[0]}
        log(f"  {count} services: CPU at rest {100 * sample.share:.1f} % of one core")
        if profile is not None:
            profile.start(lab, node, "withdraw")
        w0, t0 = time.time(), time.monotonic()
        node.kill_named(signal.SIGKILL)
        # polled every 20 ms (was 0.1 s: up to 0.1 s more than the FIB took)
        gone = scenarios.wait_until(lambda: routes_in_fib(lab, wanted) == 0, 120, t0,
                                    interval=0.02)
        if profile is not None:
            profile.stop()
        time.sleep(0.5)
        events = timeline.speaker_events(node.dir / "exabgp.log", w0)
        updates = timeline.router_updates(lab, w0, str(node.address), "fd00:10:1::1:")
        result["withdraw"] = {
            "all_gone": None if gone is None else round(gone, 3),
            "left_at_timeout": None if gone is not None else routes_in_fib(lab, wanted),
            "first_down": _off(timeline.first(events, "service down"), w0),
            "last_down": _off(timeline.last(events, "service down"), w0),
            "downs_logged": timeline.count(events, "service down"),
            "last_ack": _off(timeline.last(events, "withdrawn"), w0),
            "first_update_at_router": _off(min(updates) if updates else None, w0),
            "last_update_at_router": _off(max(updates) if updates else None, w0),
            "updates_at_router": len(updates),
        }
        log(f"  {count} services: all withdrawn {gone} s after named died")
    finally:
        if lab.root.exists():
            result["logs"] = str(lab.archive_logs(
                __import__("pathlib").Path(f"/tmp/spklab-{lab.lab_id}-bench-logs")))
        lab.down()
    return result


def many_nodes(count: int, exabgp: str = "4.2", log: Any = print) -> dict[str, Any]:
    """`count` nodes behind one router: ECMP width reached and the time to form it (from
    the start of the first ExaBGP; named already answers on every node)."""
    lab = SpeakerLab("speaker", nodes=count, exabgp_version=exabgp,
                     speaker_extra=scenarios.SPEAKER_DEFAULTS)
    result: dict[str, Any] = {"nodes": count}
    try:
        lab.up(wait=False)
        assert lab.started_at is not None
        load = procs.loadavg()
        widest = [0]

        def full() -> bool:
            width = len(lab.present())
            widest[0] = max(widest[0], width)
            return width == count

        took = scenarios.wait_until(full, 180, lab.started_at, interval=0.05)
        result.update(formed=None if took is None else round(took, 3), width=widest[0],
                      load1=load[0], load1_end=procs.loadavg()[0],
                      route=lab.router.route_text().count("nexthop via"))
        log(f"  {count} nodes: ECMP width {widest[0]} after {took} s")
    finally:
        lab.down()
    return result
