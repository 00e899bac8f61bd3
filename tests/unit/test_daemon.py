"""The speaker's reactions, driven with fakes: no network, no sleeps."""

import asyncio
import ipaddress
from pathlib import Path

import pytest

from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.exabgp_api import Garbage, NeighborState, Shutdown
from speaker.core.routes import Confirmed
from speaker.core.verdicts import Outcome
from speaker.engine import Speaker
from tests.fakes import OK, Addresses, Clock, Probes, Sink
from tests.unit.engine_rig import EngineRig

ANYCAST = ipaddress.ip_address("2001:db8::100")
PREFIX = ipaddress.ip_network("2001:db8::100/128")
YAML = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    address: {{interface: lo, manage: {manage}}}
    timing: {{rise: 3, fall: 2}}
    flap: {{window: 60, max_transitions: 4, penalty: 30}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
"""


class Rig(EngineRig):
    """One service `dns` on fakes, its maintenance in a real file under `tmp`."""

    def __init__(self, tmp: Path, manage: bool = False, present: bool = True) -> None:
        cfg = config.parse(YAML.format(state=tmp / "state", manage=str(manage).lower()))
        self.addresses = Addresses([("lo", ANYCAST)] if present else [])
        super().__init__(cfg, self.addresses, MaintenanceStore(cfg.state_dir))
        self.run = self.speaker.runs["dns"]

    def fail(self, code: str = "timeout") -> None:
        reason = {"timeout": "dns check: timeout after 0.25 s",
                  "refused": "dns check: connection refused"}[code]
        self.probes.built[0].default = Outcome(False, reason, 0.001, code)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_start_withdraws_before_anything_else(rig: Rig) -> None:
    rig.speaker.start()
    assert rig.take() == ["clear adj-rib out", "show neighbor summary"]


def test_announce_only_after_rise_passes_and_counted_after_ack(rig: Rig) -> None:
    rig.speaker.start()
    rig.ack_all()
    rig.take()
    rig.round(2)
    assert rig.take() == []
    rig.round(1)
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self"]
    assert rig.speaker.book.confirmed(PREFIX) is Confirmed.WITHDRAWN
    rig.ack_all()
    assert rig.speaker.book.confirmed(PREFIX) is Confirmed.ANNOUNCED


def test_withdraw_after_fall_failures_not_one(rig: Rig) -> None:
    rig.up()
    rig.fail()
    rig.round(1)
    assert rig.take() == []
    rig.round(1)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]
    assert rig.speaker.status()["services"][0]["reason"] == "dns check: timeout after 0.25 s"


def test_a_refusal_withdraws_at_once(rig: Rig) -> None:
    """Nothing listening is no lost packet: `fail_at_once` (default: refused) needs no `fall`."""
    rig.up()
    rig.fail("refused")
    rig.round(1)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]


def test_error_ack_is_not_counted_as_announced(rig: Rig) -> None:
    rig.speaker.start()
    rig.ack_all()
    rig.round(3)
    rig.ack_all(ok=False)
    assert rig.speaker.book.confirmed(PREFIX) is not Confirmed.ANNOUNCED
    assert rig.speaker.exabgp.acks["error"] == 1


def test_neighbor_up_announces_desired_routes_again(rig: Rig) -> None:
    rig.up()
    rig.speaker.on_message(NeighborState("fd00::1", "up", "fd00::2", 65101))
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self"]
    assert rig.speaker.status()["neighbors"][0]["state"] == "up"


def test_shutdown_withdraws_what_was_announced(rig: Rig) -> None:
    rig.up()
    rig.speaker.on_message(Shutdown())
    assert rig.speaker.stopping.is_set()
    rig.speaker.shutdown_commands()
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]


def test_garbage_is_counted_and_ignored(rig: Rig) -> None:
    rig.up()
    rig.speaker.on_message(Garbage("unexpected line", "hello"))
    assert rig.speaker.exabgp.garbage == 1 and not rig.speaker.stopping.is_set()


def test_missing_address_is_down_at_once(rig: Rig) -> None:
    rig.up()
    rig.addresses.addresses.discard(("lo", ANYCAST))
    rig.round(1)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]
    assert "missing from lo" in rig.run.health.reason


def test_managed_address_is_added_back_and_announced_after_rise(tmp_path: Path) -> None:
    rig = Rig(tmp_path, manage=True, present=False)
    rig.speaker.start()
    assert ("lo", ANYCAST) in rig.addresses.addresses
    rig.ack_all()
    rig.up()
    rig.addresses.addresses.discard(("lo", ANYCAST))
    rig.round(1)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]
    assert ("lo", ANYCAST) in rig.addresses.addresses
    rig.ack_all()
    rig.round(3)
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self"]


def test_maintenance_withdraws_at_once_and_survives_restart(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.up()
    asyncio.run(rig.speaker.set_maintenance(["dns"], "patching", "test"))
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]
    again = Rig(tmp_path)
    again.speaker.start()
    again.ack_all()
    again.round(5)
    assert again.take() == ["clear adj-rib out", "show neighbor summary"]
    assert again.speaker.status()["services"][0]["state"] == "maintenance"


def test_resume_needs_rise_fresh_passes(rig: Rig) -> None:
    rig.up()
    asyncio.run(rig.speaker.set_maintenance(["dns"], "patching", "test"))
    rig.ack_all()
    rig.round(3)
    rig.take()
    asyncio.run(rig.speaker.clear_maintenance(["dns"]))
    assert rig.take() == []
    rig.round(2)
    assert rig.take() == []
    rig.round(1)
    assert rig.take() == ["announce route 2001:db8::100/128 next-hop self"]


def test_flapping_service_is_held_down(rig: Rig) -> None:
    rig.up()
    for _ in range(2):
        rig.fail()
        rig.round(2)
        rig.ack_all()
        rig.probes.built[0].default = OK
        rig.round(3)
        rig.ack_all()
    assert rig.speaker.state_name(rig.run) == "held-down"
    assert not rig.speaker.book.desired(PREFIX)
    events = [e.new for e in rig.speaker.events]
    assert events[-1] == "held-down"
    rig.clock.advance(31)
    rig.round(1)
    assert rig.speaker.state_name(rig.run) == "up"


def test_reload_withdraws_removed_and_starts_new_withdrawn(rig: Rig, tmp_path: Path) -> None:
    rig.up()
    new = config.parse(YAML.format(state=tmp_path / "state", manage="false").replace(
        "2001:db8::100/128", "2001:db8::200/128").replace('server: "2001:db8::100"',
                                                          'server: "2001:db8::200"'))
    rig.speaker.reload(new)
    # the removed prefix goes; the new one starts withdrawn (ExaBGP has only what we sent)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]
    rig.ack_all()
    assert rig.speaker.book.prefixes() == [ipaddress.ip_network("2001:db8::200/128")]


def test_reload_adding_a_prefix_keeps_the_healthy_one_announced(rig: Rig,
                                                                 tmp_path: Path) -> None:
    rig.up()
    new = config.parse(YAML.format(state=tmp_path / "state", manage="false").replace(
        '["2001:db8::100/128"]', '["2001:db8::100/128", "2001:db8::101/128"]'))
    rig.addresses.addresses.add(("lo", ipaddress.ip_address("2001:db8::101")))
    rig.speaker.reload(new)
    assert rig.take() == []  # the new one starts withdrawn: nothing to send
    rig.ack_all()
    rig.round(2)
    assert rig.take() == []
    assert rig.speaker.book.confirmed(PREFIX) is Confirmed.ANNOUNCED
    rig.round(1)
    assert rig.take() == ["announce route 2001:db8::101/128 next-hop self"]


def test_reload_with_new_checks_keeps_a_healthy_route_until_they_fail(rig: Rig,
                                                                      tmp_path: Path) -> None:
    rig.up()
    new = config.parse(YAML.format(state=tmp_path / "state", manage="false").replace(
        "qname: example.com.", "qname: example.org."))
    rig.speaker.reload(new)
    assert rig.take() == []
    assert rig.speaker.runs["dns"].probes[-1].check.qname == "example.org."
    rig.probes.built[-1].default = Outcome(False, "dns check: rcode REFUSED", 0.001, "rcode")
    rig.round(2)
    assert rig.take() == ["withdraw route 2001:db8::100/128 next-hop self"]


def test_without_netlink_an_address_checked_service_is_never_announced(tmp_path: Path) -> None:
    cfg = config.parse(YAML.format(state=tmp_path / "state", manage="false"))
    sink = Sink()
    speaker = Speaker(cfg, sink, None, MaintenanceStore(cfg.state_dir), clock=Clock(),
                      probe_factory=Probes())
    speaker.start()
    run = speaker.runs["dns"]
    for _ in range(5):
        speaker.observe(run, asyncio.run(speaker.probe_round(run)))
    assert not any(line.startswith("announce") for line in sink.lines)
    assert "netlink unavailable" in run.health.reason
