"""Alternative speakers for the lab nodes, for side-by-side benchmarks (tests/bench).

A `SpeakerLab` is the normal lab (`tests.lab.lab.Lab`: same topology, router,
named and client) whose nodes run one of:

- ``speaker``: this project (ExaBGP running `python3 -m speaker`, as in the lab);
- ``frr``: FRR (zebra + bgpd) with the seed's static `network` statement and
  `no bgp ebgp-requires-policy` (the seed's dns-1 configuration);
- ``healthcheck``: ExaBGP running its bundled `python3 -m exabgp healthcheck`
  with its default timings (interval 5 s, fast interval 1 s, rise 3, fall 3,
  MED 1000 on failure) and a `dig` check against the node's named;
- ``healthcheck-withdraw``: the same with `--withdraw-on-down`.

Every node kind offers the same small API on top of `LabNode`:
`start_stack()` / `stop_stack()` (start and stop everything the speaker runs
on the node) and `stack_pids()` (the live processes of the speaker on the node,
for CPU and memory). Node FRR instances keep their sockets and PID files in the
node's run directory (no `/run/frr` entry), so teardown stays the lab's own.
"""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import pwd
import shlex
import signal
import time
from pathlib import Path
from typing import Any

from tests.lab import render
from tests.lab.lab import FRR_BIN, Lab, LabNode, Proc
from tests.lab.system import (
    LabError,
    children,
    cmdline,
    is_watchdog,
    run,
    start_time,
    wait_for,
)
from tests.lab.topology import Node, Topology

KINDS = ("speaker", "frr", "healthcheck", "healthcheck-withdraw")
LABELS = {
    "speaker": "anycast-speaker (defaults)",
    "frr": "FRR static `network` (seed)",
    "healthcheck": "ExaBGP healthcheck (defaults)",
    "healthcheck-withdraw": "ExaBGP healthcheck --withdraw-on-down",
}


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid` (children first, then theirs)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


class SpeakerNode(LabNode):
    """This project: ExaBGP running `python3 -m speaker` (the lab's own node)."""

    kind = "speaker"

    def start_stack(self) -> None:
        self.start_exabgp()

    def stop_stack(self) -> None:
        self.kill_exabgp(signal.SIGTERM)

    def stack_pids(self) -> dict[int, str]:
        """{pid: role} of ExaBGP and everything it runs (the process, its watchdog)."""
        proc = self.lab.procs.get(f"{self.name}/exabgp")
        if proc is None or not proc.alive:
            return {}
        found = {proc.pid: "exabgp"}
        for pid in descendants(proc.pid):
            argv = cmdline(pid)
            role = ("watchdog" if is_watchdog(pid) else
                    "healthcheck" if "healthcheck" in argv else
                    "process" if "-m" in argv else (Path(argv[0]).name if argv else "?"))
            found[pid] = role
        return found


class HealthcheckNode(SpeakerNode):
    """ExaBGP running its bundled healthcheck (defaults) against the node's named."""

    kind = "healthcheck"
    withdraw_on_down = False

    def check_command(self) -> str:
        """Pass only if the node's named answers www.example.com AAAA 2001:db8::1
        (the same answer the speaker's second check expects)."""
        return (f"dig @{self.address} www.example.com AAAA +time=1 +tries=1 +short "
                f"| grep -qx 2001:db8::1")

    def healthcheck_argv(self) -> list[str]:
        argv = ["/usr/bin/python3", "-m", "exabgp", "healthcheck", "--no-syslog",
                "--ip", f"{self.lab.anycast}/128", "--cmd", self.check_command()]
        if self.withdraw_on_down:
            argv.append("--withdraw-on-down")
        return argv

    def write_configs(self, zone_mode: str = "good") -> None:
        super().write_configs(zone_mode)
        wrapper = self.dir / "run-speaker"
        quoted = " ".join(_sh_quote(a) for a in self.healthcheck_argv())
        wrapper.write_text("#!/bin/sh\n"
                           "# Started by ExaBGP (bench): ExaBGP's bundled healthcheck.\n"
                           f"exec {quoted}\n")
        wrapper.chmod(0o755)
        # The healthcheck reads one stdin line per command as its ack: no neighbour
        # events on its stdin, they would be taken for acks.
        text = render.exabgp_conf(self.lab.topo, self.spec, wrapper)
        self.exabgp_conf.write_text(text.replace("        neighbor-changes;\n", ""))

    def stop_stack(self) -> None:
        """SIGTERM, then SIGKILL if ExaBGP is still there 10 s later: ExaBGP 4.2 running
        the healthcheck can stay in "performing shutdown" (2 stops in 30 in one bench
        run); the cold start that follows begins from a stopped stack either way."""
        try:
            self.kill_exabgp(signal.SIGTERM)
        except LabError:
            if self.exabgp.alive:
                self.kill_exabgp(signal.SIGKILL)

    def speaker_pid(self) -> tuple[int, int] | None:
        proc = self.lab.procs.get(f"{self.name}/exabgp")
        if proc is None or not proc.alive:
            return None
        for pid in children(proc.pid):
            if "healthcheck" in cmdline(pid):
                started = start_time(pid)
                if started is not None:
                    return pid, started
        return None


class HealthcheckWithdrawNode(HealthcheckNode):
    kind = "healthcheck-withdraw"
    withdraw_on_down = True


class FrrNode(LabNode):
    """FRR on the node: zebra + bgpd with the seed's static `network` statement."""

    kind = "frr"

    @property
    def frr_dir(self) -> Path:
        return self.dir / "frr"

    def bgpd_conf(self) -> str:
        topo: Topology = self.lab.topo
        node: Node = self.spec
        return "\n".join([
            f"hostname {node.name}",
            "!",
            f"router bgp {node.asn}",
            f" bgp router-id {node.router_id}",
            " no bgp ebgp-requires-policy",
            f" neighbor {topo.router_address} remote-as {topo.router_asn}",
            " !",
            " address-family ipv6 unicast",
            f"  network {topo.anycast}/128",
            f"  neighbor {topo.router_address} activate",
            " exit-address-family",
            "!",
            "",
        ])

    def write_configs(self, zone_mode: str = "good") -> None:
        super().write_configs(zone_mode)
        d = self.frr_dir
        d.mkdir(mode=0o755, exist_ok=True)
        (d / "zebra.conf").write_text(f"hostname {self.name}\n!\n")
        (d / "bgpd.conf").write_text(self.bgpd_conf())
        uid, gid = pwd.getpwnam("frr").pw_uid, grp.getgrnam("frr").gr_gid
        os.chown(d, uid, gid)
        for f in d.iterdir():
            if f.suffix == ".conf":
                f.chmod(0o644)

    def _daemon_argv(self, daemon: str) -> list[str]:
        d = self.frr_dir
        return [str(FRR_BIN / daemon), "-f", str(d / f"{daemon}.conf"),
                "-i", str(d / f"{daemon}.pid"), "-z", str(d / "zserv.api"),
                "--vty_socket", str(d), "--log", "stdout"]

    def start_stack(self) -> None:
        d = self.frr_dir
        for stale in ("zserv.api", "zebra.vty", "bgpd.vty"):
            (d / stale).unlink(missing_ok=True)
        self.lab.spawn(f"{self.name}/zebra", self.ns, self._daemon_argv("zebra"),
                       d / "zebra.log")
        wait_for(lambda: (d / "zserv.api").exists(), 10, what=f"{self.name}: zebra's zserv.api")
        self.lab.spawn(f"{self.name}/bgpd", self.ns, self._daemon_argv("bgpd"), d / "bgpd.log")
        wait_for(lambda: (d / "bgpd.vty").exists(), 10, what=f"{self.name}: bgpd's vty socket")

    def start_exabgp(self) -> Proc:  # Lab.up() starts "the speaker" through this
        self.start_stack()
        return self.lab.procs[f"{self.name}/bgpd"]

    def stop_stack(self) -> None:
        self.dirty = True
        for key in ("bgpd", "zebra"):
            proc = self.lab.procs.get(f"{self.name}/{key}")
            if proc is not None and proc.alive:
                proc.signal(signal.SIGTERM)
                if not proc.wait_gone(10):
                    proc.signal(signal.SIGKILL)
                    proc.wait_gone(5)

    def kill_exabgp(self, sig: int = signal.SIGKILL) -> None:
        self.stop_stack()

    def speaker_pid(self) -> tuple[int, int] | None:
        proc = self.lab.procs.get(f"{self.name}/bgpd")
        return (proc.pid, proc.started) if proc is not None and proc.alive else None

    def stack_pids(self) -> dict[int, str]:
        found = {}
        for key in ("zebra", "bgpd"):
            proc = self.lab.procs.get(f"{self.name}/{key}")
            if proc is not None and proc.alive:
                found[proc.pid] = key
        return found

    def heal(self) -> None:
        """Back to healthy: named answering, address on lo, zebra and bgpd running."""
        self.heal_dns()
        running = all((p := self.lab.procs.get(f"{self.name}/{k}")) is not None and p.alive
                      for k in ("zebra", "bgpd"))
        if not running:
            self.stop_stack()
            self.start_stack()
        self.dirty = False


NODE_CLASSES: dict[str, type[LabNode]] = {
    "speaker": SpeakerNode,
    "frr": FrrNode,
    "healthcheck": HealthcheckNode,
    "healthcheck-withdraw": HealthcheckWithdrawNode,
}


class SpeakerLab(Lab):
    """The lab with every node running the speaker `kind` (one of KINDS)."""

    def __init__(self, kind: str = "speaker", nodes: int = 3, exabgp_version: str = "4.2",
                 **kwargs: Any) -> None:
        if kind not in NODE_CLASSES:
            raise ValueError(f"speaker kind must be one of {', '.join(KINDS)}")
        super().__init__(nodes=nodes, exabgp_version=exabgp_version, process="speaker",
                         **kwargs)
        self.kind = kind
        self.nodes = [NODE_CLASSES[kind](self, n) for n in self.topo.nodes]
        self._gateways: dict[str, str] = {}

    def gateway_names(self) -> dict[str, str]:
        """{gateway address: node name}: unicast addresses and (FRR's next hop of choice
        on a shared segment) the link-local address of each node's eth0."""
        if len(self._gateways) < 2 * len(self.nodes):
            found = {str(n.address): n.name for n in self.nodes}
            for node in self.nodes:
                out = run(["ip", "-n", node.ns, "-6", "-j", "addr", "show", "dev", "eth0",
                           "scope", "link"], check=False).stdout
                for link in json.loads(out or "[]"):
                    for addr in link.get("addr_info", []):
                        if addr.get("local"):
                            found[addr["local"]] = node.name
            self._gateways = found
        return self._gateways

    def present(self, prefix: ipaddress.IPv6Address | None = None) -> frozenset[str]:
        """Names of the nodes that are next hops of `prefix` (default anycast) in the FIB."""
        names = self.gateway_names()
        return frozenset(names.get(h, h) for h in self.router.nexthops(prefix))

    def wait_ecmp(self, count: int | None = None, timeout: float = 30.0) -> float:
        want = {n.name for n in self.nodes} if count is None else None
        t0 = time.monotonic()

        def ok() -> bool:
            hops = self.present()
            return hops == want if want is not None else len(hops) == count

        try:
            wait_for(ok, timeout, interval=0.02,
                     what=f"{count or len(self.nodes)} next hops for {self.anycast}")
        except LabError as exc:
            raise LabError(f"{exc} (now: {sorted(self.present())})") from None
        return time.monotonic() - t0

    def stack_nodes(self) -> list[Any]:
        """The nodes, typed loosely: every one has start_stack/stop_stack/stack_pids."""
        return list(self.nodes)


def _sh_quote(arg: str) -> str:
    return shlex.quote(arg)
