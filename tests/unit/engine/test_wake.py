"""engine.wake: ExaBGP's `version` written to end its reactor's sleep in a burst, its
answer told apart from the acks of route lines."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from speaker.core.exabgp_api import WAKE, Ack, Text
from speaker.core.routes import Confirmed
from speaker.engine import wake
from speaker.engine.speaker import Speaker
from tests.exabgp_answers import SUMMARY_HEADER
from tests.fakes import Sink
from tests.unit.engine.test_exabgp_batching import all_up, lines, make

VERSION = "exabgp 4.2.21"


def answer_wake(speaker: Speaker) -> None:
    speaker.on_message(Text(VERSION))
    speaker.on_message(Ack(True))


def test_a_burst_all_acked_is_followed_by_one_wake(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, wake.WAKE_AFTER + 1)
        await all_up(speaker)
        assert len(lines(speaker)) == 1  # one line of announces
        speaker.on_message(Ack(True))
        assert lines(speaker) == [WAKE]
        answer_wake(speaker)
        assert not speaker.exabgp.waker.pending
        status = speaker.exabgp.status()
        assert (status["acks_done"], status["acks_unexpected"], status["ignored_lines"]) == (
            2, 0, 0)  # the start-up clear and the announces: the wake's done is not counted
        assert status["wakes"] == 1
    asyncio.run(body())


def test_a_few_prefixes_need_no_wake(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 3)
        await all_up(speaker)
        assert len(lines(speaker)) == 1
        speaker.on_message(Ack(True))
        await asyncio.sleep(3 * wake.STALL)
        assert lines(speaker) == []
        assert speaker.exabgp.status()["wakes"] == 0
    asyncio.run(body())


def test_a_stall_in_flight_wakes_and_the_acks_around_its_answer_stay_in_order(
        tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 3)
        await all_up(speaker)
        speaker.on_message(Ack(True))
        lines(speaker)
        names = list(speaker.runs)
        for name in names[:2]:  # two withdraws in two turns of the loop: two lines in flight
            speaker.server_gone(name, "udp [2001:db8::53]:53: its last listening socket closed")
            await asyncio.sleep(0)
        written = lines(speaker)
        assert len(written) == 2 and WAKE not in written
        await asyncio.sleep(3 * wake.STALL)  # ExaBGP says nothing: asleep
        assert lines(speaker) == [WAKE]  # one wake, not one per STALL
        await asyncio.sleep(3 * wake.STALL)
        assert lines(speaker) == []
        # ExaBGP wakes: it answers the first line, then the wake as it reads it, then the other
        speaker.on_message(Ack(True))
        answer_wake(speaker)
        assert speaker.book.waiting == 1
        speaker.on_message(Ack(True))
        assert speaker.book.waiting == 0
        assert speaker.exabgp.status()["acks_unexpected"] == 0
        assert all(speaker.book.confirmed(speaker.runs[n].service.prefixes[0])
                   is Confirmed.WITHDRAWN for n in names[:2])
    asyncio.run(body())


def test_a_version_line_nobody_asked_for_is_still_garbage(tmp_path: Path) -> None:
    speaker = make(tmp_path, 1)
    speaker.on_message(Text(VERSION))
    assert speaker.exabgp.status()["ignored_lines"] == 1


def test_an_ack_exabgp_never_sends_costs_a_few_wakes_not_one_per_stall(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 1)
        await all_up(speaker)
        assert len(lines(speaker)) == 1  # its ack never comes (4.2 drops it on an exception)
        for _ in range(wake.QUIET):  # ExaBGP is alive: it answers each wake
            await asyncio.sleep(3 * wake.STALL)
            assert lines(speaker) == [WAKE]
            answer_wake(speaker)
        await asyncio.sleep(10 * wake.STALL)
        assert lines(speaker) == []
        assert speaker.exabgp.status()["wakes"] == wake.QUIET
    asyncio.run(body())


def test_lines_written_while_a_wake_waits_are_looked_after_once_it_is_answered(
        tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, wake.WAKE_AFTER + 2)
        await all_up(speaker)
        lines(speaker)
        speaker.on_message(Ack(True))
        assert lines(speaker) == [WAKE]  # the end of the burst
        name = next(iter(speaker.runs))
        speaker.server_gone(name, "udp [2001:db8::53]:53: its last listening socket closed")
        await asyncio.sleep(0)
        assert len(lines(speaker)) == 1  # a withdraw, while the wake waits for its answer
        answer_wake(speaker)
        await asyncio.sleep(3 * wake.STALL)  # no ack for the withdraw: ExaBGP asleep
        assert lines(speaker) == [WAKE]
    asyncio.run(body())


def test_a_closed_pipe_ends_the_wakes(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 1)
        await all_up(speaker)
        sink = speaker.exabgp.sink
        assert isinstance(sink, Sink)
        sink.closed = True
        await asyncio.sleep(3 * wake.STALL)
        waker = speaker.exabgp.waker
        assert waker.written == 0 and waker._timer is None  # no timer left to spin
    asyncio.run(body())


def test_the_wake_answer_inside_a_summary_answer_is_told_apart(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, wake.WAKE_AFTER + 1)
        await all_up(speaker)
        lines(speaker)
        speaker.on_message(Ack(True))
        assert lines(speaker) == [WAKE]
        speaker.exabgp.ask_neighbors()
        speaker.on_message(Text(SUMMARY_HEADER))  # the summary's header, then the wake's answer
        answer_wake(speaker)
        speaker.on_message(Text("192.0.2.1       65101     0:00:10 established |         1"
                                "          0"))
        speaker.on_message(Ack(True))  # the summary's done
        status = speaker.exabgp.status()
        assert not speaker.exabgp.asking and not speaker.exabgp.waker.pending
        assert status["acks_unexpected"] == 0 and status["ignored_lines"] == 0
    asyncio.run(body())


def test_at_rest_no_timer_is_left(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 3)
        await all_up(speaker)
        assert len(lines(speaker)) == 1
        assert speaker.exabgp.waker._timer is not None  # a line in flight: looked at in STALL
        speaker.on_message(Ack(True))
        assert speaker.exabgp.waker._timer is None
        await asyncio.sleep(3 * wake.STALL)
        assert lines(speaker) == []
        assert speaker.exabgp.status()["wakes"] == 0
    asyncio.run(body())



def test_after_a_burst_the_wakes_go_on_while_exabgp_may_still_send_then_stop(
        tmp_path: Path) -> None:
    count = 200  # drain: 200 x DRAIN_PER_PREFIX = 0.06 s of wakes

    async def body() -> list[float]:
        speaker = make(tmp_path, count)
        await all_up(speaker)
        written = lines(speaker)
        assert WAKE not in written
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for _ in written:
            speaker.on_message(Ack(True))
        woken: list[float] = []
        while loop.time() - t0 < 0.3:  # ExaBGP answers every wake at once
            got = lines(speaker)
            assert got in ([], [WAKE]), got  # one in flight at a time
            if got:
                woken.append(loop.time() - t0)
                answer_wake(speaker)
            await asyncio.sleep(0.001)
        assert speaker.exabgp.status()["acks_unexpected"] == 0
        return woken

    woken = asyncio.run(body())
    drain = count * wake.DRAIN_PER_PREFIX
    assert woken[0] < 0.05  # the first with the last ack (200 acks handled first), as before
    assert max(woken) >= drain - 4 * wake.STALL  # on through the drain
    assert max(woken) <= drain + 0.05  # and none well after it (0.3 s watched)
    gaps = [b - a for a, b in itertools.pairwise(woken)]
    assert len(woken) >= 4 and all(g >= wake.STALL * 0.9 for g in gaps), woken  # every STALL


async def burst_acked(tmp_path: Path, count: int) -> Speaker:
    """`count` services announced in one burst, every line of it acked."""
    speaker = make(tmp_path, count)
    await all_up(speaker)
    for _ in lines(speaker):
        speaker.on_message(Ack(True))
    return speaker


def test_a_drain_leaves_the_next_burst_its_looks(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = await burst_acked(tmp_path, 200)
        loop = asyncio.get_running_loop()
        end = loop.time() + 200 * wake.DRAIN_PER_PREFIX + 0.05
        while loop.time() < end:  # the whole drain, every wake answered
            if lines(speaker):
                answer_wake(speaker)
            await asyncio.sleep(0.001)
        lines(speaker)
        name = next(iter(speaker.runs))
        speaker.server_gone(name, "udp [2001:db8::53]:53: its last listening socket closed")
        await asyncio.sleep(0)
        assert len(lines(speaker)) == 1  # the withdraw, in flight, never acked
        looks = 0
        for _ in range(40):  # ExaBGP asleep: it answers the wakes, not the line
            await asyncio.sleep(wake.STALL)
            if lines(speaker) == [WAKE]:
                looks += 1
                answer_wake(speaker)
        assert looks >= 3, looks  # the drain's wakes did not use up QUIET
        assert looks <= wake.QUIET
    asyncio.run(body())


def test_after_a_burst_an_exabgp_that_never_answers_gets_one_wake(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = await burst_acked(tmp_path, 200)
        assert lines(speaker) == [WAKE]
        for _ in range(10):  # the whole drain: no answer, no other wake
            await asyncio.sleep(0.01)
            assert lines(speaker) == []
    asyncio.run(body())
