"""Reloads that move prefixes between services, driven with fakes: no network, no sleeps."""

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings

from speaker.core import config
from speaker.core.health import Result
from speaker.core.routes import Confirmed
from speaker.core.verdicts import Outcome
from tests.strategies import TEMPLATE, configs
from tests.unit.engine_rig import EngineRig

MOVED = ipaddress.ip_network("2001:db8::9/128")
SERVICE = """\
  - name: {name}
    prefixes: [{prefixes}]
    timing: {{rise: 2, fall: 2}}
    checks: [{{type: dns, server: "{server}", qname: example.com.}}]
"""
A = ("a", "2001:db8::1")
B = ("b", "2001:db8::2")
C = ("c", "2001:db8::3")
DOWN = Outcome(False, "dns check: timeout after 0.25 s", 0.001, "timeout")


def yaml(tmp: Path, *services: tuple[tuple[str, str], list[str]]) -> config.Config:
    """A config of `services`, each ((name, server), prefixes), in that order."""
    text = f"state_dir: {tmp / 'state'}\nservices:\n" + "".join(
        SERVICE.format(name=name, server=server, prefixes=", ".join(f'"{p}"' for p in prefixes))
        for (name, server), prefixes in services)
    return config.parse(text)


class Rig(EngineRig):
    def fail(self, name: str) -> None:
        """Every later check of service `name` times out."""
        server = self.speaker.runs[name].service.checks[0].server
        for probe in self.probes.built:
            if probe.check.server == server:
                probe.default = DOWN


def moved_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if f" {MOVED} " in line]


BEFORE = [(A, ["2001:db8::1/128", str(MOVED)]), (B, ["2001:db8::2/128"])]


@pytest.mark.parametrize("b_first", [True, False], ids=["target-listed-first", "target-listed-last"])
def test_moving_a_prefix_between_healthy_services_neither_crashes_nor_withdraws(
        tmp_path: Path, b_first: bool) -> None:
    """The crash of old: KeyError in RouteBook.want when the target service came first."""
    rig = Rig(yaml(tmp_path, *BEFORE))
    rig.up()
    after = [(B, ["2001:db8::2/128", str(MOVED)]), (A, ["2001:db8::1/128"])]
    summary = rig.speaker.reload(yaml(tmp_path, *(after if b_first else after[::-1])))
    assert sorted(summary["changed"]) == ["a", "b"]
    rig.ack_all()
    rig.round(3)
    rig.ack_all()
    assert moved_lines(rig.take()) == []
    assert rig.speaker.book.confirmed(MOVED) is Confirmed.ANNOUNCED
    assert MOVED in rig.speaker.runs["b"].service.prefixes


def moved_while(tmp: Path, failing: str) -> Rig:
    """Move MOVED from a to b (listed first) while service `failing` is down."""
    rig = Rig(yaml(tmp, *BEFORE))
    rig.up()
    rig.fail(failing)
    rig.round(2)
    rig.ack_all()
    rig.take()
    rig.speaker.reload(yaml(tmp, (B, ["2001:db8::2/128", str(MOVED)]), (A, ["2001:db8::1/128"])))
    return rig


def test_a_prefix_moved_to_a_service_that_is_down_is_withdrawn(tmp_path: Path) -> None:
    rig = moved_while(tmp_path, "b")
    assert moved_lines(rig.take()) == [f"withdraw route {MOVED} next-hop self"]


def test_a_withdrawn_prefix_moved_to_a_healthy_service_waits_for_rise(tmp_path: Path) -> None:
    rig = moved_while(tmp_path, "a")
    rig.ack_all()
    rig.round(1)
    assert moved_lines(rig.take()) == []  # not announced on the reload alone
    rig.round(1)
    assert moved_lines(rig.take()) == [f"announce route {MOVED} next-hop self"]


def test_a_prefix_moved_to_a_new_service_waits_for_its_first_verdict(tmp_path: Path) -> None:
    rig = Rig(yaml(tmp_path, *BEFORE))
    rig.up()
    summary = rig.speaker.reload(yaml(tmp_path, (C, [str(MOVED)]), (A, ["2001:db8::1/128"]), (B, ["2001:db8::2/128"])))
    assert summary["added"] == ["c"] and summary["changed"] == ["a"]
    assert summary["unchanged"] == ["b"]
    assert moved_lines(rig.take()) == [f"withdraw route {MOVED} next-hop self"]
    rig.ack_all()
    rig.round(2)
    assert moved_lines(rig.take()) == [f"announce route {MOVED} next-hop self"]


def test_reload_of_a_removed_service_whose_prefix_moved_keeps_it_announced(
        tmp_path: Path) -> None:
    rig = Rig(yaml(tmp_path, *BEFORE))
    rig.up()
    summary = rig.speaker.reload(yaml(tmp_path, (B, ["2001:db8::2/128", "2001:db8::1/128",
                                                     str(MOVED)])))
    assert summary["removed"] == ["a"] and "a" not in rig.speaker.runs
    rig.round(3)
    assert rig.take() == []
    assert rig.speaker.book.confirmed(MOVED) is Confirmed.ANNOUNCED


@settings(max_examples=100, deadline=None)
@given(configs(), configs())
def test_no_reload_withdraws_a_prefix_whose_service_stays_healthy(
        old: config.Config, new: config.Config) -> None:
    """Every service up: a prefix announced before and kept by a service it had goes nowhere."""
    rig = Rig(old)
    rig.speaker.start()
    rig.ack_all()
    passing = Result(True, "ok")
    for _ in range(TEMPLATE.timing.rise):
        for run in rig.speaker.runs.values():
            rig.speaker.observe(run, passing)
    rig.ack_all()
    rig.take()
    rig.speaker.reload(new)
    rig.ack_all()
    kept = {s.name for s in old.services}
    staying = {str(p) for s in new.services if s.name in kept for p in s.prefixes
               if p in old.prefixes}
    withdrawn = {line.split()[2] for line in rig.take() if line.startswith("withdraw")}
    assert not withdrawn & staying
    for _ in range(TEMPLATE.timing.rise):
        for run in rig.speaker.runs.values():
            rig.speaker.observe(run, passing)
    rig.ack_all()
    assert all(rig.speaker.book.confirmed(p) is Confirmed.ANNOUNCED for p in new.prefixes)
    assert set(rig.speaker.book.prefixes()) == set(new.prefixes)
