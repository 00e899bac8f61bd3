"""speakerctl's client: finding the control socket and asking the running process.

Owns where the socket is (the --socket flag, control.socket of the config,
or the default, and saying which), one request and its reply over
`speaker.core.protocol`, and turning every way that can fail into an
error that names the socket, where its path came from, and what to do. It
prints nothing and never edits files: the commands decide what to show.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from speaker import __version__
from speaker.core import config, protocol
from speaker.core.config import Config
from speaker.core.errors import (
    ConfigError,
    NotSafeError,
    RequestError,
    SpeakerError,
    UnknownServiceError,
    UnreachableError,
)
from speaker.core.protocol import Progress, ProtocolError, Reply, Request

UNIT = "anycast-speaker"
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0  # per line; a withdraw adds its drain delay


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
    """The socket to use: the flag, else control.socket of the config, else the default."""
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
    """The error for a socket that cannot be used: which, from where, and what to do."""
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
    protocol.CANCELLED: NotSafeError,  # a graceful drain announced again: not withdrawn
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
