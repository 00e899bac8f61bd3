"""The engine under overload, on fakes: degraded, the bound, peers, flap damping, status."""

from __future__ import annotations

from typing import Any

import pytest

from speaker.core import config
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome
from tests.fakes import OK
from tests.unit.engine_rig import EngineRig

YAML = """
dns_statistics: {{url: "http://127.0.0.1:8053/json/v1/server", interval: 2}}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    timing: {{rise: 2, fall: 2}}
    flap: {{window: 600, max_transitions: 2, penalty: 300}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
    {overload}
"""
TIMEOUT = Outcome(False, "dns check: timeout after 0.25 s", 0.25, "timeout")
REFUSED = Outcome(False, "dns check: connection refused", 0.001, "refused")
ANNOUNCE = "announce route 2001:db8::100/128 next-hop self"
WITHDRAW = "withdraw route 2001:db8::100/128 next-hop self"


class Rig(EngineRig):
    """One service `dns`; the DNS server's statistics say `rate` client queries a second."""

    def __init__(self, overload: str, rate: float | None = 5000.0) -> None:
        super().__init__(config.parse(YAML.format(overload=overload)))
        self.rate = rate
        self.speaker.dns_stats = self.stats
        self.run = self.speaker.runs["dns"]
        self.up()

    def stats(self) -> dict[str, Any] | None:
        if self.rate is None:
            return None
        return {"client_rate": self.rate, "updated": self.speaker.wall()}

    def answer(self, outcome: Outcome) -> None:
        self.probes.built[0].default = outcome

    def peers(self, *outcomes: Outcome) -> None:
        for probes, outcome in zip(self.run.peer_probes, outcomes, strict=True):
            probes[0].default = outcome  # type: ignore[attr-defined]

    def state(self) -> str:
        return self.speaker.state_name(self.run)


def test_without_overload_timeouts_withdraw_as_before() -> None:
    rig = Rig("")
    rig.answer(TIMEOUT)
    rig.round(2)
    assert rig.state() == "down" and rig.take() == [WITHDRAW]
    assert rig.speaker.status()["services"][0]["failure"] == "hard"


def test_busy_server_timeouts_degrade_with_the_degraded_route_and_no_withdraw() -> None:
    rig = Rig("overload: {max_degraded: 20, route: {med: 500}}")
    rig.answer(TIMEOUT)
    rig.round(10)  # 5 s of timeouts
    assert rig.state() == "degraded"
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self med 500"]
    status = rig.speaker.status()["services"][0]
    assert status["state"] == "degraded" and status["failure"] == "soft"
    assert [e.new for e in rig.speaker.events][-1] == "degraded"
    rig.ack_all()
    rig.answer(OK)
    rig.round(2)  # rise passes end it
    assert rig.state() == "up" and rig.take() == [ANNOUNCE]


def test_a_soft_failure_withdraws_after_the_bound_and_is_never_held_down() -> None:
    rig = Rig("overload: {max_degraded: 3}")
    for _ in range(3):  # three soft withdraws and recoveries: each would be a flap
        rig.answer(TIMEOUT)
        rig.round(8)  # 0.5 s a round: longer than 3 s
        assert rig.state() == "down", rig.speaker.status()["services"][0]
        assert "max_degraded" in rig.run.health.reason
        rig.ack_all()
        rig.answer(OK)
        rig.round(2)
        rig.ack_all()
        assert rig.state() == "up"
    assert rig.run.damping.holds == 0


def test_a_quiet_server_or_no_statistics_make_timeouts_hard() -> None:
    for rate in (1.0, None):
        rig = Rig("overload: {max_degraded: 30}", rate=rate)
        rig.answer(TIMEOUT)
        rig.round(2)
        assert rig.state() == "down", rate


def test_a_hard_failure_while_degraded_withdraws_at_once() -> None:
    rig = Rig("overload: {max_degraded: 30}")
    rig.answer(TIMEOUT)
    rig.round(4)
    assert rig.state() == "degraded"
    rig.answer(REFUSED)
    rig.round(1)
    assert rig.state() == "down" and WITHDRAW in rig.take()
    assert rig.speaker.status()["services"][0]["failure"] == "hard"


@pytest.mark.parametrize(("answering", "withdrawn"), [(1, False), (2, True)])
def test_never_the_last_one_out(answering: int, withdrawn: bool) -> None:
    rig = Rig('overload: {max_degraded: 1, peers: ["fd00::51", "fd00::52"], min_up: 2}')
    assert [p[0].check.server.compressed for p in rig.run.peer_probes] == ["fd00::51",
                                                                          "fd00::52"]
    rig.peers(*([OK] * answering + [TIMEOUT] * (2 - answering)))
    rig.answer(TIMEOUT)
    rig.round(8)
    assert (rig.state() == "down") is withdrawn
    assert rig.speaker.status()["services"][0]["peers_up"] == answering
    assert rig.speaker.probes_sent == rig.probes.built[0].runs  # peers are not the local server


@pytest.mark.parametrize(("rate", "expected"), [
    (5.0, Run.CONFIRM),  # the statistics show a quiet server: the short hang window
    (5000.0, Run.FULL),  # busy: its timeouts are soft, judged at the full timeout
    (None, Run.FULL),  # no statistics: it may be busy
])
def test_a_failure_is_confirmed_fast_only_while_the_statistics_show_a_quiet_server(
        rate: float | None, expected: Run) -> None:
    rig = Rig("overload: {max_degraded: 20}", rate=rate)
    rig.answer(TIMEOUT)
    rig.round(2)
    assert rig.probes.built[0].confirms[-2:] == [Run.FIRST, expected]
