"""The DNS server's own query counter, from BIND's statistics channel (JSON).

Owns polling `statistics-channels` (`/json/v1/server`) in a thread of its
own, so a slow or dead channel never delays a probe, and turning the counter
into a rate. The speaker's own probes reach the same server; their rate is
subtracted, so `client_rate` is what clients still send: after a drain it
falls to about 0, which says it is safe to stop named. Optional: off unless
`dns_statistics` is configured.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


class StatsError(Exception):
    """The statistics channel did not give a query counter."""


def queries(data: Any) -> int:
    """Total queries received, from a BIND `/json/v1/server` document."""
    if not isinstance(data, dict):
        raise StatsError("not a JSON object")
    opcodes = data.get("opcodes")
    if isinstance(opcodes, dict) and isinstance(opcodes.get("QUERY"), int):
        return int(opcodes["QUERY"])
    nsstats = data.get("nsstats")
    if isinstance(nsstats, dict):
        counts = [nsstats.get(k) for k in ("Requestv4", "Requestv6")]
        if any(isinstance(c, int) for c in counts):
            return sum(c for c in counts if isinstance(c, int))
    raise StatsError("no opcodes.QUERY or nsstats.Requestv4/v6 in the document")


@dataclass(frozen=True)
class Snapshot:
    url: str
    queries_total: int | None = None
    rate: float | None = None  # queries per second over the last interval
    probe_rate: float | None = None  # of which the speaker's own probes
    client_rate: float | None = None  # rate - probe_rate, never below 0
    updated: float | None = None  # wall clock of the last good poll
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rates(previous: tuple[float, int, int], current: tuple[float, int, int]
          ) -> tuple[float, float, float]:
    """(rate, probe_rate, client_rate) between two (time, queries, probes) readings."""
    dt = current[0] - previous[0]
    if dt <= 0:
        return 0.0, 0.0, 0.0
    rate = max(0, current[1] - previous[1]) / dt
    probe = max(0, current[2] - previous[2]) / dt
    return rate, probe, max(0.0, rate - probe)


def fetch(url: str, timeout: float) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            body = reply.read(4 * 1024 * 1024)
    except OSError as exc:
        raise StatsError(f"cannot read {url}: {exc}") from None
    try:
        return queries(json.loads(body))
    except ValueError as exc:
        raise StatsError(f"{url} did not return JSON: {exc}") from None


class Poller:
    """Polls `url` every `interval` seconds in a daemon thread."""

    def __init__(self, url: str, interval: float, probes_sent: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.url = url
        self.interval = interval
        self._probes_sent = probes_sent
        self._clock = clock
        self._wall = wall
        self._snapshot = Snapshot(url=url, error="not polled yet")
        self._previous: tuple[float, int, int] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dns-statistics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def poll(self) -> None:
        try:
            total = fetch(self.url, timeout=min(2.0, self.interval))
        except StatsError as exc:
            self._snapshot = Snapshot(url=self.url, error=str(exc),
                                      queries_total=self._snapshot.queries_total,
                                      updated=self._snapshot.updated)
            self._previous = None
            return
        reading = (self._clock(), total, self._probes_sent())
        rate = probe = client = None
        if self._previous is not None:
            rate, probe, client = rates(self._previous, reading)
        self._previous = reading
        self._snapshot = Snapshot(url=self.url, queries_total=total, rate=rate,
                                  probe_rate=probe, client_rate=client, updated=self._wall())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)
