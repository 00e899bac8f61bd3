"""The read queue sock_diag reports (idiag_rqueue) and what it says of a server: whether it
left the queries on a listener unread (hung) or read them (alive, however slow)."""

from __future__ import annotations

import ipaddress
import struct

from speaker.core import sockdiag
from speaker.core.sockdiag import Listener, Socket
from tests.unit import sockdiag_records as rec

LOOP6 = ipaddress.ip_address("::1")
RQUEUE_AT = 16 + 56  # nlmsghdr, then inet_diag_msg up to idiag_rqueue


def dumped(rqueue: int) -> list[Socket]:
    data = bytearray(rec.DUMP_UDP6[0])
    data[RQUEUE_AT:RQUEUE_AT + 4] = struct.pack("=I", rqueue)
    return list(sockdiag.parse(bytes(data)).sockets)


def test_a_dump_gives_each_sockets_unread_bytes() -> None:
    assert dumped(2496)[0].rqueue == 2496
    assert all(s.rqueue == 0 for s in sockdiag.parse(rec.DUMP_UDP6[0]).sockets)


def test_unread_bytes_on_a_serving_socket_mean_unread_queries() -> None:
    wildcard = dumped(2496)[0]  # the wildcard on 5398 has datagrams waiting
    assert sockdiag.unread([wildcard], Listener("udp", LOOP6, 5398)) is True
    read = Socket(**{**wildcard.__dict__, "rqueue": 0})
    assert sockdiag.unread([read], Listener("udp", LOOP6, 5398)) is False


def test_no_socket_on_the_listener_tells_nothing() -> None:
    assert sockdiag.unread(dumped(2496), Listener("udp", LOOP6, 53)) is None
    assert sockdiag.unread([], Listener("udp", LOOP6, 5398)) is None
