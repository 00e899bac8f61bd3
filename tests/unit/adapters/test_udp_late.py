"""The DNS probe's UDP socket and late answers: an answer to a timed-out query answers the
query that waits (or the next one, soon), never a query long after; silence closes it."""

from __future__ import annotations

import asyncio
import socket

import pytest

from speaker.adapters.checks import UdpSocket

Q1, Q2 = b"\x00\x01rest-of-query", b"\x00\x02rest-of-query"


async def pair() -> tuple[UdpSocket, socket.socket]:
    """A UdpSocket connected to a local socket that plays the server (answers by hand)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    return UdpSocket(socket.AF_INET, server.getsockname()), server


def test_a_late_answer_to_a_timed_out_query_answers_the_next_one_with_its_id() -> None:
    async def go() -> bytes:
        udp, server = await pair()
        try:
            with pytest.raises(TimeoutError):
                await udp.exchange(Q1, 0.005)
            _, client = server.recvfrom(512)
            waiting = asyncio.ensure_future(udp.exchange(Q2, 1.0))
            await asyncio.sleep(0)  # Q2 is sent and waits
            server.sendto(b"\x00\x01answer", client)  # the answer to Q1, late
            return await waiting
        finally:
            udp.close()
            server.close()

    assert asyncio.run(go()) == b"\x00\x02answer"


def test_a_late_answer_that_came_between_queries_counts_only_soon_after() -> None:
    async def go() -> tuple[bytes, bool]:
        udp, server = await pair()
        try:
            with pytest.raises(TimeoutError):
                await udp.exchange(Q1, 0.005)
            loop = asyncio.get_running_loop()
            udp._early = (b"\x00\x01answer", loop.time())  # came while nothing waited
            fresh = await udp.exchange(Q2, 0.05)
            udp._early = (b"\x00\x01answer", loop.time() - 0.1)  # not just now
            try:
                await udp.exchange(Q2, 0.005)
                stale_used = True
            except TimeoutError:
                stale_used = False
            return fresh, stale_used
        finally:
            udp.close()
            server.close()

    fresh, stale_used = asyncio.run(go())
    assert fresh == b"\x00\x02answer" and not stale_used


def test_late_timeouts_in_a_row_close_the_socket_and_forget_the_ids() -> None:
    async def go() -> tuple[bool, bool]:
        udp, server = await pair()
        try:
            for n in range(UdpSocket.LATE - 1):
                with pytest.raises(TimeoutError):
                    await udp.exchange(bytes([0, n]) + b"q", 0.001)
            still_open = udp._sock is not None
            with pytest.raises(TimeoutError):
                await udp.exchange(b"\x00\xffq", 0.001)
            return still_open, udp._sock is None and not udp._late
        finally:
            udp.close()
            server.close()

    assert asyncio.run(go()) == (True, True)
