"""The `dnssec` check: are the signatures this node serves about to expire?

Owns `DnssecProbe`, a `speaker.ports.Probe`: each round it asks the node's
server for the zone's SOA and DNSKEY and each configured name, at once, with
the DO bit set (EDNS0, want_dnssec), and hands the answers to the pure
`speaker.core.signatures` with the wall-clock time (RRSIG times are absolute
UNIX times). Never raises, never logs, never decides about routes: a
signature about to expire is a failed Outcome when the check's action is
`withdraw`, a passing Outcome with a warning when it is `warn`. A server that
does not answer fails the check whatever the action (as for the soa check).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import dns.flags
import dns.message
import dns.name
import dns.rdatatype

from speaker.adapters.dnsquery import exchange
from speaker.core import config
from speaker.core.rtt import Run
from speaker.core.signatures import Signed, apex, find, judge, signed
from speaker.core.verdicts import Outcome

__all__ = ["DnssecProbe", "query"]

PAYLOAD = 1232  # the EDNS buffer size of DNS Flag Day 2020: larger answers come over TCP

Ask = Callable[[dns.message.Message, str, int, float],
               Awaitable[dns.message.Message | tuple[str, str]]]


def query(name: str, rdtype: str) -> dns.message.Message:
    """The question for `name`/`rdtype`, DO set, no recursion wanted."""
    q = dns.message.make_query(dns.name.from_text(name), dns.rdatatype.from_text(rdtype),
                               use_edns=0, payload=PAYLOAD, want_dnssec=True)
    q.flags &= ~dns.flags.RD
    return q


class DnssecProbe:
    """Asks the node for the zone's signed answers; judges how long their signatures last."""

    def __init__(self, check: config.DnssecCheck, timeout: float,
                 min_timeout: float | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, ask: Ask = exchange) -> None:
        # `min_timeout` (the adaptive floor) is not used: signatures are judged in hours
        self.check = check
        self.timeout = check.timeout or timeout
        self._clock = clock
        self._wall = wall
        self._ask = ask
        self._name = check.describe()
        self._wanted = (*apex(check.zone), *check.names)

    def close(self) -> None:
        return None  # one socket per query: nothing kept open

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        check = self.check
        start = self._clock()
        responses = await asyncio.gather(*(
            self._ask(query(name, rdtype), str(check.server), check.port, self.timeout)
            for name, rdtype in self._wanted))
        latency = self._clock() - start
        answers: list[Signed] = []
        dnskey = None
        for (name, rdtype), response in zip(self._wanted, responses, strict=True):
            if not isinstance(response, tuple) and rdtype == "DNSKEY" and name == check.zone:
                dnskey = find(response, dns.name.from_text(check.zone), dns.rdatatype.DNSKEY)
        for (name, rdtype), response in zip(self._wanted, responses, strict=True):
            got = response if isinstance(response, tuple) else signed(
                response, name, rdtype, dnskey, check.validate)
            if isinstance(got, tuple):
                code, why = got
                return Outcome(ok=False, reason=f"{self._name}: {why}", latency=latency,
                               code=code)
            answers.append(got)
        j = judge(check.zone, answers, self._wall(), check.min_validity, check.validate)
        warn = not j.ok and check.action == "warn"
        return Outcome(ok=j.ok or warn, reason=f"{self._name}: {j.reason}", latency=latency,
                       code=j.code, warning=j.reason if warn else "", validity=j.remaining)
