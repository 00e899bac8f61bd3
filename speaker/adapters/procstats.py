"""The process_* metrics (RSS, CPU seconds, fds, start time), read from /proc/self only.

Owns a Prometheus collector with the names and meanings of prometheus_client's
own ProcessCollector, so dashboards made for it work. That one reads the boot
time from /proc/stat, which the packaged unit hides (ProcSubset=pid), and then
exports nothing at all. This one reads only the process's own files
(/proc/self/stat, /proc/self/limits, /proc/self/fd) and takes the boot time
from the clocks: now minus CLOCK_BOOTTIME, the clock that /proc/self/stat's
start time counts in.

A file it cannot read leaves out the metrics that come from it, logged once
per file until it can be read again; it never raises into a scrape. It must
not import the engine or know the speaker's state.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from speaker import logs

LOG = logs.get("metrics")

T = TypeVar("T")
NAMES = ("process_virtual_memory_bytes", "process_resident_memory_bytes",
         "process_start_time_seconds", "process_cpu_seconds_total", "process_open_fds",
         "process_max_fds")


def boot_time() -> float:
    """When the machine booted (unix time), from the clocks: no /proc/stat needed."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


@dataclass(frozen=True)
class Stat:
    """What /proc/self/stat says, in seconds and bytes."""

    cpu_seconds: float  # user + system
    start_since_boot: float
    virtual_bytes: float
    resident_bytes: float


def parse_stat(text: str, ticks: float, pagesize: int) -> Stat:
    """/proc/<pid>/stat: fields after the command (which may hold spaces and ')')."""
    rest = text[text.rindex(")") + 1:].split()
    if len(rest) < 22:
        raise ValueError(f"/proc stat line has {len(rest) + 2} fields, expected at least 24")
    # rest[0] is field 3 (state): utime 14, stime 15, starttime 22, vsize 23, rss 24
    return Stat(cpu_seconds=(int(rest[11]) + int(rest[12])) / ticks,
                start_since_boot=int(rest[19]) / ticks,
                virtual_bytes=float(int(rest[20])),
                resident_bytes=float(int(rest[21]) * pagesize))


def parse_max_fds(text: str) -> float:
    """The soft limit of open files from /proc/<pid>/limits (inf for unlimited)."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files"):].split()[0]
            return math.inf if soft == "unlimited" else float(int(soft))
    raise ValueError("no 'Max open files' line")


def _text(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


class ProcessCollector:
    """process_* gauges and counter of this process, read at scrape time."""

    def __init__(self, proc: str = "/proc/self", boot: Callable[[], float] = boot_time,
                 ticks: float | None = None, pagesize: int | None = None) -> None:
        self.proc = proc
        self.boot = boot
        self.ticks = ticks or float(os.sysconf("SC_CLK_TCK"))
        self.pagesize = pagesize or os.sysconf("SC_PAGE_SIZE")
        self._failing: set[str] = set()  # files whose failure is logged already

    def describe(self) -> list[Any]:
        return []  # no fixed description: keeps registration from collecting early

    def _read(self, name: str, load: Callable[[str], T]) -> T | None:
        """load(path of proc/name), or None when that fails (logged once per file)."""
        path = os.path.join(self.proc, name)
        try:
            value = load(path)
        except (OSError, ValueError, IndexError) as exc:
            if name not in self._failing:
                self._failing.add(name)
                logs.log(LOG, logging.WARNING, "metrics: cannot read the process's "
                         "own statistics; their process_* metrics are left out",
                         path=path, error=str(exc))
            return None
        if name in self._failing:
            self._failing.discard(name)
            logs.log(LOG, logging.INFO, "metrics: the process's statistics are readable "
                     "again", path=path)
        return value

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        g = GaugeMetricFamily
        stat = self._read("stat", lambda p: parse_stat(_text(p), self.ticks, self.pagesize))
        if stat is not None:
            yield g("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                    value=stat.virtual_bytes)
            yield g("process_resident_memory_bytes", "Resident memory size in bytes.",
                    value=stat.resident_bytes)
            yield g("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    value=self.boot() + stat.start_since_boot)
            yield CounterMetricFamily("process_cpu_seconds_total",
                                      "Total user and system CPU time spent in seconds.",
                                      value=stat.cpu_seconds)
        fds = self._read("fd", lambda p: len(os.listdir(p)))
        if fds is not None:
            yield g("process_open_fds", "Number of open file descriptors.", value=fds)
        limit = self._read("limits", lambda p: parse_max_fds(_text(p)))
        if limit is not None:
            yield g("process_max_fds", "Maximum number of open file descriptors.", value=limit)
