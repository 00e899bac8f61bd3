"""The README's demo: the seed's walkthrough (its steps 5-9), run in the lab.

Prints what the seed's operator looks at, in the seed's terms (`show bgp ipv6
unicast summary`, `ip -6 route show <anycast>`, `dig`), and checks that every
step behaved; the exit status is non-zero if one did not.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.lab import freshness, pictures
from tests.lab.lab import Lab, LabNode, summarize
from tests.lab.system import LabError

GONE_BOUND = 1.5      # s from SIGKILL of the DNS server to next hop gone (the e2e bound)
BACK_BOUND = 10.0     # s from the DNS server's restart to next hop back
RATE = 50.0           # client queries per second during failover and maintenance


class Demo:
    def __init__(self, lab: Lab, out: Callable[[str], None] = print,
                 pictures_dir: Path | None = None) -> None:
        self.lab, self.out = lab, out
        self.failures: list[str] = []
        self.pictures_dir = pictures_dir
        self.trace: pictures.FibTrace | None = None

    # -- pictures ------------------------------------------------------------------

    def trace_fib(self) -> None:
        """Sample the router's FIB from now until `picture` (only when pictures are wanted)."""
        self.trace = (pictures.FibTrace(self.lab.router.nexthops).start()
                      if self.pictures_dir is not None else None)

    def picture(self, name: str, scenario: str, node: LabNode, w0: float, t0: float,
                records: list[dict[str, Any]], verdict: str, gone: float | None,
                fault: str) -> None:
        if self.trace is None or self.pictures_dir is None:
            return
        fib = self.trace.stop()
        self.trace = None
        marks = {**pictures.hop_marks(self.lab, node, w0, verdict), "FIB change": gone}
        lab = self.lab
        timeline = pictures.Timeline(
            scenario=scenario,
            speaker=f"anycast-speaker (this project), ExaBGP {lab.exabgp_version}, "
                    f"{lab.server.label}",
            run=f"demo, lab {lab.lab_id}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            t0=t0, nodes=pictures.node_addresses(lab), fib=fib, records=records, marks=marks,
            span=pictures.stream_span(records, t0), fault=fault)
        try:
            path = pictures.render(timeline, self.pictures_dir / name)
        except ImportError as exc:
            self.check(False, f"no picture: {exc} (apt-get install python3-matplotlib)")
            return
        self.out(f"  picture: {path}")

    # -- printing ----------------------------------------------------------------

    def step(self, title: str) -> None:
        self.out(f"\n=== {title}")

    def shell(self, command: str, text: str) -> None:
        self.out(f"$ {command}")
        for line in text.rstrip().splitlines():
            self.out(f"  {line}")

    def verdict(self, name: str, started: float) -> int:
        """Print the demo's outcome: 0 if every check passed, else 1 with the failures."""
        elapsed = time.monotonic() - started
        if self.failures:
            print(f"\n{name} FAILED after {elapsed:.0f} s: {len(self.failures)} check(s) failed:")
            for failure in self.failures:
                print(f"  - {failure}")
            return 1
        print(f"\n{name} OK: every step behaved ({elapsed:.0f} s)")
        return 0

    def check(self, ok: bool, what: str) -> bool:
        self.out(f"  {'OK  ' if ok else 'FAIL'} {what}")
        if not ok:
            self.failures.append(what)
        return ok

    # -- views -------------------------------------------------------------------

    def client_rate(self, node: LabNode) -> float | None:
        """Queries/s clients send to `node`'s DNS server (its own statistics, less our
        probes)."""
        result = node.ctl("status", "--json")
        try:
            return _client_rate(json.loads(result.stdout))
        except ValueError:
            return None

    def route(self) -> None:
        self.shell(f"ip -6 route show {self.lab.anycast}    # on the router (VR)",
                   self.lab.router.route_text())

    def dig(self) -> tuple[bool, str]:
        proc = self.lab.client.dig("example.com", "AAAA", "+nsid")
        lines = proc.stdout.splitlines()
        answer = [ln for ln in lines if "\tAAAA\t" in ln or " AAAA " in ln.strip()]
        answer = [ln for ln in answer if not ln.startswith(";")]
        nsid = next((ln.split('("')[-1].rstrip('")') for ln in lines if "NSID:" in ln), "?")
        self.shell(f"dig @{self.lab.anycast} example.com AAAA    # from the client",
                   "\n".join(["ANSWER SECTION:", *answer]) + f"\n(answered by {nsid}, NSID)"
                   if answer else proc.stdout + proc.stderr)
        return any("2001:db8::1" in ln for ln in answer), nsid

    def spread(self, records: list[dict[str, Any]]) -> str:
        counts = summarize(records)["per_node"]
        return ", ".join(f"{node}: {n}" for node, n in counts.items()) or "none"

    # -- the steps -----------------------------------------------------------------

    def step1_sessions(self) -> None:
        self.step("Step 1: BGP sessions on the router, 3 next hops in its FIB")
        shown = ("birdc show protocols    # on the router (VR)" if self.lab.router_kind == "bird"
                 else "vtysh -c 'show bgp ipv6 unicast summary'    # on the router (VR)")
        self.shell(shown,
                   self.lab.router.bgp_summary())
        established = self.lab.router.established()
        self.check(len(established) == len(self.lab.nodes),
                   f"{len(established)} of {len(self.lab.nodes)} sessions Established")
        self.route()
        hops = self.lab.router.nexthops()
        self.check(len(hops) == len(self.lab.nodes),
                   f"{len(hops)} next hops for {self.lab.anycast}/128 (ECMP)")

    def step2_queries(self) -> None:
        self.step("Step 2: clients query the anycast address")
        ok, _ = self.dig()
        self.check(ok, "dig answers 2001:db8::1")
        records = self.lab.client.stream(rate=30, duration=1.0).wait()
        stats = summarize(records)
        self.out(f"  30 queries from the client (new source port each), by NSID: "
                 f"{self.spread(records)}")
        self.check(stats["failed"] == 0 and len(stats["per_node"]) == len(self.lab.nodes),
                   f"all answered ({stats['failed']} failed), spread over "
                   f"{len(stats['per_node'])} of {len(self.lab.nodes)} nodes")

    def step3_failover(self) -> None:
        node = self.lab.node(1)
        self.step(f"Step 3: failover: {self.lab.server.program} killed on {node.name} "
                  f"(kill -9 {node.named.pid}) while the client sends {RATE:g} queries/s")
        self.trace_fib()
        stream = self.lab.client.stream(rate=RATE, duration=6.0)
        time.sleep(1.0)
        w0, t0 = time.time(), time.monotonic()
        node.kill_named(signal.SIGKILL)
        try:
            gone = self.lab.router.time_until_gone(node.address, timeout=10, t0=t0)
        except LabError as exc:
            gone = None
            self.check(False, str(exc))
        records = stream.wait()
        self.picture("demo-failover.png", f"failover: {self.lab.server.program} killed "
                     f"(SIGKILL) on {node.name}, client at {RATE:g} queries/s", node, w0, t0,
                     records, "service down", gone, "kill -9 named")
        if gone is not None:
            self.check(gone <= GONE_BOUND, f"next hop {node.address} ({node.name}) gone from "
                                           f"the router FIB {gone:.2f} s after the kill "
                                           f"(bound {GONE_BOUND} s)")
        self.route()
        total = summarize(records)
        window = summarize(records, since=t0, until=t0 + (gone or 10.0))
        after = summarize(records, since=t0 + (gone or 10.0) + 0.1)
        self.out(f"  client: {total['failed']} of {total['sent']} queries failed "
                 f"({100 * total['failed_share']:.1f} %) over the 6 s stream; "
                 f"{window['failed']} of {window['sent']} sent between the kill and the "
                 f"withdraw")
        self.out(f"  answered by: {self.spread(records)}")
        self.check(after["failed"] == 0,
                   f"no query failed once the next hop was gone ({after['sent']} sent)")
        ok, nsid = self.dig()
        self.check(ok and nsid != node.name, f"dig still answers (from {nsid})")

    def step4_restore(self) -> None:
        node = self.lab.node(1)
        self.step(f"Step 4: restore: {self.lab.server.program} started again on {node.name}")
        t0 = time.monotonic()
        node.start_named()
        try:
            back = self.lab.router.time_until_back(node.address, timeout=BACK_BOUND, t0=t0)
            self.check(True, f"next hop {node.address} back {back:.2f} s after "
                             f"{self.lab.server.program} started")
        except LabError as exc:
            self.check(False, str(exc))
        self.route()
        self.check(len(self.lab.router.nexthops()) == len(self.lab.nodes),
                   f"{len(self.lab.nodes)} next hops again")

    def step5_maintenance(self) -> None:
        node = self.lab.node(2)
        self.step(f"Step 5: maintenance: speakerctl withdraw on {node.name}, "
                  f"client at {RATE:g} queries/s")
        self.trace_fib()
        stream = self.lab.client.stream(rate=RATE, duration=7.0)
        # the statistics rate is taken over one polling interval (2 s): wait until a whole
        # interval saw the stream, or `before` reads part of the quiet time before it
        time.sleep(2.5)
        before = self.client_rate(node)
        w0, t0 = time.time(), time.monotonic()
        box: list[subprocess.CompletedProcess[str]] = []
        worker = threading.Thread(
            target=lambda: box.append(node.ctl("withdraw", "--reason", "lab demo maintenance")))
        worker.start()
        try:
            gone: float | None = self.lab.router.time_until_gone(node.address, timeout=5, t0=t0)
        except LabError as exc:
            gone = None
            self.check(False, str(exc))
        worker.join(60)
        took = time.monotonic() - t0
        if not box:
            self.check(False, "speakerctl withdraw did not return within 60 s")
            stream.wait()
            return
        result = box[0]
        self.shell(f"speakerctl withdraw --reason 'lab demo maintenance'    # on {node.name}",
                   (result.stdout + result.stderr) or f"(exit {result.returncode})")
        if gone is not None:
            self.check(True, f"next hop {node.address} gone from the router FIB {gone:.2f} s "
                             f"after the command")
        self.check(result.returncode == 0, f"speakerctl withdraw exited {result.returncode} "
                                           f"after {took:.2f} s (withdraw, ack, drain delay)")
        time.sleep(max(0.0, t0 + 3.5 - time.monotonic()))  # a full statistics interval after
        after = self.client_rate(node)
        if before is not None and after is not None:
            where = "statistics channel" if self.lab.server.name == "bind" else "API"
            self.out(f"  {self.lab.server.label} on {node.name} ({where}, less the speaker's "
                     f"probes): clients {before:.1f} q/s before the drain, {after:.1f} q/s after")
            self.check(before >= 3.0, f"{node.name}'s own counters saw the clients before the "
                                      f"drain ({before:.1f} q/s)")
            self.check(after < 2.0, f"{node.name}'s client traffic has stopped: safe to stop "
                                    f"{self.lab.server.program}")
        else:
            self.check(False, f"no client rate from {node.name}'s {self.lab.server.label} "
                              f"statistics (before {before}, after {after}): speakerctl status")
        records = stream.wait()
        self.picture("demo-drain.png", f"drain: speakerctl withdraw on {node.name}, client at "
                     f"{RATE:g} queries/s", node, w0, t0, records, "service maintenance", gone,
                     "speakerctl withdraw")
        stats = summarize(records)
        self.out(f"  answered by: {self.spread(records)}")
        self.check(stats["failed"] == 0, f"{stats['failed']} of {stats['sent']} queries "
                                         f"failed during the drain (goal: 0)")
        self.route()
        t1 = time.monotonic()
        result = node.ctl("announce")
        self.shell(f"speakerctl announce    # on {node.name}",
                   (result.stdout + result.stderr) or f"(exit {result.returncode})")
        self.check(result.returncode == 0, f"speakerctl announce exited {result.returncode}")
        try:
            back = self.lab.router.time_until_back(node.address, timeout=BACK_BOUND, t0=t1)
            self.check(True, f"next hop {node.address} back {back:.2f} s after announce")
        except LabError as exc:
            self.check(False, str(exc))


def _client_rate(status: dict[str, object]) -> float | None:
    server = status.get("dns_server")
    rate = server.get("client_rate") if isinstance(server, dict) else None
    return float(rate) if isinstance(rate, int | float) else None


def run(exabgp_version: str = "4.2", nodes: int = 3, dns: str = "bind",
        hidden_master: bool = False, pictures_dir: Path | None = None,
        router: str = "frr") -> int:
    """The demo; with `pictures_dir`, the failover and drain steps each write a PNG there."""
    started = time.monotonic()
    lab = Lab(nodes=nodes, exabgp_version=exabgp_version, dns=dns, hidden_master=hidden_master,
              soa={"max_lag": freshness.MAX_LAG} if hidden_master else None, router=router)
    name = "BIRD 2" if router == "bird" else "FRR"
    print(f"anycast-speaker lab demo: {nodes} DNS nodes ({lab.server.label}, ExaBGP "
          f"{exabgp_version} "
          f"running `python3 -m speaker`), a router ({name}, AS 65101), a client; "
          f"lab id {lab.lab_id}, namespaces {lab.topo.router_ns}, ...")
    if lab.master is not None:
        print(f"hidden master: BIND primary at {lab.master.address} (own namespace, not in the "
              "NS set, never announced); the nodes are its secondaries, each speaker with a "
              f"soa check (max_lag {freshness.MAX_LAG:g} s)")
    demo = Demo(lab, pictures_dir=pictures_dir)
    try:
        lab.up(wait=False)
        took = lab.wait_ecmp(timeout=30)
        print(f"lab up; all {nodes} next hops in the router FIB "
              f"{time.monotonic() - started:.1f} s after start ({took:.1f} s after "
              f"ExaBGP started)")
        if pictures_dir is not None:
            from tests.bench.timeline import enable_router_debug

            enable_router_debug(lab)  # the UPDATE's arrival in bgpd's log, to the ms
        for step in (demo.step1_sessions, demo.step2_queries, demo.step3_failover,
                     demo.step4_restore, demo.step5_maintenance):
            step()
        if lab.master is not None:
            freshness.steps(demo, lab)
    except (LabError, OSError) as exc:
        demo.failures.append(f"lab error: {exc}")
        print(f"\nFAIL lab error: {exc}")
    except KeyboardInterrupt:
        demo.failures.append("interrupted")
    finally:
        demo.step("Step 9: teardown" if lab.master is not None else "Step 6: teardown")
        if demo.failures and lab.root.exists():
            dest = lab.archive_logs(Path(f"/tmp/spklab-{lab.lab_id}-logs"))
            print(f"  logs kept in {dest}")
        left = lab.down()
        demo.check(not left, "no namespace, process or run directory left"
                   + (f" (left: {', '.join(left)})" if left else ""))
    return demo.verdict("DEMO", started)


if __name__ == "__main__":
    sys.exit(run())
