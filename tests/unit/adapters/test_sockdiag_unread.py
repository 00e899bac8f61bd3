"""The read-queue dump (`speaker.adapters.sockdiag.queues`) on real local sockets: a server
that has not read its queries, one that has, and a port where nothing listens."""

from __future__ import annotations

import ipaddress
import socket

from speaker.adapters import sockdiag
from speaker.core import sockdiag as core
from speaker.core.sockdiag import Listener

LOOP6 = ipaddress.ip_address("::1")
LOOP4 = ipaddress.ip_address("127.0.0.1")


def test_queries_left_in_the_servers_socket_are_unread_until_it_reads_them() -> None:
    for family, address in ((socket.AF_INET6, LOOP6), (socket.AF_INET, LOOP4)):
        with socket.socket(family, socket.SOCK_DGRAM) as server, \
                socket.socket(family, socket.SOCK_DGRAM) as client:
            server.bind((str(address), 0))
            listener = Listener("udp", address, server.getsockname()[1])
            empty = sockdiag.queues(listener)
            assert empty is not None and list(empty.values()) == [0]  # listening, idle
            client.sendto(b"query", (str(address), listener.port))
            first = sockdiag.queues(listener)
            client.sendto(b"query", (str(address), listener.port))
            assert core.unread(first, sockdiag.queues(listener)) is True
            before = sockdiag.queues(listener)
            server.recv(512)
            assert core.unread(before, sockdiag.queues(listener)) is False


def test_nothing_listening_tells_nothing() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    assert sockdiag.queues(Listener("udp", LOOP6, port)) is None
