"""rtnetlink on the wire: address messages, and a socket that waits for each answer.

Owns the bytes: splitting datagrams into messages, what an RTM_NEWADDR/
RTM_DELADDR message says (`Change`), encoding requests, and one request
socket (`Rtnl`) for dumps and adds. Knows nothing of interfaces by name,
of the speaker or of health; never removes an address.

The sockets are the standard library's AF_NETLINK sockets, blocking and
usable from any thread; pyroute2 only encodes and decodes the address
messages (`ifaddrmsg`), the part of it that is the same in 0.7 and 0.9. Its
own sockets are not used: 0.9 runs them on asyncio, and its synchronous
IPRoute cannot be created while an event loop runs in the thread.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from speaker.core.config import IPAddress

IFA_F_NODAD = 0x02
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
REPLY_TIMEOUT = 5.0  # a netlink request the kernel has not answered by then has failed
EVENT_BUFFER = 1 << 20  # SO_RCVBUF of an event socket: a burst of 1,000 events fits
RECV_SIZE = 1 << 17  # larger than any datagram the kernel sends (dumps: <= 32 KiB)

NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK, NLM_F_DUMP_INTR = 0x01, 0x02, 0x04, 0x10
NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x200, 0x400, 0x300
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id


# -- messages (pure: bytes in, values out) -------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One netlink message: its header fields and its bytes (header included)."""

    kind: int
    flags: int
    seq: int
    data: bytes

    @property
    def error(self) -> int:
        """The errno of an NLMSG_ERROR message (0: an acknowledgement)."""
        code: int = struct.unpack_from("=i", self.data, HEADER.size)[0]
        return -code


def split(datagram: bytes) -> list[Message]:
    """The netlink messages of one datagram, in order."""
    out, offset = [], 0
    while offset + HEADER.size <= len(datagram):
        length, kind, flags, seq, _ = HEADER.unpack_from(datagram, offset)
        if length < HEADER.size or offset + length > len(datagram):
            raise ValueError(f"netlink message of {length} bytes at offset {offset} "
                             f"does not fit a datagram of {len(datagram)}")
        out.append(Message(kind, flags, seq, bytes(datagram[offset:offset + length])))
        offset += (length + 3) & ~3
    return out


@dataclass(frozen=True)
class Change:
    """What an address message says: `address` on interface `index` is usable or not."""

    index: int
    address: IPAddress
    usable: bool


def change(msg: Message) -> Change | None:
    """The Change an RTM_NEWADDR/RTM_DELADDR message carries (None for other messages).

    A new address is usable once it is no longer tentative (IPv6 duplicate address
    detection still running, or failed): nothing can bind to it before.
    """
    if msg.kind not in (RTM_NEWADDR, RTM_DELADDR):
        return None
    decoded = _ifaddrmsg()(msg.data)
    decoded.decode()
    value = decoded.get_attr("IFA_LOCAL") or decoded.get_attr("IFA_ADDRESS")
    if not value:
        return None
    flags = decoded.get_attr("IFA_FLAGS")
    if flags is None:
        flags = decoded.get("flags", 0)
    usable = msg.kind == RTM_NEWADDR and not flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)
    return Change(int(decoded["index"]), ipaddress.ip_address(value), usable)


def request(kind: int, flags: int, seq: int, fields: dict[str, int],
            attrs: Iterable[tuple[str, Any]] = ()) -> bytes:
    """An address request: pyroute2 encodes the ifaddrmsg body, the header is ours."""
    msg = _ifaddrmsg()()
    for key in ("family", "prefixlen", "flags", "scope", "index"):
        msg[key] = fields.get(key, 0)
    msg["attrs"] = list(attrs)
    msg.encode()
    body = bytes(msg.data)[HEADER.size:]
    return HEADER.pack(HEADER.size + len(body), kind, flags | NLM_F_REQUEST, seq, 0) + body


@functools.cache
def _ifaddrmsg() -> Any:
    """pyroute2's ifaddrmsg class, imported without running pyroute2/__init__.py.

    That file loads every pyroute2 entry point (NDB, IPDB, nftables, tc, and
    in 0.9 asyncio): +10 MB of RSS, +0.15 s of start-up, and under systemd's
    ProcSubset=pid 0.7's tc module warns at import that /proc/net/psched is
    missing. A bare package module with the real __path__ lets Python import
    `pyroute2.netlink.rtnl.ifaddrmsg` alone (same module in 0.7.2-0.9.x). Should
    that fail (another pyroute2 layout), the ordinary import is used.
    """
    import importlib.util
    import sys
    import types

    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is not None and spec.submodule_search_locations:
            package = types.ModuleType("pyroute2")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules["pyroute2"] = package
            try:
                from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg as light

                return light
            except Exception:
                for name in [m for m in sys.modules if m.split(".")[0] == "pyroute2"]:
                    del sys.modules[name]
    import logging

    # The tc module is loaded by pyroute2/__init__.py but never used here; its
    # /proc/net/psched warning (ProcSubset=pid hides /proc/net) says nothing about us.
    logging.getLogger("pyroute2.netlink.rtnl.tcmsg.common").setLevel(logging.ERROR)
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg

    return ifaddrmsg


# -- sockets ----------------------------------------------------------------------------


def connect(groups: int = 0) -> socket.socket:
    """A NETLINK_ROUTE socket, subscribed to the multicast `groups` (0: requests only)."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                         socket.NETLINK_ROUTE)
    try:
        if groups:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, EVENT_BUFFER)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


class Rtnl:
    """One rtnetlink request socket: each request waits for its own answer (thread-safe)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._sock.settimeout(REPLY_TIMEOUT)
        self._lock = threading.Lock()
        self._seq = 0

    def _exchange(self, kind: int, flags: int, fields: dict[str, int],
                  attrs: Iterable[tuple[str, Any]] = ()) -> list[Message]:
        """Send one request; its answer, up to NLMSG_DONE or the acknowledgement."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._sock.send(request(kind, flags, seq, fields, attrs))
            answer: list[Message] = []
            while True:
                for msg in split(self._sock.recv(RECV_SIZE)):
                    if msg.seq != seq:
                        continue  # the late answer of a request that timed out
                    if msg.kind == NLMSG_ERROR:
                        if msg.error:
                            raise OSError(msg.error, os.strerror(msg.error))
                        return answer  # the acknowledgement
                    if msg.kind == NLMSG_DONE:
                        return answer
                    answer.append(msg)
                    if not msg.flags & NLM_F_MULTI and not flags & NLM_F_ACK:
                        return answer

    def dump(self) -> list[Change]:
        """Every address of this network namespace (retried if the kernel interrupted it)."""
        for _ in range(3):
            answer = self._exchange(RTM_GETADDR, NLM_F_DUMP, {})
            if not any(msg.flags & NLM_F_DUMP_INTR for msg in answer):
                break
        return [c for c in map(change, answer) if c is not None]

    def add(self, index: int, address: IPAddress) -> bool:
        """Add `address` as a host prefix; False if it was there already (EEXIST)."""
        nodad = IFA_F_NODAD if address.version == 6 else 0
        fields = {"family": socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                  "prefixlen": address.max_prefixlen, "flags": nodad, "index": index}
        attrs = [("IFA_LOCAL", str(address)), ("IFA_ADDRESS", str(address)),
                 ("IFA_FLAGS", nodad)]
        try:
            self._exchange(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, fields, attrs)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                return False
            raise
        return True

    def close(self) -> None:
        self._sock.close()


