"""Helpers of the fault matrix (tests/e2e/fault_matrix/): rows, bounds and injections.

Owns the table rows (`record`, printed by tests/e2e/conftest.py), the bound on
failed client queries every row asserts, and the faults that need more than a
signal: a node cut off without a FIN (its port on the router's bridge down), a
restart of the router's bgpd, a node's ExaBGP with another hold time. Every
injection acts only on the lab's own namespaces and processes, by PID, and
puts the lab back when it ends (the next test's reset() checks full ECMP).
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from tests.lab import Lab, LabNode, render, wait_for
from tests.lab.system import run

from .conftest import FAULT_RESULTS

# Bounds on failed client queries (every row also asserts its times). Rows whose fault
# leaves named answering (speaker, ExaBGP, reload) measured 0 and allow 3 (a loaded
# machine). A DNS fault loses dns1's third of the queries until the withdraw: at 50 q/s
# that is 25 within the 1.5 s withdraw bound (measured 0-8 of 250), 35 for a hung named,
# whose last queries also wait out their 0.5 s timeout (measured 14).
DNS_FAILED = 25
HUNG_FAILED = 35


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def record(fault: str, withdraw: float | None, recover: float | None,
           stats: dict[str, Any] | None, note: str = "") -> None:
    failed = "-" if stats is None else f"{stats['failed']}/{stats['sent']}"
    FAULT_RESULTS.append({"fault": fault, "withdraw": _fmt(withdraw), "recover": _fmt(recover),
                          "failed": failed, "note": note})
    print(f"{fault}: withdraw {_fmt(withdraw)}, recover {_fmt(recover)}, failed {failed} "
          f"{note}")


def assert_failed_at_most(stats: dict[str, Any], bound: int, why: str) -> None:
    """The row's bound on failed client queries (`why`: what it is derived from)."""
    assert stats["failed"] <= bound, (
        f"{stats['failed']} of {stats['sent']} client queries failed, bound {bound} ({why})")


def service(node: LabNode, name: str = "dns") -> dict[str, Any]:
    for entry in node.status()["services"]:
        if entry["name"] == name:
            return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no service {name} in the status of {node.name}")


def use_exabgp(lab: Lab, node: LabNode, version: str) -> None:
    """Run `version` of ExaBGP on `node` (the lab runs 4.2); back in the FIB when done."""
    if version == lab.exabgp_version:
        return
    node.kill_exabgp(signal.SIGTERM)
    node.start_exabgp_version(version)
    lab.router.time_until_back(node.address, timeout=15)


def log_since(node: LabNode, mark: int) -> str:
    return node.log_text()[mark:]


# -- network faults ------------------------------------------------------------------------


def set_port(lab: Lab, node: LabNode, up: bool) -> None:
    """The node's veth port on the router's bridge, up or down (the node's eth0 loses
    carrier: nothing is sent either way, no FIN, no RST)."""
    run(["ip", "-n", lab.topo.router_ns, "link", "set", node.spec.port,
         "up" if up else "down"])


@contextlib.contextmanager
def port_down(lab: Lab, node: LabNode) -> Iterator[None]:
    """The node cut off while the block runs; its port is up again however it ends."""
    node.dirty = True  # heal() restarts its ExaBGP: no test inherits the reset session
    set_port(lab, node, up=False)
    try:
        yield
    finally:
        set_port(lab, node, up=True)


def negotiated_timers(lab: Lab, node: LabNode) -> tuple[float, float]:
    """(hold time, keepalive interval) in seconds the router uses with `node`."""
    data = json.loads(lab.router.vtysh(f"show bgp neighbors {node.address} json"))
    peer = data.get(str(node.address), {})
    return (peer.get("bgpTimerHoldTimeMsecs", 0) / 1000,
            peer.get("bgpTimerKeepAliveIntervalMsecs", 0) / 1000)


@contextlib.contextmanager
def hold_time(lab: Lab, node: LabNode, seconds: int) -> Iterator[None]:
    """`node`'s ExaBGP restarted with `hold-time seconds` (if it is not the lab's), and
    with the lab's own config again afterwards (heal() restarts it)."""
    if seconds == render.HOLD_TIME:
        yield
        return
    wrapper = node.dir / "run-speaker"
    try:
        node.exabgp_conf.write_text(render.exabgp_conf(lab.topo, node.spec, wrapper, seconds))
        node.kill_exabgp(signal.SIGTERM)
        node.start_exabgp()
        lab.router.time_until_back(node.address, timeout=15)
        yield
    finally:
        node.exabgp_conf.write_text(render.exabgp_conf(lab.topo, node.spec, wrapper))
        node.dirty = True


def restart_bgpd(lab: Lab) -> float:
    """SIGTERM the router's bgpd, wait until it is gone, start it again with the same
    command line; returns the monotonic time of the new start."""
    old = lab.procs["router/bgpd"]
    if not old.signal(signal.SIGTERM) or not old.wait_gone(15):
        raise AssertionError(f"bgpd (PID {old.pid}) did not stop on SIGTERM")
    vty = lab.frr_dir / "bgpd.vty"
    vty.unlink(missing_ok=True)  # so that the wait below sees the new bgpd's
    started = time.monotonic()
    lab.spawn("router/bgpd", lab.topo.router_ns, old.argv, lab.root / "router" / "bgpd.log")
    wait_for(vty.exists, 10, what="bgpd's vty socket")
    return started


class RoundCounter:
    """Counts a service's passing and failing probe rounds from its status, sampled every
    50 ms straight from the control socket (rounds are >= 0.1 s apart)."""

    def __init__(self, node: LabNode, name: str = "dns") -> None:
        from speaker.cli.client import Target

        self.target = Target(node.socket, "test", node.config)
        self.name = name
        self.failed = self.passed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> tuple[int, int]:
        from speaker.cli.client import call

        for entry in call(self.target, "status")["services"]:
            if entry["name"] == self.name:
                return int(entry["passes"]), int(entry["fails"])
        raise AssertionError(f"no service {self.name}")

    def _run(self) -> None:
        passes, fails = self._sample()
        while not self._stop.wait(0.05):
            new_passes, new_fails = self._sample()
            self.passed += new_passes - passes if new_passes >= passes else new_passes
            self.failed += new_fails - fails if new_fails >= fails else new_fails
            passes, fails = new_passes, new_fails

    def __enter__(self) -> RoundCounter:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(2)
