"""CPU and memory of a set of processes, from /proc (no names: PIDs handed in)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def loadavg() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of `pid` plus cutime + cstime (children it has reaped), in ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14))


def memory_kib(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of `pid` in KiB, from smaps_rollup."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    rss = pss = 0
    for line in text.splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


@dataclass
class CpuSample:
    share: float                    # of one core, over the window (0.0-1.0 per core)
    seconds: float                  # window length
    by_role: dict[str, float]       # share per role (exabgp, process, watchdog, bgpd ...)
    complete: bool                  # every process lived through the whole window


def cpu_begin(pids: dict[int, str]) -> tuple[float, dict[int, int]]:
    return time.monotonic(), {p: t for p in pids if (t := cpu_ticks(p)) is not None}


def cpu_end(pids: dict[int, str], begin: tuple[float, dict[int, int]]) -> CpuSample:
    t0, ticks0 = begin
    elapsed = time.monotonic() - t0
    by_role: dict[str, float] = {}
    complete = True
    total = 0
    for pid, role in pids.items():
        now = cpu_ticks(pid)
        if now is None or pid not in ticks0:
            complete = False
            continue
        used = now - ticks0[pid]
        total += used
        by_role[role] = by_role.get(role, 0.0) + used / TICK / elapsed
    return CpuSample(total / TICK / elapsed, elapsed, by_role, complete)


def memory(pids: dict[int, str]) -> dict[str, dict[str, float]]:
    """{"total": {"rss_mb", "pss_mb"}, role: {...}} for the processes in `pids`."""
    out: dict[str, dict[str, float]] = {"total": {"rss_mb": 0.0, "pss_mb": 0.0}}
    for pid, role in pids.items():
        got = memory_kib(pid)
        if got is None:
            continue
        entry = out.setdefault(role, {"rss_mb": 0.0, "pss_mb": 0.0})
        for key, kib in zip(("rss_mb", "pss_mb"), got, strict=True):
            entry[key] += kib / 1024
            out["total"][key] += kib / 1024
    return out
