"""The read queue sock_diag reports (idiag_rqueue) and what two looks at it say of a server:
whether it read nothing between them (hung) or reads (alive, however slow or busy)."""

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


def test_the_queues_are_those_of_the_sockets_serving_the_listener() -> None:
    wildcard = dumped(2496)[0]  # the wildcard on 5398 has datagrams waiting
    assert sockdiag.queues([wildcard], Listener("udp", LOOP6, 5398)) == {wildcard.cookie: 2496}
    assert sockdiag.queues(dumped(2496), Listener("udp", LOOP6, 53)) is None
    assert sockdiag.queues([], Listener("udp", LOOP6, 5398)) is None


def test_queries_that_joined_a_queue_nothing_read_mean_hung() -> None:
    assert sockdiag.unread({1: 96}, {1: 384}) is True  # the first round's, then 3 more
    # one socket a thread: our queries all go to one, the others stay empty
    assert sockdiag.unread({1: 0, 2: 96, 3: 0}, {1: 0, 2: 384, 3: 0}) is True


def test_a_socket_that_shrank_or_nothing_waiting_means_it_reads() -> None:
    assert sockdiag.unread({1: 0}, {1: 0}) is False  # read at once
    # a busy server with a backlog: one of its sockets was read meanwhile
    assert sockdiag.unread({1: 768, 2: 4096}, {1: 0, 2: 4480}) is False
    assert sockdiag.unread({1: 768, 2: 4096}, {1: 900, 2: 2048}) is False
    assert sockdiag.unread({1: 96}, {1: 96}) is False  # nothing new joined: no evidence


def test_a_failed_look_or_changed_sockets_tell_nothing() -> None:
    assert sockdiag.unread(None, {1: 96}) is None
    assert sockdiag.unread({1: 96}, None) is None
    assert sockdiag.unread({1: 96}, {2: 384}) is None  # restarted between the looks
