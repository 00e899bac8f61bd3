"""The `http` check: one HTTP/1.1 GET over asyncio streams, TLS when the URL is https.

Owns `HttpProbe`, a `speaker.ports.Probe`: each run opens one connection to the
check's address (never a name: see `speaker.core.config.http`), sends the
request of `speaker.core.http_verdicts.request`, reads the status line and
headers and at most BODY_LIMIT bytes of the body, and hands them to the pure
`judge`. Never raises, never logs, never decides about routes; every failure
is an Outcome whose reason names it (`connection refused`, `timeout after
0.25 s`, `TLS: certificate verify failed: ...`, `HTTP 503 (expected 200)`).

No HTTP library: aiohttp and httpx (Debian 12) would add 11-15 MB of memory
and 90-170 ms of imports to a node whose whole budget is 32 MB (README, "why no
HTTP library"); this one request needs only asyncio's streams and ssl. TLS runs
in `speaker.adapters.tls`, and ssl is imported only by an https check (asyncio
is imported without it: `speaker.__main__`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from speaker.adapters.adaptive import Adaptive, os_error
from speaker.core import config
from speaker.core.config.http import BODY_LIMIT
from speaker.core.http_verdicts import (
    HEAD_LIMIT,
    Dechunker,
    Framing,
    Head,
    Malformed,
    framing,
    judge,
    parse_head,
    request,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["HttpProbe", "context", "read_reply"]

READ_SIZE = 16 * 1024


# One TLS context per CA set, shared by the probes (the system's 140-odd CAs take 1 MB per
# context): keyed by verify and ca_file, rebuilt when the file's size or mtime changed.
_CONTEXTS: dict[tuple[bool, Path | None], tuple[tuple[int, int], ssl.SSLContext]] = {}


def context(check: config.HttpCheck) -> ssl.SSLContext:
    """The TLS client context of `check`: verified against `ca_file` (else the system's
    CAs) and `host`, or not verified at all (`verify: false`). Raises OSError or
    ssl.SSLError when `ca_file` cannot be read."""
    import ssl  # here: a node without an https check never loads OpenSSL
    key = (check.verify, check.ca_file)
    stamp = (0, 0)
    if check.ca_file is not None:
        st = os.stat(check.ca_file)
        stamp = (st.st_mtime_ns, st.st_size)
    known = _CONTEXTS.get(key)
    if known is not None and known[0] == stamp:
        return known[1]
    if not check.verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=str(check.ca_file) if check.ca_file else None)
    _CONTEXTS[key] = (stamp, ctx)
    return ctx


class HttpProbe(Adaptive):
    """GETs the check's URL from its address and judges status line and body."""

    unreached = (*Adaptive.unreached, "tls")  # no latency sample from a failed handshake

    def __init__(self, check: config.HttpCheck, timeout: float,
                 min_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(check.describe(), check.timeout or timeout, min_timeout, clock)
        self.check = check
        self._request = request(check)

    def close(self) -> None:
        return None  # one connection per run: nothing kept open

    def _context(self) -> ssl.SSLContext | None:
        if self.check.scheme != "https":
            return None
        return context(self.check)  # kept while the ca_file's stat is the same

    async def _ask(self, timeout: float) -> tuple[str, str]:
        check = self.check
        try:
            tls = self._context()
        except OSError as exc:  # the ca_file (ssl.SSLError is an OSError): tried again next run
            return "tls", f"TLS: cannot load ca_file {check.ca_file}: {exc}"
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(tls)
        except TimeoutError:
            return "timeout", self.timed_out(timeout)
        except Malformed as exc:
            return "malformed", f"malformed response: {exc}"
        except ConnectionRefusedError:
            return "refused", "connection refused (nothing listening on the port)"
        except ConnectionResetError:
            return "refused", "connection reset by the server"
        except OSError as exc:
            return tls_failure(exc) or os_error(exc, "connect")

    async def _exchange(self, tls: ssl.SSLContext | None) -> tuple[str, str]:
        check = self.check
        reader, writer = await asyncio.open_connection(str(check.server), check.port,
                                                       limit=HEAD_LIMIT)
        session = None
        try:
            if tls is None:
                writer.write(self._request)
            else:
                from speaker.adapters import tls as tls_stream

                session, reader = await tls_stream.start(reader, writer, tls, check.host,
                                                         self._request, HEAD_LIMIT)
            head, body, cut = await read_reply(reader, check.method)
            return judge(check, head, body, cut)
        finally:
            if session is not None:
                session.close()
            writer.transport.abort()  # the exchange is over: no lingering close handshake


def tls_failure(exc: OSError) -> tuple[str, str] | None:
    """("tls", reason) when `exc` is ssl's (ssl is loaded by then), else None."""
    ssl = sys.modules.get("ssl")
    if ssl is None or not isinstance(exc, ssl.SSLError):
        return None
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", f"TLS: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "tls", "TLS: the server closed the connection in the handshake"
    what = exc.reason.lower().replace("_", " ") if exc.reason else str(exc)
    return "tls", f"TLS: {what}"


async def read_reply(reader: asyncio.StreamReader, method: str,
                     limit: int = BODY_LIMIT) -> tuple[Head, bytes, bool]:
    """The status line and headers, at most `limit` bytes of the body and whether it was
    cut there; Malformed names what is wrong. The reader's limit is HEAD_LIMIT."""
    try:
        data = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise Malformed("connection closed before the status line") from None
        raise Malformed(f"connection closed after {len(exc.partial)} bytes, before "
                        "the end of the headers") from None
    except asyncio.LimitOverrunError:
        raise Malformed(f"status line and headers longer than {HEAD_LIMIT} bytes") from None
    head = parse_head(data)
    body, cut = await read_body(reader, framing(head, method), limit)
    return head, body, cut


async def read_body(reader: asyncio.StreamReader, how: Framing,
                    limit: int = BODY_LIMIT) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether it was cut there."""
    if how.kind == "length":
        want = min(how.length, limit)
        try:
            return await reader.readexactly(want), how.length > limit
        except asyncio.IncompleteReadError as exc:
            raise Malformed(f"body ended after {len(exc.partial)} of {how.length} bytes "
                            "(Content-Length)") from None
    body = bytearray()
    chunks = Dechunker() if how.kind == "chunked" else None
    while len(body) < limit:
        data = await reader.read(READ_SIZE)
        if not data:
            if chunks is not None:
                raise Malformed("connection closed inside the chunked body")
            return bytes(body), False
        body += chunks.feed(data) if chunks is not None else data
        if chunks is not None and chunks.done:
            return bytes(body[:limit]), len(body) > limit
    return bytes(body[:limit]), True
