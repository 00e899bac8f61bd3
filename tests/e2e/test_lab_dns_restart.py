"""DNS-server restarts through the systemd drain unit lose no query; without it, some.

On a 3-node lab of each server (BIND 9, PowerDNS), node 1's server is
restarted 10 times while the client sends 50 queries/s to the anycast
address: once as systemd restarts it with anycast-speaker-drain@named (or
@pdns) enabled, running the unit's own ExecStop and ExecStart around the
restart (tests/lab/dnsrestart.py), and once as a plain restart. Both counts
of failed queries are printed.
"""

from __future__ import annotations

import time

import pytest

from tests.lab import Lab, summarize
from tests.lab.dnsrestart import SYSTEMD_UNITS, restart, steps

pytestmark = pytest.mark.lab

REPETITIONS = 10
RATE = 50.0


def _restarts(lab: Lab, through_unit: bool,
              duration: float) -> tuple[dict[str, int], float, list[str]]:
    """REPETITIONS restarts of node 1's server, each inside a client stream of `duration`
    seconds (through the unit, until the node is announced again; without it, until the
    server answers again); the summed counts, the longest restart, the failed queries."""
    node = lab.node(1)
    drain = steps(lab.server.name) if through_unit else None
    total = {"sent": 0, "failed": 0}
    longest = 0.0
    failures: list[str] = []
    for n in range(REPETITIONS):
        stream = lab.client.stream(rate=RATE, duration=duration)
        time.sleep(0.5)
        t0 = time.monotonic()
        took = restart(node, drain)  # through the unit: until ExaBGP confirmed the announce
        took["restart"] = time.monotonic() - t0
        # every node announced again (without the unit, flap damping holds node 1 down for
        # 10 s, then 20 s, ... after every third restart: no query fails meanwhile)
        took["announced"] = lab.wait_ecmp(timeout=120)
        longest = max(longest, took["restart"])
        records = stream.wait()
        assert took["restart"] < duration - 1.0, (
            f"a restart took too long to fit in its query stream: "
            f"{ {k: round(v, 2) for k, v in took.items()} }")
        stats = summarize(records)
        total["sent"] += stats["sent"]
        total["failed"] += stats["failed"]
        marks = ", ".join(f"{k} {v:.2f} s" for k, v in took.items())
        failures.extend(f"repetition {n + 1} ({marks}): {r.get('error', r.get('rcode'))} "
                        f"sent {r['t'] - t0:+.2f} s after the restart began"
                        for r in records if not r["ok"])
    return total, longest, failures


def test_restarts_through_the_drain_unit_lose_no_query(dns_lab: Lab) -> None:
    """10 restarts, each drained first (ExecStop) and resumed after (ExecStart): 0 failed
    client queries, and every node announced again after each."""
    total, longest, failures = _restarts(dns_lab, through_unit=True, duration=7.0)
    unit = f"anycast-speaker-drain@{SYSTEMD_UNITS[dns_lab.server.name]}"
    print(f"{dns_lab.server.label}: {REPETITIONS} restarts through {unit}: "
          f"{total['failed']} of {total['sent']} client queries failed "
          f"(longest restart, drain to announced again: {longest:.1f} s)")
    assert total["sent"] >= REPETITIONS * RATE * 6, total
    assert total["failed"] == 0, "\n".join(failures)


def test_restarts_without_the_drain_unit_lose_queries(dns_lab: Lab) -> None:
    """The same 10 restarts without the drain unit: the queries that reach the node while
    its server is down fail (what the unit prevents)."""
    total, longest, _ = _restarts(dns_lab, through_unit=False, duration=4.0)
    print(f"{dns_lab.server.label}: {REPETITIONS} restarts without the drain unit: "
          f"{total['failed']} of {total['sent']} client queries failed "
          f"(longest, stop to answering again: {longest:.1f} s)")
    assert total["failed"] > 0, total
