"""The sock_diag netlink messages the speaker reads: requests, replies, destroy events.

Pure: it builds and parses bytes and never opens a socket. `dump_request`
asks the kernel which inet sockets exist; `parse` turns a datagram (a dump
reply or a socket-destroy multicast event) into `Socket`s; `serves` says
whether a socket listens where a check sends its queries, `unread` whether
such sockets hold datagrams their server has not read; `port_filter` is
the classic BPF program that keeps the destroy events of other ports out of
the process. Malformed bytes raise `SockDiagError` naming the problem.
The adapter (speaker.adapters.sockdiag) owns the sockets and the event loop.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from speaker.core.config import IPAddress

# <linux/netlink.h>, <linux/sock_diag.h>, <linux/inet_diag.h>; literals, so that the
# core needs no `socket` module
NETLINK_SOCK_DIAG = 4
SOL_NETLINK = 270
NETLINK_ADD_MEMBERSHIP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
SOCK_DIAG_BY_FAMILY = 20
AF_INET = 2
AF_INET6 = 10
IPPROTO_TCP = 6
IPPROTO_UDP = 17
TCP_CLOSE = 7  # the state of a bound, unconnected UDP socket
TCP_LISTEN = 10
INET_DIAG_PROTOCOL = 10
INET_DIAG_SKV6ONLY = 11
PROTOCOLS = {"udp": IPPROTO_UDP, "tcp": IPPROTO_TCP}
# the states a socket that receives queries is in, per protocol
SERVING_STATE = {IPPROTO_UDP: TCP_CLOSE, IPPROTO_TCP: TCP_LISTEN}
# SKNLGRP_*: the socket-destroy multicast groups, per (family, protocol)
DESTROY_GROUPS = {
    (AF_INET, IPPROTO_TCP): 1,
    (AF_INET, IPPROTO_UDP): 2,
    (AF_INET6, IPPROTO_TCP): 3,
    (AF_INET6, IPPROTO_UDP): 4,
}

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
_MSG = struct.Struct("=BBBB2s2s16s16sIQIIIII")  # inet_diag_msg
_ATTR = struct.Struct("=HH")
_PORT_OFFSET = _HEADER.size + 4  # idiag_sport in an event datagram


class SockDiagError(ValueError):
    """A sock_diag datagram that cannot be read."""


@dataclass(frozen=True)
class Socket:
    """One inet socket as sock_diag reports it."""

    family: int
    protocol: int | None  # from INET_DIAG_PROTOCOL (destroy events); a dump implies it
    state: int
    local: IPAddress
    port: int
    remote: IPAddress
    remote_port: int
    interface: int
    cookie: int  # the kernel's id of the socket: the same in a dump and in its destroy event
    v6only: bool | None = None
    rqueue: int = 0  # bytes received and not yet read by its owner (idiag_rqueue)


@dataclass(frozen=True)
class Batch:
    """What one datagram said: sockets, and whether a dump ended (or failed)."""

    sockets: tuple[Socket, ...]
    done: bool = False
    error: int = 0  # a positive errno when the kernel refused the request


@dataclass(frozen=True)
class Listener:
    """Where a check sends its queries: a server must have a socket receiving there."""

    protocol: str  # "udp" or "tcp"
    address: IPAddress
    port: int

    def describe(self) -> str:
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.protocol} {host}:{self.port}"


def dump_request(family: int, protocol: int, states: int, seq: int) -> bytes:
    """A SOCK_DIAG_BY_FAMILY dump request for every socket of (family, protocol) in `states`."""
    body = (struct.pack("=BBBBI", family, protocol, 0, 0, states) + bytes(4 + 32)
            + struct.pack("=IQ", 0, 0xFFFFFFFFFFFFFFFF))  # id: any port, address, interface
    return _HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY,
                        NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + body


def parse(data: bytes) -> Batch:
    """Every message in one netlink datagram; other message types are skipped."""
    sockets: list[Socket] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise SockDiagError(f"truncated netlink header at byte {offset} "
                                f"({len(data) - offset} bytes left)")
        length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size or offset + length > len(data):
            raise SockDiagError(f"netlink message at byte {offset} claims {length} bytes, "
                                f"{len(data) - offset} left")
        body = data[offset + _HEADER.size:offset + length]
        if kind == NLMSG_DONE:
            return Batch(tuple(sockets), done=True)
        if kind == NLMSG_ERROR:
            if len(body) < 4:
                raise SockDiagError("truncated netlink error message")
            code = -struct.unpack_from("=i", body)[0]
            if code:
                return Batch(tuple(sockets), done=True, error=code)
        elif kind == SOCK_DIAG_BY_FAMILY:
            sockets.append(_socket(body, offset))
        offset += (length + 3) & ~3
    return Batch(tuple(sockets))


def _socket(body: bytes, offset: int) -> Socket:
    if len(body) < _MSG.size:
        raise SockDiagError(f"inet_diag_msg at byte {offset} has {len(body)} bytes, "
                            f"needs {_MSG.size}")
    (family, state, _timer, _retrans, sport, dport, src, dst, interface, cookie,
     _expires, rqueue, *_rest) = _MSG.unpack_from(body)
    if family not in (AF_INET, AF_INET6):
        raise SockDiagError(f"inet_diag_msg at byte {offset}: unknown family {family}")
    attrs = _attributes(body[_MSG.size:], offset)
    protocol = attrs.get(INET_DIAG_PROTOCOL)
    v6only = attrs.get(INET_DIAG_SKV6ONLY)
    return Socket(
        family=family, protocol=protocol[0] if protocol else None, state=state,
        local=_address(family, src), port=int.from_bytes(sport, "big"),
        remote=_address(family, dst), remote_port=int.from_bytes(dport, "big"),
        interface=interface, cookie=cookie, v6only=bool(v6only[0]) if v6only else None,
        rqueue=rqueue)


def _attributes(data: bytes, offset: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    at = 0
    while at + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, at)
        if length < _ATTR.size or at + length > len(data):
            raise SockDiagError(f"attribute at byte {at} of the message at byte {offset} "
                                f"claims {length} bytes")
        found[kind & 0x3FFF] = data[at + _ATTR.size:at + length]
        at += (length + 3) & ~3
    return found


def _address(family: int, raw: bytes) -> IPAddress:
    if family == AF_INET:
        return ipaddress.IPv4Address(raw[:4])
    return ipaddress.IPv6Address(raw)


def serves(sock: Socket, listener: Listener) -> bool:
    """True when `sock` receives what a client sends to `listener`.

    A socket bound to the address, or to the wildcard of its family (an IPv6
    wildcard that is not v6only takes IPv4 too), on the port, in the state
    of a server socket (UDP unconnected, TCP listening).
    """
    protocol = PROTOCOLS[listener.protocol]
    if sock.protocol not in (None, protocol) or sock.port != listener.port:
        return False
    if sock.state != SERVING_STATE[protocol] or sock.remote_port != 0:
        return False
    if sock.local == listener.address:
        return True
    if not sock.local.is_unspecified:
        return False
    if listener.address.version == 4:
        return sock.family == AF_INET or sock.v6only is False
    return sock.family == AF_INET6


Queues = dict[int, int]  # a serving socket's cookie -> bytes waiting in its read queue


def queues(sockets: Iterable[Socket], listener: Listener) -> Queues | None:
    """The read queues of the sockets receiving on `listener`; None if there is none."""
    serving = {s.cookie: s.rqueue for s in sockets if serves(s, listener)}
    return serving or None


def unread(before: Queues | None, after: Queues | None) -> bool | None:
    """From two looks at the server's read queues, before and after the queries of a hang
    confirmation: True if it read nothing meanwhile (no socket holds fewer bytes and
    more are waiting in all: our queries joined the queue, as on a stopped or
    deadlocked server), False if it reads (some socket shrank, or nothing waits: busy
    with a backlog, maybe, but alive), None if no one can tell (a look failed, or the
    sockets changed: a restart). One socket a thread (SO_REUSEPORT): our queries all
    go to one of them, the others may stay empty."""
    if before is None or after is None or before.keys() != after.keys():
        return None
    if any(after[sock] < before[sock] for sock in after):
        return False
    return sum(after.values()) > sum(before.values())


def group(listener: Listener) -> list[int]:
    """The destroy groups that report the end of `listener`'s sockets."""
    protocol = PROTOCOLS[listener.protocol]
    if listener.address.version == 6:
        return [DESTROY_GROUPS[(AF_INET6, protocol)]]
    return [DESTROY_GROUPS[(AF_INET, protocol)], DESTROY_GROUPS[(AF_INET6, protocol)]]


def port_filter(ports: Iterable[int]) -> list[tuple[int, int, int, int]]:
    """A classic BPF program: accept a datagram whose local port is one of `ports`.

    A destroy event is one message per datagram, its local port at a fixed
    offset (network order, as BPF loads it). Every other datagram is dropped
    in the kernel, so a busy resolver's short-lived sockets cost nothing here.
    """
    wanted = sorted(set(ports))
    program = [(0x28, 0, 0, _PORT_OFFSET)]  # ldh [sport]
    for i, port in enumerate(wanted):
        program.append((0x15, len(wanted) - i, 0, port))  # jeq #port -> accept
    program.append((0x06, 0, 0, 0))  # ret #0: drop
    program.append((0x06, 0, 0, 0xFFFFFFFF))  # ret #-1: accept whole
    return program


def pack_filter(program: list[tuple[int, int, int, int]]) -> bytes:
    """The array of `struct sock_filter` the kernel reads for SO_ATTACH_FILTER."""
    return b"".join(struct.pack("=HBBI", *insn) for insn in program)
