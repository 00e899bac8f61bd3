"""A slow but alive DNS server in the lab: the hang confirmation must not withdraw it.

A stand-in server (tests.lab.slowdns) on dns1's unicast address, port 5300,
reads every query at once and answers it after 30-200 ms; the speaker on dns1
gets a second service `slow` (its own /128, one dns check against it) beside
the lab's `dns`. The router's FIB is watched every 10 ms for that prefix:
- slow from the start: the speaker learns its latency and its hang window is
  the full timeout: never withdrawn over the whole interval;
- fast (sub-ms), then suddenly 30-200 ms with no sign of load: the hang
  window (50 ms) is far too short for it, but the server reads every query
  (sock_diag shows its socket's read queue empty), so the confirmation waits
  the full timeout: never withdrawn either.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.lab import render
from tests.lab.lab import REPO, Lab, LabNode, Proc
from tests.lab.topology import GUEST_NET

from .fib import FibWatch

pytestmark = pytest.mark.lab

SLOW = GUEST_NET[0x300]  # the slow service's prefix, inside the range the router accepts
PORT = 5300
WATCHED = 20.0  # seconds the FIB is watched while the server is slow


def slow_service(node: LabNode) -> dict[str, object]:
    return {
        "name": "slow",
        "prefixes": [f"{SLOW}/128"],
        "address": {"interface": "lo", "check": False},
        "checks": [{"type": "dns", "server": str(node.address), "port": PORT,
                    "qname": "example.com.", "qtype": "SOA"}],
    }


@contextmanager
def serving(lab: Lab, fast: bool) -> Iterator[tuple[LabNode, Proc]]:
    """dns1 with the stand-in server (answering at once at first if `fast`) and the `slow`
    service; the lab's own config again afterwards."""
    node = lab.node(1)
    argv = ["/usr/bin/python3", "-m", "tests.lab.slowdns", "--address", str(node.address),
            "--port", str(PORT), *(["--fast"] if fast else [])]
    server = lab.spawn(f"{node.name}/slowdns", node.ns, argv, node.dir / "slowdns.log",
                       cwd=REPO)
    try:
        node.write_speaker_yaml(render.speaker_yaml(
            lab.topo, node.spec, node.socket, node.state_dir, statistics=node.statistics,
            more_services=[slow_service(node)]))
        node.kill_exabgp(signal.SIGTERM)
        node.start_exabgp()
        yield node, server
    finally:
        server.signal(signal.SIGTERM)
        server.wait_gone()
        node.write_speaker_yaml()  # heal() restarts the speaker on the lab's own config


def test_a_server_slow_from_the_start_is_never_withdrawn(lab: Lab) -> None:
    """Answers in 30-200 ms from the start: announced, then never withdrawn over 20 s."""
    with serving(lab, fast=False) as (node, _), \
            FibWatch(lab, node.address, prefix=str(SLOW)) as fib:
        up = fib.wait(True, time.monotonic(), 20)
        t0 = time.monotonic()
        time.sleep(WATCHED)
        t1 = time.monotonic()
        stayed = fib.steady(True, t0, t1)
        state = next(s for s in node.status()["services"] if s["name"] == "slow")["state"]
        downs = [line for line in node.log_text().splitlines()
                 if "service down" in line and "service=slow" in line]
    print(f"slow from the start: announced after {up:.2f} s; FIB changes {fib.changes}")
    assert stayed, f"a slow but alive server was withdrawn: {fib.changes}"
    assert state == "up" and not downs, (state, downs)


def test_a_server_that_turns_slow_but_reads_its_queries_is_never_withdrawn(lab: Lab) -> None:
    """Fast (sub-ms), then 30-200 ms with no sign of load: never withdrawn over 20 s."""
    with serving(lab, fast=True) as (node, server), \
            FibWatch(lab, node.address, prefix=str(SLOW)) as fib:
        fib.wait(True, time.monotonic(), 20)
        time.sleep(3.0)  # the speaker learns a local server's latency
        t0 = time.monotonic()
        server.signal(signal.SIGUSR1)  # now slow
        time.sleep(WATCHED)
        t1 = time.monotonic()
        stayed = fib.steady(True, t0, t1)
    print(f"turned slow: FIB changes {[(round(t - t0, 2), p) for t, p in fib.changes]}")
    assert stayed, f"a server that turned slow was withdrawn: {fib.changes}"
