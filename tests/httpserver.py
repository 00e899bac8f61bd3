"""A scripted HTTP server on loopback, in the test's own event loop: a test helper.

`async with serve(reply) as server:` listens on 127.0.0.1 (or `host`), port
`server.port`, optionally over TLS (`tls=(cert, key)`). For each connection it
reads the request head, keeps it in `server.requests` (and the TLS server name
the client sent in `server.names`), and writes `reply`, raw bytes, as they are:
a test says exactly what goes on the wire. `reply=None` never answers (a hung
server). Only loopback is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Server:
    port: int
    requests: list[bytes] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)


def response(status: int = 200, body: bytes = b"ok\n", reason: str = "OK",
             headers: str = "") -> bytes:
    """A plain response with Content-Length."""
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\n{headers}"
            "Connection: close\r\n\r\n").encode() + body


def chunked(*pieces: bytes, status: int = 200) -> bytes:
    out = f"HTTP/1.1 {status} OK\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    for piece in pieces:
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + b"0\r\n\r\n"


@contextlib.asynccontextmanager
async def serve(reply: bytes | None, tls: tuple[Path, Path] | None = None,
                host: str = "127.0.0.1") -> AsyncIterator[Server]:
    context = None
    names: list[str | None] = []
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,func-returns-value]
    hung: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            writer.close()
            return
        server.requests.append(head)
        if reply is None:
            hung.append(writer)  # never answered; closed when the server stops
            return
        writer.write(reply)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, host, 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    server = Server(port=port, names=names)
    try:
        yield server
    finally:
        for writer in hung:
            writer.transport.abort()
        listener.close()
        await listener.wait_closed()
