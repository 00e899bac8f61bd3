"""The `recursive` check: does this node's resolver still resolve, through its upstream?

Owns `RecursiveProbe`, a `speaker.ports.Probe`: each round it asks the resolver
(RD set; AD too with `require_ad`) for the check's `qname` and for a fresh name
made from its `uncached` template, at once, and hands each response to the pure
`speaker.core.recursion.judge`, then `combine`. Owns `Labels`, the source of
the fresh labels (random per process, a counter within it: never the same
twice). Never raises, never logs, never decides about routes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from speaker.adapters.dnsquery import exchange
from speaker.core import config, recursion
from speaker.core.config.recursive import LABEL_MAX, fill
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome

__all__ = ["Labels", "RecursiveProbe"]

Reply = dns.message.Message | tuple[str, str]  # the response, or (code, reason)
Ask = Callable[[dns.message.Message, str, int, float], Awaitable[Reply]]


class Labels:
    """Fresh labels: a random part made once per process, then a counter (hex)."""

    def __init__(self, token: Callable[[int], str] = secrets.token_hex) -> None:
        self._base = token(4)  # 8 hex digits: another process (a restart) starts elsewhere
        self._count = 0

    def next(self) -> str:
        self._count += 1
        label = f"{self._base}-{self._count:x}"
        return label[-LABEL_MAX:]


class RecursiveProbe:
    """Asks the resolver for the cached name and a fresh one; both must resolve."""

    def __init__(self, check: config.RecursiveCheck, timeout: float,
                 min_timeout: float | None = None, clock: Callable[[], float] = time.monotonic,
                 ask: Ask = exchange, labels: Labels | None = None) -> None:
        # `min_timeout` (the adaptive floor) is not used: a fresh name's answer time is the
        # upstream's, which varies name by name; a cached one says nothing about it
        self.check = check
        self.timeout = check.timeout or timeout
        self._clock = clock
        self._ask = ask
        self._labels = labels or Labels()
        self._name = check.describe()
        self._rdtype = dns.rdatatype.from_text(check.qtype)
        self.last: list[recursion.Asked] = []  # the names of the last round and their verdicts

    def close(self) -> None:
        return None  # one socket per query: nothing kept open

    def names(self) -> list[tuple[str, bool]]:
        """This round's names: (name, fresh), the cached one first."""
        check = self.check
        out = [(check.qname, False)] if check.qname else []
        if check.uncached:
            out.append((fill(check.uncached, self._labels.next()), True))
        return out

    async def _one(self, name: str, fresh: bool) -> recursion.Asked:
        check = self.check
        query = dns.message.make_query(dns.name.from_text(name), self._rdtype, use_edns=0)
        query.flags |= dns.flags.RD
        if check.require_ad:
            query.flags |= dns.flags.AD  # RFC 6840 5.7: ask for the AD bit
        reply = await self._ask(query, str(check.server), check.port, self.timeout)
        if isinstance(reply, tuple):
            code, why = reply
            return recursion.Asked(name, fresh, code, f"{why} for {name} {check.qtype}")
        code, why = recursion.judge(reply, name, check.qtype, fresh=fresh,
                                    require_ad=check.require_ad,
                                    answers=() if fresh else check.answers)
        return recursion.Asked(name, fresh, code, why, reply.rcode())

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        start = self._clock()
        asked = list(await asyncio.gather(*(self._one(n, f) for n, f in self.names())))
        latency = self._clock() - start
        self.last = asked
        code, why = recursion.combine(asked)
        text = "ok" if code == "ok" else f"{self._name}: {why}"
        return Outcome(ok=code == "ok", reason=text, latency=latency, code=code)
