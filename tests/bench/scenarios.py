"""The benchmark scenarios, one repetition each, on a running SpeakerLab.

Every function returns a plain dict (JSON-ready). Times are seconds; a time
that never came within the wait is None ("never"). The node under test is
reset to healthy (`lab.reset()`: named up, fresh ExaBGP and process for a
touched node) before each repetition, so no repetition inherits another's
history (flap damping, maintenance).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.bench import procs, timeline
from tests.lab import pictures
from tests.lab.lab import QueryStream, summarize
from tests.lab.speakers import LABELS, SpeakerLab
from tests.lab.system import LabError

# This project's speaker config in the bench: the lab's, less what the lab adds beyond the
# project's defaults that costs at rest (its dns_statistics poll every 1 s, ~0.07 % of a
# core per node); the control socket and state dir stay the lab's.
SPEAKER_DEFAULTS: dict[str, Any] = {"dns_statistics": None}
PRE = 1.0  # s of client stream before the fault


@dataclass
class Settings:
    rate: float = 50.0          # client queries per second
    window: float = 5.0         # s after the fault whose queries are counted
    gone_timeout: float = 12.0  # s to wait for a next hop to leave before "never"
    back_timeout: float = 20.0  # s to wait for a next hop to come back


def wait_until(predicate: Callable[[], bool], timeout: float, t0: float,
               interval: float = 0.01) -> float | None:
    """Seconds from t0 until predicate() held (polled every `interval`), None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def _stream(lab: SpeakerLab, s: Settings) -> QueryStream:
    return lab.client.stream(rate=s.rate, duration=PRE + s.window, timeout=0.5)


def _queries(records: list[dict[str, Any]], t0: float, s: Settings) -> dict[str, Any]:
    got = summarize(records, since=t0, until=t0 + s.window)
    return {"sent": got["sent"], "failed": got["failed"],
            "failed_share": round(got["failed_share"], 4), "per_node": got["per_node"]}


def _named_ready(lab: SpeakerLab, node: Any) -> bool:
    answer = node.query(str(node.address), "www.example.com.", "AAAA", timeout=0.05)
    return answer is not None


def _breakdown(lab: SpeakerLab, node: Any, w0: float, fib: float | None,
               verdict_msg: str = "service ") -> dict[str, float | None]:
    """Offsets (s) from the fault at each hop, for this project's speaker."""
    if lab.kind != "speaker":
        return {}
    events = timeline.speaker_events(node.dir / "exabgp.log", w0)
    verdict = timeline.first(events, verdict_msg)
    ack = timeline.first(events, "withdrawn", after=verdict or w0)
    updates = timeline.router_updates(lab, w0, str(node.address), f"{lab.anycast}/128")

    def off(t: float | None) -> float | None:
        return None if t is None else round(t - w0, 4)

    return {"verdict": off(verdict), "ack": off(ack),
            "update_at_router": off(updates[0] if updates else None),
            "fib": None if fib is None else round(fib, 4)}


def _picture(lab: SpeakerLab, s: Settings, scenario: str, t0: float, trace: pictures.FibTrace,
             records: list[dict[str, Any]], hops: dict[str, float | None], fault: str
             ) -> pictures.Timeline:
    """The timeline picture of one repetition (`__main__` renders it and drops it from the
    result)."""
    marks = {"speaker verdict": hops.get("verdict"), "ExaBGP ack": hops.get("ack"),
             "UPDATE at router": hops.get("update_at_router"), "FIB change": hops.get("fib")}
    return pictures.Timeline(
        scenario=f"{scenario}, client at {s.rate:g} queries/s", speaker=LABELS[lab.kind],
        run=f"bench, lab {lab.lab_id}, ExaBGP {lab.exabgp_version}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        t0=t0, nodes=pictures.node_addresses(lab), fib=trace.stop(), records=records,
        marks=marks, span=pictures.stream_span(records, t0), fault=fault)


def _named_fault(lab: SpeakerLab, s: Settings, inject: Callable[[Any], None], what: str
                 ) -> tuple[Any, float | None, dict[str, Any]]:
    """Inject a named fault on dns1 under the client stream: (node, gone, result so far)."""
    node = lab.node(1)
    lab.reset()
    trace = pictures.FibTrace(lab.router.nexthops).start()
    stream = _stream(lab, s)
    time.sleep(PRE)
    load = procs.loadavg()
    w0, t0 = time.time(), time.monotonic()
    inject(node)
    gone = wait_until(lambda: node.name not in lab.present(), s.gone_timeout, t0)
    records = stream.wait()
    hops = _breakdown(lab, node, w0, gone, "service down")
    return node, gone, {"gone": gone, "queries": _queries(records, t0, s), "load1": load[0],
                        "breakdown": hops, "timeline": _picture(
                            lab, s, f"{what} on {node.name}", t0, trace, records,
                            {**hops, "fib": gone}, what.split(": ", 1)[1])}


def crash(lab: SpeakerLab, s: Settings) -> dict[str, Any]:
    """named SIGKILL on dns1 -> next hop gone; failed queries; then named back -> next hop."""
    node, gone, result = _named_fault(lab, s, lambda n: n.kill_named(signal.SIGKILL),
                                      "crash: named killed (SIGKILL)")
    # recovery: named started again; timed from the moment it answers
    t1 = time.monotonic()
    node.start_named()
    ready = wait_until(lambda: _named_ready(lab, node), 15, t1, interval=0.005)
    if ready is None:
        raise LabError(f"{node.name}: named did not answer within 15 s of its start")
    t_ready = t1 + ready
    if gone is None:
        result["recovery"] = None  # it never left: nothing to recover
    else:
        back = wait_until(lambda: node.name in lab.present(), s.back_timeout, t_ready)
        result["recovery"] = back
        result["recovery_missing"] = back is None
    return result


def hang(lab: SpeakerLab, s: Settings) -> dict[str, Any]:
    """named SIGSTOP on dns1 -> next hop gone; SIGCONT -> next hop back."""
    node, gone, result = _named_fault(lab, s, lambda n: n.stop_named(),
                                      "hang: named stopped (SIGSTOP)")
    t1 = time.monotonic()
    node.cont_named()
    result["back_after_cont"] = (None if gone is None else
                                 wait_until(lambda: node.name in lab.present(), s.back_timeout,
                                            t1))
    return result


def drain(lab: SpeakerLab, s: Settings) -> dict[str, Any]:
    """`speakerctl withdraw` on dns2 (this project only) -> next hop gone, failed queries."""
    node = lab.node(2)
    lab.reset()
    trace = pictures.FibTrace(lab.router.nexthops).start()
    stream = _stream(lab, s)
    time.sleep(PRE)
    load = procs.loadavg()
    box: list[subprocess.CompletedProcess[str]] = []
    w0, t0 = time.time(), time.monotonic()
    worker = threading.Thread(target=lambda: box.append(
        node.ctl("withdraw", "--reason", "bench drain")), daemon=True)
    worker.start()
    gone = wait_until(lambda: node.name not in lab.present(), s.gone_timeout, t0)
    worker.join(30)
    returned = time.monotonic() - t0
    records = stream.wait()
    if not box or box[0].returncode != 0:
        raise LabError(f"speakerctl withdraw failed: {box[0].stdout + box[0].stderr if box else 'hung'}")
    hops = _breakdown(lab, node, w0, gone, "service maintenance")
    result = {"gone": gone, "ctl_returned": round(returned, 3),
              "queries": _queries(records, t0, s), "load1": load[0], "breakdown": hops,
              "timeline": _picture(lab, s, f"drain: speakerctl withdraw on {node.name}", t0,
                                   trace, records, {**hops, "fib": gone},
                                   "speakerctl withdraw")}
    announce = node.ctl("announce")
    if announce.returncode != 0:
        raise LabError(f"speakerctl announce failed: {announce.stdout + announce.stderr}")
    return result


def cold_start(lab: SpeakerLab, s: Settings) -> dict[str, Any]:
    """Every node's speaker stopped, then all started at once -> all next hops in the FIB."""
    lab.reset()
    nodes = lab.stack_nodes()
    for node in nodes:
        node.stop_stack()
    if wait_until(lambda: not lab.present(), 20, time.monotonic()) is None:
        raise LabError(f"next hops still in the FIB with every speaker stopped: "
                       f"{sorted(lab.present())}")
    for node in nodes:
        for entry in node.state_dir.iterdir():
            entry.unlink()
    load = procs.loadavg()
    t0 = time.monotonic()
    for node in nodes:
        node.start_stack()
    want = {n.name for n in nodes}
    took = wait_until(lambda: lab.present() == want, 30, t0, interval=0.02)
    for node in nodes:
        node.dirty = False
    return {"all_next_hops": took, "load1": load[0]}


def resources(lab: SpeakerLab, seconds: float) -> dict[str, Any]:
    """CPU share of one core and memory (RSS, PSS) of the speaker on every node, at rest."""
    lab.reset()
    time.sleep(2.0)
    nodes = lab.stack_nodes()
    pids = {n.name: n.stack_pids() for n in nodes}
    load0 = procs.loadavg()
    begins = {name: procs.cpu_begin(p) for name, p in pids.items()}
    time.sleep(seconds)
    per_node = {}
    for node in nodes:
        sample = procs.cpu_end(pids[node.name], begins[node.name])
        mem = procs.memory(pids[node.name])
        per_node[node.name] = {
            "cpu_share": round(sample.share, 5), "cpu_by_role": {
                k: round(v, 5) for k, v in sample.by_role.items()},
            "complete": sample.complete, "seconds": round(sample.seconds, 1),
            "rss_mb": round(mem["total"]["rss_mb"], 1), "pss_mb": round(mem["total"]["pss_mb"], 1),
            "memory_by_role": {k: {kk: round(vv, 1) for kk, vv in v.items()}
                               for k, v in mem.items() if k != "total"},
            "processes": sorted(set(pids[node.name].values())),
        }
    return {"nodes": per_node, "load1": load0[0], "load1_end": procs.loadavg()[0]}
