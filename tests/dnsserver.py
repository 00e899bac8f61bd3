"""A scripted DNS server on loopback, over UDP and TCP on one port: a test helper.

`DnsServer(handler)` listens on 127.0.0.1 (or `host`) on one port for both
transports and serves in a thread of its own, so it works beside any event
loop and in front of a real process. For each query the handler gets a
`Query` (the parsed message, its transport, its peer) and returns what to do:

- a `dns.message.Message` or raw `bytes`: send it at once;
- `Send(data, delay)`, or a list of them: send each after its delay (late,
  duplicate or stale answers);
- None: stay silent (a hung server; over TCP the connection stays open);
- `CLOSE`: over TCP, close the connection without answering.

`answer(query, ...)` builds the usual authoritative response. Every query is
kept in `queries`, in order. TCP messages carry their two-byte length, as in
RFC 1035 4.2.2; several queries may share a connection. `close` stops the
thread and closes every socket. Only loopback addresses are used.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rrset


@dataclass(frozen=True)
class Query:
    message: dns.message.Message
    transport: str  # "udp" or "tcp"
    peer: Any  # the client's address (UDP: where answers go)


@dataclass(frozen=True)
class Send:
    data: bytes | dns.message.Message
    delay: float = 0.0


CLOSE = object()  # TCP: hang up without answering
Reply = bytes | dns.message.Message | Send | Sequence[Send] | object | None
Handler = Callable[[Query], Reply]


def answer(query: Query | dns.message.Message, rdtype: str = "AAAA",
           rdata: Sequence[str] = ("2001:db8::1",), *, rcode: int = dns.rcode.NOERROR,
           aa: bool = True, tc: bool = False) -> dns.message.Message:
    """The response to `query`: `rdata` records of `rdtype` for its name, flags as asked."""
    message = query.message if isinstance(query, Query) else query
    response = dns.message.make_response(message)
    if aa:
        response.flags |= dns.flags.AA
    if tc:
        response.flags |= dns.flags.TC
    response.set_rcode(rcode)
    if rdata and rcode == dns.rcode.NOERROR:
        response.answer.append(dns.rrset.from_text_list(
            message.question[0].name, 300, "IN", rdtype, list(rdata)))
    return response


def _quietly(send: Callable[[bytes], None], wire: bytes) -> None:
    """Send, ignoring a client that went away (it gave up waiting: that is its test)."""
    with contextlib.suppress(OSError):
        send(wire)


def _wire(data: bytes | dns.message.Message) -> bytes:
    return data if isinstance(data, bytes) else data.to_wire()


@dataclass
class _Connection:
    sock: socket.socket
    peer: Any
    buffer: bytearray = field(default_factory=bytearray)


class DnsServer:
    """UDP and TCP on one loopback port, answered by `handler` in a thread."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.host = host
        self.queries: list[Query] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._udp, self._tcp = self._bind(family)
        self.port = int(self._udp.getsockname()[1])
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._udp, selectors.EVENT_READ, self._datagram)
        self._selector.register(self._tcp, selectors.EVENT_READ, self._accept)
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._connections: dict[socket.socket, _Connection] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="test-dns-server", daemon=True)
        self._thread.start()

    def _bind(self, family: int) -> tuple[socket.socket, socket.socket]:
        """A UDP and a TCP socket on the same free port (a few tries: ports are shared)."""
        for _ in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, 0))
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, udp.getsockname()[1]))
            except OSError:
                udp.close()
                tcp.close()
                continue
            tcp.listen(16)
            return udp, tcp
        raise OSError("no free port for both UDP and TCP")

    def __enter__(self) -> DnsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the thread ------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stopping:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                heapq.heappop(self._timers)[2]()
            timeout = max(0.0, self._timers[0][0] - now) if self._timers else None
            for key, _ in self._selector.select(timeout):
                if key.data is not None:
                    key.data(key.fileobj)

    def _datagram(self, sock: socket.socket) -> None:
        data, peer = sock.recvfrom(65535)
        self._handle(Query(dns.message.from_wire(data), "udp", peer),
                     lambda wire: sock.sendto(wire, peer), lambda: None)

    def _accept(self, sock: socket.socket) -> None:
        conn, peer = sock.accept()
        self._connections[conn] = _Connection(conn, peer)
        self._selector.register(conn, selectors.EVENT_READ, self._stream)

    def _stream(self, sock: socket.socket) -> None:
        conn = self._connections[sock]
        try:
            chunk = sock.recv(65535)
        except OSError:
            chunk = b""
        if not chunk:
            self._hang_up(sock)
            return
        conn.buffer += chunk
        while len(conn.buffer) >= 2:
            size = int.from_bytes(conn.buffer[:2], "big")
            if len(conn.buffer) < 2 + size:
                return
            data, conn.buffer = bytes(conn.buffer[2:2 + size]), conn.buffer[2 + size:]

            def send(wire: bytes, sock: socket.socket = sock) -> None:
                if sock in self._connections:
                    sock.sendall(len(wire).to_bytes(2, "big") + wire)

            self._handle(Query(dns.message.from_wire(data), "tcp", conn.peer), send,
                         lambda sock=sock: self._hang_up(sock))  # type: ignore[misc]

    def _hang_up(self, sock: socket.socket) -> None:
        if self._connections.pop(sock, None) is not None:
            self._selector.unregister(sock)
            sock.close()

    def _handle(self, query: Query, send: Callable[[bytes], None],
                hang_up: Callable[[], None]) -> None:
        self.queries.append(query)
        reply = self.handler(query)
        if reply is None:
            return
        if reply is CLOSE:
            hang_up()
            return
        if isinstance(reply, bytes | dns.message.Message):
            reply = Send(reply)
        sends = [reply] if isinstance(reply, Send) else list(reply)  # type: ignore[arg-type]
        for item in sends:
            wire = _wire(item.data)
            if item.delay <= 0:
                _quietly(send, wire)
            else:
                heapq.heappush(self._timers, (time.monotonic() + item.delay, next(self._order),
                                              lambda wire=wire: _quietly(send, wire)))  # type: ignore[misc]

    # -- stopping --------------------------------------------------------------------

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for sock in list(self._connections):
            self._hang_up(sock)
        self._selector.close()
        for sock in (self._udp, self._tcp):
            sock.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
