"""The adaptive probe base on a scripted server and clock: how long each kind of run
waits, the hang confirmation's spread queries, its backoff, and what it learns."""

from __future__ import annotations

import asyncio

import pytest

from speaker.adapters.adaptive import Adaptive
from speaker.core import rtt
from speaker.core.rtt import Run

FLOOR, CEILING = 0.02, 0.25


class Scripted(Adaptive):
    """A server that answers each query after `latency` seconds (None: never), on a clock
    that moves only while an ask waits or the test idles. Like the DNS probe's socket, an
    answer to an earlier timed-out query still ends a later ask (unless `late_answers` is
    off); one that comes while no ask waits is lost. Records how long each ask was given.
    `unread`: what the kernel shows of its queries (True: left unread, as by a stopped
    server; None: no one can tell)."""

    late_answers = True
    unread: bool | None = True

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__("dns check", CEILING, FLOOR, lambda: self.now)
        self.latency: float | None = 0.0003
        self.asked: list[float] = []
        self._first: float | None = None  # when the oldest unanswered query was sent
        self._looks = 0

    async def _ask(self, timeout: float) -> tuple[str, str]:
        self.asked.append(timeout)
        if self._first is None or not self.late_answers:
            self._first = self.now
        if self.latency is None or self._first + self.latency > self.now + timeout:
            self.now += timeout
            return "timeout", self.timed_out(timeout)
        self.now = max(self.now, self._first + self.latency)
        self._first = None
        return "ok", "ok"

    def _queues(self) -> dict[int, int] | None:
        """One socket: what the server left unread grows with every look while it reads
        nothing (unread True), is empty while it reads (False), or is unknown (None)."""
        if self.unread is None:
            return None
        self._looks += 1
        return {1: 96 * self._looks if self.unread else 0}

    def idle(self, seconds: float) -> None:
        """The pause between rounds: an answer that comes meanwhile is lost."""
        if self._first is not None and self.latency is not None \
                and self._first + self.latency <= self.now + seconds:
            self._first = None
        self.now += seconds

    def go(self, confirm: Run = Run.FIRST) -> tuple[bool, str]:
        outcome = asyncio.run(self.run(confirm))
        return outcome.ok, outcome.reason


def local() -> Scripted:
    probe = Scripted()
    for _ in range(20):
        assert probe.go()[0]
        probe.idle(0.25)
    return probe


def test_a_hung_server_gets_the_floor_first_then_three_queries_over_the_window() -> None:
    probe = local()
    probe.latency = None
    start = probe.now
    assert not probe.go()[0]
    ok, reason = probe.go(Run.CONFIRM)
    assert not ok and "hung, 4 queries unanswered for 50 ms" in reason, reason
    assert probe.asked[-4:] == pytest.approx([FLOOR, 0.01, 0.01, 0.01])
    assert probe.now - start == pytest.approx(0.05)  # 0.02 + the 0.03 s window


def test_a_late_answer_to_the_first_query_passes_the_confirmation() -> None:
    probe = local()
    probe.latency = 0.045  # later than the floor and than each confirming query's share
    assert not probe.go()[0]
    assert probe.go(Run.CONFIRM)[0]


def test_maybe_busy_waits_the_configured_timeout_in_one_query() -> None:
    probe = local()
    probe.latency = 0.2  # suddenly slow
    assert not probe.go()[0]
    assert probe.go(Run.FULL)[0]
    assert probe.asked[-1] == CEILING


def test_windows_double_after_each_confirmation_that_timed_out_until_the_ceiling() -> None:
    probe = local()
    probe.latency = None
    probe.go()
    windows = []
    for _ in range(5):
        windows.append(probe.current_timeout(Run.CONFIRM))
        probe.go(Run.CONFIRM)
        probe.idle(0.25)
    assert windows == pytest.approx([0.03, 0.06, 0.12, 0.24, CEILING])
    assert probe.asked[-1] == CEILING  # at the ceiling: one query, as without the window


def test_without_the_kernels_word_a_confirmation_waits_the_full_timeout() -> None:
    """No read-queue evidence (a TCP or HTTP check, a server elsewhere): a server that
    turns slow is heard within the configured timeout, never taken for hung."""
    probe = local()
    probe.unread = None
    probe.latency = 0.15
    assert not probe.go()[0]
    assert probe.go(Run.CONFIRM)[0]
    probe = local()
    probe.unread = None
    probe.latency = None
    start = probe.now
    assert not probe.go()[0]
    ok, reason = probe.go(Run.CONFIRM)
    assert probe.now - start == pytest.approx(FLOOR + CEILING)  # the floor, then the ceiling
    assert not ok and reason.endswith("timeout after 0.25 s (no hang seen by the kernel)"), reason


def test_a_slow_server_taken_for_hung_is_heard_again_by_the_backoff() -> None:
    probe = local()
    probe.latency = 0.15  # suddenly 500 times slower, its queries unread meanwhile
    assert not probe.go()[0]
    results = []
    for _ in range(4):
        results.append(probe.go(Run.CONFIRM)[0])
        probe.idle(0.25)
    assert results == [False, False, False, True]  # 30, 60, 120 ms; then 240 ms: answered
    assert probe.current_timeout(Run.CONFIRM) > 0.1  # and learned: rtt.sample(0.15)


def test_a_bridged_stall_lengthens_the_next_window_and_a_confirmed_hang_does_not() -> None:
    bridged = local()
    bridged.latency = 0.025  # silent 20 ms, answered within the confirmation
    bridged.go()
    assert bridged.go(Run.CONFIRM)[0]
    assert bridged.rtt.peak == pytest.approx(0.025)
    bridged.latency = 0.0003
    assert bridged.current_timeout(Run.CONFIRM) >= 0.05  # twice the stall
    hung = local()
    hung.latency = None
    hung.go()
    hung.go(Run.CONFIRM)  # the hang is confirmed
    hung.idle(3.0)
    hung.latency = 0.0003
    assert hung.go(Run.CONFIRM)[0]  # its end is no latency to learn
    assert hung.rtt.peak < 0.001


def test_without_late_answers_a_confirmation_is_one_request_with_the_full_timeout() -> None:
    """The http check, a `transport: tcp` one: a second request would not hear the first
    one's answer, so a server that answers within `timeout` always passes."""
    probe = local()
    probe.late_answers = False
    probe.latency = 0.2  # slow, but within the 0.25 s timeout
    assert not probe.go()[0]
    ok, reason = probe.go(Run.CONFIRM)
    assert ok, reason
    assert probe.asked[-1] == CEILING


def test_a_cold_estimate_confirms_at_the_ceiling() -> None:
    probe = Scripted()
    assert probe.current_timeout(Run.CONFIRM) == CEILING == probe.current_timeout()
    assert rtt.WARMUP > 1


def test_an_outcome_counts_the_queries_its_run_sent() -> None:
    """The DNS statistics subtract our probes from the server's count: every ask counts."""
    probe = local()
    probe.latency = None
    probe.unread = False  # it reads them but answers none: the full timeout after the window
    assert asyncio.run(probe.run()).queries == 1
    assert asyncio.run(probe.run(Run.CONFIRM)).queries == rtt.CONFIRM_PROBES + 1
