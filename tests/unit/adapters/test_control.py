"""The control server over a real unix socket, with a Speaker built on fakes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from speaker.adapters import control
from speaker.core import protocol
from speaker.core.exabgp_api import Ack
from tests.unit.rig import PREFIX, Rig, ask, connect, exchange, run


def test_ping_and_status_round_trip(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        assert await ask(rig, "ping") == [{"v": 1, "ok": True, "result": {"pong": True}}]
        [reply] = await ask(rig, "status")
        names = [s["name"] for s in reply["result"]["services"]]
        assert reply["ok"] and names == ["dns", "other"]
        assert reply["result"]["services"][0]["prefixes"] == [
            {"prefix": PREFIX, "desired": "withdrawn", "confirmed": "withdrawn",
             "resetting": [], "over_limit": None}]

    run(folder, scenario)


def test_socket_is_created_mode_0660(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        assert stat.S_IMODE(os.stat(rig.socket).st_mode) == 0o660

    run(folder, scenario)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"hello\n", protocol.BAD_REQUEST),
        (b"[]\n", protocol.BAD_REQUEST),
        (b'{"v": 7, "cmd": "status"}\n', protocol.UNSUPPORTED_VERSION),
        (b'{"v": 1, "cmd": "rm-rf"}\n', protocol.UNKNOWN_COMMAND),
        (b'{"v": 1, "cmd": "withdraw", "args": {"services": "dns"}}\n', protocol.BAD_REQUEST),
        (b'{"v": 1, "cmd": "withdraw", "args": {"drain_delay": -1}}\n', protocol.BAD_REQUEST),
        (b'{"v": 1, "cmd": "events", "args": {"follow": "yes"}}\n', protocol.BAD_REQUEST),
    ],
)
def test_bad_requests_get_a_structured_error_and_change_nothing(
        folder: Path, line: bytes, code: str) -> None:
    async def scenario(rig: Rig) -> None:
        [reply] = await exchange(rig, line)
        assert reply["v"] == 1 and reply["ok"] is False and reply["error"]["code"] == code
        assert rig.speaker.maintenance == {} and not rig.store.path.exists()
        assert (await ask(rig, "ping"))[0]["ok"]

    run(folder, scenario)


def test_oversized_request_is_refused_and_the_server_keeps_serving(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        [reply] = await exchange(rig, b"x" * (protocol.MAX_LINE + 100) + b"\n")
        assert reply["error"]["code"] == protocol.BAD_REQUEST
        assert "longer than" in reply["error"]["message"]
        assert (await ask(rig, "ping"))[0]["ok"]

    run(folder, scenario)


def test_unknown_service_is_refused_and_nothing_is_withdrawn(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        [reply] = await ask(rig, "withdraw", services=["dns", "nope"])
        assert reply["error"]["code"] == protocol.UNKNOWN_SERVICE
        assert "nope" in reply["error"]["message"] and "dns, other" in reply["error"]["message"]
        assert rig.speaker.maintenance == {}

    run(folder, scenario)


def test_a_stuck_client_does_not_block_another_client(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        _, stuck = await connect(rig)  # connects and sends nothing
        reply = await asyncio.wait_for(ask(rig, "ping"), 1.0)
        assert reply[0]["ok"]
        stuck.close()

    run(folder, scenario)


def test_a_stuck_client_gets_an_error_after_the_read_timeout(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "READ_TIMEOUT", 0.05)

    async def scenario(rig: Rig) -> None:
        reader, writer = await connect(rig)
        reply = json.loads(await reader.readline())
        assert reply["error"]["code"] == protocol.BAD_REQUEST
        assert "no complete request line" in reply["error"]["message"]
        writer.close()

    run(folder, scenario)


def test_drain_withdraws_at_once_and_waits_for_the_ack(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        assert rig.sink.lines[-1].startswith(f"announce route {PREFIX}")
        reader, writer = await connect(rig)
        writer.write(protocol.encode_request(
            protocol.Request("withdraw", {"services": ["dns"], "reason": "patching"})))
        first = json.loads(await reader.readline())
        assert "maintenance recorded" in first["progress"]
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")  # before any check ran
        assert json.loads(rig.store.path.read_text())["services"]["dns"][0]["reason"] == "patching"
        with pytest.raises(asyncio.TimeoutError):  # no ack yet: no answer yet
            await asyncio.wait_for(reader.readline(), 0.1)
        rig.speaker.on_message(Ack(True))
        rest = [json.loads(raw) for raw in (await reader.read()).splitlines()]
        assert "acknowledged by ExaBGP" in rest[0]["progress"]
        assert rest[-1]["ok"] and rest[-1]["result"]["safe"] is True
        assert rest[-1]["result"]["prefixes"] == [PREFIX]
        writer.close()
        [status] = await ask(rig, "status")
        dns = status["result"]["services"][0]
        assert dns["state"] == "maintenance" and dns["maintenance"]["reason"] == "patching"
        assert dns["prefixes"][0]["confirmed"] == "withdrawn"

    run(folder, scenario)


def test_drain_without_ack_reports_not_confirmed_and_keeps_maintenance(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "SETTLE_TIMEOUT", 0.0)

    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        lines = await ask(rig, "withdraw")
        assert lines[-1]["error"]["code"] == protocol.NOT_CONFIRMED
        assert "do not stop the DNS server" in lines[-1]["error"]["message"]
        assert set(rig.store.load()) == {"dns", "other"}

    run(folder, scenario)


def test_announce_ends_maintenance_and_waits_for_rise(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        await rig.speaker.set_maintenance(["dns", "other"], "x", "test")
        rig.ack_all()
        [reply] = await ask(rig, "announce", services=["dns"])
        assert reply["result"] == {"services": ["dns"], "rise": {"dns": 2}, "held": {"dns": []}}
        assert set(rig.store.load()) == {"other"}
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")  # not announced blindly
        await rig.bring_up()
        assert rig.sink.lines[-1].startswith(f"announce route {PREFIX}")

    run(folder, scenario)


def test_events_list_and_follow(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        [reply] = await ask(rig, "events")
        assert [(e["service"], e["new"]) for e in reply["result"]["events"]] == [("dns", "up")]
        reader, writer = await connect(rig)
        writer.write(protocol.encode_request(protocol.Request("events", {"follow": True})))
        old = json.loads(json.loads(await reader.readline())["progress"])
        assert old["new"] == "up"
        await rig.speaker.set_maintenance(["dns"], "patching", "test")
        new = json.loads(json.loads(await reader.readline())["progress"])
        assert (new["old"], new["new"]) == ("up", "maintenance")
        assert "patching" in new["reason"]
        writer.close()

    run(folder, scenario)


def test_a_follower_that_hangs_up_is_forgotten(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        _reader, writer = await connect(rig)
        writer.write(protocol.encode_request(protocol.Request("events", {"follow": True})))
        await writer.drain()
        await asyncio.sleep(0.05)
        assert len(rig.speaker.event_waiters) == 1
        writer.close()
        for _ in range(100):
            if not rig.speaker.event_waiters:
                break
            await asyncio.sleep(0.01)
        assert rig.speaker.event_waiters == []

    run(folder, scenario)


def test_reload_is_all_or_nothing(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        good = rig.path.read_text()
        rig.path.write_text(good.replace("rise: 2", "rise: 0"))
        [reply] = await ask(rig, "reload")
        assert reply["error"]["code"] == protocol.CONFIG_INVALID
        assert reply["error"]["message"].startswith("config NOT changed")
        assert "/services/0/timing/rise" in reply["error"]["message"]
        assert rig.speaker.runs["dns"].service.timing.rise == 2
        rig.path.write_text(good.replace("rise: 2", "rise: 4"))
        [reply] = await ask(rig, "reload")
        assert reply["result"]["changed"] == ["dns"]
        assert rig.speaker.runs["dns"].service.timing.rise == 4

    run(folder, scenario)
