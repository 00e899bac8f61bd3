"""What the probes with an adaptive timeout share: how long a run waits, and its Outcome.

Owns `Adaptive`, the base of the DNS probe (`speaker.adapters.checks`) and the
HTTP probe (`speaker.adapters.http`): it picks how a run waits from what the
run is for (`speaker.core.rtt.Run`) and the server's measured latency: one ask
with the adaptive timeout, the asks of a hang confirmation spread over its
window, and unless the kernel shows that the server read none of them (a hang:
`_queues` before and after), one more until the ceiling; or one ask with the
ceiling (a probe without late answers confirms so too); it times the subclass's
`_ask(timeout) -> (code, reason)`, feeds answered runs to the estimate and
words the Outcome; and `os_error`, the words every probe uses for a socket
error. Must not send or receive anything itself.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from speaker.core import rtt, sockdiag
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome


class Adaptive:
    """A probe whose `run` times `_ask`; subclasses say what an exchange is."""

    unreached: tuple[str, ...] = ("timeout", "refused", "no-address", "os-error")
    # an answer to an earlier, timed-out ask still reaches a later one (the DNS probe's
    # socket stays open): a hang confirmation may then spread several short asks
    late_answers = False

    def __init__(self, name: str, timeout: float, min_timeout: float | None,
                 clock: Callable[[], float]) -> None:
        self.timeout = timeout  # the ceiling
        self.min_timeout = min_timeout  # None: always the ceiling
        self.rtt = rtt.Rtt()
        self._clock = clock
        self._name = name
        self._silent: float | None = None  # start of the first unanswered run since an answer
        self._unanswered = 0  # queries since then
        self._timeouts = 0  # runs since then

    def current_timeout(self, confirm: Run = Run.FIRST) -> float:
        """How long a run waits in all: adaptive, the hang window, or the ceiling."""
        if self.min_timeout is None or confirm is Run.FULL:
            return self.timeout
        if confirm is Run.CONFIRM:  # backing off after confirmations that timed out
            return rtt.window(self.rtt, self.min_timeout, self.timeout, self._timeouts - 1)
        return rtt.timeout(self.rtt, self.min_timeout, self.timeout)

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        if confirm is Run.CONFIRM and not self.late_answers:
            confirm = Run.FULL  # one ask: a second would not hear the first one's answer
        wait = self.current_timeout(confirm)
        asks = rtt.CONFIRM_PROBES if confirm is Run.CONFIRM else 1
        if wait >= self.timeout:
            asks = 1  # a slow server: the configured timeout, as without the adaptive one
        start = self._clock()
        before = self._queues() if confirm is Run.CONFIRM and wait < self.timeout else None
        sent = 0
        for _ in range(asks):
            sent += 1
            code, reason = await self._ask(wait / asks)
            if code != "timeout":
                break
        hung = False  # the kernel shows our queries unread: a hang, confirmed in the window
        if code == "timeout" and confirm is Run.CONFIRM and wait < self.timeout:
            unread = sockdiag.unread(before, self._queues()) if before is not None else None
            hung = unread is True
            if not hung:  # it reads its queries, or no one can tell: wait the full timeout
                sent += 1
                code, reason = await self._ask(self.timeout - wait)
                if code == "timeout":
                    reason = (f"timeout after {self.timeout:g} s ("
                              + ("the server reads its queries but answers none"
                                 if unread is False else "no hang seen by the kernel") + ")")
        now = self._clock()
        latency = now - start
        if code == "timeout":
            self._silent = start if self._silent is None else self._silent
            self._unanswered += asks
            self._timeouts += 1
            if hung:
                reason = self.unanswered(now - self._silent)
            return Outcome(ok=False, reason=f"{self._name}: {reason}", latency=latency,
                           code=code, queries=sent)
        if code not in self.unreached:  # the server answered
            self.rtt = rtt.sample(self.rtt, latency)
            if self._silent is not None and self._timeouts == 1:  # a stall, bridged
                self.rtt = rtt.stalled(self.rtt, now - self._silent)
        self._silent, self._unanswered, self._timeouts = None, 0, 0
        text = "ok" if code == "ok" else f"{self._name}: {reason}"
        return Outcome(ok=code == "ok", reason=text, latency=latency, code=code,
                       queries=sent)

    async def _ask(self, timeout: float) -> tuple[str, str]:
        raise NotImplementedError

    def _queues(self) -> sockdiag.Queues | None:
        """The read queues of the server's sockets (`speaker.core.sockdiag.queues`), or None
        when no one can tell; two of them, before and after a hang confirmation's asks, say
        whether it reads its queries (`speaker.core.sockdiag.unread`): only "it reads
        nothing" ends the confirmation before the full timeout."""
        return None

    def timed_out(self, timeout: float) -> str:
        """The reason of an ask that timed out after `timeout`."""
        if timeout < self.timeout:
            return (f"timeout after {timeout * 1000:.0f} ms (adaptive; a confirming probe "
                    f"waits up to {self.timeout:g} s)")
        return f"timeout after {timeout:g} s"

    def unanswered(self, silence: float) -> str:
        """The reason of a hang confirmation that timed out."""
        return (f"timeout: hung, {self._unanswered} queries unanswered for "
                f"{silence * 1000:.0f} ms "
                f"(adaptive; it answers in {self.rtt.srtt * 1000:.1f} ms, slowest lately "
                f"{self.rtt.peak * 1000:.1f} ms)")


def os_error(exc: OSError, verb: str = "send") -> tuple[str, str]:
    """(code, reason) for a socket error: no-address when the source address is gone."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no-address", f"cannot {verb}: address not available ({name})"
    return "os-error", f"cannot {verb}: {exc.strerror or exc} ({name})"
