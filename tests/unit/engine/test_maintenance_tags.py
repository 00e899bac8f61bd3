"""Tagged maintenance: the pure edits, the file format (v1 still read), the control server
through a DNS-server restart drained by the systemd integration (tag `dns-restart`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from speaker.adapters.state import MaintenanceStore
from speaker.cli import parser
from speaker.core import protocol
from speaker.core.maintenance import ALL, OPERATOR, Maintenance, cleared, recorded, tag_problem
from speaker.core.verdicts import Outcome
from tests.fakes import scripted
from tests.unit.rig import PREFIX, YAML, Rig

RESTART = "dns-restart"
OPS = Maintenance("kernel upgrade", 1.0, "ops")
DRAIN = Maintenance("named restart", 2.0, "systemd", RESTART)
DEAD = Outcome(ok=False, reason="connection refused", latency=0.0)


# -- the pure model -----------------------------------------------------------------------


def test_a_second_tag_adds_a_maintenance_and_the_same_tag_replaces_it() -> None:
    both = recorded(recorded({}, ["dns"], OPS), ["dns"], DRAIN)
    assert both == {"dns": (OPS, DRAIN)}
    again = Maintenance("second restart", 3.0, "systemd", RESTART)
    assert recorded(both, ["dns"], again) == {"dns": (OPS, again)}


def test_clearing_one_tag_keeps_the_others_and_no_tag_clears_them_all() -> None:
    both = {"dns": (OPS, DRAIN), "other": (DRAIN,)}
    assert cleared(both, ["dns", "other"], ["dns", "other"], RESTART) == {"dns": (OPS,)}
    assert cleared(both, ["dns"], ["dns", "other"]) == {"other": (DRAIN,)}


def test_a_tagged_clear_never_ends_an_unreadable_files_all_services_entry() -> None:
    everything = {ALL: (Maintenance("cannot parse", 0.0),)}
    assert cleared(everything, ["dns"], ["dns"], RESTART) == everything


def test_tags_are_short_lower_case_words() -> None:
    assert tag_problem(RESTART) == tag_problem(OPERATOR) == ""
    for bad in ("", "Upper", "-x", "a b", "x" * 41, "é"):
        assert "not 1-40" in tag_problem(bad), bad


# -- the file -----------------------------------------------------------------------------


def test_file_keeps_several_tags_per_service(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path)
    store.save({"dns": (OPS, DRAIN)})
    assert store.load() == {"dns": (OPS, DRAIN)}
    data = json.loads(store.path.read_text())
    assert data["version"] == 2 and [m["tag"] for m in data["services"]["dns"]] == [
        OPERATOR, RESTART]


def test_a_version_1_file_still_loads_as_the_operators_maintenance(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path)
    store.path.write_text(json.dumps({"version": 1, "services": {
        "dns": {"reason": "kernel upgrade", "since": 1.0, "by": "ops"}}}))
    assert store.load() == {"dns": (OPS,)}


def test_a_version_2_entry_that_is_not_a_list_keeps_everything_withdrawn(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path)
    store.path.write_text(json.dumps({"version": 2, "services": {"dns": {"reason": "x"}}}))
    loaded = store.load()
    assert list(loaded) == [ALL] and "not a list" in loaded[ALL][0].reason


# -- the running speaker --------------------------------------------------------------------


def run(folder: Path, scenario: Callable[[Rig], Awaitable[None]]) -> None:
    async def main() -> None:
        rig = Rig(folder)
        await rig.start()
        try:
            await asyncio.wait_for(scenario(rig), 10)
        finally:
            await rig.server.stop()

    asyncio.run(main())


async def ask(rig: Rig, cmd: str, **args: Any) -> list[dict[str, Any]]:
    """One request over the real socket; every line of the answer, decoded."""
    reader, writer = await asyncio.open_unix_connection(rig.socket)
    writer.write(protocol.encode_request(protocol.Request(cmd, args)))
    await writer.drain()
    out = [json.loads(raw) for raw in (await reader.read()).splitlines()]
    writer.close()
    return out


async def restart_server(rig: Rig) -> None:
    """What a DNS-server restart looks like to the probes: one dead round, then answers."""
    run_ = rig.speaker.runs["dns"]
    for probe in run_.probes:
        scripted(probe).outcomes.append(DEAD)
    rig.speaker.observe(run_, await rig.speaker.probe_round(run_))
    rig.ack_all()


def auto_ack(rig: Rig) -> None:
    """ExaBGP acknowledges every command just after it is written."""
    loop = asyncio.get_running_loop()

    def answer(line: str) -> None:
        loop.call_soon(rig.ack_all)

    rig.sink.on_write = answer


async def until_ended(rig: Rig, name: str = "dns") -> None:
    """Until the end of `name`'s maintenance is written (the save runs in a thread)."""
    while rig.speaker.in_maintenance(name):
        await asyncio.sleep(0.001)


def test_an_operators_maintenance_survives_a_dns_server_restart(folder: Path) -> None:
    """operator withdraw, then the systemd drain (withdraw --tag dns-restart), the server
    restarts, the drain ends (announce --tag dns-restart): still withdrawn, still the
    operator's maintenance, in memory and in the file; only the operator's announce ends it."""
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        await rig.speaker.set_maintenance(["dns"], "kernel upgrade", "ops")
        rig.ack_all()
        lines = await ask(rig, "withdraw", services=["dns"], tag=RESTART, reason="named")
        assert lines[-1]["ok"] and lines[-1]["result"]["tag"] == RESTART
        assert [m.tag for m in rig.store.load()["dns"]] == [OPERATOR, RESTART]
        await restart_server(rig)
        await rig.bring_up()  # the server answers again
        [reply] = await ask(rig, "announce", services=["dns"], tag=RESTART, wait=5)
        assert reply["ok"] and reply["result"]["held"] == {"dns": [OPERATOR]}
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert rig.store.load() == {"dns": (rig.speaker.in_maintenance("dns"),)}
        assert rig.speaker.in_maintenance("dns").reason == "kernel upgrade"  # type: ignore[union-attr]
        await rig.bring_up()
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")  # healthy, held
        await ask(rig, "announce", services=["dns"])
        await rig.bring_up()
        assert rig.sink.lines[-1].startswith(f"announce route {PREFIX}")
        assert rig.store.load() == {}

    run(folder, scenario)


def test_announce_of_a_tag_waits_until_exabgp_confirms_the_announce(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        await ask(rig, "withdraw", services=["dns"], tag=RESTART)
        await restart_server(rig)
        answer = asyncio.ensure_future(
            ask(rig, "announce", services=["dns"], tag=RESTART, wait=5))
        await until_ended(rig)
        assert not answer.done()  # rise passes still to come
        await rig.bring_up()
        lines = await answer
        assert "waiting up to 5 s" in lines[0]["progress"]
        assert lines[-1]["ok"] and lines[-1]["result"]["held"] == {"dns": []}
        assert rig.sink.lines[-1].startswith(f"announce route {PREFIX}")

    run(folder, scenario)


def test_repeated_drained_restarts_never_count_as_flaps(folder: Path) -> None:
    """The server dies (event) while drained: no route changes, so no flap; ten restarts in
    a row end announced, never held down."""
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        for _ in range(10):
            await ask(rig, "withdraw", services=["dns"], tag=RESTART)
            rig.speaker.server_gone("dns", "its last listening socket closed")
            answer = asyncio.ensure_future(
                ask(rig, "announce", services=["dns"], tag=RESTART, wait=5))
            await until_ended(rig)
            await rig.bring_up()
            assert (await answer)[-1]["ok"]
        assert rig.speaker.state_name(rig.speaker.runs["dns"]) == "up"
        assert rig.speaker.runs["dns"].damping.holds == 0

    run(folder, scenario)


def test_announce_wait_that_runs_out_is_not_confirmed(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        await ask(rig, "withdraw", services=["dns"], tag=RESTART)
        answer = asyncio.ensure_future(
            ask(rig, "announce", services=["dns"], tag=RESTART, wait=0.01))
        await until_ended(rig)
        while not answer.done():  # time passes, no probe round: never announced
            rig.clock.advance(1.0)
            await asyncio.sleep(0.001)
        reply = (await answer)[-1]
        assert reply["error"]["code"] == protocol.NOT_CONFIRMED
        assert rig.store.load() == {}  # the drain did end

    run(folder, scenario)


def test_announce_of_a_tag_leaves_an_announced_service_announced(folder: Path) -> None:
    """The drain unit's start at boot ends a drain that is not there: no flap."""
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        sent = len(rig.sink.lines)
        [reply] = await ask(rig, "announce", services=["dns"], tag=RESTART)
        assert reply["ok"] and len(rig.sink.lines) == sent
        assert rig.speaker.book.desired(rig.speaker.runs["dns"].service.prefixes[0])

    run(folder, scenario)


@pytest.mark.parametrize("tag", ["", "Bad", 7])
def test_a_bad_tag_is_refused_naming_the_problem(folder: Path, tag: object) -> None:
    async def scenario(rig: Rig) -> None:
        [reply] = await ask(rig, "withdraw", tag=tag)
        assert reply["error"]["code"] == protocol.BAD_REQUEST and "tag" in reply["error"]["message"]
        assert rig.store.load() == {}

    run(folder, scenario)


# -- speakerctl with the process down: the file alone ------------------------------------


def ctl(folder: Path, *argv: str) -> int:
    return parser.main(["--config", str(folder / "speaker.yaml"), *argv])


def test_offline_drain_and_resume_leave_the_operators_maintenance(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "speaker.yaml").write_text(YAML.format(folder=folder, prefix=PREFIX))
    store = MaintenanceStore(folder / "state")
    assert ctl(folder, "withdraw", "--reason", "kernel upgrade", "dns") == 69
    assert ctl(folder, "withdraw", "--tag", RESTART, "--wait", "dns", "other") == 69
    assert {n: [m.tag for m in held] for n, held in store.load().items()} == {
        "dns": [OPERATOR, RESTART], "other": [RESTART]}
    assert ctl(folder, "announce", "--tag", RESTART) == 69
    [entry] = store.load()["dns"]
    assert list(store.load()) == ["dns"] and entry.reason == "kernel upgrade"
    assert ctl(folder, "announce") == 69 and store.load() == {}
    capsys.readouterr()


def test_a_bad_tag_on_the_command_line_is_a_usage_error(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert ctl(folder, "withdraw", "--tag", "Not A Tag") == 64
    assert "is not 1-40 lower-case letters" in capsys.readouterr().err
