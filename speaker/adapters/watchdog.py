"""A watchdog outside the event loop, in a process of its own.

The speaker writes a heartbeat line to a pipe every `beat_period` seconds and, as
they change, which prefixes may be announced (`add ...`, `remove ...`). If the heartbeats stop
for `timeout` seconds (event loop stuck, process stopped), the watchdog writes
`withdraw route` for those prefixes on ExaBGP's pipe (the speaker's stdout,
shared) and kills the speaker so ExaBGP starts a fresh one, which withdraws
before anything else. If the pipe closes without a goodbye (the speaker died),
it withdraws too. A process of its own, because a stopped or wedged process
cannot rescue itself.

Forked first (issue 14): `python3 -m speaker` calls `fork_early` before it
imports anything heavy (asyncio, dnspython, pyroute2, yaml), so the watchdog is
a copy of a bare interpreter that shares the pages the speaker leaves
unwritten (measured: watchdog 4.2 MB PSS, was 4.5-5.4; speaker 17.9 MB, was
18.9-19.1, the tempfile change included), and the speaker no longer starts a
second interpreter while it starts up (about 60 ms sooner at `starting`). It
learns its timeout from the speaker's first line (`timeout SECONDS`), after
the configuration is loaded, and names itself `speaker-watchd` (/proc/PID/comm).
Restarted (the first one died), it is started afresh as:

    python3 -m speaker.adapters.watchdog PARENT_PID HEARTBEAT_FD EXABGP_FD TIMEOUT

which imports only os, select, signal, sys and time (not typing or
subprocess: 9.9 MB RSS, 4.4 MB PSS). `Handle`, the speaker's side, imports
subprocess only when it starts one.
"""

from __future__ import annotations

import contextlib  # runpy (python3 -m) has imported it already
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False  # not typing's: importing typing costs the watchdog 1 MB (re, ...)
if TYPE_CHECKING:
    import subprocess

BEAT = 0.2  # the least heartbeat period (`beat_period`)
BEATS_PER_TIMEOUT = 4  # heartbeats within one watchdog timeout: 3 may be late
BYE = "bye"
BEAT_LINE = "beat"
ADD = "add"  # "add P1 P2 ...": these may be announced
REMOVE = "remove"  # "remove P1 ...": these are confirmed withdrawn
TIMEOUT = "timeout"  # "timeout SECONDS": the watchdog's timeout, from the configuration
BATCH = 100  # prefixes per line: lines stay short
# Withdraws in groups of PACE, PAUSE s apart: ExaBGP takes at most 50 route steps a loop,
# and a loop with steps left but nothing new to read sleeps (0.2 s at exabgp_reactor_speed
# 20; the speaker wakes it with speaker.engine.wake). 1,000 prefixes: 40 groups, 0.08 s.
PACE = 25
PAUSE = 0.002
WAKE = b"version\n"  # speaker.core.exabgp_api.WAKE (not imported: the watchdog stays bare)
COMM = "speaker-watchd"  # the forked watchdog's process name (15 bytes at most)
EARLY_SKIP = frozenset(("--check", "-h", "--help", "--version"))  # runs that announce nothing


def beat_period(timeout: float) -> float:
    """How often the speaker beats: BEATS_PER_TIMEOUT times per watchdog timeout, and no
    more often than BEAT (a wake-up of its own only as often as the timeout needs)."""
    return max(BEAT, timeout / BEATS_PER_TIMEOUT)


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    with contextlib.suppress(OSError):
        os.write(2, f"speaker-watchdog: {stamp}Z error {message}\n".encode())


def _withdraw(fd: int, prefixes: list[str], deadline: float) -> int:
    """Write withdraws without blocking past `deadline`; returns how many went out.

    The pipe is ExaBGP's, shared with the speaker: its blocking mode is the
    speaker's too, so it is left alone. A pipe that select() calls writable has
    room for a whole line (< PIPE_BUF, written atomically), so the write does
    not block.
    """
    sent = 0
    lines = [f"withdraw route {prefix} next-hop self\n".encode() for prefix in prefixes]
    if len(lines) > PACE:  # then ExaBGP's `version`: its last read may leave steps queued
        lines.append(WAKE)
    for number, data in enumerate(lines):
        if number and number % PACE == 0:  # ExaBGP reads these apart: each read wakes its loop
            time.sleep(min(PAUSE, max(0.0, deadline - time.monotonic())))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return sent
            _, writable, _ = select.select([], [fd], [], min(left, 0.05))
            if writable:
                break
        try:
            os.write(fd, data)
        except OSError:
            return sent
        sent += data is not WAKE
    return sent


def watch(parent: int, beat_fd: int, out_fd: int, timeout: float | None) -> int:
    """Watch the heartbeats on `beat_fd`; with `timeout` None, wait for the speaker's
    `timeout` line first (a hang is not judged before it)."""
    prefixes: dict[str, None] = {}  # ordered set
    buffer = b""
    last = time.monotonic()
    while True:
        # wake for a beat, or when the heartbeats are overdue: no wake-ups that serve nothing
        wait = None if timeout is None else max(0.0, last + timeout - time.monotonic())
        ready, _, _ = select.select([beat_fd], [], [], wait)
        now = time.monotonic()
        if ready:
            try:
                chunk = os.read(beat_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if prefixes:
                    sent = _withdraw(out_fd, list(prefixes), now + 1.0)
                    _log(f"speaker exited without cleaning up; withdrew {sent} prefixes "
                         f"pid={parent}")
                return 0
            buffer += chunk
            *lines, rest = buffer.split(b"\n")
            buffer = rest
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if line == BYE:
                    return 0
                if line.startswith(ADD):
                    prefixes.update(dict.fromkeys(line.split()[1:]))
                elif line.startswith(REMOVE):
                    for prefix in line.split()[1:]:
                        prefixes.pop(prefix, None)
                elif line.startswith(TIMEOUT):
                    timeout = _seconds(line, timeout)
                last = now
            continue
        if timeout is not None and now - last >= timeout:
            sent = _withdraw(out_fd, list(prefixes), now + 1.0)
            _log(f"speaker hung: no heartbeat for {now - last:.1f} s; withdrew {sent} "
                 f"prefixes and killed it so ExaBGP restarts it pid={parent}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(parent, signal.SIGKILL)
            return 1


def _seconds(line: str, default: float | None) -> float | None:
    try:
        value = float(line.split()[1])
    except (IndexError, ValueError):
        _log(f"bad timeout line from the speaker: {line!r}")
        return default
    return value if value > 0 else default


def fork_early(argv: list[str]) -> tuple[int, int] | None:
    """Fork the watchdog now, while the process is a bare interpreter: (its PID, the
    heartbeat pipe's write end), for `Handle.adopt`. None for runs that announce nothing
    (`--check`, `--help`, `--version`) or when fork fails (`Handle.start` starts one).

    The child keeps fd 1 (ExaBGP's pipe) for its withdraws and leaves ExaBGP's stdin
    alone (fd 0 becomes /dev/null); it never returns from here.
    """
    if EARLY_SKIP.intersection(argv):
        return None
    parent = os.getpid()
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # the watchdog
        code = 70
        try:
            os.close(write_fd)
            _become_watchdog()
            code = watch(parent, read_fd, 1, None)
        finally:
            os._exit(code)  # never the speaker's cleanup, nor its buffered stdout
    os.close(read_fd)
    return pid, write_fd


def _become_watchdog() -> None:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(COMM)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Handle:
    """The speaker's side: starts the watchdog process and feeds it; restarts it if it died."""

    def __init__(self, out_fd: int, timeout: float) -> None:
        self.out_fd = out_fd
        self.timeout = timeout
        self._fd: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None  # the forked watchdog (`adopt`), until it is reaped
        self._prefixes: set[str] = set()
        self._out = bytearray()
        self.restarts = -1

    def adopt(self, early: tuple[int, int]) -> None:
        """Take over the watchdog `fork_early` forked: tell it its timeout and the set."""
        self._pid, fd = early
        self._connect(fd)

    def start(self) -> None:
        """Start a watchdog process (again); raises OSError if it cannot."""
        import subprocess

        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "speaker.adapters.watchdog", str(os.getpid()), str(read_fd),
                 str(self.out_fd), str(self.timeout)],
                pass_fds=(read_fd, self.out_fd), stdin=subprocess.DEVNULL, stdout=2)
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        self._connect(write_fd)

    def _connect(self, write_fd: int) -> None:
        if self._fd is not None:
            os.close(self._fd)
        os.set_blocking(write_fd, False)  # our own pipe to the watchdog, not ExaBGP's
        self._fd = write_fd
        self._out.clear()
        self.restarts += 1
        self._send(f"{TIMEOUT} {self.timeout!r}")
        self._send_set(ADD, sorted(self._prefixes))

    def alive(self) -> bool:
        if self._pid is not None:
            try:
                done, _ = os.waitpid(self._pid, os.WNOHANG)
            except ChildProcessError:
                done = self._pid
            if done == 0:
                return True
            self._pid = None  # reaped: a fresh one is started
            return False
        return self._proc is not None and self._proc.poll() is None

    def _send(self, line: str) -> None:
        """Queue `line` and write what the pipe takes; the rest goes with the next beat."""
        self._out += (line + "\n").encode()
        self.flush()

    def flush(self) -> None:
        if self._fd is None:
            return
        while self._out:
            try:
                written = os.write(self._fd, self._out)
            except BlockingIOError:
                return  # full: the watchdog is slow to read; retried at the next beat
            except OSError:
                self._out.clear()  # broken: the watchdog is gone; start() resends all
                return
            del self._out[:written]

    def _send_set(self, verb: str, prefixes: list[str]) -> None:
        for i in range(0, len(prefixes), BATCH):
            self._send(" ".join([verb, *prefixes[i:i + BATCH]]))

    def update(self, added: list[str], removed: list[str]) -> None:
        """The prefixes that may be announced changed: tell the watchdog the difference."""
        self._prefixes.update(added)
        self._prefixes.difference_update(removed)
        self._send_set(ADD, added)
        self._send_set(REMOVE, removed)

    def beat(self) -> None:
        self._send(BEAT_LINE)

    def bye(self) -> None:
        self._send(BYE)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 64
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return watch(int(args[0]), int(args[1]), int(args[2]), float(args[3]))


if __name__ == "__main__":
    sys.exit(main())
