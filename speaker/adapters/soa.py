"""The `soa` check: is the zone this node serves as fresh as its master's?

Owns `SoaProbe`, a `speaker.ports.Probe`: each round it asks the node's server
and the (hidden) master for the zone's SOA, at once, and hands both to the
pure judgement `speaker.core.freshness.judge`, keeping its state from one round
to the next. Never raises, never logs, never decides about routes: a stale
zone is a failed Outcome when the check's action is `withdraw`, a passing
Outcome with a warning when it is `warn`, and one that also asks for the
degraded state (`degrade`) when it is `degrade`; an unreachable master is always a
warning (the engine logs it, status and metrics show it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from speaker.adapters.dnsquery import exchange
from speaker.core import config
from speaker.core.freshness import Freshness, Soa, judge
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome

__all__ = ["SoaProbe", "ask_soa"]


async def ask_soa(server: str, port: int, zone: str, timeout: float) -> Soa | tuple[str, str]:
    """The zone's SOA as `server` serves it (authoritatively), or (code, reason)."""
    name = dns.name.from_text(zone)
    query = dns.message.make_query(name, dns.rdatatype.SOA)
    query.flags &= ~dns.flags.RD
    response = await exchange(query, server, port, timeout)
    if isinstance(response, tuple):
        return response
    rcode = dns.rcode.to_text(response.rcode())
    if rcode != "NOERROR":
        return "rcode", f"rcode {rcode} for SOA {zone}"
    if not response.flags & dns.flags.AA:
        return "not-authoritative", f"not authoritative for {zone} (AA flag not set)"
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == name and len(rrset):
            rdata = next(iter(rrset))
            return Soa(serial=int(rdata.serial), refresh=int(rdata.refresh),
                       retry=int(rdata.retry))
    return "no-answer", f"no SOA for {zone} in the answer"


Ask = Callable[[str, int, str, float], Awaitable[Soa | tuple[str, str]]]


class SoaProbe:
    """Asks the node and the master for the zone's SOA; judges the lag in time."""

    def __init__(self, check: config.SoaCheck, timeout: float, min_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic, ask: Ask = ask_soa) -> None:
        # `min_timeout` (the adaptive floor) is not used: a zone transfer's lag is judged in
        # minutes, and the master's answer time says nothing about the node's
        self.check = check
        self.timeout = check.timeout or timeout
        self._clock = clock
        self._ask = ask
        self._name = check.describe()
        self.state = Freshness()

    def close(self) -> None:
        return None  # one socket per query: nothing kept open

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        check = self.check
        start = self._clock()
        served, master = await asyncio.gather(
            self._ask(str(check.server), check.port, check.zone, self.timeout),
            self._ask(str(check.master), check.master_port, check.zone, self.timeout))
        now = self._clock()
        latency = now - start
        if not isinstance(served, Soa):
            code, why = served
            return Outcome(ok=False, reason=f"{self._name}: the node: {why}", latency=latency,
                           code=code)
        error = "" if isinstance(master, Soa) else f"{master[1]} from {check.master}"
        j = judge(self.state, check.zone, served, master if isinstance(master, Soa) else None,
                  now, check.max_lag, error)
        self.state = j.state
        withdraw = j.stale and check.action == "withdraw"
        warning = j.warning or (j.reason if j.stale else "")
        return Outcome(ok=not withdraw, reason=f"{self._name}: {j.reason}", latency=latency,
                       code=j.code, warning=warning,
                       degrade=j.stale and check.action == "degrade")
