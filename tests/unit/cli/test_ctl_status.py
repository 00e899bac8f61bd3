"""speakerctl against a served Speaker: status, events and doctor, human and JSON.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from speaker.cli import doctor
from speaker.core.exabgp_api import NeighborState
from tests.fakes import Probe
from tests.unit.cli.served import Run, Served, cli, write_config
from tests.unit.rig import PREFIX


def test_status_prints_a_table_of_services_prefixes_checks_and_neighbours(
        served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    served.call(lambda: served.rig.speaker.on_message(
        NeighborState(peer="2001:db8::1", state="up", local="2001:db8::50", peer_as=65101)))
    code, out, _ = run(*cli(served.folder, "status"))
    assert code == 0
    assert "dns      up" in out and "rise 0/2" not in out and "fall 0/2" in out
    [line] = [x for x in out.splitlines() if PREFIX in x]
    assert line.split() == ["prefix", PREFIX, "announced", "(confirmed", "by", "ExaBGP)"]
    assert "dns check [2001:db8::53]:53 SOA example.com." in out
    assert "2001:db8::1  up" in out and "65101" in out
    assert "other    starting" in out and "rise 0/3" in out


def test_status_json_is_the_status_result(served: Served, run: Run) -> None:
    code, out, _ = run(*cli(served.folder, "status", "--json"))
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"version", "pid", "started", "uptime", "config", "services",
                         "neighbors", "exabgp", "dns_server"}
    assert [s["name"] for s in data["services"]] == ["dns", "other"]


def test_status_of_one_service_and_of_an_unknown_one(served: Served, run: Run) -> None:
    code, out, _ = run(*cli(served.folder, "--json", "status", "other"))
    assert code == 0 and [s["name"] for s in json.loads(out)["services"]] == ["other"]
    code, _, err = run(*cli(served.folder, "status", "nope"))
    assert code == 67 and "unknown service nope" in err


def test_events_human_and_json(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    code, out, _ = run(*cli(served.folder, "events"))
    assert code == 0 and "dns  starting -> up" in out
    code, out, _ = run(*cli(served.folder, "events", "--json"))
    assert [e["new"] for e in json.loads(out)] == ["up"]


def test_events_follow_prints_transitions_as_they_happen(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)

    def stop_soon() -> None:  # the process stops: the follow ends
        served.rig.speaker.stopping.set()
        for waiter in served.rig.speaker.event_waiters:
            waiter.set()

    served.loop.call_later(0.2, stop_soon)
    code, out, err = run(*cli(served.folder, "events", "--follow"))
    assert code == 0 and "starting -> up" in out and "stopping" in err


def test_doctor_passes_on_a_healthy_node(
        served: Served, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    served.call(served.rig.bring_up)
    served.call(lambda: served.rig.bring_up("other"))
    served.call(lambda: served.rig.speaker.on_message(NeighborState("2001:db8::1", "up")))
    local = frozenset({("lo", ipaddress.ip_address("2001:db8::53")),
                       ("lo", ipaddress.ip_address("2001:db8::54"))})
    monkeypatch.setattr(doctor, "local_addresses", lambda: local)
    monkeypatch.setattr(doctor.checks, "build", lambda check, timeout: Probe(check, timeout))
    code, out, _ = run(*cli(served.folder, "doctor"))
    assert code == 0, out
    assert "FAIL" not in out and "ok    process" in out and "bgp 2001:db8::1" in out


def test_doctor_fails_with_a_fix_when_the_address_is_missing(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)
    monkeypatch.setattr(doctor, "local_addresses", lambda: frozenset())
    code, out, _ = run(*cli(folder, "doctor"))
    assert code == 1
    assert "FAIL  process" in out and "FAIL  address 2001:db8::53" in out
    assert "fix: ip -6 addr add 2001:db8::53/128 dev lo" in out
    code, out, _ = run(*cli(folder, "--json", "doctor"))
    assert code == 1 and {"check", "verdict", "detail", "fix"} == set(json.loads(out)[0])
