"""TLS for one client exchange over plain asyncio streams, with ssl's memory BIOs.

The http check's TLS runs here, not in asyncio's TLS transport, so that the
speaker can import asyncio without ssl (`speaker.__main__`): ssl and OpenSSL
cost a node 1.5-2 MB of memory (issue 14), and only a node with an https check
loads them, when that check is built. `Session` wraps a connected
reader/writer pair: `handshake`, `send`, then `plaintext()` is a StreamReader
of what the server sends, fed by a task until the server closes or `close`.

A server that closes the TCP connection without TLS's close_notify ends the
plaintext there (as ssl's `suppress_ragged_eofs` does): the HTTP framing says
whether the body was whole. Errors are ssl's own (ssl.SSLError and
ssl.SSLCertVerificationError, both OSError), raised from the call that met
them, or from the plaintext reader.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Session", "start"]

READ_SIZE = 16 * 1024
T = TypeVar("T")


class Session:
    """The client side of one TLS connection over `reader` and `writer`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 context: ssl.SSLContext, server_hostname: str | None) -> None:
        self._reader = reader
        self._writer = writer
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing,
                                     server_hostname=server_hostname)
        self._feeder: asyncio.Task[None] | None = None

    async def handshake(self) -> None:
        await self._run(self._tls.do_handshake)

    async def send(self, data: bytes) -> None:
        await self._run(lambda: self._tls.write(data))

    def plaintext(self, limit: int) -> asyncio.StreamReader:
        """A reader of the decrypted stream (`limit` as asyncio.StreamReader's)."""
        plain = asyncio.StreamReader(limit=limit)
        self._feeder = asyncio.get_running_loop().create_task(self._feed(plain))
        return plain

    def close(self) -> None:
        """Stops the feeder; the caller aborts the transport."""
        if self._feeder is not None:
            self._feeder.cancel()

    async def _feed(self, plain: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    data = await self._run(lambda: self._tls.read(READ_SIZE))
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    data = b""  # close_notify, or a close without it
                if not data:
                    plain.feed_eof()
                    return
                plain.feed_data(data)
        except OSError as exc:
            plain.set_exception(exc)

    async def _run(self, step: Callable[[], T]) -> T:
        """`step` again until it needs no more from the server; what it wrote goes out."""
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self._flush()
                data = await self._reader.read(READ_SIZE)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            self._writer.write(data)


async def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                context: ssl.SSLContext, server_hostname: str | None, request: bytes,
                limit: int) -> tuple[Session, asyncio.StreamReader]:
    """Handshake, send `request`: the session (to `close`) and the reader of the answer."""
    session = Session(reader, writer, context, server_hostname)
    await session.handshake()
    await session.send(request)
    return session, session.plaintext(limit)
