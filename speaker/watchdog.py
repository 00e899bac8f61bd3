"""A watchdog outside the event loop, in a process of its own.

The speaker writes a heartbeat line to a pipe every `BEAT` seconds and, when
it changes, the list of prefixes that may be announced. If the heartbeats stop
for `timeout` seconds (event loop stuck, process stopped), the watchdog writes
`withdraw route` for those prefixes on ExaBGP's pipe (the speaker's stdout,
shared) and kills the speaker so ExaBGP starts a fresh one, which withdraws
before anything else. If the pipe closes without a goodbye (the speaker died),
it withdraws too. A process of its own, because a stopped or wedged process
cannot rescue itself.

Run as: python3 -m speaker.watchdog PARENT_PID HEARTBEAT_FD EXABGP_FD TIMEOUT
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

BEAT = 0.2
BYE = "bye"
BEAT_LINE = "beat"
PREFIXES = "prefixes"


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    with contextlib.suppress(OSError):
        os.write(2, f"speaker-watchdog: {stamp}Z error {message}\n".encode())


def _withdraw(fd: int, prefixes: list[str], deadline: float) -> int:
    """Write withdraws without blocking past `deadline`; returns how many went out."""
    os.set_blocking(fd, False)
    sent = 0
    for prefix in prefixes:
        data = f"withdraw route {prefix} next-hop self\n".encode()
        while time.monotonic() < deadline:
            try:
                os.write(fd, data)
                sent += 1
                break
            except BlockingIOError:
                select.select([], [fd], [], 0.05)
            except OSError:
                return sent
    return sent


def watch(parent: int, beat_fd: int, out_fd: int, timeout: float) -> int:
    prefixes: list[str] = []
    buffer = b""
    last = time.monotonic()
    while True:
        ready, _, _ = select.select([beat_fd], [], [], BEAT)
        now = time.monotonic()
        if ready:
            try:
                chunk = os.read(beat_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if prefixes:
                    sent = _withdraw(out_fd, prefixes, now + 1.0)
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
                if line.startswith(PREFIXES):
                    prefixes = line.split()[1:]
                last = now
            continue
        if now - last >= timeout:
            sent = _withdraw(out_fd, prefixes, now + 1.0)
            _log(f"speaker hung: no heartbeat for {now - last:.1f} s; withdrew {sent} "
                 f"prefixes and killed it so ExaBGP restarts it pid={parent}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(parent, signal.SIGKILL)
            return 1


class Handle:
    """The speaker's side: starts the watchdog process and feeds it; restarts it if it died."""

    def __init__(self, out_fd: int, timeout: float) -> None:
        self.out_fd = out_fd
        self.timeout = timeout
        self._fd: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._prefixes = PREFIXES
        self.restarts = -1

    def start(self) -> None:
        """Start the watchdog process (again); raises OSError if it cannot."""
        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "speaker.watchdog", str(os.getpid()), str(read_fd),
                 str(self.out_fd), str(self.timeout)],
                pass_fds=(read_fd, self.out_fd), stdin=subprocess.DEVNULL, stdout=2)
        except OSError:
            os.close(write_fd)
            raise
        finally:
            os.close(read_fd)
        if self._fd is not None:
            os.close(self._fd)
        os.set_blocking(write_fd, False)
        self._fd = write_fd
        self.restarts += 1
        self._send(self._prefixes)

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _send(self, line: str) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # full or broken pipe: the next beat retries
            os.write(self._fd, (line + "\n").encode())

    def prefixes(self, prefixes: list[str]) -> None:
        self._prefixes = " ".join([PREFIXES, *prefixes])
        self._send(self._prefixes)

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
