"""speakerctl: usage, help and version, the command table, rendering, and how
refusals map to exit codes.
"""

from __future__ import annotations

import pytest

from speaker import __version__
from speaker.cli import client, commands, parser, render
from speaker.core import protocol
from tests.unit.cli.served import Run, Served, cli


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
