"""The control socket is the speaker's own, and nothing that may block runs on its loop."""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import socket
import stat
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from speaker.adapters import peers
from speaker.core import protocol
from speaker.core.errors import ControlSocketError
from tests.unit.rig import PREFIX, Rig, ask, connect, run

# -- the socket is ours only -------------------------------------------------------------


def test_a_file_at_the_socket_path_is_refused_and_left_alone(folder: Path) -> None:
    async def main() -> None:
        rig = Rig(folder)
        Path(rig.socket).write_text("precious\n")
        with pytest.raises(ControlSocketError) as refused:
            await rig.server.start()
        assert refused.value.exit_code == 73
        assert f"control socket {rig.socket} exists and is a regular file" in str(refused.value)
        assert Path(rig.socket).read_text() == "precious\n"
        await rig.server.stop()
        assert Path(rig.socket).read_text() == "precious\n"

    asyncio.run(main())


def test_a_live_speaker_on_the_socket_is_refused_and_keeps_serving(folder: Path) -> None:
    async def main() -> None:
        first, second = Rig(folder), Rig(folder)
        await first.start()
        try:
            with pytest.raises(ControlSocketError) as refused:
                await second.server.start()
            assert f"control socket {first.socket} is in use" in str(refused.value)
            assert f"another speaker (pid {os.getpid()}) answers on it" in str(refused.value)
            await second.server.stop()
            assert (await ask(first, "ping"))[0]["ok"]  # still there, still served
        finally:
            await first.server.stop()

    asyncio.run(main())


def test_a_stale_socket_is_replaced(folder: Path) -> None:
    async def main() -> None:
        rig = Rig(folder)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(rig.socket)  # a socket file nobody listens on: a previous run's
        stale.close()
        await rig.start()
        try:
            assert (await ask(rig, "ping"))[0]["ok"]
        finally:
            await rig.server.stop()
        assert not os.path.exists(rig.socket)

    asyncio.run(main())


def test_stop_never_removes_another_instances_socket(folder: Path) -> None:
    async def main() -> None:
        rig = Rig(folder)
        await rig.start()
        os.unlink(rig.socket)  # another instance took the path over meanwhile
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(rig.socket)
        other.listen()
        try:
            await rig.server.stop()
            assert stat.S_ISSOCK(os.lstat(rig.socket).st_mode)
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(rig.socket)  # still the other instance's, still answering
            client.close()
        finally:
            other.close()

    asyncio.run(main())


# -- nothing that may block runs on the loop ---------------------------------------------


class Blocking:
    """A blocking call (NSS lookup, fsync) that waits until the test releases it."""

    def __init__(self, result: Callable[[], Any]) -> None:
        self.result = result
        self.released = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any) -> Any:
        self.calls += 1
        self.released.wait(2.0)  # bounded: on a blocked loop the test fails, never hangs
        return self.result(*args)


async def timed(coro: Awaitable[Any]) -> float:
    start = time.monotonic()
    await coro
    return time.monotonic() - start


def test_a_slow_user_name_lookup_stalls_no_other_request(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lookup = Blocking(lambda uid: pwd.struct_passwd(("op", "x", uid, 0, "", "/", "/bin/sh")))
    monkeypatch.setattr(pwd, "getpwuid", lookup)

    async def scenario(rig: Rig) -> None:
        assert (await ask(rig, "status"))[0]["ok"] and lookup.calls == 0  # only withdraw asks
        withdraw = asyncio.create_task(ask(rig, "withdraw", services=["dns"]))
        while lookup.calls == 0:
            await asyncio.sleep(0.01)
        assert await timed(ask(rig, "ping")) < 1.0  # served while the lookup hangs
        lookup.released.set()
        rig.ack_all()
        while not withdraw.done():
            rig.ack_all()
            await asyncio.sleep(0.01)
        assert withdraw.result()[-1]["ok"]
        assert rig.speaker.maintenance["dns"][0].by == f"op (pid {os.getpid()})"

    run(folder, scenario)


def test_a_user_name_lookup_that_hangs_records_the_uid(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lookup = Blocking(lambda uid: pwd.struct_passwd(("op", "x", uid, 0, "", "/", "/bin/sh")))
    monkeypatch.setattr(pwd, "getpwuid", lookup)
    monkeypatch.setattr(peers, "NAME_TIMEOUT", 0.05)

    async def scenario(rig: Rig) -> None:
        try:
            await rig.speaker.set_maintenance(["other"], "x", "test")  # nothing to wait for
            rig.ack_all()
            lines = await ask(rig, "withdraw", services=["other"])
            assert lines[-1]["ok"]
            assert rig.speaker.maintenance["other"][0].by == f"{os.getuid()} (pid {os.getpid()})"
        finally:
            lookup.released.set()

    run(folder, scenario)


def test_a_slow_maintenance_write_stalls_nothing_and_comes_before_the_withdraw(
        folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        save = Blocking(rig.store.save)
        rig.store.save = save  # type: ignore[method-assign]
        on_disk: list[bool] = []
        rig.sink.on_write = lambda line: on_disk.append(rig.store.path.exists())
        reader, writer = await connect(rig)
        writer.write(protocol.encode_request(protocol.Request("withdraw", {"services": ["dns"]})))
        await writer.drain()
        while save.calls == 0:
            await asyncio.sleep(0.01)
        assert await timed(ask(rig, "ping")) < 1.0  # the loop runs while the file is written
        assert not rig.sink.lines[-1].startswith("withdraw")
        save.released.set()
        first = json.loads(await reader.readline())
        assert "maintenance recorded" in first["progress"]
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert on_disk == [True]  # persisted before the withdraw was sent
        rig.ack_all()
        rest = [json.loads(raw) for raw in (await reader.read()).splitlines()]
        assert rest[-1]["ok"] and rest[-1]["result"]["safe"] is True
        writer.close()

    run(folder, scenario)
