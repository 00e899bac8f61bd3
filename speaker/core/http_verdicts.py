"""HTTP/1.1 on the wire, and the `http` check's verdict on a response. Pure.

Owns the request a check sends (`request`), reading a response's status line
and headers (`parse_head`), how its body is delimited (`framing`), decoding a
chunked body as it arrives (`Dechunker`), and the verdict on status and body
(`judge`). A response that breaks HTTP/1.1 raises `Malformed`, whose message is
the reason an operator reads. Must not open a socket, read a clock or log: the
probe in `speaker.adapters.http` does the I/O and calls these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from speaker.core.config import HttpCheck

HEAD_LIMIT = 16 * 1024  # bytes of status line and headers, at most
STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: (.*))?")
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
USER_AGENT = "anycast-speaker"


class Malformed(ValueError):
    """The response is not HTTP/1.1 as a client can read it; the message says where."""


@dataclass(frozen=True)
class Head:
    """A response's status line and header fields (names lower-cased, in order)."""

    status: int
    reason: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    minor: int = 1  # HTTP/1.minor

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n == name]


@dataclass(frozen=True)
class Framing:
    """How the body ends: after `length` bytes, at the last chunk, or when the server closes."""

    kind: str  # "length", "chunked" or "close"
    length: int = 0


def request(check: HttpCheck) -> bytes:
    """The whole request: one exchange per connection (Connection: close)."""
    return (f"{check.method} {check.target} HTTP/1.1\r\n"
            f"Host: {check.host_header}\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n\r\n").encode("ascii")


def _show(text: str, most: int = 60) -> str:
    return repr(text if len(text) <= most else text[:most] + "...")


def parse_head(data: bytes) -> Head:
    """The status line and headers in `data` (up to and with the empty line)."""
    text = data.decode("latin-1")
    if text.endswith("\r\n\r\n"):
        text = text[:-4]
    lines = text.split("\r\n")
    match = STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise Malformed(f"not an HTTP/1.x status line: {_show(lines[0])}")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            raise Malformed(f"obsolete line folding in the headers: {_show(line)}")
        name, colon, value = line.partition(":")
        if not colon or not TOKEN.fullmatch(name):
            raise Malformed(f"bad header line: {_show(line)}")
        if "\n" in value or "\r" in value or "\0" in value:
            raise Malformed(f"bad character in header {name}")
        headers.append((name.lower(), value.strip(" \t")))
    return Head(status=int(match[2]), reason=match[3] or "", headers=tuple(headers),
                minor=int(match[1]))


def framing(head: Head, method: str) -> Framing:
    """How the body of `head` is delimited (RFC 9112 section 6.3), for a `method` request."""
    if method == "HEAD" or head.status < 200 or head.status in (204, 304):
        return Framing("length", 0)
    codings = [c.strip().lower() for v in head.values("transfer-encoding") for c in v.split(",")]
    if codings:
        return Framing("chunked") if codings[-1] == "chunked" else Framing("close")
    lengths = {v.strip() for raw in head.values("content-length") for v in raw.split(",")}
    if not lengths:
        return Framing("close")
    if len(lengths) > 1:
        raise Malformed(f"conflicting Content-Length values: {', '.join(sorted(lengths))}")
    length = lengths.pop()
    if not length.isdigit() or not length.isascii() or len(length) > 18:
        raise Malformed(f"bad Content-Length: {_show(length)}")
    return Framing("length", int(length))


class Dechunker:
    """Decodes a chunked body fed in pieces; `done` after the last chunk and its trailers."""

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # bytes of chunk data still to come
        self._state = "size"  # size, data, crlf, trailer, done

    @property
    def done(self) -> bool:
        return self._state == "done"

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data`; raises Malformed on a bad chunk."""
        self._buffer += data
        out = bytearray()
        while self._state != "done":
            if self._state == "data":
                if not self._buffer:
                    break
                piece = self._buffer[:self._left]
                out += piece
                self._buffer = self._buffer[len(piece):]
                self._left -= len(piece)
                if self._left == 0:
                    self._state = "crlf"
                continue
            if self._state == "crlf":
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise Malformed("chunk data not followed by CRLF")
                self._buffer = self._buffer[2:]
                self._state = "size"
                continue
            line, found, rest = self._buffer.partition(b"\r\n")
            if not found:
                if len(self._buffer) > 1024:
                    raise Malformed("chunk line longer than 1024 bytes")
                break
            self._buffer = rest
            if self._state == "trailer":
                if not line:
                    self._state = "done"
                continue
            self._size(line)
        return bytes(out)

    def _size(self, line: bytes) -> None:
        size = line.split(b";", 1)[0].strip(b" \t")
        if not size or len(size) > 16 or not all(c in b"0123456789abcdefABCDEF" for c in size):
            raise Malformed(f"bad chunk size line: {_show(line.decode('latin-1'))}")
        self._left = int(size, 16)
        self._state = "data" if self._left else "trailer"


def expected(status: tuple[int, ...]) -> str:
    if len(status) == 1:
        return str(status[0])
    if len(status) == 2:
        return f"{status[0]} or {status[1]}"
    return "one of " + ", ".join(map(str, status))


def judge(check: HttpCheck, head: Head, body: bytes, cut: bool = False) -> tuple[str, str]:
    """(code, reason) for a response: 'ok' when its status and body are what the check
    expects. `body` is the start of the body, `cut` says it was cut at BODY_LIMIT."""
    if head.status not in check.status:
        return "status", f"HTTP {head.status} (expected {expected(check.status)})"
    if check.body is not None and check.body.encode() not in body:
        where = f" in its first {len(body)} bytes" if cut else ""
        return "body", f"body does not contain {check.body!r}{where}"
    return "ok", "ok"
