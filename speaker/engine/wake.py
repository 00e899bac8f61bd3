"""Keeping ExaBGP's reactor awake while it owes us routes.

ExaBGP's reactor works through at most 50 queued route steps a loop (its
`asynchronous.LIMIT`: one step per prefix of a line). A loop in which the
peer had nothing left of its last batch of UPDATEs, and no line came from us,
sleeps reactor.speed / 100 s (0.2 s with exabgp/exabgp.env) before the peer
picks up what the later steps queued, even with routes waiting. A burst of many
prefixes (1,000 services down at once) waited a whole sleep at a time, once or
twice per burst (measured at reactor speed 10: the last 100 withdraws reached
the router 0.100 s after the others).

Any line from us ends such a sleep. `Waker` writes ExaBGP's `version` command
(exabgp_api.WAKE) when lines are in flight and no ack came for STALL seconds,
and, once a burst of more than WAKE_AFTER prefixes is all acked, every STALL
for DRAIN_PER_PREFIX s a prefix (at most DRAIN_MAX): the peer sends the
adj-rib-out in batches, and a batch that ends with more queued since it began
also sleeps a whole reactor period (seen with strace: 546 of 1,000 withdraws
sent, then poll(200) with 454 waiting). ExaBGP answers `version` as it
reads it, before the acks of the lines it still works on, so its answer is
known by its content ("exabgp 4.2.21", then `done`), never counted as the ack
of a route line. One is in flight at a time. After its answer the looks go on
while lines are in flight, for QUIET wakes in a row without a route ack (a
line of 100 prefixes takes ExaBGP three loops, and several may wait); then
they wait for a route line to be written or acked: an ack ExaBGP never sends
(4.2 drops it when a route callback raises) costs QUIET wakes over about
0.03 s, not one per STALL for ever (within a drain, the drain's end bounds them:
at most DRAIN_MAX s). A closed pipe ends the wakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from speaker.core import exabgp_api
from speaker.ports import ChannelClosed, Clock, Sink

# s without an ack, lines in flight: ExaBGP's loops take 1-3 ms each in a burst (1,000
# withdrawn, 6-8 runs: 0.22-0.34 s at 5 ms, 0.22-0.28 s at 3 ms)
STALL = 0.003
WAKE_AFTER = 40  # prefixes in a burst: fewer are all taken, and sent, in the loop that reads them
QUIET = 10  # wakes in a row without a route ack, then none until a route line is written or acked
# after a burst all acked, ExaBGP still sends its UPDATEs: about 0.1 ms each when it is awake
DRAIN_PER_PREFIX = 0.0003  # s of wakes per prefix of the burst: 1,000 prefixes, 0.3 s
DRAIN_MAX = 1.0  # s


class Waker:
    def __init__(self, sink: Sink, in_flight: Callable[[], bool],
                 clock: Clock = time.monotonic) -> None:  # the loop's clock: its timers
        self.sink = sink
        self.clock = clock
        self.in_flight = in_flight
        self.written = 0  # wakes written, for status
        self._pending = False  # a wake is written and its answer not read
        self._answering = False  # its text line came: the next `done` is its
        self._burst = 0  # prefixes written since nothing was in flight
        self._last = 0.0  # the last write or ack
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False  # the pipe to ExaBGP is closed: no more wakes
        self._quiet = 0  # wakes since the last route ack
        self._drain_until = 0.0  # wake every STALL until then: ExaBGP sends a burst's UPDATEs

    @property
    def pending(self) -> bool:
        """A wake is written and its answer not read yet."""
        return self._pending

    def sent(self, prefixes: int) -> None:
        """A line of `prefixes` route commands was written."""
        self._burst += prefixes
        self._last = self.clock()
        self._quiet = min(self._quiet, QUIET - 1)  # a new line: looked after once more at least
        self._arm()

    def acked(self) -> None:
        """A route line was acked."""
        self._last = self.clock()
        self._quiet = 0
        if not self.in_flight():
            burst, self._burst = self._burst, 0
            self._stop()
            if burst > WAKE_AFTER:
                self._drain_until = max(self._drain_until,
                                        self._last + min(DRAIN_MAX, burst * DRAIN_PER_PREFIX))
                self._wake(counted=False)
            elif not self._pending and self._last < self._drain_until:
                self._later(self._drain)  # a small line within a drain: the drain goes on
        else:
            self._arm()

    def text(self, line: str) -> bool:
        """True if `line` is the answer to our wake (the `done` that follows is its)."""
        if (self._pending and not self._answering
                and line.split(" ", 1)[0] == exabgp_api.WAKE_ANSWER):
            self._answering = True
            return True
        return False

    def ack(self) -> bool:
        """True if this `done` is our wake's."""
        if not self._answering:
            return False
        self._answering = self._pending = False
        if self._quiet < QUIET:  # lines written meanwhile, or a line ExaBGP still works on
            self._last = self.clock()
            self._arm()
        if self._timer is None and self.clock() < self._drain_until:
            self._later(self._drain)
        return True

    def _arm(self) -> None:
        """Look again in STALL s, while lines are in flight and no wake is (a hung ExaBGP
        answers neither: one wake, then no more timers until it answers)."""
        if self._timer is None and not self._pending and not self._closed and self.in_flight():
            self._later(self._check)

    def _later(self, then: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # no loop: an engine driven by hand
            self._timer = asyncio.get_running_loop().call_later(STALL, then)

    def _drain(self) -> None:
        """After a burst: wake again while ExaBGP may still be sending its UPDATEs."""
        self._timer = None
        if self.in_flight():
            self._check()  # lines again: looked after as such
        elif self.clock() < self._drain_until:
            self._wake(counted=False)

    def _check(self) -> None:
        self._timer = None
        if not self.in_flight():
            return
        if self.clock() - self._last >= STALL:
            self._wake()  # then no timer until its answer (see `ack`)
        else:
            self._arm()

    def _wake(self, counted: bool = True) -> None:
        """Write a wake; `counted` ones (lines in flight) count towards QUIET, a drain's
        do not (bounded by its time, and the next burst keeps its looks)."""
        if self._pending or self._closed:
            return
        try:
            self.sink.write(exabgp_api.WAKE)
        except ChannelClosed:
            self._closed = True  # the next route line says so
            return
        self._pending = True
        self._quiet += counted
        self.written += 1

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
