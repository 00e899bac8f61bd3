"""speakerctl's command line: a pure parser builder, the table of subcommands, and `main`.

Owns the flags and subcommands (built from the explicit COMMANDS table,
reading no file and touching no socket), and `main`: argv in, exit code
out, every SpeakerError printed as one line with its exit code, never a
traceback. What a subcommand does is in `commands`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TextIO

from speaker import __version__
from speaker.cli.commands import (
    PROG,
    Env,
    cmd_announce,
    cmd_check_config,
    cmd_doctor,
    cmd_events,
    cmd_reload,
    cmd_status,
    cmd_withdraw,
)
from speaker.core import gshut, paths
from speaker.core.errors import SpeakerError, UsageError
from speaker.core.maintenance import OPERATOR, tag_problem

INTERRUPTED = 130


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (exit 64) instead of exiting with 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}\n"
                         f"(speakerctl --help, man speakerctl)")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be 0..3600 seconds (got {text})")
    return value


def _graceful(text: str) -> float:
    value, problem = gshut.parse_seconds(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return value


def _tag(text: str) -> str:
    problem = tag_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                   help="machine-readable JSON output")


def _services(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help=f"{what} (default: all)")


def _args_status(p: argparse.ArgumentParser) -> None:
    _services(p, "services to show")
    _json_flag(p)


def _args_withdraw(p: argparse.ArgumentParser) -> None:
    _services(p, "services to withdraw")
    p.add_argument("--reason", metavar="TEXT",
                   help="why, kept with the maintenance (shown by status)")
    p.add_argument("--drain-delay", type=_seconds, metavar="SECONDS",
                   help="wait this long after ExaBGP acknowledged the withdraw "
                        "(default: drain_delay of the config, 2 s)")
    p.add_argument("--graceful", type=_graceful, metavar="SECONDS",
                   help="RFC 8326 graceful shutdown: first announce with the community "
                        f"{gshut.GRACEFUL_SHUTDOWN} for SECONDS (at most "
                        f"{gshut.MAX_SECONDS:g}) so the routers move traffic to the other "
                        "nodes, then withdraw; `speakerctl announce` meanwhile cancels it")
    p.add_argument("--tag", type=_tag, metavar="TAG", default=OPERATOR,
                   help=f"the maintenance's origin (default {OPERATOR}); a service stays "
                        "withdrawn while any tag holds it")
    p.add_argument("--wait", action="store_true",
                   help="return only once ExaBGP acknowledged the withdraw and the drain "
                        "delay passed (always so; for scripts and units)")
    _json_flag(p)


def _args_announce(p: argparse.ArgumentParser) -> None:
    _services(p, "services to announce again")
    p.add_argument("--tag", type=_tag, metavar="TAG",
                   help="end only the maintenance of this tag (default: every maintenance "
                        "of the services)")
    p.add_argument("--wait", type=_seconds, nargs="?", const=60.0, metavar="SECONDS",
                   help="return once ExaBGP acknowledged the announce (the checks passed "
                        "rise times), at most SECONDS (default 60); exit 75 if not")
    _json_flag(p)


def _args_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing transitions as they happen (Ctrl-C ends)")
    _json_flag(p)


def _exabgp_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exabgp", type=Path, metavar="CONF",
                   help="the ExaBGP config to cross-check (default: speaker.conf next to "
                        "the YAML, if present)")
    p.add_argument("--exabgp-version", metavar="VERSION",
                   help="the version of the ExaBGP that runs it, for the GTSM check "
                        "(default: the exabgp installed for this Python, if any)")


def _args_check_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, metavar="PATH",
                   help="the YAML to check (default: --config)")
    _exabgp_flag(p)
    _json_flag(p)


def _args_doctor(p: argparse.ArgumentParser) -> None:
    _exabgp_flag(p)
    p.add_argument("--dns-config", type=Path, metavar="FILE",
                   help="the DNS server's config: named.conf or pdns.conf (default by "
                        "dns_statistics.kind, else whichever of /etc/bind/named.conf and "
                        "/etc/powerdns/pdns.conf exists)")
    _json_flag(p)


def _no_args(p: argparse.ArgumentParser) -> None:
    _json_flag(p)


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    run: Callable[[Env], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_args
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[Command, ...] = (
    Command("status", "services, prefixes, checks, BGP neighbours", cmd_status, _args_status),
    Command("withdraw", "maintenance drain: withdraw, wait for ExaBGP, drain; persists",
            cmd_withdraw, _args_withdraw),
    Command("announce", "end maintenance: announce again once the checks pass rise times",
            cmd_announce, _args_announce, ("resume",)),
    Command("events", "recent state transitions (--follow to keep watching)", cmd_events,
            _args_events),
    Command("reload", "re-read the config (all or nothing)", cmd_reload),
    Command("check-config", "validate the YAML offline, cross-check the ExaBGP config",
            cmd_check_config, _args_check_config),
    Command("doctor", "check this node: address, DNS, BGP, process, config", cmd_doctor,
            _args_doctor),
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; pure (reads no file, touches no socket)."""
    parser = Parser(
        prog=PROG,
        description="Show and control the anycast speaker of this node (the ExaBGP API "
                    "process that announces the anycast prefix while DNS is healthy).",
        epilog="Exit codes: 0 ok, 1 doctor found a failing check, 64 usage, 65 refused by "
               "the process, 67 unknown service, 69 process unreachable, 75 not confirmed "
               "by ExaBGP, 78 invalid config. See speakerctl(1).")
    parser.add_argument("--config", type=Path, default=paths.DEFAULT_PATH, metavar="PATH",
                        help=f"the speaker's YAML (default {paths.DEFAULT_PATH}); gives the "
                             "socket path and, without a process, state_dir")
    parser.add_argument("--socket", type=Path, metavar="PATH",
                        help="the control socket (default: control.socket of the config)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    parser.add_argument("--complete-services", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version",
                        version=f"{PROG} (anycast-speaker) {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        p = sub.add_parser(command.name, aliases=list(command.aliases), help=command.summary,
                           description=command.summary)
        command.arguments(p)
        p.set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None,
         err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=err)
        return exc.exit_code
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0
    if args.complete_services:  # for the shell completion: the config's services, quietly
        from speaker.core import config  # only here: speakerctl's start-up is a drain's

        with contextlib.suppress(SpeakerError, OSError):
            out.write("".join(f"{s.name}\n" for s in config.load(args.config).services))
        return 0
    handler: Callable[[Env], int] | None = getattr(args, "handler", None)
    if handler is None:
        print(parser.format_help(), file=err)
        return UsageError.exit_code
    try:
        return handler(Env(args, out, err))
    except SpeakerError as exc:
        print(f"{PROG}: {exc}", file=err)
        return exc.exit_code
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `speakerctl status | head`: no traceback at exit either
        with contextlib.suppress(OSError, ValueError), open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), out.fileno())
        return 0

