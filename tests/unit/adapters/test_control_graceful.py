"""`withdraw --graceful` through the control server: GSHUT announce, wait, withdraw; the
status while draining; announce cancels; a restart meanwhile comes back withdrawn."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from speaker.cli.render import render_status
from speaker.core import protocol
from speaker.core.gshut import GRACEFUL_SHUTDOWN
from speaker.core.verdicts import Outcome
from tests.fakes import scripted
from tests.unit.rig import PREFIX, Rig, ask, run

GSHUT = f"community [{GRACEFUL_SHUTDOWN}]"


def auto_ack(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    rig.sink.on_write = lambda _: loop.call_soon(rig.ack_all)


async def draining(rig: Rig, seconds: float = 60, **args: Any) -> asyncio.Future[Any]:
    """Start a graceful withdraw of dns; return once its GSHUT announce is acknowledged."""
    answer = asyncio.ensure_future(ask(rig, "withdraw", services=["dns"], graceful=seconds,
                                       **args))
    while GSHUT not in rig.sink.lines[-1] or rig.speaker.book.waiting:
        await asyncio.sleep(0.001)
    return answer


def dns_status(status: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = status["result"]["services"][0]
    return result


def test_graceful_withdraw_announces_with_gshut_waits_then_withdraws(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60, reason="kernel")
        assert rig.sink.lines[-1].startswith(f"announce route {PREFIX}")
        assert not any(line.startswith("withdraw") for line in rig.sink.lines)  # never between
        assert rig.store.load()["dns"][0].reason == "kernel"  # recorded before the drain
        rig.clock.advance(20)
        [status] = await ask(rig, "status")
        dns = dns_status(status)
        assert dns["state"] == "draining" and dns["draining"]["withdrawn_in"] == 40
        shown = "\n".join(render_status(status["result"], rig.wall()))
        assert "draining (graceful shutdown, community 65535:0): withdrawn in 40 s" in shown
        assert dns["prefixes"][0]["confirmed"] == "announced"
        assert not answer.done()
        rig.clock.advance(40)
        assert rig.speaker.drains.due() == ["dns"]
        lines = await answer
        assert "with GRACEFUL_SHUTDOWN (65535:0), withdrawing in 60 s" in lines[0]["progress"]
        assert lines[-1]["ok"] and lines[-1]["result"]["safe"] is True
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert rig.speaker.state_name(rig.speaker.runs["dns"]) == "maintenance"

    run(folder, scenario)


def test_announce_during_the_drain_cancels_it_and_restores_the_normal_route(
        folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig)
        [reply] = await ask(rig, "announce", services=["dns"])
        assert reply["ok"]
        lines = await answer
        assert lines[-1]["error"]["code"] == protocol.CANCELLED
        assert "dns: announced again (speakerctl announce)" in lines[-1]["error"]["message"]
        last = rig.sink.lines[-1]
        assert last.startswith(f"announce route {PREFIX}") and GSHUT not in last  # no rise wait
        assert rig.speaker.state_name(rig.speaker.runs["dns"]) == "up"
        assert rig.store.load() == {}
        rig.clock.advance(60)
        assert rig.speaker.drains.due() == []  # its end is gone with it

    run(folder, scenario)


def test_a_plain_withdraw_during_the_drain_withdraws_at_once(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig)
        plain = await ask(rig, "withdraw", services=["dns"])
        assert plain[-1]["ok"] and rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert (await answer)[-1]["ok"]

    run(folder, scenario)


def test_a_restart_during_the_drain_comes_back_withdrawn_without_the_gshut_route(
        folder: Path) -> None:
    async def first(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig)
        answer.cancel()  # the process dies here: its drain never ends

    run(folder, first)

    async def second(rig: Rig) -> None:
        runner = rig.speaker.runs["dns"]
        await rig.bring_up()
        assert rig.speaker.state_name(runner) == "maintenance"
        assert not rig.speaker.book.desired(rig.speaker.runs["dns"].service.prefixes[0])
        assert not any(GSHUT in line for line in rig.sink.lines)

    run(folder, second)


def test_a_service_that_is_not_announced_is_withdrawn_at_once_without_a_drain(
        folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        auto_ack(rig)  # dns never passed its checks: withdrawn
        lines = await ask(rig, "withdraw", services=["dns"], graceful=60)
        assert lines[-1]["ok"] and not any("GRACEFUL" in str(x) for x in lines)
        assert not any(GSHUT in line for line in rig.sink.lines)

    run(folder, scenario)


def test_bad_graceful_values_are_refused_and_change_nothing(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        for bad in (-1, "abc", 3601):
            [reply] = await ask(rig, "withdraw", services=["dns"], graceful=bad)
            assert reply["error"]["code"] == protocol.BAD_REQUEST
            assert "'graceful'" in reply["error"]["message"]
        assert rig.speaker.maintenance == {} and rig.store.load() == {}

    run(folder, scenario)


def test_a_service_that_fails_during_the_drain_stays_withdrawn_when_it_recovers(
        folder: Path) -> None:
    """Down mid-drain ends the drain: its recovery before the drain's end announces
    nothing (the operator asked for a withdraw), and the waiting withdraw returns."""
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60)
        run_ = rig.speaker.runs["dns"]
        probe = scripted(run_.probes[0])
        fail = Outcome(ok=False, reason="dns check: rcode SERVFAIL", latency=0.001, code="rcode")
        for _ in range(run_.service.timing.fall):
            probe.outcomes.append(fail)
            rig.speaker.observe(run_, await rig.speaker.probe_round(run_))
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert rig.speaker.drains.get("dns") is None
        lines = await answer
        assert lines[-1]["ok"]
        withdrawn_at = len(rig.sink.lines)
        for _ in range(run_.service.timing.rise + 1):  # healthy again, still before the end
            rig.speaker.observe(run_, await rig.speaker.probe_round(run_))
        assert not any(line.startswith("announce") for line in rig.sink.lines[withdrawn_at:])
        assert rig.speaker.state_name(run_) == "maintenance"

    run(folder, scenario)
