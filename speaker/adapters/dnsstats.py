"""The DNS server's own query counter: BIND's statistics channel or PowerDNS's API.

Owns polling the server's statistics over HTTP, in a task of its own with a
timeout of its own, so a slow or dead endpoint never delays a probe, and
turning the counter into a rate. Two kinds of server:

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

One GET over asyncio's streams, read by `speaker.adapters.http.read_reply` (the
http check's reader): urllib, http.client and email, with a thread to run them
in, cost 1.3 MB of the node's memory (issue 14).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speaker import logs
from speaker.adapters.http import read_reply, tls_failure
from speaker.core.config import DnsStatistics
from speaker.core.http_verdicts import HEAD_LIMIT, USER_AGENT, Malformed

if TYPE_CHECKING:
    from speaker.adapters.tls import Session

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


async def _tls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str,
               message: bytes) -> tuple[Session, asyncio.StreamReader]:
    """An https URL: verified against the system's CAs and the URL's host."""
    import ssl  # here: only an https URL loads OpenSSL

    from speaker.adapters import tls

    return await tls.start(reader, writer, ssl.create_default_context(), host, message,
                           HEAD_LIMIT)


def request(source: Source) -> bytes:
    """The GET of `source`'s URL (StatsError for a bad API key file: nothing is sent)."""
    url = urllib.parse.urlsplit(source.url)
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {url.netloc}", f"User-Agent: {USER_AGENT}",
             "Accept: application/json", "Connection: close"]
    if source.kind == "powerdns":
        if source.api_key_file is None:
            raise StatsError(f"{source.describe()}: no api_key_file configured")
        lines.append(f"X-API-Key: {read_key(source.api_key_file)}")  # one printable token
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def fetch(source: Source | str, timeout: float) -> int:
    """The server's total query counter; StatsError names the server, URL and status."""
    if isinstance(source, str):
        source = Source(url=source)
    url = urllib.parse.urlsplit(source.url)
    try:
        message = request(source)
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError as exc:  # a bad port, a path or key that is not latin-1
        raise StatsError(f"{source.describe()}: bad URL or key: {exc}") from None
    host = urllib.parse.unquote(url.hostname or "")  # [fe80::1%25eth0]: the zone
    phase = "connect"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=HEAD_LIMIT)
            session = None
            try:
                if url.scheme == "https":
                    session, reader = await _tls(reader, writer, host, message)
                else:
                    writer.write(message)
                phase = "read"
                head, body, cut = await read_reply(reader, "GET", MAX_BODY)
            finally:
                if session is not None:
                    session.close()
                writer.transport.abort()
    except TimeoutError:
        raise StatsError(f"{source.describe()}: no answer within {timeout:g} s "
                         f"({'connecting' if phase == 'connect' else 'reading'})") from None
    except Malformed as exc:
        raise StatsError(f"{source.describe()}: bad HTTP reply: {exc}") from None
    except (OSError, ValueError) as exc:  # refused, reset, TLS; a name that is not ASCII
        failure = tls_failure(exc) if isinstance(exc, OSError) else None
        what = failure[1] if failure else str(exc)
        raise StatsError(f"{source.describe()}: cannot {phase}: {what}") from None
    if head.status != 200:
        reason = f" {head.reason}" if head.reason else ""
        raise StatsError(f"{source.describe()}: HTTP {head.status}{reason}"
                         f"{_http_hint(source, head.status)}")
    if cut:
        raise StatsError(f"{source.describe()}: the document is larger than "
                         f"{MAX_BODY // (1024 * 1024)} MB")
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
    """Polls the source every `interval` seconds in a task of its own on the loop."""

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
        self._stopped = False
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, cfg: DnsStatistics, probes_sent: Callable[[], int]) -> Poller:
        """The poller `dns_statistics` describes."""
        source = Source(url=cfg.url, kind=cfg.kind, api_key_file=cfg.api_key_file)
        return cls(source, cfg.interval, probes_sent)

    def start(self) -> None:
        """On the loop: polls until `stop`."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dns-statistics")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """Never silent: a poll that ended by itself says so (health checking goes on)."""
        if task.cancelled() or self._stopped:
            return
        error = task.exception()
        logs.log(LOG, logging.ERROR, "DNS server statistics stopped; health checking goes on "
                 "without them", server=self.source.server, url=self.url,
                 error=repr(error) if error else "it returned")
        self._snapshot = Snapshot(url=self.url, server=self.source.server,
                                  error=f"polling stopped: {error!r}")

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

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

    async def poll(self) -> None:
        try:
            total = await fetch(self.source, timeout=min(2.0, self.interval))
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

    async def _run(self) -> None:
        while not self._stopped:
            try:
                await self.poll()
            except Exception as exc:  # never let the task die silently
                self._failed(f"{self.source.describe()}: unexpected error: "
                             f"{exc.__class__.__name__}: {exc}")
            if not self._stopped:
                await asyncio.sleep(self.interval)
