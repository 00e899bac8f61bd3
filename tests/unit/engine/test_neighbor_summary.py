"""A respawned speaker learns the BGP sessions from `show neighbor summary`.

ExaBGP sends neighbour changes only, so a process it respawns while the session
is up hears nothing of it. The answers are the recorded ones of ExaBGP 4.2 and
5.0 (tests/fixtures/exabgp/*/show-neighbor-summary*.txt), driven with fakes.
"""

from pathlib import Path

import pytest

from speaker.cli import doctor, render
from speaker.cli.findings import Verdict
from speaker.core import config
from speaker.core.exabgp_api import Ack, Text, parse, parse_summary
from speaker.engine import Speaker
from tests.fakes import Clock, Probes, Sink, Store

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exabgp"
YAML = """
state_dir: /nonexistent
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    address: {interface: lo, manage: false}
    checks:
      - {type: dns, server: "2001:db8::100", qname: example.com.}
"""


def speaker() -> Speaker:
    return Speaker(config.parse(YAML), Sink(), None, Store(), clock=Clock(),
                   probe_factory=Probes())


def feed(spk: Speaker, path: Path) -> None:
    for raw in path.read_bytes().splitlines():
        spk.on_message(parse(raw))


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_recorded_summary_of_an_established_session(version: str) -> None:
    lines = (FIXTURES / version / "show-neighbor-summary.txt").read_text().splitlines()
    [row] = parse_summary(lines[:-1]) or []
    assert (row.peer, row.peer_as, row.state, row.fsm, row.for_seconds) == (
        "fd00:10:1::1", 65101, "up", "established", 1)


def test_recorded_summary_of_a_down_session_differs_by_version() -> None:
    def rows(version: str) -> list[str]:
        text = (FIXTURES / version / "show-neighbor-summary-down.txt").read_text()
        return [ln for ln in text.splitlines() if not ln.startswith("{")][:-1]
    assert parse_summary(rows("4.2")) == []  # 4.2 lists no row for a session not up
    [row] = parse_summary(rows("5.0")) or []
    assert (row.state, row.fsm, row.for_seconds) == ("down", "idle", None)


def test_days_in_the_up_time_and_what_is_no_summary() -> None:
    header = "Peer            AS        up/down state       |     #sent     #recvd"
    [row] = parse_summary([header, "fd00::1  65101  2 days, 1:00:05 established  3  4"]) or []
    assert row.for_seconds == 2 * 86400 + 3605
    assert parse_summary([]) is None
    assert parse_summary(["please specify summary, extensive or configuration"]) is None
    assert parse_summary([header, "garbage"]) is None


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_respawned_process_lists_the_session_up_after_the_answer(version: str) -> None:
    spk = speaker()
    spk.start()
    assert spk.exabgp.neighbors_known is False
    assert spk.exabgp.asking
    spk.on_message(Ack(True))  # the clear's
    feed(spk, FIXTURES / version / "show-neighbor-summary.txt")
    status = spk.status()
    [n] = status["neighbors"]
    assert (n["peer"], n["state"], n["peer_as"]) == ("fd00:10:1::1", "up", 65101)
    assert status["exabgp"]["neighbors_known"] is True
    assert status["exabgp"]["ignored_lines"] == 0 and status["exabgp"]["acks_unexpected"] == 0
    assert doctor.judge_bgp(status)[0].verdict is Verdict.OK


def test_events_before_the_answer_are_events_and_a_same_state_row_keeps_them() -> None:
    spk = speaker()
    spk.start()
    spk.on_message(Ack(True))
    feed(spk, FIXTURES / "5.0" / "show-neighbor-summary-down.txt")
    [n] = spk.status()["neighbors"]
    assert (n["state"], n["reason"], n["downs"]) == ("down", "closing connection", 1)
    assert spk.exabgp.garbage == 0 and spk.exabgp.neighbors_known is True


def test_before_an_answer_the_sessions_are_unknown_not_absent() -> None:
    spk = speaker()
    spk.start()
    status = spk.status()
    assert status["neighbors"] == [] and status["exabgp"]["neighbors_known"] is False
    assert any("NEIGHBOR  unknown" in line for line in render.render_status(status, 0.0))
    [finding] = doctor.judge_bgp(status)
    assert finding.verdict is Verdict.WARN and "unknown" in finding.detail


def test_a_stray_done_first_is_no_answer() -> None:
    """A respawned process first reads the `done` of the watchdog's withdraw for the dead
    one (seen with 4.2 and 5.0): it is an ack, not the summary's answer."""
    spk = speaker()
    spk.start()
    spk.on_message(Ack(True))  # the watchdog's withdraw, written by the dead process
    spk.on_message(Ack(True))  # the clear's
    assert spk.exabgp.asking
    feed(spk, FIXTURES / "4.2" / "show-neighbor-summary.txt")
    assert [n["state"] for n in spk.status()["neighbors"]] == ["up"]
    assert spk.exabgp.garbage == 0 and not spk.exabgp.asking


def test_an_answer_that_is_no_summary_leaves_them_unknown_and_later_text_is_garbage(
        ) -> None:
    spk = speaker()
    spk.start()
    spk.on_message(Ack(True))
    spk.on_message(Text("please specify summary, extensive or configuration"))
    spk.on_message(Ack(True))
    assert spk.exabgp.neighbors_known is False and not spk.exabgp.asking
    spk.on_message(Text("hello"))
    assert spk.exabgp.garbage == 1
