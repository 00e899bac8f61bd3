"""The engine on the event path: a server's death withdraws at once, a probe confirms."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.sockdiag import Listener
from speaker.core.verdicts import Outcome
from speaker.core.watch import Detection, Process
from speaker.engine.speaker import Speaker
from tests.fakes import Clock, Probes, ServerEvents, Sink

SERVER = ipaddress.ip_address("2001:db8::100")
YAML = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    timing: {{interval: 3600, rise: 2, fall: 2}}
    watch: {{pid_file: /run/named/named.pid}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
"""
WITHDRAW = "withdraw route 2001:db8::100/128 next-hop self"
REFUSED = Outcome(False, "dns check: connection refused", 0.001, "refused")


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.cfg = config.parse(YAML.format(state=tmp / "state"))
        self.sink = Sink()
        self.events = ServerEvents()
        self.probes = Probes()
        self.speaker = Speaker(self.cfg, self.sink, None, MaintenanceStore(self.cfg.state_dir),
                               clock=Clock(), probe_factory=self.probes,
                               server_events=self.events)
        self.run = self.speaker.runs["dns"]

    def ack_all(self) -> None:
        from tests.exabgp_answers import ack_everything  # (kept off the import lines)

        ack_everything(self.speaker)

    async def up(self) -> None:
        self.speaker.start()
        self.ack_all()
        for _ in range(2):
            self.speaker.observe(self.run, await self.speaker.probe_round(self.run))
        self.ack_all()
        assert self.speaker.status()["services"][0]["prefixes"][0]["confirmed"] == "announced"
        self.sink.lines.clear()


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_start_watches_each_services_listeners_and_pid_file(rig: Rig) -> None:
    rig.speaker.start()
    assert rig.events.watched["dns"] == (Listener("udp", SERVER, 53),
                                         Process(Path("/run/named/named.pid")))


def test_a_dead_server_is_withdrawn_at_once_without_a_probe(rig: Rig) -> None:
    async def body() -> None:
        await rig.up()
        runs = rig.probes.built[0].runs
        rig.speaker.server_gone("dns", "process 42 (from /run/named/named.pid) exited")
        await asyncio.sleep(0)  # the withdraws of one event go out together, this turn
        assert rig.sink.lines == [WITHDRAW] and rig.probes.built[0].runs == runs
        shown = rig.speaker.status()["services"][0]
        assert shown["state"] == "down"
        assert shown["reason"] == "event: process 42 (from /run/named/named.pid) exited"
    asyncio.run(body())


def test_the_event_wakes_the_loop_for_a_confirming_probe(rig: Rig) -> None:
    async def body() -> None:
        await rig.up()
        probe = rig.probes.built[0]
        task = asyncio.create_task(rig.speaker.service_loop(rig.run))
        while probe.runs < 3:  # the loop's first round, then it pauses for an hour
            await asyncio.sleep(0)
        probe.default = REFUSED
        rig.speaker.server_gone("dns", "udp [2001:db8::100]:53: its last listening socket closed")
        for _ in range(5):
            await asyncio.sleep(0)
        assert probe.runs == 4  # the confirming probe, an hour early
        assert rig.run.health.reason == "dns check: connection refused"
        task.cancel()
    asyncio.run(body())


def test_an_event_during_a_round_makes_the_next_round_start_at_once(rig: Rig) -> None:
    async def body() -> None:
        await rig.up()
        probe = rig.probes.built[0]
        rig.speaker.server_gone("dns", "gone")  # no pause in progress: remembered
        task = asyncio.create_task(rig.speaker.service_loop(rig.run))
        for _ in range(10):
            await asyncio.sleep(0)
        assert probe.runs == 4  # the loop's round, then the confirming one without a pause
        task.cancel()
    asyncio.run(body())


def test_the_first_pass_after_failures_rearms_the_watch(rig: Rig) -> None:
    async def body() -> None:
        await rig.up()
        rig.speaker.server_gone("dns", "gone")
        rig.events.calls.clear()
        for _ in range(2):
            rig.speaker.observe(rig.run, await rig.speaker.probe_round(rig.run))
        assert rig.events.calls == [("rearm", "dns")]  # once: the second pass is no news
    asyncio.run(body())


def test_an_event_for_an_unknown_service_is_ignored(rig: Rig) -> None:
    rig.speaker.start()
    rig.sink.lines.clear()
    rig.speaker.server_gone("nope", "gone")
    assert rig.sink.lines == []


def test_status_shows_which_detection_is_active_and_why_not(rig: Rig) -> None:
    rig.events.reports["dns"] = [
        Detection("socket", "udp [2001:db8::100]:53", True, "4 listening sockets"),
        Detection("process", "pid file /run/named/named.pid", False, "does not exist")]
    shown = rig.speaker.status()["services"][0]["detection"]
    assert [(d["kind"], d["active"]) for d in shown] == [("socket", True), ("process", False)]


def test_reload_watches_new_and_changed_services_and_forgets_removed_ones(rig: Rig) -> None:
    rig.speaker.start()
    second = """
  - name: dns2
    prefixes: ["2001:db8::101/128"]
    checks: [{type: dns, server: "2001:db8::101", qname: example.com.}]
"""
    rig.events.calls.clear()
    rig.speaker.reload(config.parse(YAML.format(state="/tmp/x") + second))
    assert rig.events.calls == [("watch", "dns2")]  # dns is unchanged: its watch stays
    changed = YAML.format(state="/tmp/x").replace("watch: {pid_file: /run/named/named.pid}",
                                                  "watch: {sockets: false}")
    rig.events.calls.clear()
    rig.speaker.reload(config.parse(changed))
    assert rig.events.calls == [("unwatch", "dns2"), ("watch", "dns")]
    assert rig.events.watched == {"dns": ()}  # sockets off, no pid file


def test_a_second_event_for_a_service_already_down_changes_nothing(rig: Rig) -> None:
    async def body() -> None:
        await rig.up()
        rig.speaker.server_gone("dns", "process 42 exited")
        health = rig.run.health
        rig.speaker.server_gone("dns", "udp [2001:db8::100]:53: its last listening socket closed")
        await asyncio.sleep(0)
        assert rig.run.health == health and rig.sink.lines == [WITHDRAW]
    asyncio.run(body())
