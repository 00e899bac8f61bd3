"""speakerctl's client: finding the control socket and asking the running process.

Owns where the socket is (the --socket flag, control.socket of the config,
or the default, and saying which), one request and its reply over
`speaker.core.protocol`, and turning every way that can fail into an
error that names the socket, where its path came from, and what to do. It
prints nothing and never edits files: the commands decide what to show.

It is on the path of every `speakerctl withdraw`, so it finds the socket
without the config model (control.socket as written: the path a valid
config gives too) and validates the config only when something asks for it
(an error to word, the offline path, a drain delay not given): `Located`.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speaker import __version__
from speaker.core import paths, protocol
from speaker.core.errors import (
    ConfigError,
    NotSafeError,
    RequestError,
    SpeakerError,
    UnknownServiceError,
    UnreachableError,
)
from speaker.core.protocol import Progress, ProtocolError, Reply, Request

if TYPE_CHECKING:  # the config model costs speakerctl's start-up more than all the rest
    from speaker.core.config import Config

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
    """control.socket as written, valid config or not (the process may still run).

    For a valid config this is its control.socket (None: the default).
    """
    import yaml  # only when the socket is not given: ~10 ms of speakerctl's start-up

    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            RecursionError):  # not YAML (or a scalar no constructor takes): the regex will do
        found = re.search(r"^\s*[\"']?socket[\"']?\s*:\s*[\"']?(/[^\s\"'#,]+)", text,
                          re.MULTILINE)
        return Path(found.group(1)) if found else None
    control = data.get("control") if isinstance(data, dict) else None
    value = control.get("socket") if isinstance(control, dict) else None
    return Path(value) if isinstance(value, str) and value.startswith("/") else None


def _read(path: Path) -> tuple[str, str]:
    """(text, problem): the config's text, or '' and why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8"), ""
    except FileNotFoundError:
        return "", f"{path} does not exist"
    except PermissionError:
        return "", f"{path}: permission denied (run as root or a member of group speaker)"
    except (OSError, UnicodeDecodeError) as exc:
        return "", f"{path}: cannot read: {exc}"


def _validate(path: Path, text: str) -> tuple[Config | None, str]:
    """(config, problem): the config if `text` is valid, else why not."""
    from speaker.core import config  # the config model: only when something needs it

    try:
        return config.parse(text, source=str(path)), ""
    except ConfigError as exc:
        count = len(exc.problems)
        return None, (f"{path} is not valid ({count} problem{'s' * (count != 1)}: "
                      f"speakerctl check-config {path})")


def _socket(socket_flag: Path | None, text: str) -> Path:
    """The socket: the flag, else control.socket of the config's text, else the default."""
    if socket_flag is not None:
        return socket_flag
    return (_raw_socket(text) if text else None) or paths.DEFAULT_SOCKET


def _target(socket_flag: Path | None, config_path: Path, text: str, unreadable: str) -> Target:
    """The whole Target, from the config's text (or why it cannot be read)."""
    cfg, problem = (None, unreadable) if unreadable else _validate(config_path, text)
    group = (cfg.control.group if cfg else None) or "speaker"
    if socket_flag is not None:
        return Target(socket_flag, "the --socket option", config_path, cfg, problem, group)
    raw = _raw_socket(text) if text else None
    found = raw or paths.DEFAULT_SOCKET  # what `_socket` gives: a valid config's socket too
    if cfg is not None:
        return Target(found, f"control.socket in {config_path}", config_path, cfg, "", group)
    if raw is not None:
        return Target(raw, f"control.socket in {config_path} (which has problems: {problem})",
                      config_path, None, problem, group)
    return Target(found, f"the default ({problem})", config_path, None, problem, group)


def locate(socket_flag: Path | None, config_path: Path) -> Target:
    """The socket to use: the flag, else control.socket of the config, else the default."""
    text, unreadable = _read(config_path)
    return _target(socket_flag, config_path, text, unreadable)


class Located:
    """`locate`'s Target in two steps: the socket at once, the rest on first use.

    The socket is the one `locate` gives for the same text (the file is read
    once); where it came from, the config and its group are worked out (the
    config validated) only when something asks for them.
    """

    def __init__(self, socket_flag: Path | None, config_path: Path) -> None:
        self._flag = socket_flag
        self.config_path = config_path
        self._text, self._unreadable = _read(config_path) if socket_flag is None else ("", "")
        self.socket = _socket(socket_flag, self._text)

    @cached_property
    def whole(self) -> Target:
        if self._flag is not None:  # not read yet: the socket did not need it
            self._text, self._unreadable = _read(self.config_path)
        return _target(self._flag, self.config_path, self._text, self._unreadable)

    @property
    def origin(self) -> str:
        return self.whole.origin

    @property
    def config(self) -> Config | None:
        return self.whole.config

    @property
    def config_problem(self) -> str:
        return self.whole.config_problem

    @property
    def group(self) -> str:
        return self.whole.group


Where = Target | Located


# -- talking to the process ---------------------------------------------------------------


class NotRunning(UnreachableError):
    """The speaker process is not running (no socket, or nobody listening on it)."""


def unreachable(target: Where, why: str, *, running: bool) -> UnreachableError:
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


class _Lines:
    """The reply's lines, each within `timeout` s (None: no bound).

    `longer`, asked once and only when a line is late, gives seconds added to
    that bound (the drain delay of a config nobody read yet).
    """

    def __init__(self, sock: socket.socket, timeout: float | None,
                 longer: Callable[[], float] | None) -> None:
        self.sock, self.timeout, self._longer = sock, timeout, longer
        self._buffer = bytearray()

    def next(self) -> bytes:
        """One line with its newline; at the end, what is left (b'' if nothing)."""
        start = time.monotonic()
        while (end := self._buffer.find(b"\n")) < 0:
            left = None
            if self.timeout is not None:
                left = start + self.timeout - time.monotonic()
                if left <= 0:
                    if self._longer is None:
                        raise TimeoutError
                    more, self._longer = self._longer(), None
                    self.timeout += more
                    continue
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest
            self._buffer += data
        line = bytes(self._buffer[:end + 1])
        del self._buffer[:end + 1]
        return line


def call(target: Where, cmd: str, args: dict[str, Any] | None = None, *,
         on_progress: Callable[[str], None] | None = None,
         read_timeout: float | None = READ_TIMEOUT, changes: bool = False,
         longer: Callable[[], float] | None = None) -> dict[str, Any]:
    """Send one request and return the result; progress lines go to `on_progress`.

    Each line of the answer must come within `read_timeout` s, plus what
    `longer` says if one is late (asked once, after the request is sent).
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
        lines = _Lines(sock, read_timeout, longer)
        while True:
            try:
                line = lines.next()
            except TimeoutError:
                what = (f"no answer from the speaker process within {lines.timeout:g} s; the "
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
