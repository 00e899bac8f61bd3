"""The speaker's start: `clear adj-rib out` before anything else, then only what it decides.

Driven with fakes (no network, no sleeps). A respawned process must leave ExaBGP
with no route it did not decide on, and must not withdraw prefixes one by one
(ExaBGP 4.2 sends the withdraw of a prefix it never announced as a malformed
UPDATE).
"""

import asyncio
import ipaddress
import logging
from pathlib import Path

import pytest

from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.exabgp_api import Ack, NeighborState
from speaker.core.routes import Confirmed
from speaker.engine.speaker import Speaker
from tests.exabgp_answers import answer_summary
from tests.fakes import Addresses, Clock, Probes, Sink

P = ipaddress.ip_network("2001:db8::100/128")
Q = ipaddress.ip_network("2001:db8::101/128")
YAML = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128", "2001:db8::101/128"]
    address: {{interface: lo, manage: false}}
    timing: {{rise: {rise}, fall: 2}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
"""
# the two prefixes of the service change together: one command, one ack
ANNOUNCE_PQ = "announce attributes next-hop self nlri 2001:db8::100/128 2001:db8::101/128"
WITHDRAW_PQ = "withdraw attributes next-hop self nlri 2001:db8::100/128 2001:db8::101/128"
START = ["clear adj-rib out", "show neighbor summary"]


def make(tmp: Path, rise: int = 1) -> tuple[Speaker, Sink, Clock, list[tuple[list[str], list[str]]]]:
    cfg = config.parse(YAML.format(state=tmp / "state", rise=rise))
    sink, clock = Sink(), Clock()
    addresses = Addresses([("lo", P.network_address), ("lo", Q.network_address)])
    speaker = Speaker(cfg, sink, addresses, MaintenanceStore(cfg.state_dir), clock=clock,
                      probe_factory=Probes())
    told: list[tuple[list[str], list[str]]] = []
    speaker.exabgp.on_prefixes_changed = lambda added, removed: told.append((added, removed))
    return speaker, sink, clock, told


def logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, dict[str, object]]]:
    """(message, key=value fields) of every record captured."""
    return [(r.getMessage(), getattr(r, "fields", {})) for r in caplog.records]


def probe(speaker: Speaker) -> None:
    run = speaker.runs["dns"]
    speaker.observe(run, asyncio.run(speaker.probe_round(run)))


def test_start_sends_only_clear_adj_rib_out_and_asks_the_sessions(tmp_path: Path) -> None:
    speaker, sink, _, _ = make(tmp_path)
    speaker.start()
    assert sink.lines == START
    assert speaker.book.waiting == 1


def test_nothing_is_announced_before_the_clear_is_acknowledged(tmp_path: Path) -> None:
    speaker, sink, _, _ = make(tmp_path, rise=1)
    speaker.start()
    probe(speaker)  # healthy at once (rise 1): wants both announced
    speaker.flush()
    assert sink.lines == START
    speaker.on_message(Ack(True))
    assert sink.lines == [*START, ANNOUNCE_PQ]


def test_clear_done_confirms_withdrawn_without_any_withdraw(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    speaker, sink, _, told = make(tmp_path, rise=3)
    speaker.start()
    speaker.sync_watchdog()  # housekeeping: the watchdog learns what may be announced
    with caplog.at_level(logging.INFO):
        speaker.on_message(Ack(True))
    probe(speaker)
    assert sink.lines == START
    assert speaker.book.confirmed(P) is Confirmed.WITHDRAWN
    assert speaker.book.confirmed(Q) is Confirmed.WITHDRAWN
    assert speaker.exabgp.acks == {"done": 1, "error": 0, "unexpected": 0}
    assert told == [([str(P), str(Q)], []), ([], [str(P), str(Q)])]
    assert logged(caplog) == [("ExaBGP adj-rib-out cleared", {"withdrawn": 2}),
                              ("withdrawn", {"prefix": P}), ("withdrawn", {"prefix": Q})]
    status = speaker.status()["services"][0]["prefixes"]
    assert [p["confirmed"] for p in status] == ["withdrawn", "withdrawn"]


def test_clear_refused_falls_back_to_withdrawing_each_prefix(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    speaker, sink, _, _ = make(tmp_path)
    speaker.start()
    with caplog.at_level(logging.WARNING):
        speaker.on_message(Ack(False))
    assert sink.lines == [*START, WITHDRAW_PQ]
    assert "ExaBGP refused to clear its adj-rib-out" in caplog.text
    assert speaker.exabgp.acks["error"] == 1


def test_session_up_while_clearing_announces_after_the_clear(tmp_path: Path) -> None:
    speaker, sink, _, _ = make(tmp_path, rise=1)
    speaker.start()
    probe(speaker)
    speaker.on_message(NeighborState("fd00::1", "up"))  # re-announce what is wanted
    assert sink.lines == [*START, ANNOUNCE_PQ]
    speaker.on_message(Ack(True))  # the clear's
    answer_summary(speaker, ["fd00::1          65101     0:00:01 established  0  0"])
    speaker.on_message(Ack(True))  # the announce's, for both prefixes
    assert speaker.book.confirmed(P) is Confirmed.ANNOUNCED
    assert speaker.book.confirmed(Q) is Confirmed.ANNOUNCED
    assert speaker.exabgp.acks["unexpected"] == 0


def test_missing_clear_ack_is_warned_about(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    speaker, _, clock, _ = make(tmp_path)
    speaker.start()
    with caplog.at_level(logging.WARNING):
        speaker.check_acks()
        clock.advance(6)
        speaker.check_acks()
    [(message, fields)] = logged(caplog)
    assert message == "no ack from ExaBGP" and fields["oldest"] == "clear adj-rib out"
