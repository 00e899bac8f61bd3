"""The at-rest round (up before and after, nothing changed) does no route work; every change
still brings the routes in line at once."""

from __future__ import annotations

import asyncio

import pytest

from speaker.core import config, overload
from speaker.core.health import Result
from speaker.core.verdicts import Outcome
from speaker.engine.runs import ServiceRun
from speaker.engine.speaker import Speaker
from tests.unit.engine_rig import ONE_SERVICE, TIMEOUT, EngineRig

WITHDRAW = "withdraw route 2001:db8::100/128 next-hop self"


def counting(rig: EngineRig, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The services whose routes the speaker brings in line, one entry per time."""
    applied: list[str] = []
    apply = Speaker.apply

    def spy(self: Speaker, run: ServiceRun) -> None:
        applied.append(run.service.name)
        apply(self, run)
    monkeypatch.setattr(Speaker, "apply", spy)
    return applied


def test_an_at_rest_round_does_not_bring_the_routes_in_line_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rig = EngineRig(config.parse(ONE_SERVICE))
    rig.up()
    applied = counting(rig, monkeypatch)
    rig.round(5)
    assert applied == [] and rig.take() == []
    assert rig.speaker.runs["dns"].rounds == 6  # the rounds ran and were counted


def test_a_failure_at_rest_withdraws_at_once() -> None:
    rig = EngineRig(config.parse(ONE_SERVICE))
    rig.up()
    rig.round(3)
    rig.answer("dns", TIMEOUT)
    rig.round()
    assert rig.take() == [WITHDRAW]
    assert rig.speaker.status()["services"][0]["state"] == "down"


def test_a_withdraw_at_rest_is_written_at_once_and_the_announce_comes_back_after_rise() -> None:
    rig = EngineRig(config.parse(ONE_SERVICE))
    rig.up()
    rig.round(3)
    asyncio.run(rig.speaker.set_maintenance(["dns"], "kernel upgrade", "ops"))
    assert rig.take() == [WITHDRAW]
    rig.round(2)
    assert rig.take() == []  # in maintenance: no at-rest shortcut brings it back
    asyncio.run(rig.speaker.clear_maintenance(["dns"]))
    rig.ack_all()
    rig.round()
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self"]


def test_a_reload_that_changes_the_route_is_announced_with_it() -> None:
    rig = EngineRig(config.parse(ONE_SERVICE))
    rig.up()
    rig.round(3)
    rig.speaker.reload(config.parse(ONE_SERVICE.replace(
        "    timing:", "    route: {med: 50}\n    timing:")))
    rig.ack_all()
    rig.round(2)
    assert any("med 50" in line for line in rig.take())


def test_settled_only_for_up_with_the_same_config_service_and_overload_state() -> None:
    cfg = config.parse(ONE_SERVICE)
    run = ServiceRun(service=cfg.services[0], probes=[], since=0.0, shown="up")
    assert not run.settled(cfg, "up")  # nothing recorded yet: bring them in line
    assert run.settled(cfg, "up")
    run.degraded = overload.Degraded(peers_up=1)
    assert not run.settled(cfg, "up") and run.settled(cfg, "up")
    other = config.parse(ONE_SERVICE)  # a reload: equal, but another config
    assert not run.settled(other, "up")
    run.fresh = {cfg.services[0].prefixes[0]: 2}
    assert not run.settled(other, "up") and not run.settled(other, "up")
    run.fresh = {}
    assert not run.settled(other, "down")
    assert not run.settled(other, "up")  # after a state other than up: once more in line
    run.shown = "down"
    assert not run.settled(other, "up") and not run.settled(other, "up")


TWO_SHARING = """
services:
  - name: a
    prefixes: ["2001:db8::100/128"]
    checks: [{type: dns, server: "2001:db8::53", qname: example.com.}]
  - name: b
    prefixes: ["2001:db8::101/128"]
    checks: [{type: dns, server: "2001:db8::53", qname: example.com.}]
"""


def test_services_passing_with_one_shared_outcome_share_its_result() -> None:
    rig = EngineRig(config.parse(TWO_SHARING))
    a, b = rig.speaker.runs["a"], rig.speaker.runs["b"]

    async def both() -> list[Result]:
        return list(await asyncio.gather(rig.speaker.probe_round(a), rig.speaker.probe_round(b)))
    first = asyncio.run(both())
    assert first[0] is first[1] and first[0].ok  # one query, one Result for both
    rig.probes.built[0].default = Outcome(True, "ok", 0.004)
    second = asyncio.run(both())
    assert second[0] is second[1] and second[0] is not first[0]
    assert second[0].reason == "1 checks ok (slowest 4.0 ms)"
    rig.probes.built[0].default = TIMEOUT  # a failure is judged by each service's own rules
    failed = asyncio.run(both())
    assert failed[0] == failed[1] and failed[0] is not failed[1] and not failed[0].ok
