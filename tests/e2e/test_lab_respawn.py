"""A respawned speaker leaves ExaBGP with no route it did not decide on (issue 12, problem 2).

One node (Debian's ExaBGP 4.2 or PyPI's 5.0) behind the lab router. Two prefixes
are announced; one is removed from the YAML; the speaker and its watchdog die
together (SIGKILL of their process group, as the OOM killer or a cgroup kill
would). ExaBGP respawns the process: the removed prefix must leave the router
and stay gone, also across a router bgpd restart (ExaBGP re-advertises its
adj-rib-out after a session reset). And a normal start sends the router no
malformed UPDATE (ExaBGP 4.2 sends a withdraw of a prefix it never announced
with path attributes but no NEXT_HOP, which FRR logs as an error).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import TracebackType

import pytest

from tests.lab import Lab, LabNode, wait_for
from tests.lab.lab import FRR_BIN
from tests.lab.system import alive, start_time

from .conftest import keep_logs

pytestmark = pytest.mark.lab

SECOND = ipaddress.IPv6Address("fd00:10:1::101")  # the prefix removed from the YAML
GONE_WITHIN = 3.0  # s from the kill: respawn (~0.1 s), clear, FRR's FIB update
WATCH = 5.0  # s the removed prefix is watched after it left
MALFORMED = ("Missing well-known attribute", "errors in attr")


def two_prefixes(lab: Lab) -> dict[str, object]:
    """speaker.yaml `extra`: the lab's service with a second prefix (address managed)."""
    return {"service": {"prefixes": [f"{lab.anycast}/128", f"{SECOND}/128"],
                        "address": {"interface": "lo", "manage": True}}}


def one_prefix(lab: Lab) -> dict[str, object]:
    return {"service": {"prefixes": [f"{lab.anycast}/128"],
                        "address": {"interface": "lo", "manage": True}}}


class PrefixWatch:
    """Samples the router's FIB every 10 ms in a thread; keeps every change of whether
    `prefix` has any next hop."""

    def __init__(self, lab: Lab, prefix: ipaddress.IPv6Address) -> None:
        self.lab, self.prefix = lab, prefix
        self.changes: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            present = bool(self.lab.router.nexthops(self.prefix))
            if not self.changes or self.changes[-1][1] != present:
                self.changes.append((time.monotonic(), present))
            time.sleep(0.01)

    def __enter__(self) -> PrefixWatch:
        self._thread.start()
        wait_for(lambda: bool(self.changes), 5, what="the first FIB sample")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(2)

    def present(self) -> bool:
        return self.changes[-1][1]

    def gone_at(self, timeout: float) -> float:
        """Wait until the prefix is absent; the time it left (monotonic)."""
        wait_for(lambda: not self.present(), timeout, interval=0.01,
                 what=f"{self.prefix} to leave the router's FIB")
        return self.changes[-1][0]

    def seen_since(self, since: float) -> list[float]:
        """Times the prefix (re)appeared after `since`."""
        return [t for t, present in self.changes if present and t > since]


def bgp_rib(lab: Lab) -> set[str]:
    """Prefixes in the router's BGP table (FRR's RIB, not only its FIB)."""
    data = json.loads(lab.router.vtysh("show bgp ipv6 unicast json"))
    return set(data.get("routes", {}))


def kill_speaker_group(node: LabNode) -> int:
    """SIGKILL the speaker's process group (the speaker and its watchdog, not ExaBGP);
    returns the killed speaker's PID."""
    speaker, dog = node.speaker_pid(), node.watchdog_pid()
    assert speaker is not None and dog is not None, "speaker or watchdog not running"
    pgid = os.getpgid(speaker[0])
    assert pgid == speaker[0], "the speaker leads its own process group (ExaBGP setpgrp)"
    assert os.getpgid(dog[0]) == pgid, "the watchdog shares the speaker's group"
    assert os.getpgid(node.exabgp.pid) != pgid, "ExaBGP is outside the group"
    assert alive(*speaker) and alive(*dog)
    os.killpg(pgid, signal.SIGKILL)
    wait_for(lambda: not alive(*speaker) and not alive(*dog), 5, interval=0.01,
             what="the speaker and its watchdog to die")
    return speaker[0]


def restart_bgpd(lab: Lab) -> None:
    """Stop the router's bgpd (SIGTERM) and start it again with the same config."""
    proc = lab.procs["router/bgpd"]
    proc.signal(signal.SIGTERM)
    assert proc.wait_gone(10), "bgpd did not stop"
    (lab.frr_dir / "bgpd.vty").unlink(missing_ok=True)
    rdir = lab.root / "router"
    lab.spawn("router/bgpd", lab.topo.router_ns,
              [str(FRR_BIN / "bgpd"), "-N", lab.topo.frr_name, "-f", str(rdir / "bgpd.conf"),
               "--log", "stdout"], rdir / "bgpd.log")
    wait_for(lambda: (lab.frr_dir / "bgpd.vty").exists(), 10, what="bgpd's vty socket")


def malformed_lines(lab: Lab) -> list[str]:
    text = (lab.root / "router" / "bgpd.log").read_text(errors="replace")
    return [line for line in text.splitlines() if any(m in line for m in MALFORMED)]


@pytest.fixture(params=["4.2", "5.0"])
def exabgp_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def two(exabgp_version: str) -> Iterator[Lab]:
    """A 1-node lab announcing the anycast prefix and SECOND."""
    lab = Lab(nodes=1, exabgp_version=exabgp_version)
    lab.speaker_extra = two_prefixes(lab)
    try:
        lab.up(wait=True, timeout=30)
        wait_for(lambda: lab.router.nexthops(SECOND), 15, interval=0.05,
                 what=f"{SECOND} at the router")
        yield lab
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        assert lab.down() == []


@pytest.mark.parametrize("reload", [False, True], ids=["no-reload", "reload"])
def test_prefix_removed_from_yaml_leaves_the_router_when_speaker_and_watchdog_die(
        two: Lab, reload: bool) -> None:
    """SECOND removed from the YAML (reloaded or not), then SIGKILL of the speaker's process
    group: SECOND leaves the router within 3 s of the kill and never comes back, watched
    for 5 s and across a bgpd restart; the anycast prefix comes back after rise."""
    lab, node = two, two.node(1)
    node.write_speaker_yaml(extra=one_prefix(lab))
    if reload:
        done = node.ctl("reload")
        assert done.returncode == 0, done.stdout + done.stderr
    with PrefixWatch(lab, SECOND) as second:
        if reload:
            second.gone_at(5)
        t0 = time.monotonic()
        old = kill_speaker_group(node)
        new = node.wait_speaker(timeout=10, other_than=old)
        assert start_time(new) is not None
        left = second.gone_at(GONE_WITHIN + 2) - t0
        assert left < GONE_WITHIN, f"{SECOND} left {left:.2f} s after the kill"
        lab.router.time_until_back(node.address, timeout=15)  # the anycast, after rise
        time.sleep(max(0.0, t0 + left + WATCH - time.monotonic()))
        assert second.seen_since(t0 + left) == [], f"{SECOND} came back: {second.changes}"
        assert f"{SECOND}/128" not in bgp_rib(lab)

        # ExaBGP re-advertises its adj-rib-out to a router that restarts
        t1 = time.monotonic()
        restart_bgpd(lab)
        wait_for(lambda: str(node.address) in lab.router.established(), 20, interval=0.1,
                 what="the BGP session after the bgpd restart")
        lab.router.time_until_back(node.address, timeout=15)
        time.sleep(2.0)  # UPDATEs after the session came up
        assert second.seen_since(t1) == [], f"{SECOND} back after bgpd restart: {second.changes}"
        assert f"{SECOND}/128" not in bgp_rib(lab)
        assert f"{lab.anycast}/128" in bgp_rib(lab)


def test_normal_start_sends_no_malformed_update(exabgp_version: str) -> None:
    """A normal start (and a restart of ExaBGP and the speaker) puts no `Missing well-known
    attribute NEXT_HOP` / `errors in attr` line in the router's log."""
    lab = Lab(nodes=1, exabgp_version=exabgp_version)
    node = lab.node(1)
    try:
        lab.up(wait=True, timeout=30)
        time.sleep(1.0)
        assert malformed_lines(lab) == []
        node.kill_exabgp(signal.SIGTERM)
        lab.router.time_until_gone(node.address, timeout=10)
        node.start_exabgp()
        lab.router.time_until_back(node.address, timeout=20)
        time.sleep(1.0)
        assert malformed_lines(lab) == []
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        assert lab.down() == []
