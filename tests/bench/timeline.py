"""Timestamps of one event at each hop, from the logs of a lab run.

- the speaker's log (stderr, in the node's exabgp.log): the probe verdict
  (`service down` / `service maintenance`, written just before the command
  goes to stdout in the same synchronous call: Speaker.update -> apply ->
  flush -> write) and ExaBGP's ack of the command (`withdrawn`);
- the router's bgpd log, with `debug bgp updates in` and millisecond
  timestamps switched on by `enable_router_debug`: the UPDATE as it arrived.

All times are wall-clock epoch seconds (the speaker logs UTC, FRR local time).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.lab.lab import Lab
from tests.lab.system import run

SPEAKER_LINE = re.compile(r"^speaker: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\w+) (.*)$")
FRR_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) BGP: (?:\[[^\]]*\])*\s*(.*)$")


def enable_router_debug(lab: Lab) -> None:
    """Millisecond timestamps and one log line per received UPDATE prefix on the router."""
    run(["vtysh", "-N", lab.topo.frr_name, "-c", "configure terminal",
         "-c", "log timestamp precision 3", "-c", "end", "-c", "debug bgp updates in"],
        check=False)


@dataclass(frozen=True)
class SpeakerEvent:
    t: float
    level: str
    message: str


def speaker_events(log: Path, since: float) -> list[SpeakerEvent]:
    events = []
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    for line in text.splitlines():
        m = SPEAKER_LINE.match(line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC).timestamp()
        if t >= since:
            events.append(SpeakerEvent(t, m.group(2), m.group(3)))
    return events


def first(events: list[SpeakerEvent], startswith: str, after: float = 0.0) -> float | None:
    return next((e.t for e in events if e.t >= after and e.message.startswith(startswith)), None)


def count(events: list[SpeakerEvent], startswith: str) -> int:
    return sum(1 for e in events if e.message.startswith(startswith))


def last(events: list[SpeakerEvent], startswith: str) -> float | None:
    found = [e.t for e in events if e.message.startswith(startswith)]
    return max(found) if found else None


def router_updates(lab: Lab, since: float, peer: str, prefix: str,
                   withdrawn: bool = True) -> list[float]:
    """Arrival times at the router of UPDATEs from `peer` about `prefix`."""
    path = lab.root / "router" / "bgpd.log"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        if peer not in line or prefix not in line or "rcvd" not in line:
            continue
        if withdrawn != ("withdrawn" in line):
            continue
        m = FRR_LINE.match(line)
        if not m:
            continue
        t = time.mktime(time.strptime(m.group(1).split(".")[0], "%Y/%m/%d %H:%M:%S"))
        t += float("0." + m.group(1).split(".")[1])
        if t >= since - 0.001:
            found.append(t)
    return found
