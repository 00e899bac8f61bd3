"""One probe round of a service: the anycast address check, then its checks.

Owns turning a service's probes and its anycast addresses into one health
`Result`, asking the overload peers whether they answer, putting back a
managed address that went missing, and counting the probes sent. Must not
change a service's state or routes: the speaker folds the result in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from speaker import logs
from speaker.core import config, rtt
from speaker.core.health import Result
from speaker.core.overload import Load
from speaker.core.verdicts import Outcome
from speaker.engine import fanout
from speaker.engine.runs import ServiceRun
from speaker.ports import (
    AddressError,
    Addresses,
    NullRecorder,
    Probe,
    ProbeFactory,
    Recorder,
)

LOG = logs.get("speaker")


class Prober:
    def __init__(self, addresses: Addresses | None) -> None:
        self.addresses = addresses  # None: netlink unavailable
        self.recorder: Recorder = NullRecorder()
        self.groups = fanout.ProbeGroups()  # identical checks of services share a probe
        self._alone = 0  # queries of probes not shared
        # the last passing outcome of a lone check and its Result (frozen, and the same
        # whichever service passed with it): the services of a shared probe reuse it
        self._passed: tuple[Outcome | None, Result] = (None, Result(True, ""))

    @property
    def sent(self) -> int:
        """Probes sent since the start (the DNS server counts them too)."""
        return self._alone + self.groups.sent

    def probes(self, factory: ProbeFactory, service: config.Service) -> list[Probe]:
        """The service's own probes, shared with the services that have the same checks."""
        floor = rtt.floor(service.timing)  # adaptive timeouts for the service's own checks
        return [self.groups.probe(factory, c, service.timing.timeout, floor)
                for c in service.checks]

    @staticmethod
    def peer_probes(factory: ProbeFactory, service: config.Service) -> list[list[Probe]]:
        """The service's checks aimed at each overload peer's unicast address."""
        peers = service.overload.peers if service.overload else ()
        return [[factory(dataclasses.replace(c, server=peer), service.timing.timeout)
                 for c in service.checks] for peer in peers]

    def ensure_addresses(self, run: ServiceRun) -> None:
        """Add the service's anycast addresses where it manages them; log what fails."""
        addr = run.service.address
        if addr is None or not addr.manage or self.addresses is None:
            return
        for prefix in run.service.prefixes:
            try:
                if self.addresses.ensure(addr.interface, prefix.network_address):
                    logs.log(LOG, logging.INFO, "anycast address added", service=run.service.name,
                             address=prefix.network_address, interface=addr.interface)
            except AddressError as exc:
                logs.log(LOG, logging.ERROR, "cannot add anycast address",
                         service=run.service.name, error=exc)

    def _check_addresses(self, run: ServiceRun) -> Result | None:
        """The address check: a hard failure when an address is missing, else None."""
        service = run.service
        addr = service.address
        if addr is None or not addr.check:
            return None
        if self.addresses is None:
            run.address_ok = None  # unknown, so never announced: nothing unverified goes out
            return Result(False, "anycast address check: netlink unavailable (see the log at "
                                 "start-up)", hard=True)
        missing = []
        try:
            for prefix in service.prefixes:
                if not self.addresses.present(addr.interface, prefix.network_address):
                    missing.append(str(prefix.network_address))
        except AddressError as exc:
            run.address_ok = False
            return Result(False, f"anycast address check: {exc}", hard=True)
        run.address_ok = not missing
        self.recorder.check(service.name, f"address on {addr.interface}",
                            "missing" if missing else "ok", 0.0)
        if not missing:
            return None
        fanout.reset(run.probes)  # their sockets were connected with it in place
        if addr.manage:
            self.ensure_addresses(run)
        return Result(False, f"anycast address {', '.join(missing)} missing from "
                             f"{addr.interface}", hard=True)

    @staticmethod
    def _log_warnings(run: ServiceRun, outcomes: list[Outcome]) -> None:
        """Log a check's warning when it appears or its kind changes, and when it clears."""
        before = run.outcomes if len(run.outcomes) == len(outcomes) else [None] * len(outcomes)
        for probe, old, new in zip(run.probes, before, outcomes, strict=True):
            was = (old.code if old is not None and old.warning else None)
            now = new.code if new.warning else None
            if now is not None and now != was:
                logs.log(LOG, logging.WARNING, "check warning", service=run.service.name,
                         check=probe.check.describe(), code=new.code, warning=new.warning)
            elif now is None and was is not None:
                logs.log(LOG, logging.INFO, "check warning cleared", service=run.service.name,
                         check=probe.check.describe(), code=new.code)

    async def round(self, run: ServiceRun, load: Load | None = None) -> Result:
        """Run the address check, then every check concurrently; all must pass. `load`: the
        server's, for a service with the overload policy (how long a confirmation waits)."""
        failed_address = self._check_addresses(run)
        if failed_address is not None:
            return failed_address
        service = run.service
        # confirming a failure: every check waits longer (speaker.core.rtt)
        confirm = rtt.confirms(run.health, run.degraded, service.overload, load)
        if len(run.probes) == 1:  # the common case, without gather's task and future
            outcomes = [await run.probes[0].run(confirm)]
        else:
            outcomes = list(await asyncio.gather(*(p.run(confirm) for p in run.probes)))
        self._alone += sum(o.queries for p, o in zip(run.probes, outcomes, strict=True)
                           if not isinstance(p, fanout.SharedProbe))
        self._log_warnings(run, outcomes)
        run.outcomes = outcomes
        for probe, outcome in zip(run.probes, outcomes, strict=True):
            self.recorder.check(service.name, fanout.describe(probe), outcome.code,
                                outcome.latency)
        if len(outcomes) == 1 and outcomes[0] is self._passed[0]:
            return self._passed[1]  # a shared outcome that passed: one Result for them all
        failed = [o for o in outcomes if not o.ok]
        if failed:
            at_once = any(o.code in service.timing.fail_at_once for o in failed)
            return Result(False, "; ".join(o.reason for o in failed), hard=at_once,
                          codes=tuple(o.code for o in failed))
        asking = [o for o in outcomes if o.degrade]
        if asking:  # passed, but announced degraded (speaker.core.overload)
            return Result(True, "; ".join(o.reason for o in asking), degrade=True)
        slowest = max(o.latency for o in outcomes)
        result = Result(True, f"{len(outcomes)} checks ok (slowest {slowest * 1000:.1f} ms)")
        if len(outcomes) == 1:
            self._passed = (outcomes[0], result)
        return result

    async def peers_up(self, run: ServiceRun) -> int:
        """How many of the service's overload peers pass every one of its checks."""
        async def answers(probes: list[Probe]) -> bool:
            outcomes = await asyncio.gather(*(p.run() for p in probes))
            return all(o.ok for o in outcomes)

        # not counted in `sent`: the local server's statistics never see these
        results = await asyncio.gather(*(answers(p) for p in run.peer_probes))
        return sum(results)
