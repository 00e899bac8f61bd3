"""What the probes with an adaptive timeout share: the timeout of a run and its Outcome.

Owns `Adaptive`, the base of the DNS probe (`speaker.adapters.checks`) and the
HTTP probe (`speaker.adapters.http`): it picks a run's timeout (adaptive, from
the server's measured latency, `speaker.core.rtt`, or the ceiling when the run
confirms a failure), times the subclass's `_ask(timeout) -> (code, reason)`,
feeds the latency of an answered run to the estimate and words the Outcome;
and `os_error`, the words every probe uses for a socket error. Must not send or
receive anything itself.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from speaker.core import rtt
from speaker.core.verdicts import Outcome


class Adaptive:
    """A probe whose `run` times `_ask`; subclasses say what an exchange is."""

    unreached: tuple[str, ...] = ("timeout", "refused", "no-address", "os-error")

    def __init__(self, name: str, timeout: float, min_timeout: float | None,
                 clock: Callable[[], float]) -> None:
        self.timeout = timeout  # the ceiling
        self.min_timeout = min_timeout  # None: always the ceiling
        self.rtt = rtt.Rtt()
        self._clock = clock
        self._name = name

    def current_timeout(self, confirm: bool = False) -> float:
        """The timeout of a run: adaptive, or the ceiling when it confirms a failure."""
        if self.min_timeout is None or confirm:
            return self.timeout
        return rtt.timeout(self.rtt, self.min_timeout, self.timeout)

    async def run(self, confirm: bool = False) -> Outcome:
        timeout = self.current_timeout(confirm)
        start = self._clock()
        code, reason = await self._ask(timeout)
        latency = self._clock() - start
        if code not in self.unreached:  # the server answered
            self.rtt = rtt.sample(self.rtt, latency)
        text = "ok" if code == "ok" else f"{self._name}: {reason}"
        return Outcome(ok=code == "ok", reason=text, latency=latency, code=code)

    async def _ask(self, timeout: float) -> tuple[str, str]:
        raise NotImplementedError

    def timed_out(self, timeout: float) -> str:
        """The reason of a run that timed out after `timeout`."""
        if timeout < self.timeout:
            return (f"timeout after {timeout * 1000:.0f} ms (adaptive; the confirming probe "
                    f"waits {self.timeout:g} s)")
        return f"timeout after {timeout:g} s"


def os_error(exc: OSError, verb: str = "send") -> tuple[str, str]:
    """(code, reason) for a socket error: no-address when the source address is gone."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no-address", f"cannot {verb}: address not available ({name})"
    return "os-error", f"cannot {verb}: {exc.strerror or exc} ({name})"
