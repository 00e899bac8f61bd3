"""ExaBGP played on a real process's pipes, for the integration tests: a test helper."""

from __future__ import annotations

import subprocess
import threading
import time


class Exabgp:
    """Plays ExaBGP on the process's pipes: keeps every command, answers each `done`."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()

    def _play(self) -> None:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            try:
                self.proc.stdin.write("done\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):  # the process is gone
                return

    def wait_for(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while line not in self.lines:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"no {line!r} within {timeout} s: {self.lines}")
            time.sleep(0.02)

    def finish(self) -> None:
        self._thread.join(timeout=5)
