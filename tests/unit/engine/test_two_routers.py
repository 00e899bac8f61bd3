"""Two routers (two ExaBGP neighbours): one announce for both, and both sessions in status.

The speaker writes its commands without a `neighbor` selector, so ExaBGP sends them
to every neighbour; a session to one router going down changes nothing it writes,
and `speakerctl status` lists each session with its own state (engine on fakes;
the lab test is tests/e2e/test_lab_routers.py).
"""

from __future__ import annotations

from speaker.cli import render
from speaker.core import config
from speaker.core.exabgp_api import NeighborState
from tests.unit.engine_rig import ONE_SERVICE, EngineRig

YAML = ONE_SERVICE
ROUTER1, ROUTER2, LOCAL = "fd00::1", "fd00::2", "fd00::50"


def two_sessions_up() -> EngineRig:
    rig = EngineRig(config.parse(YAML))
    rig.speaker.start()
    for peer in (ROUTER1, ROUTER2):
        rig.speaker.on_message(NeighborState(peer, "up", LOCAL, 65101))
    rig.ack_all()
    rig.take()
    return rig


def test_the_announce_is_one_command_for_every_neighbour() -> None:
    rig = two_sessions_up()
    rig.round()
    lines = rig.take()
    assert any(line.startswith("announce route 2001:db8::100/128") for line in lines), lines
    assert not any("neighbor" in line for line in lines), lines


def test_one_session_down_writes_nothing_and_status_shows_both() -> None:
    rig = two_sessions_up()
    rig.round()
    rig.ack_all()
    rig.take()
    rig.clock.advance(1.0)
    rig.speaker.on_message(NeighborState(ROUTER2, "down", LOCAL, 65101, "peer reset"))
    rig.round()
    assert rig.take() == []  # the route stands for router 1
    status = rig.speaker.status()
    states = {n["peer"]: n["state"] for n in status["neighbors"]}
    assert states == {ROUTER1: "up", ROUTER2: "down"}
    [prefix] = status["services"][0]["prefixes"]
    assert prefix["desired"] == "announced" and prefix["confirmed"] == "announced"
    rows = {line.split()[0]: line.split()[1]
            for line in render.render_status(status, status["started"])
            if line.startswith("fd00::")}
    assert rows == {ROUTER1: "up", ROUTER2: "down"}
