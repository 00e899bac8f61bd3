"""`speakerctl`: the operator's command line for the speaker process of this node.

Owns the command line (a pure parser builder and an explicit table of
subcommands), finding the control socket (flag, config file or default, and
saying which), the client side of `speaker.protocol`, and rendering answers
for people (compact tables) and programs (`--json`). It never changes routes
itself: with the process down, `withdraw` and `announce` only edit the
persisted maintenance file, and say so. Every user mistake ends as one
message and an exit code from `speaker.errors`, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TextIO

import yaml

from speaker import __version__
from speaker.adapters.state import ALL, Maintenance, MaintenanceStore, StateError
from speaker.core import config, exabgp_conf, protocol
from speaker.core.config import Config
from speaker.core.errors import (
    ConfigError,
    NotSafeError,
    RequestError,
    SpeakerError,
    UnknownServiceError,
    UnreachableError,
    UsageError,
)
from speaker.core.protocol import Progress, ProtocolError, Reply, Request

PROG = "speakerctl"
UNIT = "anycast-speaker"
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0  # per line; a withdraw adds its drain delay
DOCTOR_FAILED = 1
INTERRUPTED = 130


# -- where the socket is ------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """The control socket to use, where that path came from, and the config if readable."""

    socket: Path
    origin: str
    config_path: Path
    config: Config | None = None
    config_problem: str = ""  # why `config` is None
    group: str = "speaker"


def _raw_socket(text: str) -> Path | None:
    """control.socket from a YAML that does not validate (the process may still run)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:  # not YAML at all: the first "socket: /path" line will do
        found = re.search(r"^\s*[\"']?socket[\"']?\s*:\s*[\"']?(/[^\s\"'#,]+)", text,
                          re.MULTILINE)
        return Path(found.group(1)) if found else None
    control = data.get("control") if isinstance(data, dict) else None
    value = control.get("socket") if isinstance(control, dict) else None
    return Path(value) if isinstance(value, str) and value.startswith("/") else None


def read_config(path: Path) -> tuple[Config | None, str, str]:
    """(config, problem, text): the config if valid, else why not; text '' if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, f"{path} does not exist", ""
    except PermissionError:
        return None, f"{path}: permission denied (run as root or a member of group speaker)", ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: cannot read: {exc}", ""
    try:
        return config.parse(text, source=str(path)), "", text
    except ConfigError as exc:
        count = len(exc.problems)
        return None, (f"{path} is not valid ({count} problem{'s' * (count != 1)}: "
                      f"speakerctl check-config {path})"), text


def locate(socket_flag: Path | None, config_path: Path) -> Target:
    cfg, problem, text = read_config(config_path)
    group = (cfg.control.group if cfg else None) or "speaker"
    if socket_flag is not None:
        return Target(socket_flag, "the --socket option", config_path, cfg, problem, group)
    if cfg is not None:
        return Target(cfg.control.socket, f"control.socket in {config_path}", config_path, cfg,
                      "", group)
    raw = _raw_socket(text) if text else None
    if raw is not None:
        return Target(raw, f"control.socket in {config_path} (which has problems: {problem})",
                      config_path, None, problem, group)
    return Target(config.DEFAULT_SOCKET, f"the default ({problem})", config_path, None,
                  problem, group)


# -- talking to the process ---------------------------------------------------------------


class NotRunning(UnreachableError):
    """The speaker process is not running (no socket, or nobody listening on it)."""


def unreachable(target: Target, why: str, *, running: bool) -> UnreachableError:
    lines = [f"cannot reach the speaker process: {why}",
             f"  socket: {target.socket} (from {target.origin})"]
    if running:
        lines.append(f"  permission denied: run as root or as a member of group "
                     f"{target.group} (adduser $USER {target.group}, then log in again)")
        return UnreachableError("\n".join(lines))
    lines += [f"  is ExaBGP running? systemctl status {UNIT} (ExaBGP starts the speaker "
              f"process; journalctl -u {UNIT} says why it stopped)",
              "  running from a checkout? the socket is control.socket of the YAML that "
              "ExaBGP's process block names: pass it with --config or --socket"]
    return NotRunning("\n".join(lines))


_ERRORS: dict[str, type[SpeakerError]] = {
    protocol.UNKNOWN_SERVICE: UnknownServiceError,
    protocol.NOT_CONFIRMED: NotSafeError,
}


def refused(reply: Reply) -> SpeakerError:
    """The exception for an error reply, by its code."""
    if reply.code == protocol.CONFIG_INVALID:
        return ConfigError(reply.message.splitlines())
    kind = _ERRORS.get(reply.code, RequestError)
    return kind(f"{reply.message} [{reply.code}]" if kind is RequestError else reply.message)


def call(target: Target, cmd: str, args: dict[str, Any] | None = None, *,
         on_progress: Callable[[str], None] | None = None,
         read_timeout: float | None = READ_TIMEOUT, changes: bool = False) -> dict[str, Any]:
    """Send one request and return the result; progress lines go to `on_progress`.

    Raises NotRunning / UnreachableError when the socket cannot be used, the
    error of an error reply, and NotSafeError (a change) or UnreachableError
    when the process stops answering.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(CONNECT_TIMEOUT)
        try:
            sock.connect(str(target.socket))
        except FileNotFoundError:
            raise unreachable(target, f"{target.socket} does not exist",
                              running=False) from None
        except ConnectionRefusedError:
            raise unreachable(target, f"nothing listens on {target.socket} (a stale socket: "
                                      "the process is not running)", running=False) from None
        except PermissionError:
            raise unreachable(target, f"permission denied on {target.socket}",
                              running=True) from None
        except TimeoutError:
            raise UnreachableError(f"the speaker process does not accept connections on "
                                   f"{target.socket} (from {target.origin}) within "
                                   f"{CONNECT_TIMEOUT:g} s: is it hung? systemctl status "
                                   f"{UNIT}") from None
        except OSError as exc:
            raise unreachable(target, f"{target.socket}: {exc.strerror or exc}",
                              running=False) from None
        sock.settimeout(read_timeout)
        sock.sendall(protocol.encode_request(Request(cmd, args or {})))
        stream = sock.makefile("rb")
        while True:
            try:
                line = stream.readline()
            except TimeoutError:
                what = (f"no answer from the speaker process within {read_timeout:g} s; the "
                        "outcome is unknown: check with speakerctl status")
                raise (NotSafeError(what) if changes else UnreachableError(what)) from None
            if not line:
                what = "the speaker process closed the connection without an answer"
                raise (NotSafeError(what + ": check with speakerctl status") if changes
                       else UnreachableError(what)) from None
            try:
                answer = protocol.decode_reply(line)
            except ProtocolError as exc:
                raise RequestError(f"unexpected answer from the speaker process "
                                   f"({exc.message}); is it the same version as "
                                   f"speakerctl {__version__}?") from None
            if isinstance(answer, Progress):
                if on_progress is not None:
                    on_progress(answer.text)
                continue
            if not answer.ok:
                raise refused(answer)
            return answer.result
    except (ConnectionResetError, BrokenPipeError) as exc:
        what = f"connection to the speaker process lost: {exc.strerror or exc}"
        raise (NotSafeError(what) if changes else UnreachableError(what)) from None
    finally:
        sock.close()


# -- rendering (pure) -----------------------------------------------------------------------


def ago(seconds: float) -> str:
    """A short duration: 45s, 12m, 3h05m, 2d04h."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def stamp(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


def table(rows: list[list[str]], indent: str = "") -> list[str]:
    """Columns padded to their widest cell; the last column is not padded."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell.ljust(widths[i]) if i < len(row) - 1 else cell
                               for i, cell in enumerate(row)).rstrip() for row in rows]


def _progress(service: dict[str, Any]) -> str:
    if service["health"] == "up":
        return f"fall {service['fails']}/{service['fall']}"
    return f"rise {service['passes']}/{service['rise']}"


def _prefix_state(item: dict[str, Any]) -> str:
    desired, confirmed = item["desired"], item["confirmed"]
    if desired == confirmed:
        return f"{confirmed} (confirmed by ExaBGP)"
    return f"{desired}, not yet confirmed by ExaBGP (last confirmed: {confirmed})"


def render_status(status: dict[str, Any], now: float) -> list[str]:
    """The human status: a header, one block per service, the neighbours, the ack counters."""
    out = [f"anycast-speaker {status['version']}, pid {status['pid']}, "
           f"up {ago(status['uptime'])}, config {status['config']}", ""]
    rows = [["SERVICE", "STATE", "SINCE", "RISE/FALL", "REASON"]]
    details: dict[int, list[str]] = {}
    for service in status["services"]:
        rows.append([service["name"], service["state"], ago(now - service["since"]) + " ago",
                     _progress(service), service["reason"]])
        lines: list[list[str]] = []
        for item in service["prefixes"]:
            lines.append(["prefix", item["prefix"], _prefix_state(item)])
        for check in service["checks"]:
            verdict = "ok" if check["ok"] else f"FAIL {check['reason']}"
            lines.append(["check", check["check"], f"{check['latency_ms']:.1f} ms  {verdict}"])
        extra = []
        maint = service.get("maintenance")
        if maint:
            extra.append(f"    maintenance since {stamp(maint['since'])} by "
                         f"{maint['by'] or 'unknown'}: {maint['reason'] or '-'} "
                         f"(end it: speakerctl announce {service['name']})")
        if service.get("held_down_for"):
            extra.append(f"    held down for {service['held_down_for']:g} s more (flapping)")
        if service.get("address_present") is False:
            extra.append("    anycast address missing from its interface (speakerctl doctor)")
        details[len(rows) - 1] = table(lines, "    ") + extra
    head = table(rows)
    for i, line in enumerate(head):
        out.append(line)
        out.extend(details.get(i, []))
    out.append("")
    neighbors = status["neighbors"]
    if neighbors:
        nrows = [["NEIGHBOR", "STATE", "SINCE", "PEER-AS", "LOCAL", "UPS/DOWNS", "REASON"]]
        for n in neighbors:
            nrows.append([n["peer"], n["state"], ago(now - n["since"]) + " ago",
                          str(n["peer_as"] or "-"), n["local"] or "-",
                          f"{n['ups']}/{n['downs']}", n["reason"] or ""])
        out.extend(table(nrows))
    else:
        out.append("NEIGHBOR  none reported yet (ExaBGP reports sessions when the neighbour's "
                   "api block has neighbor-changes)")
    ex = status["exabgp"]
    out.append("")
    out.append(f"ExaBGP acks: {ex['acks_done']} done, {ex['acks_error']} error, "
               f"{ex['acks_unexpected']} unexpected; {ex['waiting']} waiting; "
               f"{ex['ignored_lines']} lines ignored")
    server = status.get("dns_server")
    if server:
        out.append(render_dns_server(server))
    return out


def render_dns_server(server: dict[str, Any]) -> str:
    """BIND's own view: how many queries clients still send (after a drain: about 0)."""
    if server.get("client_rate") is not None:
        line = (f"DNS server: clients {server['client_rate']:.1f} q/s (all {server['rate']:.1f} "
                f"q/s, our probes {server['probe_rate']:.1f} q/s; {server['queries_total']} "
                "queries since named started)")
    elif server.get("queries_total") is not None:
        line = f"DNS server: {server['queries_total']} queries since named started"
    else:
        line = "DNS server: no statistics yet"
    if server.get("error"):
        line += f"; statistics channel: {server['error']}"
    return line


def render_event(event: dict[str, Any]) -> str:
    return (f"{stamp(event['time'])}  {event['service']}  {event['old']} -> {event['new']}  "
            f"{event['reason']}")


# -- commands ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Env:
    """What every command gets: its arguments and where to print."""

    args: argparse.Namespace
    out: TextIO
    err: TextIO

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def target(self) -> Target:
        return locate(self.args.socket, self.args.config)

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.err, flush=True)

    def dump(self, data: Any) -> None:
        self.say(json.dumps(data, indent=2, sort_keys=True))


def _check_names(names: list[str], known: list[str]) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UnknownServiceError(f"unknown service {', '.join(unknown)} "
                                  f"(configured: {', '.join(known) or 'none'})")


def cmd_status(env: Env) -> int:
    status = call(env.target(), "status")
    names: list[str] = env.args.services
    if names:
        _check_names(names, [s["name"] for s in status["services"]])
        status["services"] = [s for s in status["services"] if s["name"] in names]
    if env.json:
        env.dump(status)
        return 0
    try:
        lines = render_status(status, time.time())
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestError(f"unexpected status from the speaker process (missing {exc}); "
                           f"is it the same version as speakerctl {__version__}?") from None
    for line in lines:
        env.say(line)
    return 0


def _me() -> str:
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = str(os.getuid())
    return f"{name} (pid {os.getpid()}, speakerctl while the process was not running)"


def _edit_offline(env: Env, target: Target, exc: UnreachableError, action: str,
                  change: Callable[[dict[str, Maintenance], list[str]], None]) -> list[str]:
    """Apply `change` to the maintenance file itself (the process is not there).

    Returns the services changed; `action` ("recorded", "cleared") words the error.
    """
    if target.config is None:
        raise UnreachableError(f"{exc}\nmaintenance NOT {action}: {target.config_problem}")
    store = MaintenanceStore(target.config.state_dir)
    known = [s.name for s in target.config.services]
    names = env.args.services or known
    _check_names(names, known)
    entries = store.load()
    change(entries, names)
    try:
        store.save(entries)
    except StateError as err:
        raise UnreachableError(f"{exc}\nmaintenance NOT {action}: {err} (run as root or as "
                               "the service user)") from None
    env.note(f"{PROG}: {exc}")
    if env.json:
        env.dump({"services": names, "recorded": str(store.path), "live": False})
    return names


def cmd_withdraw(env: Env) -> int:
    target = env.target()
    args: dict[str, Any] = {"services": env.args.services}
    if env.args.reason is not None:
        args["reason"] = env.args.reason
    delay = env.args.drain_delay
    if delay is not None:
        args["drain_delay"] = delay
    elif target.config is not None:
        delay = target.config.drain_delay
    progress = env.note if env.json else env.say
    try:
        result = call(target, "withdraw", args, on_progress=progress, changes=True,
                      read_timeout=READ_TIMEOUT + (delay if delay is not None else 3600))
    except NotRunning as exc:
        return withdraw_offline(env, target, exc)
    if env.json:
        env.dump(result)
    else:
        env.say(f"withdrawn and drained: safe to stop the DNS server "
                f"(afterwards: speakerctl announce {' '.join(result['services'])})")
    return 0


def withdraw_offline(env: Env, target: Target, exc: UnreachableError) -> int:
    """Record the maintenance in the file so the next start stays withdrawn; exit 69."""
    reason = env.args.reason if env.args.reason is not None else "maintenance"

    def record(entries: dict[str, Maintenance], names: list[str]) -> None:
        for name in names:
            entries[name] = Maintenance(reason=reason, since=time.time(), by=_me())

    names = _edit_offline(env, target, exc, "recorded", record)
    assert target.config is not None
    path = MaintenanceStore(target.config.state_dir).path
    env.note(f"{PROG}: the live route could NOT be changed through the process.\n"
             f"{PROG}: maintenance recorded in {path} for {', '.join(names)}: the next "
             "start of the process keeps it withdrawn.\n"
             f"{PROG}: if ExaBGP still runs without the process, the route stays announced "
             f"until ExaBGP restarts the process (which withdraws it) or stops; check: "
             f"systemctl status {UNIT}")
    return exc.exit_code


def cmd_announce(env: Env) -> int:
    target = env.target()
    try:
        result = call(target, "announce", {"services": env.args.services}, changes=True)
    except NotRunning as exc:
        return announce_offline(env, target, exc)
    if env.json:
        env.dump(result)
        return 0
    for name in result["services"]:
        env.say(f"{name}: maintenance ended; announced again once its checks pass "
                f"{result['rise'][name]} times in a row (watch: speakerctl status)")
    return 0


def announce_offline(env: Env, target: Target, exc: UnreachableError) -> int:
    """Clear the maintenance in the file; the next start announces after `rise` passes."""

    def clear(entries: dict[str, Maintenance], names: list[str]) -> None:
        entries.pop(ALL, None)
        for name in names:
            entries.pop(name, None)

    names = _edit_offline(env, target, exc, "cleared", clear)
    assert target.config is not None
    path = MaintenanceStore(target.config.state_dir).path
    env.note(f"{PROG}: maintenance cleared in {path} for {', '.join(names)}; nothing "
             "changed on the live route: the next start of the process announces once the "
             "checks pass.")
    return exc.exit_code


def cmd_events(env: Env) -> int:
    target = env.target()
    if not env.args.follow:
        events = call(target, "events")["events"]
        if env.json:
            env.dump(events)
            return 0
        if not events:
            env.say("no state transitions since the process started")
        for event in events:
            env.say(render_event(event))
        return 0

    def show(text: str) -> None:
        try:
            event = json.loads(text)
            env.say(json.dumps(event, sort_keys=True) if env.json else render_event(event))
        except (ValueError, KeyError, TypeError):
            env.say(text)

    try:
        call(target, "events", {"follow": True}, on_progress=show, read_timeout=None)
    except KeyboardInterrupt:
        return 0
    env.note(f"{PROG}: the speaker process is stopping")
    return 0


def cmd_reload(env: Env) -> int:
    result = call(env.target(), "reload", changes=True)
    if env.json:
        env.dump(result)
        return 0
    parts = [f"{key}: {', '.join(names)}" for key, names in result.items() if names]
    env.say("config reloaded" + (f" ({'; '.join(parts)})" if parts else ""))
    return 0


def _exabgp_path(env: Env, yaml_path: Path) -> Path | None:
    if env.args.exabgp is not None:
        return Path(env.args.exabgp)
    beside = yaml_path.parent / "speaker.conf"
    return beside if beside.is_file() else None


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normpath(a) == os.path.normpath(b)


def exabgp_findings(cfg: Config, yaml_path: Path,
                    conf: Path) -> list[exabgp_conf.Finding]:
    try:
        text = conf.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [exabgp_conf.Finding("error", str(conf), "no such file")]
    except (OSError, UnicodeDecodeError) as exc:
        return [exabgp_conf.Finding("error", str(conf), f"cannot read: {exc}")]
    return exabgp_conf.cross_check(text, str(conf), cfg, str(yaml_path.absolute()), _same_file)


def cmd_check_config(env: Env) -> int:
    path: Path = env.args.path or env.args.config
    try:
        cfg = config.load(path)
    except ConfigError as exc:
        if env.json:
            env.dump({"config": str(path), "ok": False, "problems": exc.problems,
                      "warnings": []})
        for problem in exc.problems:
            env.note(problem)
        env.note(f"{PROG}: {path}: NOT valid ({len(exc.problems)} problem(s))")
        return exc.exit_code
    conf = _exabgp_path(env, path)
    findings = exabgp_findings(cfg, path, conf) if conf is not None else []
    errors = [str(f) for f in findings if f.level == "error"]
    warnings = [str(f) for f in findings if f.level != "error"]
    if env.json:
        env.dump({"config": str(path), "exabgp": str(conf) if conf else None,
                  "ok": not errors, "problems": errors, "warnings": warnings})
    for line in errors + warnings:
        env.note(line)
    summary = (f"{path}: {len(cfg.services)} service(s), {len(cfg.prefixes)} prefix(es)"
               + (f"; cross-checked with {conf}" if conf else
                  "; no ExaBGP config to cross-check (--exabgp FILE)"))
    if errors:
        env.note(f"{PROG}: NOT valid: {summary}: {len(errors)} problem(s)")
        return ConfigError.exit_code
    if not env.json:
        env.say(f"ok: {summary}" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0


def cmd_doctor(env: Env) -> int:
    target = env.target()
    status: dict[str, Any] | None = None
    unreachable_why = ""
    try:
        status = call(target, "status")
    except UnreachableError as exc:
        unreachable_why = str(exc)
    cfg = target.config
    conf = _exabgp_path(env, target.config_path) if cfg is not None else None
    from speaker.cli import doctor  # imports the DNS checks: only for this command

    findings = doctor.examine(
        config_path=target.config_path, cfg=cfg, config_problem=target.config_problem,
        exabgp_path=conf,
        exabgp=exabgp_findings(cfg, target.config_path, conf) if cfg and conf else [],
        status=status, unreachable=unreachable_why)
    if env.json:
        env.dump([f.as_dict() for f in findings])
    else:
        for line in doctor.render(findings):
            env.say(line)
    return DOCTOR_FAILED if doctor.failed(findings) else 0


# -- the parser ---------------------------------------------------------------------------------


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
    _json_flag(p)


def _args_announce(p: argparse.ArgumentParser) -> None:
    _services(p, "services to announce again")
    _json_flag(p)


def _args_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing transitions as they happen (Ctrl-C ends)")
    _json_flag(p)


def _exabgp_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exabgp", type=Path, metavar="CONF",
                   help="the ExaBGP config to cross-check (default: speaker.conf next to "
                        "the YAML, if present)")


def _args_check_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", nargs="?", type=Path, metavar="PATH",
                   help="the YAML to check (default: --config)")
    _exabgp_flag(p)
    _json_flag(p)


def _args_doctor(p: argparse.ArgumentParser) -> None:
    _exabgp_flag(p)
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
    parser.add_argument("--config", type=Path, default=config.DEFAULT_PATH, metavar="PATH",
                        help=f"the speaker's YAML (default {config.DEFAULT_PATH}); gives the "
                             "socket path and, without a process, state_dir")
    parser.add_argument("--socket", type=Path, metavar="PATH",
                        help="the control socket (default: control.socket of the config)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
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

