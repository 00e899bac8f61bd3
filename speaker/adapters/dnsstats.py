"""The DNS server's own query counter: BIND's statistics channel or PowerDNS's API.

Owns polling the server's statistics over HTTP in a thread of its own, so a
slow or dead endpoint never delays a probe, and turning the counter into a
rate. Two kinds of server:

- ``bind``: BIND's `statistics-channels`, ``GET /json/v1/server``, counter
  ``opcodes.QUERY`` (or ``nsstats.Requestv4`` + ``Requestv6``);
- ``powerdns``: the PowerDNS Authoritative webserver/API, ``GET
  /api/v1/servers/localhost/statistics`` with the header ``X-API-Key``,
  counters ``udp-queries`` + ``tcp-queries``. The key is read from a file
  (``api_key_file``) at every poll, so a rotated key needs no restart; the
  file must not be accessible to other users nor writable by its group.

The speaker's own probes reach the same server; their rate is subtracted,
so `client_rate` is what clients still send: after a drain it falls to about
0, which says it is safe to stop the server. Every error names the server,
the URL and, for an HTTP error, the status. Optional: off unless
`dns_statistics` is configured. It never polls anything but the configured URL.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from speaker import logs
from speaker.core.config import DnsStatistics

LOG = logs.get("dnsstats")
KINDS = ("bind", "powerdns")
SERVER = {"bind": "BIND", "powerdns": "PowerDNS"}
MAX_BODY = 4 * 1024 * 1024
KEY_MODE_FORBIDDEN = 0o027  # group write, any access by others


class StatsError(Exception):
    """The statistics endpoint did not give a query counter."""


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


POWERDNS_COUNTERS = ("udp-queries", "tcp-queries")


def powerdns_queries(data: Any) -> int:
    """Total queries received (UDP + TCP), from PowerDNS's `[{name, type, value}]` list."""
    if not isinstance(data, list):
        raise StatsError("not a JSON list of statistics")
    found: dict[str, int] = {}
    for item in data:
        if isinstance(item, dict) and item.get("name") in POWERDNS_COUNTERS:
            value = item.get("value")
            try:
                number = int(value) if isinstance(value, str | int) else -1
            except ValueError:
                number = -1
            if number < 0:
                raise StatsError(f"{item['name']} is not a counter: {value!r}")
            found[str(item["name"])] = number
    if not found:
        raise StatsError("no udp-queries or tcp-queries in the statistics")
    return sum(found.values())


PARSERS: dict[str, Callable[[Any], int]] = {"bind": queries, "powerdns": powerdns_queries}


def read_key(path: Path) -> str:
    """The API key in `path`: one line, the file not open to other users (StatsError)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise StatsError(f"cannot read the API key file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StatsError(f"the API key file {path} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & KEY_MODE_FORBIDDEN:
            raise StatsError(f"the API key file {path} has mode {mode:04o}: other users must "
                             f"have no access and its group no write (chmod 0600 {path}, or "
                             "0640 with the speaker's group)")
        raw = os.read(fd, 4097)
    finally:
        os.close(fd)
    try:
        key = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise StatsError(f"the API key file {path} is not UTF-8 text") from None
    if not key:
        raise StatsError(f"the API key file {path} is empty")
    if len(raw) > 4096 or any(ord(c) < 0x21 or ord(c) == 0x7F for c in key):
        raise StatsError(f"the API key file {path} must hold one key on one line")
    return key


@dataclass(frozen=True)
class Source:
    """Where and how to read the counter."""

    url: str
    kind: str = "bind"
    api_key_file: Path | None = None

    @property
    def server(self) -> str:
        return SERVER.get(self.kind, self.kind)

    def describe(self) -> str:
        return f"{self.server} statistics at {self.url}"


def _http_hint(source: Source, code: int) -> str:
    if source.kind == "powerdns":
        if code in (401, 403):
            return (f" (is the key in {source.api_key_file} PowerDNS's api-key, and "
                    "webserver-allow-from the speaker's address?)")
        if code == 404:
            return (" (is api=yes set in pdns.conf, and the URL "
                    ".../api/v1/servers/localhost/statistics?)")
    elif code == 404:
        return " (is the URL BIND's /json/v1/server?)"
    return ""


def fetch(source: Source | str, timeout: float) -> int:
    """The server's total query counter; StatsError names the server, URL and status."""
    if isinstance(source, str):
        source = Source(url=source)
    headers = {"Accept": "application/json"}
    if source.kind == "powerdns":
        if source.api_key_file is None:
            raise StatsError(f"{source.describe()}: no api_key_file configured")
        headers["X-API-Key"] = read_key(source.api_key_file)
    request = urllib.request.Request(source.url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read(MAX_BODY)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise StatsError(f"{source.describe()}: HTTP {exc.code} {exc.reason}"
                         f"{_http_hint(source, exc.code)}") from None
    except urllib.error.URLError as exc:
        raise StatsError(f"{source.describe()}: cannot connect: {exc.reason}") from None
    except http.client.HTTPException as exc:
        raise StatsError(f"{source.describe()}: bad HTTP reply: "
                         f"{exc.__class__.__name__} {exc}".rstrip()) from None
    except (OSError, ValueError) as exc:  # timeouts, resets; a malformed URL
        raise StatsError(f"{source.describe()}: cannot read: {exc}") from None
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise StatsError(f"{source.describe()}: not JSON: {exc}") from None
    parse = PARSERS.get(source.kind)
    if parse is None:
        raise StatsError(f"{source.describe()}: unknown kind {source.kind!r}")
    try:
        return parse(data)
    except StatsError as exc:
        raise StatsError(f"{source.describe()}: {exc}") from None


@dataclass(frozen=True)
class Snapshot:
    url: str
    server: str = "BIND"  # which server the counters come from: BIND or PowerDNS
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


class Poller:
    """Polls the source every `interval` seconds in a daemon thread."""

    def __init__(self, source: Source | str, interval: float, probes_sent: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.source = Source(url=source) if isinstance(source, str) else source
        self.url = self.source.url
        self.interval = interval
        self._probes_sent = probes_sent
        self._clock = clock
        self._wall = wall
        self._snapshot = Snapshot(url=self.url, server=self.source.server,
                                  error="not polled yet")
        self._previous: tuple[float, int, int] | None = None
        self._logged = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dns-statistics", daemon=True)

    @classmethod
    def from_config(cls, cfg: DnsStatistics, probes_sent: Callable[[], int]) -> Poller:
        """The poller `dns_statistics` describes."""
        source = Source(url=cfg.url, kind=cfg.kind, api_key_file=cfg.api_key_file)
        return cls(source, cfg.interval, probes_sent)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def _failed(self, error: str) -> None:
        self._snapshot = Snapshot(url=self.url, server=self.source.server, error=error,
                                  queries_total=self._snapshot.queries_total,
                                  updated=self._snapshot.updated)
        self._previous = None
        if error != self._logged:  # transitions, not ticks
            self._logged = error
            logs.log(LOG, logging.WARNING, "DNS server statistics unavailable",
                     server=self.source.server, url=self.url, error=error)

    def poll(self) -> None:
        try:
            total = fetch(self.source, timeout=min(2.0, self.interval))
        except StatsError as exc:
            self._failed(str(exc))
            return
        if self._logged:
            self._logged = ""
            logs.log(LOG, logging.INFO, "DNS server statistics available again",
                     server=self.source.server, url=self.url)
        reading = (self._clock(), total, self._probes_sent())
        rate = probe = client = None
        if self._previous is not None:
            rate, probe, client = rates(self._previous, reading)
        self._previous = reading
        self._snapshot = Snapshot(url=self.url, server=self.source.server, queries_total=total,
                                  rate=rate, probe_rate=probe, client_rate=client,
                                  updated=self._wall())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # never let the thread die silently
                self._failed(f"{self.source.describe()}: unexpected error: "
                             f"{exc.__class__.__name__}: {exc}")
            self._stop.wait(self.interval)
