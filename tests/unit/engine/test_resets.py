"""A session that keeps resetting: the pure rule (core.resets) and what status, doctor and
the metrics make of it (engine on fakes)."""

from __future__ import annotations

from speaker.adapters import metrics
from speaker.cli import doctor, render
from speaker.cli.doctor import Verdict
from speaker.core import config
from speaker.core.exabgp_api import NeighborState
from speaker.core.resets import COUNT, QUICK, WINDOW, Resets
from tests.unit.engine_rig import ONE_SERVICE, EngineRig

YAML = ONE_SERVICE
PEER = "fd00::1"
MARTIAN = "notification received (3,3) UPDATE message error / invalid NEXT_HOP attribute"


def test_three_quick_downs_within_the_window_make_a_session_resetting() -> None:
    r = Resets()
    for i in range(COUNT):
        r.up(100.0 + i * 10)
        assert not r.resetting(100.0 + i * 10)
        assert r.down(100.0 + i * 10 + 1, None)
    assert r.resetting(121.0) and r.recent(121.0) == COUNT and r.total == COUNT


def test_a_down_long_after_the_up_and_the_last_update_is_not_a_reset() -> None:
    r = Resets()
    for i in range(COUNT):
        r.up(i * 100.0)
        assert not r.down(i * 100.0 + QUICK + 1, last_update=i * 100.0 + 0.5)
    assert not r.resetting(300.0) and r.total == 0


def test_a_down_right_after_an_update_counts_even_on_an_old_session() -> None:
    r = Resets()
    r.up(0.0)
    assert r.down(1000.0, last_update=998.0)


def test_resetting_ends_once_the_quick_downs_leave_the_window() -> None:
    r = Resets()
    for i in range(COUNT):
        r.up(float(i))
        r.down(i + 0.5, None)
    assert r.resetting(3.0)
    assert not r.resetting(0.5 + WINDOW + 0.1) and r.total == COUNT  # the first one left


def flap(rig: EngineRig, times: int) -> None:
    """The router takes the session up, gets our UPDATE and drops it, `times` times."""
    for _ in range(times):
        rig.speaker.on_message(NeighborState(PEER, "up", "fd00::2", 65101))
        rig.ack_all()
        rig.clock.advance(1.0)
        rig.speaker.on_message(NeighborState(PEER, "down", "fd00::2", 65101, MARTIAN))
        rig.clock.advance(1.0)


def resetting_rig(times: int = COUNT) -> EngineRig:
    rig = EngineRig(config.parse(YAML))
    rig.up()
    flap(rig, times)
    rig.speaker.on_message(NeighborState(PEER, "up", "fd00::2", 65101))
    rig.ack_all()
    return rig


def test_status_shows_the_resetting_session_with_exabgps_reason() -> None:
    status = resetting_rig().speaker.status()
    [n] = status["neighbors"]
    assert n["state"] == "up" and n["resetting"] is True and n["down_reason"] == MARTIAN
    assert n["recent_resets"] == COUNT and n["resets"] == COUNT
    [prefix] = status["services"][0]["prefixes"]
    assert prefix["confirmed"] == "announced" and prefix["resetting"] == [PEER]
    text = "\n".join(render.render_status(status, status["started"]))
    assert f"NOT held: confirmed by ExaBGP, but the session with {PEER} keeps resetting" in text
    assert "up, RESETTING" in text and MARTIAN in text


def test_two_quick_downs_are_not_yet_resetting() -> None:
    status = resetting_rig(COUNT - 1).speaker.status()
    assert status["neighbors"][0]["resetting"] is False
    assert status["services"][0]["prefixes"][0]["resetting"] == []
    [finding] = doctor.judge_prefixes(status)
    assert finding.verdict is Verdict.OK


def test_doctor_fails_the_prefix_and_the_session_of_a_resetting_neighbour() -> None:
    status = resetting_rig().speaker.status()
    [prefix] = doctor.judge_prefixes(status)
    assert prefix.verdict is Verdict.FAIL and "keeps resetting" in prefix.detail
    [bgp] = doctor.judge_bgp(status)
    assert bgp.verdict is Verdict.FAIL and MARTIAN in bgp.detail


def test_the_metrics_count_the_resets_and_flag_the_session() -> None:
    rig = resetting_rig(COUNT + 1)
    prom = metrics.Prometheus(rig.speaker.status)
    labels = {"peer": PEER}
    assert prom.registry.get_sample_value("speaker_bgp_session_resets_total", labels) == COUNT + 1
    assert prom.registry.get_sample_value("speaker_bgp_neighbor_resetting", labels) == 1
    rig.clock.advance(WINDOW + 1)
    assert prom.registry.get_sample_value("speaker_bgp_neighbor_resetting", labels) == 0
    assert prom.registry.get_sample_value("speaker_bgp_session_resets_total", labels) == COUNT + 1
