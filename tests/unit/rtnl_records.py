"""Recorded rtnetlink datagrams, and sockets that replay them (for tests/unit/adapters/test_loopback.py).

Recorded from a Linux 6.18 kernel in a throwaway network namespace: `ip link set
lo up`, `ip addr add 2001:db8::53/128 dev lo nodad`, `ip addr add 192.0.2.53/32
dev lo`, a veth pair (index 3 is `va`) with `ip addr add 2001:db8:1::1/64 dev va`
(duplicate address detection on: tentative first, usable ~2 s later), then `ip
addr del` of both lo addresses; every datagram as a multicast listener on
RTMGRP_IPV4_IFADDR|RTMGRP_IPV6_IFADDR received it. The dump and the answers to
two RTM_NEWADDR requests were read on a request socket in the same namespace.
"""

from __future__ import annotations

import socket
import struct
from collections import deque
from collections.abc import Callable

from speaker.adapters.loopback import Netlink

LO = 1  # lo is interface 1 in every network namespace
VA = 3

NEW_V6_LO = bytes.fromhex(  # 2001:db8::53/128 on lo, nodad: usable at once
    "480000001400000000000000000000000a808200010000001400010020010db800000000000000000000005314000600ffffffffffffffff96ab020096ab02000800080082000000")
NEW_V4_LO = bytes.fromhex(  # 192.0.2.53/32 on lo (IFA_LOCAL and IFA_ADDRESS, label "lo")
    "4c0000001400000076aa0e6bf0340000022080000100000008000100c000023508000200c0000235070003006c6f0000080008008000000014000600ffffffffffffffffb5ab0200b5ab0200")
NEW_V6_VA_TENTATIVE = bytes.fromhex(  # 2001:db8:1::1/64 on va, flags permanent|tentative
    "480000001400000000000000000000000a40c000030000001400010020010db800010000000000000000000114000600ffffffffffffffff06ac020006ac020008000800c0000000")
NEW_V6_VA_DAD_DONE = bytes.fromhex(  # the same address once duplicate address detection passed
    "480000001400000000000000000000000a408000030000001400010020010db800010000000000000000000114000600ffffffffffffffff06ac020006ac02000800080080000000")
NEW_V6_LINK_LOCAL = bytes.fromhex(  # fe80::d82b:b3ff:fed0:d5d1/64 on interface 2, one datagram
    "500000001400000000000000000000000a4080fd0200000014000100fe80000000000000d82bb3fffed0d5d114000600ffffffffffffffffd3ab0200d3ab0200080008008000000005000b0003000000")
DEL_V6_LO = bytes.fromhex(
    "480000001500000000000000000000000a808200010000001400010020010db800000000000000000000005314000600ffffffffffffffff96ab020096ab02000800080082000000")
DEL_V4_LO = bytes.fromhex(
    "4c000000150000007baa0e6b1b350000022080000100000008000100c000023508000200c0000235070003006c6f0000080008008000000014000600ffffffffffffffffb5ab0200b5ab0200")

# The answer to an RTM_GETADDR dump (sequence 1): six addresses, then NLMSG_DONE.
DUMP = (
    bytes.fromhex(
        "4c0000001400020001000000de3230de020880fe01000000080001007f000001080002007f000001070003006c6f0000080008008000000014000600ffffffffffffffff78ab020078ab0200"
        "480000001400020001000000de3230de0a808200010000001400010020010db800000000000000000000005314000600ffffffffffffffff82ad020082ad02000800080082000000"
        "500000001400020001000000de3230de0a8080fe01000000140001000000000000000000000000000000000114000600ffffffffffffffff78ab020078ab0200080008008000000005000b0001000000"
        "500000001400020001000000de3230de0a4080fd0200000014000100fe80000000000000d82bb3fffed0d5d114000600ffffffffffffffffd3ab0200d3ab0200080008008000000005000b0003000000"
        "480000001400020001000000de3230de0a408000030000001400010020010db800010000000000000000000114000600ffffffffffffffff06ac020006ac02000800080080000000"
        "500000001400020001000000de3230de0a4080fd0300000014000100fe80000000000000f05055fffe7e5cc114000600ffffffffffffffffd3ab0200d3ab0200080008008000000005000b0003000000"),
    bytes.fromhex("140000000300020001000000de3230de00000000"),
)
# The answers to RTM_NEWADDR 2001:db8::54/128 on lo, sent twice: an ack, then EEXIST.
ACK = bytes.fromhex("240000000200000102000000de3230de0000000048000000140005060200000000000000")
EEXIST = bytes.fromhex(
    "5c0000000200000003000000de3230deefffffff480000001400050603000000000000000a800000010000001400010020010db80000000000000000000000541400020020010db80000000000000000000000540800080002000000")


def with_seq(datagram: bytes, seq: int) -> bytes:
    """A recorded datagram whose messages carry sequence number `seq`."""
    data, offset = bytearray(datagram), 0
    while offset < len(data):
        length = struct.unpack_from("=I", data, offset)[0]
        struct.pack_into("=I", data, offset + 8, seq)
        offset += (length + 3) & ~3
    return bytes(data)


def error(code: int) -> bytes:
    """The kernel's NLMSG_ERROR answer carrying -`code` (the recorded ack's shape)."""
    return ACK[:16] + struct.pack("=i", -code) + ACK[20:]


class Kernel:
    """A netlink request socket: each request is answered by the next scripted datagrams.

    The answers get the request's sequence number unless `keep_seq` (a stale
    answer); with nothing scripted, recv() times out as a silent kernel would.
    """

    def __init__(self, *answers: tuple[bytes, ...], keep_seq: bool = False) -> None:
        self.answers = deque(answers)
        self.keep_seq = keep_seq
        self.sent: list[bytes] = []
        self.pending: deque[bytes] = deque()
        self.closed = False

    def settimeout(self, timeout: float) -> None:
        self.timeout = timeout

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        seq = struct.unpack_from("=I", data, 8)[0]
        if self.answers:
            for datagram in self.answers.popleft():
                self.pending.append(datagram if self.keep_seq else with_seq(datagram, seq))
        return len(data)

    def recv(self, size: int) -> bytes:
        if not self.pending:
            raise TimeoutError("timed out")
        return self.pending.popleft()

    def close(self) -> None:
        self.closed = True


class Events:
    """A multicast event socket: a datagram socket pair, the test holds the sending end.

    `fail` makes the next recv() raise that errno (ENOBUFS: the kernel dropped events).
    """

    def __init__(self) -> None:
        self.mine, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.fail: int | None = None

    def fileno(self) -> int:
        return self.mine.fileno()

    def recv(self, size: int) -> bytes:
        if self.fail is not None:
            code, self.fail = self.fail, None
            self.mine.recv(size)
            raise OSError(code, "scripted")
        return self.mine.recv(size)

    def send(self, *datagrams: bytes) -> None:
        for datagram in datagrams:
            self.theirs.send(datagram)

    def close(self) -> None:
        self.mine.close()
        self.theirs.close()


def open_netlink(kernel: Kernel, events: Events, clock: Callable[[], float]) -> Netlink:
    """A Netlink on scripted sockets, its thread not started (the test calls receive())."""
    return Netlink(clock=clock, open_socket=lambda groups: events if groups else kernel,
                   start=False)  # type: ignore[arg-type, return-value]
