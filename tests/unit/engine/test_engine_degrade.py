"""`action: degrade` of the soa check, in the engine on fakes: a stale zone degrades, never
withdraws; caught up, the normal route after `rise` passes; hard failures withdraw as before;
an unreachable master only warns. The real SoaProbe runs against fake servers."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from speaker.adapters import metrics
from speaker.adapters.soa import SoaProbe
from speaker.core import config
from speaker.core.freshness import Soa
from speaker.core.verdicts import Outcome
from speaker.ports import Probe
from tests.fakes import HookRunner, scripted
from tests.fakes import Probe as FakeProbe
from tests.unit.engine_rig import EngineRig

NODE, MASTER = "2001:db8::50", "2001:db8::10"
YAML = """
TOP
hooks: {degraded: [["/bin/true", "degraded"]], up: [["/bin/true", "up"]]}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    timing: {rise: 2, fall: 2}
    DEGRADED_ROUTE
    checks:
      - {type: dns, server: "2001:db8::100", qname: example.com.}
      - {type: soa, server: "NODE", master: "MASTER", zone: example.com, max_lag: 3,
         action: degrade}
""".replace("NODE", NODE).replace("MASTER", MASTER)
PREPEND = "degraded_route: {as_path: [65201, 65201, 65201]}"
ANNOUNCE = "announce route 2001:db8::100/128 next-hop self"
DEGRADED = "announce route 2001:db8::100/128 next-hop self as-path [65201 65201 65201]"
WITHDRAW = "withdraw route 2001:db8::100/128 next-hop self"
REFUSED = Outcome(False, "dns check: connection refused", 0.001, "refused")


class Rig(EngineRig):
    """One service `dns`: a fake dns check, the real soa check asking `answers`."""

    def __init__(self, degraded_route: str = PREPEND, top: str = "") -> None:
        self.hooks = HookRunner()
        super().__init__(config.parse(YAML.replace("DEGRADED_ROUTE", degraded_route)
                                      .replace("TOP", top)),
                         hook_runner=self.hooks)
        self.answers: dict[str, Soa | tuple[str, str]] = {NODE: Soa(5), MASTER: Soa(5)}
        self.speaker.probe_factory = self.factory
        self.run = self.speaker.runs["dns"]
        self.run.probes = self.speaker._probes(self.run.service)
        self.prom = metrics.Prometheus(self.speaker.status)
        self.speaker.recorder = metrics.Guard(self.prom)
        self.up()

    def factory(self, check: config.Check, timeout: float,
                min_timeout: float | None = None) -> Probe:
        if isinstance(check, config.SoaCheck):
            return SoaProbe(check, timeout, clock=self.clock, ask=self.ask)
        return FakeProbe(check, timeout)

    async def ask(self, server: str, port: int, zone: str, timeout: float
                  ) -> Soa | tuple[str, str]:
        return self.answers[server]

    def status(self) -> dict[str, object]:
        return self.speaker.status()["services"][0]  # type: ignore[no-any-return]

    def state(self) -> str:
        return self.speaker.state_name(self.run)

    def gauge(self, state: str) -> float:
        for family in text_string_to_metric_families(generate_latest(self.prom.registry)
                                                     .decode()):
            for s in family.samples:
                if s.name == "speaker_service_state" and s.labels["state"] == state:
                    return float(s.value)
        raise AssertionError(f"no speaker_service_state for {state}")

    def go_stale(self) -> None:
        """The master moves on; the node stays behind for longer than max_lag (3 s)."""
        self.answers[MASTER] = Soa(6)
        self.round(8)  # 0.5 s a round


def test_stale_with_degrade_stays_announced_with_the_degraded_route() -> None:
    rig = Rig()
    assert rig.state() == "up"
    rig.go_stale()
    assert rig.state() == "degraded"
    assert rig.take() == [DEGRADED]  # the same prefix, re-announced less preferred
    status = rig.status()
    assert status["state"] == "degraded" and status["health"] == "up"
    assert "zone example.com. serial 5 behind master 6 for 3.5s (max 3s)" in str(
        status["reason"])
    assert status["failure"] is None and status["degrade_asked_for"] is not None
    soa = status["checks"][1]  # type: ignore[index]
    assert soa["ok"] and soa["code"] == "stale" and "behind master 6" in soa["warning"]
    event = rig.speaker.event_list()[-1]
    assert (event["old"], event["new"]) == ("up", "degraded")
    assert "behind master 6" in event["reason"]
    assert rig.gauge("degraded") == 1 and rig.gauge("up") == 0
    commands, _, transition, _ = rig.hooks.runs[-1]
    assert commands == (("/bin/true", "degraded"),) and transition.new == "degraded"
    assert "behind master 6" in transition.reason


def test_a_stale_node_never_withdraws_however_long_it_lasts() -> None:
    rig = Rig()
    rig.go_stale()
    rig.ack_all()
    rig.take()
    rig.round(2000)  # 1000 s behind a max_lag of 3 s
    assert rig.state() == "degraded" and rig.take() == []
    assert rig.speaker.book.desired(rig.run.service.prefixes[0]) is not None


def test_caught_up_the_normal_route_returns_after_rise_passes() -> None:
    rig = Rig()
    rig.go_stale()
    rig.ack_all()
    rig.take()
    rig.answers[NODE] = Soa(6)  # the transfer came
    rig.round(1)
    assert rig.state() == "degraded" and rig.take() == []  # one pass is not `rise` (2)
    rig.round(1)
    assert rig.state() == "up" and rig.take() == [ANNOUNCE]
    assert rig.status()["degrade_asked_for"] is None
    assert [e["new"] for e in rig.speaker.event_list()][-2:] == ["degraded", "up"]


def test_a_hard_failure_while_stale_withdraws_as_before_and_returns_degraded() -> None:
    rig = Rig()
    rig.go_stale()
    rig.ack_all()
    rig.take()
    dns = scripted(rig.run.probes[0])
    dns.default = REFUSED
    rig.round(1)
    assert rig.state() == "down" and rig.take() == [WITHDRAW]
    rig.ack_all()
    dns.default = Outcome(True, "ok", 0.001)
    rig.round(2)  # rise passes: up again, the zone still stale
    assert rig.state() == "degraded" and rig.take() == [DEGRADED]


def test_an_unreachable_master_only_warns() -> None:
    rig = Rig()
    rig.answers[MASTER] = ("timeout", "timeout after 0.25 s")
    rig.round(20)  # 10 s: longer than max_lag, the node in sync with the master last seen
    assert rig.state() == "up" and rig.take() == []
    soa = rig.status()["checks"][1]  # type: ignore[index]
    assert soa["ok"] and soa["code"] == "master-unreachable"
    assert "master unreachable" in soa["warning"]


def test_the_degraded_route_may_come_from_overload_route() -> None:
    rig = Rig(degraded_route="overload: {route: {med: 500}}",
              top='dns_statistics: {url: "http://127.0.0.1:8053/json/v1/server"}')
    rig.go_stale()
    assert rig.state() == "degraded"
    assert rig.take() == [f"{ANNOUNCE} med 500"]
