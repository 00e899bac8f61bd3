"""router_limits.max_prefixes at run time, on a Speaker with fakes: no network, no sleeps.

Three services of one prefix each and a router that accepts two: the first two in
config order are announced, the third stays withdrawn and says why (status, log
once, metrics, doctor); a failed service frees its slot for the third, withdrawn
before the third is announced; a reload shares the slots again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.cli import doctor, render
from speaker.cli.findings import Verdict
from speaker.core import config
from speaker.core.exabgp_api import Ack, NeighborState
from tests.unit.engine_rig import TIMEOUT, EngineRig

SERVICE = """\
  - name: {name}
    prefixes: ["2001:db8::{n}/128"]
    timing: {{rise: 1, fall: 1}}
    flap: {{max_transitions: 100}}
    checks: [{{type: dns, server: "2001:db8::{n}", qname: example.com.}}]
"""
OVER = "over router_limits.max_prefixes (2): not announced"


def cfg(tmp: Path, names: str = "abc", limit: int = 2) -> config.Config:
    text = (f"state_dir: {tmp / 'state'}\nrouter_limits: {{max_prefixes: {limit}}}\n"
            "services:\n" + "".join(SERVICE.format(name=name, n=ord(name) - 96)
                                    for name in names))
    return config.parse(text)


def announced(rig: EngineRig) -> list[str]:
    return sorted(str(p) for p in rig.speaker.book.maybe_announced())


def prefix_status(rig: EngineRig, name: str) -> dict[str, object]:
    [service] = [s for s in rig.speaker.status()["services"] if s["name"] == name]
    [item] = service["prefixes"]
    return item  # type: ignore[no-any-return]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[EngineRig]:
    """Started, a, b, c up; after the test: at no announce could the router hold more
    than the limit (the book counts a prefix from its announce to its withdraw's done)."""
    rig = EngineRig(cfg(tmp_path))
    held: list[int] = []
    rig.sink.on_write = lambda line: held.extend(
        [len(rig.speaker.book.maybe_announced())] if line.startswith("announce") else [])
    rig.up()
    yield rig
    limit = rig.speaker.config.router_limits.max_prefixes
    assert held and limit is not None and max(held) <= limit, (held, limit)


def test_only_the_first_two_in_config_order_are_announced(rig: EngineRig) -> None:
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::2/128"]
    assert prefix_status(rig, "c") == {"prefix": "2001:db8::3/128", "desired": "withdrawn",
                                       "confirmed": "withdrawn", "resetting": [],
                                       "over_limit": OVER}
    assert prefix_status(rig, "a")["over_limit"] is None
    assert rig.speaker.status()["services"][2]["state"] == "up"


def test_the_excess_is_logged_once_not_every_round(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rig = EngineRig(cfg(tmp_path))
    rig.up()
    rig.round(5)
    said = [(r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]
    assert [(f["prefix"], f["reason"]) for m, f in said
            if m == "prefix not announced: over router_limits.max_prefixes"] == [
        (ipaddress.ip_network("2001:db8::3/128"), OVER)]
    [(_, start)] = [(m, f) for m, f in said
                    if m == "config over router_limits.max_prefixes at start: only the first "
                            "prefixes in config order are announced"]
    assert start["last"] == "2001:db8::3/128" and start["limit"] == 2


def test_a_failed_service_frees_its_slot_withdrawn_before_the_next_is_announced(
        rig: EngineRig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    rig.answer("a", TIMEOUT)
    rig.round()
    assert rig.take() == ["withdraw route 2001:db8::1/128 next-hop self"]  # c waits for the done
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::2/128"]
    rig.speaker.on_message(Ack(True))  # the withdraw's done frees the slot at once
    assert rig.take() == ["announce route 2001:db8::3/128 next-hop self"]
    rig.ack_all()
    assert announced(rig) == ["2001:db8::2/128", "2001:db8::3/128"]
    assert prefix_status(rig, "c")["over_limit"] is None
    assert any("prefix no longer over router_limits.max_prefixes" in r.getMessage()
               for r in caplog.records)


def test_a_healed_service_takes_its_slot_back_withdrawing_the_last_first(
        rig: EngineRig) -> None:
    rig.answer("a", TIMEOUT)
    rig.round()
    rig.ack_all()
    rig.take()
    rig.heal("a")
    rig.round()
    assert rig.take() == ["withdraw route 2001:db8::3/128 next-hop self"]
    rig.ack_all()
    assert rig.take() == ["announce route 2001:db8::1/128 next-hop self"]
    rig.ack_all()
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::2/128"]
    assert prefix_status(rig, "c")["over_limit"] == OVER


def test_maintenance_frees_a_slot_too(rig: EngineRig) -> None:
    asyncio.run(rig.speaker.set_maintenance(["b"], "drain", "test"))
    rig.ack_all()
    rig.speaker.flush()
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::3/128"]


def test_a_session_that_comes_back_gets_no_more_than_the_limit(rig: EngineRig) -> None:
    rig.answer("a", TIMEOUT)
    rig.round()  # the withdraw of a is in flight, c waits
    rig.take()
    rig.speaker.on_message(NeighborState(peer="2001:db8::ff", state="up"))
    assert "announce route 2001:db8::3/128 next-hop self" not in rig.take()


def test_a_reload_shares_the_slots_in_the_new_order(rig: EngineRig, tmp_path: Path) -> None:
    summary = rig.speaker.reload(cfg(tmp_path, names="cab"))
    assert summary["over_max_prefixes"] == ["2001:db8::2/128"]
    rig.round()
    rig.ack_all()
    rig.speaker.flush()
    rig.round()
    rig.ack_all()
    rig.speaker.flush()
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::3/128"]
    assert prefix_status(rig, "b")["over_limit"] == OVER


def test_a_reload_that_raises_the_limit_announces_the_excess(rig: EngineRig,
                                                             tmp_path: Path) -> None:
    summary = rig.speaker.reload(cfg(tmp_path, limit=3))
    assert summary["over_max_prefixes"] == []
    rig.ack_all()
    rig.speaker.flush()
    assert announced(rig) == ["2001:db8::1/128", "2001:db8::2/128", "2001:db8::3/128"]


def test_status_render_and_doctor_name_the_excess(rig: EngineRig, tmp_path: Path) -> None:
    status = rig.speaker.status()
    lines = render.render_status(status, 0.0)
    assert any("2001:db8::3/128" in line and f"withdrawn: {OVER}" in line for line in lines), \
        lines
    [finding] = [f for f in doctor.judge_prefixes(status) if "2001:db8::3" in f.check]
    assert finding.verdict is Verdict.FAIL and OVER in finding.detail
    config_finding = doctor.judge_config(tmp_path / "s.yaml", rig.cfg, "")
    assert config_finding.verdict is Verdict.FAIL
    assert "the router accepts 2" in config_finding.detail


def test_metrics_show_the_prefix_over_the_limit(rig: EngineRig) -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from speaker.adapters import metrics

    prom = metrics.Prometheus(rig.speaker.status)
    text = generate_latest(prom.registry).decode()
    over = {s.labels["prefix"]: s.value for f in text_string_to_metric_families(text)
            for s in f.samples if s.name == "speaker_prefix_over_limit"}
    assert over == {"2001:db8::1/128": 0, "2001:db8::2/128": 0, "2001:db8::3/128": 1}


@pytest.mark.parametrize("limit", [None, 2])
def test_a_steady_round_touches_only_its_own_prefixes(tmp_path: Path,
                                                      limit: int | None) -> None:
    """A probe round that changes nothing costs its service's prefixes, not a share over
    every prefix of the config (1,000 services: O(n) per interval, not O(n^2))."""
    config_text = (f"state_dir: {tmp_path / 'state'}\n"
                   + (f"router_limits: {{max_prefixes: {limit}}}\n" if limit else "")
                   + "services:\n" + "".join(SERVICE.format(name=name, n=ord(name) - 96)
                                             for name in "abcdef"))
    rig = EngineRig(config.parse(config_text))
    rig.up()
    touched: list[str] = []
    want = rig.speaker.book.want
    rig.speaker.book.want = lambda prefix, route: (  # type: ignore[method-assign]
        touched.append(str(prefix)), want(prefix, route))[1]
    rig.speaker.apply(rig.speaker.runs["a"])
    assert touched == ["2001:db8::1/128"]


def test_every_place_that_names_the_excess_gives_the_one_fix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The log, doctor's prefix and config findings and check-config's problem: one text."""
    from speaker.core import limits

    caplog.set_level(logging.INFO)
    rig = EngineRig(cfg(tmp_path))
    rig.up()
    logged = [getattr(r, "fields", {}).get("fix") for r in caplog.records
              if r.getMessage() == "prefix not announced: over router_limits.max_prefixes"]
    assert logged == [limits.MAX_PREFIXES_FIX]
    status = rig.speaker.status()
    [finding] = [f for f in doctor.judge_prefixes(status) if "2001:db8::3" in f.check]
    assert finding.fix == limits.MAX_PREFIXES_FIX
    assert doctor.judge_config(tmp_path / "s.yaml", rig.cfg, "").fix == limits.MAX_PREFIXES_FIX
    excess = limits.excess(rig.cfg.router_limits, rig.cfg.prefixes)
    assert excess is not None and excess[1].endswith(f": {limits.MAX_PREFIXES_FIX}")
