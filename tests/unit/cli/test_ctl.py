"""speakerctl: every command, human and JSON output, every exit code, against a served Speaker."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from speaker import __version__
from speaker.adapters import control
from speaker.adapters.state import ALL, Maintenance, MaintenanceStore
from speaker.cli import client, commands, doctor, offline, parser, render
from speaker.core import protocol
from speaker.core.exabgp_api import Ack, NeighborState
from tests.fakes import Probe
from tests.unit.rig import PREFIX, YAML, Rig

Run = Callable[..., tuple[int, str, str]]


class Served:
    """A Rig served from an event loop in a thread, so the blocking CLI can talk to it."""

    def __init__(self, folder: Path, auto_ack: bool = True) -> None:
        self.folder = folder
        self.auto_ack = auto_ack
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rig: Rig = self.call(self._start)

    async def _start(self) -> Rig:
        rig = Rig(self.folder)
        await rig.start()
        if self.auto_ack:
            rig.sink.on_write = lambda _: self.loop.call_soon(self._ack, rig)
        return rig

    @staticmethod
    def _ack(rig: Rig) -> None:
        if rig.speaker.book.waiting:  # the test may have acked already
            rig.speaker.on_message(Ack(True))

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (sync, or returning a coroutine) in the loop thread; return its result."""
        async def wrapper() -> Any:
            value = fn()
            return await value if asyncio.iscoroutine(value) else value

        future: Future[Any] = asyncio.run_coroutine_threadsafe(wrapper(), self.loop)
        return future.result(10)

    def stop(self) -> None:
        self.call(self.rig.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def served(folder: Path) -> Iterator[Served]:
    s = Served(folder)
    yield s
    s.stop()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*argv: str) -> tuple[int, str, str]:
        code = parser.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return go


def cli(folder: Path, *argv: str) -> list[str]:
    return ["--config", str(folder / "speaker.yaml"), *argv]


def write_config(folder: Path, text: str | None = None) -> Path:
    path = folder / "speaker.yaml"
    path.write_text(text or YAML.format(folder=folder, prefix=PREFIX))
    return path


# -- usage ------------------------------------------------------------------------------


def test_version_and_help_exit_0(run: Run) -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out
    code, out, _ = run("--help")
    assert code == 0
    assert all(c.name in out for c in parser.COMMANDS) and "resume" in out


@pytest.mark.parametrize("argv", [
    ["bogus"], ["status", "--bogus"], ["withdraw", "--drain-delay", "soon"],
    ["withdraw", "--drain-delay", "-1"], ["events", "extra"], [],
])
def test_usage_errors_exit_64_with_usage_and_no_traceback(run: Run, argv: list[str]) -> None:
    code, _, err = run(*argv)
    assert code == 64 and "usage:" in err and "Traceback" not in err


def test_parser_is_built_from_the_command_table() -> None:
    built = parser.build_parser()
    args = built.parse_args(["resume", "dns"])
    assert args.handler is commands.cmd_announce and args.services == ["dns"]
    assert built.parse_args(["status", "--json"]).json is True
    assert built.parse_args(["--json", "status"]).json is True


# -- status -------------------------------------------------------------------------------


def test_status_prints_a_table_of_services_prefixes_checks_and_neighbours(
        served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    served.call(lambda: served.rig.speaker.on_message(
        NeighborState(peer="2001:db8::1", state="up", local="2001:db8::50", peer_as=65101)))
    code, out, _ = run(*cli(served.folder, "status"))
    assert code == 0
    assert "dns      up" in out and "rise 0/2" not in out and "fall 0/2" in out
    [line] = [x for x in out.splitlines() if PREFIX in x]
    assert line.split() == ["prefix", PREFIX, "announced", "(confirmed", "by", "ExaBGP)"]
    assert "dns check [2001:db8::53]:53 SOA example.com." in out
    assert "2001:db8::1  up" in out and "65101" in out
    assert "other    starting" in out and "rise 0/3" in out


def test_status_json_is_the_status_result(served: Served, run: Run) -> None:
    code, out, _ = run(*cli(served.folder, "status", "--json"))
    data = json.loads(out)
    assert code == 0
    assert set(data) == {"version", "pid", "started", "uptime", "config", "services",
                         "neighbors", "exabgp", "dns_server"}
    assert [s["name"] for s in data["services"]] == ["dns", "other"]


def test_status_of_one_service_and_of_an_unknown_one(served: Served, run: Run) -> None:
    code, out, _ = run(*cli(served.folder, "--json", "status", "other"))
    assert code == 0 and [s["name"] for s in json.loads(out)["services"]] == ["other"]
    code, _, err = run(*cli(served.folder, "status", "nope"))
    assert code == 67 and "unknown service nope" in err


# -- withdraw / announce --------------------------------------------------------------------


def test_withdraw_prints_progress_then_safe_and_persists(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    code, out, _ = run(*cli(served.folder, "withdraw", "dns", "--reason", "named upgrade"))
    assert code == 0
    lines = out.splitlines()
    assert "maintenance recorded" in lines[0] and "acknowledged by ExaBGP" in lines[1]
    assert "safe to stop the DNS server" in lines[-1]
    assert served.rig.store.load()["dns"][0].reason == "named upgrade"
    assert served.rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")


def test_withdraw_json_prints_the_result_and_progress_on_stderr(
        served: Served, run: Run) -> None:
    code, out, err = run(*cli(served.folder, "--json", "withdraw", "--drain-delay", "0"))
    assert code == 0 and json.loads(out)["safe"] is True and "maintenance recorded" in err


def test_withdraw_not_acknowledged_exits_75(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "SETTLE_TIMEOUT", 0.0)
    served = Served(folder, auto_ack=False)
    try:
        served.call(served.rig.bring_up)
        code, _, err = run(*cli(folder, "withdraw"))
    finally:
        served.stop()
    assert code == 75 and "do not stop the DNS server" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns", "other"}


def test_withdraw_unknown_service_exits_67(served: Served, run: Run) -> None:
    code, _, err = run(*cli(served.folder, "withdraw", "nope"))
    assert code == 67 and "configured: dns, other" in err
    assert served.rig.speaker.maintenance == {}


def test_announce_and_resume_end_maintenance(served: Served, run: Run) -> None:
    run(*cli(served.folder, "withdraw"))
    code, out, _ = run(*cli(served.folder, "announce", "dns"))
    assert code == 0 and "dns: maintenance ended" in out and "2 times" in out
    code, out, _ = run(*cli(served.folder, "--json", "resume"))
    assert code == 0 and json.loads(out)["services"] == ["dns", "other"]
    assert served.rig.store.load() == {}


def test_announce_of_one_service_keeps_the_others_in_all_services_maintenance(
        served: Served, run: Run) -> None:
    everything = {ALL: (Maintenance("everything", 1.0, "root"),)}

    def load_all() -> None:  # as a start with a file that has an all-services entry
        served.rig.store.save(everything)
        served.rig.speaker.maint.entries = dict(everything)

    served.call(load_all)
    code, _, _ = run(*cli(served.folder, "announce", "dns"))
    assert code == 0 and served.rig.store.load() == {"other": everything[ALL]}
    assert served.rig.speaker.in_maintenance("other") == everything[ALL][0]
    assert served.rig.speaker.in_maintenance("dns") is None


# -- the process is not running ---------------------------------------------------------------


def test_missing_socket_says_which_path_where_from_and_what_to_do(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, err = run(*cli(folder, "status"))
    assert code == 69
    assert f"{folder}/s.sock does not exist" in err
    assert f"control.socket in {folder}/speaker.yaml" in err
    assert "systemctl status anycast-speaker" in err and "Traceback" not in err


def test_socket_flag_is_named_as_the_origin(folder: Path, run: Run) -> None:
    code, _, err = run("--config", str(folder / "none.yaml"), "--socket",
                       str(folder / "x.sock"), "status")
    assert code == 69 and "from the --socket option" in err


def test_default_socket_is_named_as_the_origin() -> None:
    target = client.locate(None, Path("/nonexistent/speaker.yaml"))
    assert target.socket == Path("/run/speaker/speaker.sock")
    assert target.origin == "the default (/nonexistent/speaker.yaml does not exist)"


def test_an_invalid_config_still_gives_its_socket(folder: Path) -> None:
    path = write_config(folder, f"control: {{socket: {folder}/odd.sock}}\nservices: 7\n")
    target = client.locate(None, path)
    assert target.socket == folder / "odd.sock" and target.config is None
    assert "which has problems" in target.origin


def test_stale_socket_counts_as_not_running(folder: Path, run: Run) -> None:
    write_config(folder)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(folder / "s.sock"))
    sock.close()  # the file stays, nobody listens
    code, _, err = run(*cli(folder, "status"))
    assert code == 69 and "stale socket" in err


def test_permission_denied_names_the_group(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)

    class Denied(socket.socket):
        def connect(self, address: Any) -> None:
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(client.socket, "socket", Denied)
    code, _, err = run(*cli(folder, "withdraw"))
    assert code == 69 and "permission denied" in err and "group speaker" in err
    assert not (folder / "state").exists()  # not "not running": nothing recorded


def test_withdraw_without_process_records_maintenance_and_exits_69(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, err = run(*cli(folder, "withdraw", "dns", "--reason", "offline"))
    assert code == 69
    assert "could NOT be changed through the process" in err
    assert "next start of the process keeps it withdrawn" in err
    assert MaintenanceStore(folder / "state").load()["dns"][0].reason == "offline"


def test_announce_without_process_clears_maintenance_and_exits_69(
        folder: Path, run: Run) -> None:
    write_config(folder)
    run(*cli(folder, "withdraw"))
    code, _, err = run(*cli(folder, "announce", "other"))
    assert code == 69 and "maintenance cleared" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns"}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can write a file it then hands over")
def test_offline_withdraw_as_root_leaves_the_file_to_the_owner_of_state_dir(
        folder: Path, run: Run) -> None:
    write_config(folder)
    (folder / "state").mkdir()
    os.chown(folder / "state", 4321, 4322)  # the service user and group
    run(*cli(folder, "withdraw", "dns"))
    info = (folder / "state" / "maintenance.json").stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, 0o640)
    run(*cli(folder, "announce", "dns"))
    info = (folder / "state" / "maintenance.json").stat()
    assert (info.st_uid, info.st_gid) == (4321, 4322)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a state_dir owned by another user")
def test_offline_withdraw_warns_when_the_file_cannot_be_handed_over(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)
    (folder / "state").mkdir()
    os.chown(folder / "state", 4321, 4322)

    def refuse(*_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(offline.os, "chown", refuse)
    code, _, err = run(*cli(folder, "withdraw", "dns"))
    assert code == 69 and "warning: " in err and "may not be able to read it" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns"}


def test_clearing_one_service_keeps_an_all_services_entry_for_the_others() -> None:
    everything = (Maintenance("file unreadable", 0.0),)
    own = (Maintenance("patching", 5.0, "ops"),)
    assert offline.cleared({ALL: everything, "b": own}, ["a"], ["a", "b", "c"]) == {
        "b": own, "c": everything}
    assert offline.cleared({ALL: everything}, ["a", "b", "c"], ["a", "b", "c"]) == {}


def test_offline_announce_of_one_service_keeps_the_others_in_all_services_maintenance(
        folder: Path, run: Run) -> None:
    write_config(folder)
    store = MaintenanceStore(folder / "state")
    store.save({ALL: (Maintenance("everything", 1.0, "root"),)})
    code, _, _ = run(*cli(folder, "announce", "dns"))
    assert code == 69 and store.load() == {"other": (Maintenance("everything", 1.0, "root"),)}
    run(*cli(folder, "announce"))
    assert store.load() == {}


def test_offline_withdraw_of_an_unknown_service_exits_67(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, _ = run(*cli(folder, "withdraw", "nope"))
    assert code == 67 and not (folder / "state").exists()


def test_offline_withdraw_with_an_unusable_config_says_not_recorded(
        folder: Path, run: Run) -> None:
    write_config(folder, f"control: {{socket: {folder}/s.sock}}\nservices: []\n")
    code, _, err = run(*cli(folder, "withdraw"))
    assert code == 69 and "maintenance NOT recorded" in err


# -- events, reload ----------------------------------------------------------------------------


def test_events_human_and_json(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    code, out, _ = run(*cli(served.folder, "events"))
    assert code == 0 and "dns  starting -> up" in out
    code, out, _ = run(*cli(served.folder, "events", "--json"))
    assert [e["new"] for e in json.loads(out)] == ["up"]


def test_events_follow_prints_transitions_as_they_happen(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)

    def stop_soon() -> None:  # the process stops: the follow ends
        served.rig.speaker.stopping.set()
        for waiter in served.rig.speaker.event_waiters:
            waiter.set()

    served.loop.call_later(0.2, stop_soon)
    code, out, err = run(*cli(served.folder, "events", "--follow"))
    assert code == 0 and "starting -> up" in out and "stopping" in err


def test_reload_invalid_config_exits_78_and_changes_nothing(served: Served, run: Run) -> None:
    path = served.folder / "speaker.yaml"
    path.write_text(path.read_text().replace("rise: 2", "rise: 0"))
    code, _, err = run(*cli(served.folder, "reload"))
    assert code == 78 and "config NOT changed" in err and "/services/0/timing/rise" in err
    path.write_text(path.read_text().replace("rise: 0", "rise: 5"))
    code, out, _ = run(*cli(served.folder, "reload"))
    assert code == 0 and "changed: dns" in out


# -- check-config ---------------------------------------------------------------------------------


CONF = """\
process speaker {{
    run /usr/bin/python3 -m speaker --config {yaml};
    encoder json;
}}
neighbor 2001:db8::1 {{
    router-id 10.0.0.1;
    local-address 2001:db8::50;
    local-as {asn};
    peer-as 65101;
    hold-time 9;
    family {{ ipv6 unicast; }}
    api {{ processes [ speaker ]; neighbor-changes; }}
}}
"""


def test_check_config_ok_without_a_process(folder: Path, run: Run) -> None:
    path = write_config(folder)
    code, out, _ = run("check-config", str(path))
    assert code == 0 and out.startswith("ok: ") and "2 service(s)" in out


def test_check_config_lists_every_problem_with_its_path(folder: Path, run: Run) -> None:
    path = write_config(folder, "services:\n  - name: x\n    prefixes: [nope]\n"
                                "    checks: []\n    timing: {rise: 0}\n")
    code, _, err = run("--config", str(path), "check-config")
    assert code == 78
    for where in ("/services/0/prefixes/0", "/services/0/checks", "/services/0/timing/rise"):
        assert f"{path}: {where}:" in err
    assert "Traceback" not in err


def test_check_config_cross_checks_the_exabgp_config_beside_it(
        folder: Path, run: Run) -> None:
    path = write_config(folder)
    (folder / "speaker.conf").write_text(CONF.format(yaml=path, asn=65201))
    code, out, _ = run("check-config", str(path))
    assert code == 0 and f"cross-checked with {folder}/speaker.conf" in out
    (folder / "speaker.conf").write_text(CONF.format(yaml=path, asn=64512))
    code, _, err = run("check-config", str(path))
    assert code == 78 and f"{folder}/speaker.conf:8: " in err and "outside 65200-65299" in err


def test_check_config_with_an_explicit_exabgp_file_and_json(
        folder: Path, run: Run) -> None:
    path = write_config(folder)
    conf = folder / "other.conf"
    conf.write_text(CONF.format(yaml="/etc/speaker/speaker.yaml", asn=65201))
    code, out, _ = run("--json", "check-config", str(path), "--exabgp", str(conf))
    data = json.loads(out)
    assert code == 78 and data["ok"] is False and "not with" in data["problems"][0]
    code, _, err = run("check-config", str(path), "--exabgp", str(folder / "missing.conf"))
    assert code == 78 and "no such file" in err


# -- doctor ------------------------------------------------------------------------------------


def test_doctor_passes_on_a_healthy_node(
        served: Served, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    served.call(served.rig.bring_up)
    served.call(lambda: served.rig.bring_up("other"))
    served.call(lambda: served.rig.speaker.on_message(NeighborState("2001:db8::1", "up")))
    local = frozenset({("lo", ipaddress.ip_address("2001:db8::53")),
                       ("lo", ipaddress.ip_address("2001:db8::54"))})
    monkeypatch.setattr(doctor, "local_addresses", lambda: local)
    monkeypatch.setattr(doctor.checks, "build", lambda check, timeout: Probe(check, timeout))
    code, out, _ = run(*cli(served.folder, "doctor"))
    assert code == 0, out
    assert "FAIL" not in out and "ok    process" in out and "bgp 2001:db8::1" in out


def test_doctor_fails_with_a_fix_when_the_address_is_missing(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)
    monkeypatch.setattr(doctor, "local_addresses", lambda: frozenset())
    code, out, _ = run(*cli(folder, "doctor"))
    assert code == 1
    assert "FAIL  process" in out and "FAIL  address 2001:db8::53" in out
    assert "fix: ip -6 addr add 2001:db8::53/128 dev lo" in out
    code, out, _ = run(*cli(folder, "--json", "doctor"))
    assert code == 1 and {"check", "verdict", "detail", "fix"} == set(json.loads(out)[0])


# -- rendering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (61, "1m01s"), (900, "15m"), (3660, "1h01m"), (90000, "1d01h")])
def test_ago_is_short(seconds: float, text: str) -> None:
    assert render.ago(seconds) == text


def test_table_pads_all_but_the_last_column() -> None:
    assert render.table([["a", "bb", "c"], ["ccc", "d", "eeee"]]) == ["a    bb  c", "ccc  d   eeee"]


def test_a_refused_request_exits_65_with_the_servers_reason(served: Served, run: Run) -> None:
    code, _, err = run(*cli(served.folder, "withdraw", "--reason", "x" * 501))
    assert code == 65 and "'reason' is longer than 500 characters [bad-request]" in err
    assert served.rig.speaker.maintenance == {}


def test_error_replies_map_to_exit_codes() -> None:
    def code(kind: str) -> int:
        return client.refused(protocol.error(kind, "m\nn")).exit_code

    assert [code(k) for k in (protocol.UNKNOWN_SERVICE, protocol.NOT_CONFIRMED,
                              protocol.CONFIG_INVALID, protocol.BAD_REQUEST,
                              protocol.UNKNOWN_COMMAND, protocol.INTERNAL)] == [
        67, 75, 78, 65, 65, 65]


def test_socket_is_found_even_in_a_yaml_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("control:\n  socket: /run/x/speaker.sock\nservices: [\n")
    target = client.locate(None, path)
    assert target.socket == Path("/run/x/speaker.sock")
    assert "control.socket in" in target.origin and "not valid" in target.origin


def test_socket_is_found_in_a_broken_json_style_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('{"control": {\n  "socket": "/run/y/speaker.sock"},\n "services": [\n')
    assert client.locate(None, path).socket == Path("/run/y/speaker.sock")
