"""ExaBGP's text API: rendering commands and classifying stdin lines."""

import ipaddress
import json
from pathlib import Path

import pytest

from speaker.core.config import Route
from speaker.core.exabgp_api import (
    MAX_LINE,
    Ack,
    Garbage,
    NeighborState,
    Other,
    Shutdown,
    parse,
    render,
)
from speaker.core.routes import CLEAR, Action, Command

P = ipaddress.ip_network("2001:db8::100/128")
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exabgp"


def test_render_plain_announce_and_withdraw() -> None:
    assert render(Command(Action.ANNOUNCE, P)) == "announce route 2001:db8::100/128 next-hop self"
    assert render(Command(Action.WITHDRAW, P)) == "withdraw route 2001:db8::100/128 next-hop self"


def test_render_policy_attributes() -> None:
    route = Route(med=10, communities=("65535:0", "65201:1"), as_path=(65201, 65201))
    assert render(Command(Action.ANNOUNCE, P, route)) == (
        "announce route 2001:db8::100/128 next-hop self med 10 "
        "community [65535:0 65201:1] as-path [65201 65201]")


def test_render_clear_has_no_neighbor_selector() -> None:
    # a selector that matches no neighbour kills ExaBGP 4.2 (fixtures README)
    assert render(CLEAR) == "clear adj-rib out"


def test_acks_and_shutdown() -> None:
    assert parse(b"done") == Ack(True)
    assert parse(b"error") == Ack(False)
    assert parse(b"done\r") == Ack(True)
    assert parse(b"shutdown") == Shutdown()


def state(st: str, **extra: object) -> bytes:
    neighbor = {"address": {"local": "fd00::2", "peer": "fd00::1"},
                "asn": {"local": 65201, "peer": 65101}, "state": st, **extra}
    return json.dumps({"exabgp": "4.0.1", "time": 1.0, "host": "n", "pid": 1, "ppid": 1,
                       "counter": 1, "type": "state", "neighbor": neighbor}).encode()


def test_neighbor_states() -> None:
    assert parse(state("up")) == NeighborState("fd00::1", "up", "fd00::2", 65101)
    assert parse(state("connected")).state == "connected"  # type: ignore[union-attr]
    down = parse(state("down", reason="peer reset"))
    assert isinstance(down, NeighborState) and down.reason == "peer reset"


def test_json_notification_shutdown() -> None:
    line = json.dumps({"exabgp": "4.0.1", "type": "notification", "notification": "shutdown"})
    assert parse(line.encode()) == Shutdown()


def test_other_messages_are_recognised_not_garbage() -> None:
    assert parse(b'{"type": "update", "neighbor": {}}') == Other("update")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type": "state"', "invalid JSON"),
        (b'{"neighbor": {}}', "JSON without a type"),
        (b'{"type": "state", "neighbor": 3}', "state message without a neighbor"),
        (b'{"type": "state", "neighbor": {"state": "up"}}', "without state or address"),
        (b"\xff\xfe\x00", "not UTF-8"),
        (b"x" * (MAX_LINE + 1), "longer than"),
        (b"{" * 100000, "longer than"),
    ],
)
def test_garbage_is_classified(raw: bytes, reason: str) -> None:
    message = parse(raw)
    assert isinstance(message, Garbage) and reason in message.reason
    assert len(message.sample) <= 400


def test_deeply_nested_json_is_garbage_not_a_crash() -> None:
    assert isinstance(parse(b"{" + b'"a":[' * 5000 + b"]" * 5000 + b"}"), Garbage | Other)


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_recorded_exabgp_output_parses_without_garbage(version: str) -> None:
    folder = FIXTURES / version
    files = sorted(folder.glob("*.txt")) if folder.exists() else []
    if not files:
        pytest.skip(f"no recorded ExaBGP {version} fixtures")
    kinds: set[str] = set()
    for path in files:
        for line in path.read_bytes().splitlines():
            if not line.strip():
                continue
            message = parse(line)
            assert not isinstance(message, Garbage), (path.name, line[:200])
            kinds.add(type(message).__name__)
            if isinstance(message, NeighborState):
                kinds.add(f"state-{message.state}")
    assert {"Ack", "state-up", "state-down"} <= kinds


@pytest.mark.parametrize("version", ["4.2", "5.0"])
@pytest.mark.parametrize("name", ["clear-adj-rib-out", "clear-adj-rib-out-respawned"])
def test_recorded_clear_adj_rib_out_is_answered_by_one_done(version: str, name: str) -> None:
    raw = (FIXTURES / version / f"{name}.txt").read_bytes()
    assert [parse(line) for line in raw.splitlines()] == [Ack(True)]


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_recorded_clear_while_session_down_is_done_first_then_events(version: str) -> None:
    raw = (FIXTURES / version / "clear-adj-rib-out-while-down.txt").read_bytes()
    messages = [parse(line) for line in raw.splitlines()]
    assert messages[0] == Ack(True)
    assert all(isinstance(m, NeighborState) for m in messages[1:])
