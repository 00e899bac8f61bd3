"""Optional py-spy profile of the speaker process during a phase (`--py-spy PATH`).

py-spy is not a dependency: install it where you like (e.g. a venv under /tmp)
and pass its path. The summary is the main thread's busy share and the
functions with the largest inclusive share of its busy samples.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

RATE = 50  # samples per second
LINE = re.compile(r":\d+\)$")  # "f (file.py:12)" -> "f (file.py)": one entry per function
GENERIC = ("runpy", "<module>", "asyncio", "runners.py", "base_events.py", "events.py",
           "main (speaker/daemon.py", "_run_module", "_run_code")


class PySpy:
    def __init__(self, exe: Path, out: Path) -> None:
        self.exe, self.out = exe, out
        self.results: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._phase = ""
        self._t0 = 0.0
        self._file = out

    def start(self, lab: Any, node: Any, phase: str) -> None:
        got = node.speaker_pid()
        if got is None:
            self.results[phase] = {"error": "no speaker process"}
            return
        self._phase = phase
        self._file = self.out / f"py-spy-{phase}.txt"
        self._proc = subprocess.Popen(
            [str(self.exe), "record", "-r", str(RATE), "-p", str(got[0]), "-f", "raw",
             "-o", str(self._file), "--threads", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._t0 = time.monotonic()
        time.sleep(0.3)  # let it attach

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        elapsed = time.monotonic() - self._t0
        proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.results[self._phase] = summarize(self._file, elapsed)


def summarize(path: Path, seconds: float, top: int = 10) -> dict[str, Any]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        return {"error": str(exc)}
    inclusive: Counter[str] = Counter()
    busy = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        # a frame name can span lines (seen: a module's docstring while it was imported)
        if not frames or "MainThread" not in frames[0] or not count.isdigit():
            continue
        n = int(count)
        busy += n
        for frame in {LINE.sub(")", f) for f in frames[1:]}:
            inclusive[frame] += n
    chosen = [(f, c / busy) for f, c in inclusive.most_common()
              if busy and not any(g in f for g in GENERIC)][:top]
    return {"busy_share": round(busy / (RATE * seconds), 3) if seconds else None,
            "samples": busy, "file": str(path),
            "top": [(f, round(s, 3)) for f, s in chosen]}
