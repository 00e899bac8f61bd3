"""One process a lab starts: how it is started, and its record (PID and start time).

Owns `Proc` (a started process, identified by PID and /proc start time, never by
name), `launch` (start argv in a netns with its output appended to a log file)
and `ExternalExabgp` (a command a node runs instead of the checkout's ExaBGP).
It does not record processes in a lab's state file: `Lab.spawn` does, at once.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.system import LabError, alive, ns_argv, signal_pid, start_time


@dataclass(frozen=True)
class ExternalExabgp:
    """A command the lab runs for one node instead of the checkout's ExaBGP on the lab's
    generated config, e.g. an installed package's unit ExecStart under setpriv (see
    tests/packaging/installed_node.py). It brings its own configuration, which must use the
    lab's addresses for that node. The lab starts it in the node's netns, records it by PID
    and stops it at teardown like any other process; `heal()`/`reset()` do not clear its
    state directory (only the lab's own one).
    """

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = Path("/")


class Proc:
    """One process the lab started, identified by PID and start time."""

    def __init__(self, key: str, pid: int, started: int, argv: Sequence[str],
                 popen: subprocess.Popen[bytes] | None) -> None:
        self.key, self.pid, self.started, self.argv = key, pid, started, list(argv)
        self.popen = popen

    @property
    def alive(self) -> bool:
        """True until the whole process is gone. For our own child, waitpid decides: it
        reports only once every thread has exited, while /proc shows the thread-group
        leader as a zombie as soon as the main thread is done, when the other threads may
        still hold the listening sockets (a restarted pdns_server then cannot bind)."""
        if self.popen is not None:
            return self.popen.poll() is None  # reaps it once gone: no lingering zombie
        return alive(self.pid, self.started)

    def signal(self, sig: int) -> bool:
        return signal_pid(self.pid, self.started, sig)

    def wait_gone(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            time.sleep(0.01)
        return not self.alive

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "pid": self.pid, "start": self.started, "argv": self.argv}


def launch(key: str, ns: str, argv: Sequence[str], logfile: Path, env: dict[str, str],
           cwd: Path) -> Proc:
    """Start `argv` in netns `ns` in a session of its own, stdout and stderr appended to
    `logfile` after a start line; LabError if it is gone before its start time is read."""
    with open(logfile, "ab") as out:
        out.write(f"--- {time.strftime('%H:%M:%S')} start {' '.join(argv)}\n".encode())
        out.flush()
        popen = subprocess.Popen(
            ns_argv(ns, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, cwd=cwd, start_new_session=True)
    started = start_time(popen.pid)
    if started is None:
        popen.wait()
        raise LabError(f"{key} exited at once ({popen.returncode}); see {logfile}")
    return Proc(key, popen.pid, started, argv, popen)
