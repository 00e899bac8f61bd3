"""The process watch: tells the engine the moment a DNS server's process exits.

The PID comes from the server's pid file (BIND: `pid-file`); `os.pidfd_open`
gives a descriptor that becomes readable when that process ends, and the
event loop reads it: no polling. On exit `on_gone(name, reason)` is called
once; `rearm` (after a passing probe) reads the pid file again, so a
restarted server (new PID) is watched again without operator action.

It never decides about routes and never logs: the engine does both.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from speaker.core.watch import Detection, Process, parse_pid


@dataclass
class _Watched:
    target: Process
    pid: int | None = None
    fd: int | None = None
    problem: str = ""


class ProcessWatch:
    """One pidfd per service that names a pid file."""

    def __init__(self, on_gone: Callable[[str, str], None]) -> None:
        self.on_gone = on_gone
        self._watched: dict[str, _Watched] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self, name: str, target: Process) -> None:
        """Watch the process named by `target`'s pid file for service `name`."""
        self.unwatch(name)
        self._watched[name] = item = _Watched(target)
        self._arm(name, item)

    def rearm(self, name: str) -> None:
        """Read the pid file again if the process is not watched (a restarted server)."""
        item = self._watched.get(name)
        if item is not None and item.fd is None:
            self._arm(name, item)

    def unwatch(self, name: str) -> None:
        item = self._watched.pop(name, None)
        if item is not None:
            self._disarm(item)

    def report(self, name: str) -> list[Detection]:
        item = self._watched.get(name)
        if item is None:
            return []
        target = item.target.describe()
        if item.fd is not None:
            return [Detection("process", target, True, f"pid {item.pid}")]
        return [Detection("process", target, False, item.problem)]

    def close(self) -> None:
        for item in self._watched.values():
            self._disarm(item)
        self._watched.clear()

    def _arm(self, name: str, item: _Watched) -> None:
        path = item.target.pid_file
        try:
            text = path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            item.problem = f"{path} does not exist (server not running?); read again once " \
                           "a probe passes"
            return
        except OSError as exc:
            item.problem = f"cannot read {path}: {exc.strerror or exc}"
            return
        pid = parse_pid(text)
        if pid is None:
            item.problem = f"{path} holds no PID (got {text.strip()[:20]!r})"
            return
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            item.problem = f"process {pid} from {path} is not running; read again once a " \
                           "probe passes"
            return
        except (OSError, AttributeError) as exc:  # AttributeError: no pidfd_open (not Linux)
            why = errno.errorcode.get(getattr(exc, "errno", 0) or 0, str(exc))
            item.problem = f"pidfd_open unavailable: {why}"
            return
        loop = self._loop = asyncio.get_running_loop()
        loop.add_reader(fd, self._exited, name, item)
        item.pid, item.fd, item.problem = pid, fd, ""

    def _exited(self, name: str, item: _Watched) -> None:
        pid = item.pid
        self._disarm(item)
        item.problem = f"process {pid} exited; pid file read again once a probe passes"
        if self._watched.get(name) is item:
            self.on_gone(name, f"process {pid} (from {item.target.pid_file}) exited")

    def _disarm(self, item: _Watched) -> None:
        if item.fd is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(item.fd)
            with contextlib.suppress(OSError):
                os.close(item.fd)
            item.fd = None


def available() -> str:
    """Empty when pidfds work here, else why not (for doctor)."""
    if not hasattr(os, "pidfd_open"):
        return "os.pidfd_open is missing (Linux >= 5.3 and Python >= 3.9 needed)"
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        return f"pidfd_open fails: {exc.strerror or exc}"
    return ""


def pid_file_of(path: Path) -> str:
    """Where a pid file points, in words (for doctor)."""
    try:
        pid = parse_pid(path.read_text(encoding="ascii", errors="replace"))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return f"pid {pid}" if pid is not None else f"{path} holds no PID"
