"""Probe groups: identical checks share one probe in flight, each service judges its own."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from pathlib import Path

from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome
from speaker.engine.fanout import PHASE_SIZE, ProbeGroups, SharedProbe, next_start
from speaker.engine.speaker import Speaker
from tests.fakes import OK, Clock, Probe, Probes, ServerEvents, Sink, scripted

SERVER = ipaddress.ip_address("2001:db8::53")
CHECK = config.DnsCheck(server=SERVER, qname="example.com.")
OTHER = config.DnsCheck(server=SERVER, qname="example.org.")
EARLY = Outcome(False, "dns check: timeout after 20 ms (adaptive)", 0.02, "timeout")
FULL = Outcome(False, "dns check: timeout after 0.25 s", 0.25, "timeout")


class Gated(Probe):
    """A fake probe whose runs wait until the test opens the gate."""

    def __init__(self, check: config.Check, timeout: float = 0.25) -> None:
        super().__init__(check, timeout)
        self.gate = asyncio.Event()

    async def run(self, confirm: Run = Run.FIRST) -> Outcome:
        self.runs += 1
        self.confirms.append(confirm)
        await self.gate.wait()
        self.gate.clear()
        return self.outcomes.popleft() if self.outcomes else self.default


class GatedProbes(Probes):
    def __call__(self, check: config.Check, timeout: float,
                 min_timeout: float | None = None) -> Probe:
        probe = Gated(check, timeout)
        probe.min_timeout = min_timeout
        self.built.append(probe)
        return probe


def gated(factory: Probes) -> Gated:
    """The first probe the factory built, a Gated one."""
    probe = factory.built[0]
    assert isinstance(probe, Gated)
    return probe


def shared(groups: ProbeGroups, factory: Probes, check: config.Check = CHECK,
           floor: float | None = 0.02) -> SharedProbe:
    probe = groups.probe(factory, check, 0.25, floor)
    assert isinstance(probe, SharedProbe)
    return probe


async def turn() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_identical_checks_of_two_services_send_one_probe() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory), shared(groups, factory)
        both = asyncio.gather(a.run(), b.run())
        await turn()
        probe = gated(factory)
        assert len(factory.built) == 1
        probe.gate.set()
        assert await both == [OK, OK]
        assert probe.runs == 1 and groups.sent == 1 and a.shared and b.shared
    asyncio.run(body())


def test_different_checks_keep_their_own_probes() -> None:
    groups, factory = ProbeGroups(), Probes()
    a, b = shared(groups, factory), shared(groups, factory, OTHER)
    c = shared(groups, factory, floor=None)  # another adaptive floor: another probe
    assert len(factory.built) == 3 and len(groups) == 3
    assert not (a.shared or b.shared or c.shared)
    assert [a.inner.check, b.inner.check] == [CHECK, OTHER]


def test_a_round_never_gets_the_outcome_of_a_run_that_had_ended() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), Probes()
        a, b = shared(groups, factory), shared(groups, factory)
        await a.run()
        await b.run()
        assert scripted(a).runs == 2 and groups.sent == 2
    asyncio.run(body())


def test_a_confirming_round_waits_for_a_run_of_its_own_after_an_early_timeout() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        first, confirming = shared(groups, factory), shared(groups, factory)
        probe = gated(factory)
        probe.outcomes.extend([EARLY, FULL])
        early = asyncio.ensure_future(first.run())
        await turn()
        late = asyncio.ensure_future(confirming.run(confirm=Run.CONFIRM))
        await turn()
        assert probe.confirms == [Run.FIRST]  # one query at a time: it waits for the early one
        probe.gate.set()
        assert await early == EARLY
        await turn()
        assert probe.confirms == [Run.FIRST, Run.CONFIRM]
        probe.gate.set()
        assert await late == FULL  # the full timeout's outcome, not the early one
        assert groups.sent == 2
    asyncio.run(body())


def test_a_round_that_does_not_confirm_joins_a_confirming_run() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory), shared(groups, factory)
        confirming = asyncio.ensure_future(a.run(confirm=Run.CONFIRM))
        await turn()
        plain = asyncio.ensure_future(b.run())
        await turn()
        probe = gated(factory)
        probe.gate.set()
        assert [await confirming, await plain] == [OK, OK]
        assert probe.confirms == [Run.CONFIRM]
    asyncio.run(body())


def test_a_full_timeout_round_waits_for_the_weaker_runs_and_serves_a_confirming_one() -> None:
    """FIRST < CONFIRM (the hang window) < FULL (the configured timeout): a round joins
    only a run that waits at least as long as its own kind."""
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b, c, d = (shared(groups, factory) for _ in range(4))
        probe = gated(factory)
        first = asyncio.ensure_future(a.run())
        await turn()
        window = asyncio.ensure_future(b.run(confirm=Run.CONFIRM))
        await turn()
        full = asyncio.ensure_future(c.run(confirm=Run.FULL))
        await turn()
        confirming = asyncio.ensure_future(d.run(confirm=Run.CONFIRM))  # joins the FULL run
        await turn()
        assert probe.confirms == [Run.FIRST]
        for _ in range(3):
            probe.gate.set()
            await turn()
        assert probe.confirms == [Run.FIRST, Run.CONFIRM, Run.FULL]
        assert (await first, await window, await full, await confirming) == (OK, OK, OK, OK)
        assert groups.sent == 3
    asyncio.run(body())


def test_with_a_fixed_timeout_every_round_shares_one_run() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory, floor=None), shared(groups, factory, floor=None)
        both = asyncio.gather(a.run(), b.run(confirm=Run.CONFIRM))
        await turn()
        probe = gated(factory)
        probe.gate.set()
        await both
        assert probe.runs == 1
    asyncio.run(body())


def test_a_cancelled_round_leaves_the_others_run_alone() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory), shared(groups, factory)
        gone = asyncio.ensure_future(a.run())
        kept = asyncio.ensure_future(b.run())
        await turn()
        gone.cancel()
        await turn()
        probe = gated(factory)
        probe.gate.set()
        assert await kept == OK and gone.cancelled()
    asyncio.run(body())


def test_what_the_shared_run_raises_reaches_every_round_waiting_for_it() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), Probes()
        a, b = shared(groups, factory), shared(groups, factory)

        async def broken(confirm: Run = Run.FIRST) -> Outcome:
            raise OSError("probe bug")
        scripted(a).run = broken  # type: ignore[method-assign]
        results = await asyncio.gather(a.run(), b.run(), return_exceptions=True)
        assert [type(r) for r in results] == [OSError, OSError] and groups.sent == 1
        assert [str(r) for r in results] == ["probe bug", "probe bug"]
    asyncio.run(body())


def test_a_cancelled_run_cancels_the_rounds_waiting_for_it() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory), shared(groups, factory)
        rounds = [asyncio.ensure_future(a.run()), asyncio.ensure_future(b.run())]
        await turn()
        for flight in list(next(iter(groups._groups.values())).flights.values()):
            flight.cancel()  # the speaker stops
        await turn()
        assert all(r.cancelled() for r in rounds)
    asyncio.run(body())


def test_the_last_service_out_closes_the_probe_and_a_reset_keeps_it_shared() -> None:
    groups, factory = ProbeGroups(), Probes()
    a, b = shared(groups, factory), shared(groups, factory)
    a.reset()
    assert scripted(a).closed and b.shared  # closed: reopens its socket at its next run
    scripted(a).closed = False
    a.close()
    a.close()  # twice: still one member less
    assert not scripted(b).closed and not b.shared and len(groups) == 1
    b.close()
    assert scripted(b).closed and len(groups) == 0


def test_a_reset_waits_for_the_run_in_flight() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), GatedProbes()
        a, b = shared(groups, factory), shared(groups, factory)
        flight = asyncio.ensure_future(b.run())
        await turn()
        a.reset()  # a's anycast address went missing while b's query is out
        probe = gated(factory)
        assert not probe.closed
        probe.gate.set()
        assert await flight == OK
        assert probe.closed  # the next run opens a fresh socket
    asyncio.run(body())


def test_shared_rounds_start_on_the_grid_of_their_delay_never_later() -> None:
    groups, factory = ProbeGroups(), Probes()
    a, b = shared(groups, factory), shared(groups, factory)
    assert abs(next_start([a], 10.05, 0.3) - 10.2) < 1e-9  # 10.35 moved back onto 0.3's grid
    assert abs(next_start([a], 9.9 + 1e-4, 0.3) - 10.2) < 1e-9  # on the grid: stays there
    assert abs(next_start([a], 9.9 - 1e-9, 0.3) - 10.2) < 1e-9  # a timer a hair early too
    assert next_start([a], 10.05, 0.0) == 10.05  # no pause: nothing to align
    b.close()
    assert next_start([a], 10.05, 0.3) == 10.05 + 0.3  # alone: its own phase


def test_a_large_group_spreads_its_rounds_over_phases_of_phase_size() -> None:
    groups, factory = ProbeGroups(), Probes()
    members = [shared(groups, factory) for _ in range(3 * PHASE_SIZE)]
    phases = [m.phase for m in members]
    assert phases[:PHASE_SIZE] == [0.0] * PHASE_SIZE  # a small group: one phase, one query
    assert len(set(phases)) == 3 and all(0.0 <= p < 1.0 for p in phases)
    last = members[-1]
    start = 333 * 0.3 + last.phase * 0.3  # on its own grid point
    due = next_start([last], start, 0.3)
    assert abs(due - (start + 0.3)) < 1e-9  # the next point of its own phase
    off_grid = next_start([last], start + 0.1, 0.3)  # woken early (an event): back on it
    assert abs(off_grid - (start + 0.3)) < 1e-9 and off_grid <= start + 0.1 + 0.3


YAML = """
state_dir: {state}
services:
  - name: a
    prefixes: ["2001:db8::1/128"]
    checks: [{{type: dns, server: "2001:db8::53", qname: example.com.}}]
  - name: b
    prefixes: ["2001:db8::2/128"]
    checks: [{{type: dns, server: "2001:db8::53", qname: example.com.}}]
  - name: c
    prefixes: ["2001:db8::3/128"]
    checks: [{{type: dns, server: "2001:db8::53", qname: example.org.}}]
"""


def test_services_count_the_queries_really_sent_and_judge_their_own_rounds(
        tmp_path: Path) -> None:
    async def body() -> None:
        cfg = config.parse(YAML.format(state=tmp_path / "state"))
        factory = GatedProbes()
        speaker = Speaker(cfg, Sink(), None, MaintenanceStore(cfg.state_dir), clock=Clock(),
                          probe_factory=factory, server_events=ServerEvents())
        runs = list(speaker.runs.values())
        rounds = asyncio.gather(*(speaker.probe_round(r) for r in runs))
        await turn()
        assert len(factory.built) == 2  # a and b share one probe, c has its own
        for probe in factory.built:
            assert isinstance(probe, Gated)
            probe.gate.set()
        results = await rounds
        for run, result in zip(runs, results, strict=True):
            speaker.observe(run, result)
        assert speaker.probes_sent == 2
        assert [r.rounds for r in runs] == [1, 1, 1]
        assert all(r.health.passes == 1 for r in runs)
    asyncio.run(body())


def test_the_queries_a_shared_run_sent_are_counted() -> None:
    async def body() -> None:
        groups, factory = ProbeGroups(), Probes(default=dataclasses.replace(OK, queries=4))
        a, b = shared(groups, factory), shared(groups, factory)
        await asyncio.gather(a.run(confirm=Run.CONFIRM), b.run(confirm=Run.CONFIRM))
        assert groups.sent == 4  # one run of a hang confirmation: 4 queries, not 2 runs
    asyncio.run(body())
