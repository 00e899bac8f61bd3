"""The lab's contact with the machine: /proc, network namespaces, commands.

Owns: running `ip`/`sysctl` commands, entering a network namespace from a
thread (setns), reading /proc to identify processes (by PID and start time,
never by name), and finding the processes that live inside a namespace.
It knows nothing about FRR, BIND or ExaBGP.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
_libc = ctypes.CDLL(None, use_errno=True)


class LabError(RuntimeError):
    """Something in the lab did not behave; the message says what."""


def run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; raise LabError with stderr on failure."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              input=input, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout} s: {' '.join(argv)}") from exc
    if check and proc.returncode != 0:
        raise LabError(f"command failed ({proc.returncode}): {' '.join(argv)}\n"
                       f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def ns_argv(ns: str, argv: Sequence[str]) -> list[str]:
    """argv run inside netns `ns` (`ip netns exec` execs it: the PID is the command's)."""
    return ["ip", "netns", "exec", ns, *argv]


# -- entering a namespace from a thread ----------------------------------------


def in_netns(ns: str, fn: Callable[[], T], timeout: float = 30.0) -> T:
    """Call fn in a fresh thread that joined netns `ns`; sockets it makes stay there."""
    box: dict[str, object] = {}

    def body() -> None:
        try:
            fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({ns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=body, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise LabError(f"call inside netns {ns} did not return within {timeout} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


# -- /proc ---------------------------------------------------------------------


def start_time(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), None if gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def state(pid: int) -> str | None:
    """One-letter process state (R, S, T, Z ...) or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[0]


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_watchdog(pid: int) -> bool:
    """The speaker's watchdog: forked (named speaker-watchd) or started as its module."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "speaker-watchd":
            return True
    except OSError:
        return False
    return "speaker.adapters.watchdog" in cmdline(pid)


def pids() -> Iterator[int]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            yield int(entry.name)


def children(pid: int) -> list[int]:
    return [p for p in pids() if parent(p) == pid]


def alive(pid: int, started: int) -> bool:
    """True if `pid` still is the process that started at `started`: not a zombie, or a
    zombie thread-group leader whose other threads still run (and still hold its files)."""
    if start_time(pid) == started:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if int(stat[stat.rindex(")") + 2:].split()[19]) != started:
            return False
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (OSError, ValueError, IndexError):
        return False
    return any(state(int(task.name)) not in (None, "Z", "X") for task in tasks)


def netns_inode(ns: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / ns).st_ino
    except OSError:
        return None


def processes_in(inodes: set[int]) -> list[int]:
    """PIDs of live processes whose network namespace is one of `inodes`."""
    found = []
    for pid in pids():
        if pid == os.getpid():
            continue
        try:
            ino = os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            continue
        if ino in inodes and start_time(pid) is not None:
            found.append(pid)
    return found


def signal_pid(pid: int, started: int, sig: int) -> bool:
    """Send `sig` only if `pid` is still the process we started; True if sent."""
    if not alive(pid, started):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
        return True
    return False


def wait_gone(pid: int, started: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, started):
            return True
        time.sleep(0.02)
    return not alive(pid, started)


def terminate(procs: Sequence[tuple[int, int]], grace: float = 3.0) -> None:
    """SIGTERM every (pid, start) still alive, SIGKILL what is left after `grace`."""
    for pid, started in procs:
        # A stopped process cannot act on SIGTERM.
        signal_pid(pid, started, signal.SIGCONT)
        signal_pid(pid, started, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(p, s) for p, s in procs):
        time.sleep(0.05)
    for pid, started in procs:
        signal_pid(pid, started, signal.SIGKILL)
    for pid, started in procs:
        wait_gone(pid, started, 2.0)


def wait_for(predicate: Callable[[], T], timeout: float, interval: float = 0.05,
             what: str = "condition") -> T:
    """Poll `predicate` until it returns a truthy value; LabError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
