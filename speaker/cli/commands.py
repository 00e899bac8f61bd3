"""speakerctl's commands: one function per subcommand, from parsed arguments to output.

Owns what each subcommand does and prints: it asks the process through
`client`, words answers with `render`, and, with the process down,
`withdraw` and `announce` only edit the persisted maintenance file
(`offline`) and say so. It never changes routes itself and never parses
the command line (`parser` does). Every user mistake ends as one message
and an exit code from `speaker.core.errors`, never a traceback.

`withdraw` and `announce` are a drain's first step, so this module imports
only what they need to send the request: the offline edits, the config
model and the config checks are imported by the paths that use them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from speaker import __version__
from speaker.cli.client import READ_TIMEOUT, UNIT, Located, NotRunning, Where, call
from speaker.cli.render import render_event, render_status
from speaker.core import gshut
from speaker.core.errors import ConfigError, RequestError, UnknownServiceError, UnreachableError
from speaker.core.maintenance import OPERATOR

if TYPE_CHECKING:  # withdraw and announce must not pay for these at start-up (see `client`)
    from speaker.cli import offline
    from speaker.core import exabgp_conf
    from speaker.core.config import Config

PROG = "speakerctl"
DOCTOR_FAILED = 1


@dataclass(frozen=True)
class Env:
    """What every command gets: its arguments and where to print."""

    args: argparse.Namespace
    out: TextIO
    err: TextIO

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def target(self) -> Located:
        return Located(self.args.socket, self.args.config)

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


def _edit_offline(env: Env, target: Where, exc: UnreachableError, action: str,
                  edit: Callable[[Config, list[str]], offline.Edit]) -> tuple[list[str], Path]:
    """Apply `edit` to the maintenance file itself (the process is not there).

    Returns the services changed and the file; `action` ("recorded", "cleared")
    words the error.
    """
    if target.config is None:
        raise UnreachableError(f"{exc}\nmaintenance NOT {action}: {target.config_problem}")
    from speaker.adapters.state import StateError  # the offline path only

    known = [s.name for s in target.config.services]
    names = env.args.services or known
    _check_names(names, known)
    try:
        done = edit(target.config, names)
    except StateError as err:
        raise UnreachableError(f"{exc}\nmaintenance NOT {action}: {err} (run as root or as "
                               "the service user)") from None
    env.note(f"{PROG}: {exc}")
    if done.warning:
        env.note(f"{PROG}: warning: {done.warning}")
    if env.json:
        env.dump({"services": names, "recorded": str(done.path), "live": False})
    return names, done.path


def cmd_withdraw(env: Env) -> int:
    target = env.target()
    args: dict[str, Any] = {"services": env.args.services}
    if env.args.tag != OPERATOR:
        args["tag"] = env.args.tag
    if env.args.reason is not None:
        args["reason"] = env.args.reason
    graceful: float = env.args.graceful or 0.0
    if graceful:
        args["graceful"] = graceful
    delay: float | None = env.args.drain_delay
    if delay is not None:
        args["drain_delay"] = delay

    def config_delay() -> float:  # read (the config validated) only if the answer is late
        return target.config.drain_delay if target.config is not None else 3600.0

    progress = env.note if env.json else env.say
    try:
        result = call(target, "withdraw", args, on_progress=progress, changes=True,
                      read_timeout=READ_TIMEOUT + graceful + (delay or 0.0),
                      longer=None if delay is not None else config_delay)
    except NotRunning as exc:
        return withdraw_offline(env, target, exc)
    gone = [n for n, how in result.get("drain", {}).items() if how == gshut.REMOVED]
    if env.json:
        env.dump(result)
    elif gone and not result["services"]:  # `announce` alone would announce every service
        env.say(f"withdrawn: {', '.join(gone)} removed by a reload, nothing to announce "
                "afterwards")
    else:
        env.say(f"withdrawn and drained: safe to stop the DNS server "
                f"(afterwards: speakerctl announce "
                f"{'' if env.args.tag == OPERATOR else f'--tag {env.args.tag} '}"
                f"{' '.join(result['services'])})")
    return 0


def withdraw_offline(env: Env, target: Where, exc: UnreachableError) -> int:
    """Record the maintenance in the file so the next start stays withdrawn; exit 69."""
    from speaker.cli import offline  # the offline path only

    reason = env.args.reason if env.args.reason is not None else "maintenance"
    names, path = _edit_offline(env, target, exc, "recorded",
                                lambda cfg, names: offline.withdraw(cfg, names, reason,
                                                                    env.args.tag))
    if getattr(env.args, "graceful", None):
        env.note(f"{PROG}: --graceful: no drain (the process does not run to announce it)")
    env.note(f"{PROG}: the live route could NOT be changed through the process.\n"
             f"{PROG}: maintenance recorded in {path} for {', '.join(names)}: the next "
             "start of the process keeps it withdrawn.\n"
             f"{PROG}: if ExaBGP still runs without the process, the route stays announced "
             f"until ExaBGP restarts the process (which withdraws it) or stops; check: "
             f"systemctl status {UNIT}")
    return exc.exit_code


def cmd_announce(env: Env) -> int:
    target = env.target()
    tag, wait = env.args.tag, env.args.wait
    args: dict[str, Any] = {"services": env.args.services}
    if tag is not None:
        args["tag"] = tag
    if wait is not None:
        args["wait"] = wait
    try:
        result = call(target, "announce", args, changes=True,
                      on_progress=env.note if env.json else env.say,
                      read_timeout=READ_TIMEOUT + (wait or 0.0))
    except NotRunning as exc:
        return announce_offline(env, target, exc)
    if env.json:
        env.dump(result)
        return 0
    ended = f"maintenance {tag}" if tag else "maintenance"
    for name in result["services"]:
        held = result.get("held", {}).get(name)
        if held:
            env.say(f"{name}: {ended} ended; still withdrawn: in maintenance {', '.join(held)} "
                    f"(speakerctl announce --tag TAG {name} ends one)")
        elif wait is not None:
            env.say(f"{name}: {ended} ended; announced again (acknowledged by ExaBGP)")
        else:
            env.say(f"{name}: {ended} ended; announced again once its checks pass "
                    f"{result['rise'][name]} times in a row (watch: speakerctl status)")
    return 0


def announce_offline(env: Env, target: Where, exc: UnreachableError) -> int:
    """Clear the maintenance in the file; the next start announces after `rise` passes."""
    from speaker.cli import offline  # the offline path only

    names, path = _edit_offline(env, target, exc, "cleared",
                                lambda cfg, names: offline.announce(cfg, names, env.args.tag))
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


def exabgp_version(given: str | None) -> tuple[str | None, str]:
    """The ExaBGP version that runs the config, and how it was found."""
    if given is not None:
        return given, "--exabgp-version"
    import importlib.metadata

    try:
        return importlib.metadata.version("exabgp"), f"installed for {sys.executable}"
    except importlib.metadata.PackageNotFoundError:
        return None, ""


def exabgp_findings(cfg: Config, yaml_path: Path, conf: Path,
                    version: str | None = None) -> list[exabgp_conf.Finding]:
    from speaker.core import exabgp_conf, exabgp_security  # config checks only

    try:
        text = conf.read_text(encoding="utf-8")
        mode = conf.stat().st_mode
    except FileNotFoundError:
        return [exabgp_conf.Finding("error", str(conf), "no such file")]
    except (OSError, UnicodeDecodeError) as exc:
        return [exabgp_conf.Finding("error", str(conf), f"cannot read: {exc}")]
    found, how = exabgp_version(version)
    host = exabgp_security.Host(found, how, mode)
    return exabgp_conf.cross_check(text, str(conf), cfg, str(yaml_path.absolute()), _same_file,
                                   host)


def cmd_check_config(env: Env) -> int:
    from speaker.core import config, limits  # the config model: check-config only

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
    findings = (exabgp_findings(cfg, path, conf, env.args.exabgp_version)
                if conf is not None else [])
    over = limits.excess(cfg.router_limits, cfg.prefixes)  # the speaker would start, though
    errors = ([f"{path}: {over[0]}: {over[1]}"] if over else []) + [
        str(f) for f in findings if f.level == "error"]
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
        exabgp=(exabgp_findings(cfg, target.config_path, conf, env.args.exabgp_version)
                if cfg and conf else []),
        status=status, unreachable=unreachable_why, dns_config=env.args.dns_config)
    if env.json:
        env.dump([f.as_dict() for f in findings])
    else:
        for line in doctor.render(findings):
            env.say(line)
    return DOCTOR_FAILED if doctor.failed(findings) else 0
