"""Overload helpers for the lab (tests/e2e/test_lab_overload.py): a flood and a CPU quota.

Owns two injections and the arithmetic of what the FIB watch saw:
- `Flood`: Debian's `dnsperf`, one per node, in the lab's client netns, aimed
  only at that node's unicast address, bounded in rate (`-Q`) and time (`-l`).
  The lab records each by PID (teardown stops a leftover one).
- `CpuQuota`: a cgroup per node with a CPU quota (a share of one core) that
  holds the node's DNS server; cgroup v1 (`cpu.cfs_quota_us`) or v2
  (`cpu.max`), whichever the kernel offers. On exit every process still alive
  goes back to the cgroup it came from, and the cgroups are removed.
- `outages`, `withdraws`: zero-next-hop intervals and per-node withdraws from
  a FibWatch's samples.
It never touches a cgroup it did not create, nor a process the lab did not start.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import TracebackType

from tests.lab import Lab, LabError, LabNode
from tests.lab.system import alive

from .fib import FibWatch

CGROUP = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


# -- the load: dnsperf -------------------------------------------------------------


class Flood:
    """`dnsperf -Q rate -l seconds` from the client netns at every node's unicast address."""

    def __init__(self, lab: Lab, rate: int, seconds: float, timeout: float = 1.0,
                 outstanding: int = 10_000) -> None:
        self.lab, self.rate, self.seconds = lab, rate, seconds
        self.data = lab.root / "flood.queries"
        self.data.write_text("www.example.com AAAA\nexample.com SOA\n")
        self.logs: dict[str, Path] = {}
        self.argv = ["-Q", str(rate), "-l", f"{seconds:g}", "-t", f"{timeout:g}",
                     "-q", str(outstanding), "-d", str(self.data)]

    def __enter__(self) -> Flood:
        for node in self.lab.nodes:
            log = self.lab.root / f"flood-{node.name}.log"
            log.write_bytes(b"")
            self.logs[node.name] = log
            self.lab.spawn(f"flood/{node.name}", self.lab.topo.client_ns,
                           ["/usr/bin/dnsperf", "-s", str(node.address), *self.argv], log)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for node in self.lab.nodes:
            proc = self.lab.procs.get(f"flood/{node.name}")
            if proc is None:
                continue
            if exc_type is not None or not proc.wait_gone(self.seconds + 10):
                proc.signal(9)
                proc.wait_gone(5)
            self.lab.procs.pop(proc.key, None)

    def results(self) -> dict[str, dict[str, float]]:
        """Per node: dnsperf's sent, completed and lost queries and its achieved q/s."""
        out: dict[str, dict[str, float]] = {}
        for name, log in self.logs.items():
            text = log.read_text(errors="replace")
            got = {}
            for key, pattern in (("sent", r"Queries sent:\s+(\d+)"),
                                 ("completed", r"Queries completed:\s+(\d+)"),
                                 ("lost", r"Queries lost:\s+(\d+)"),
                                 ("qps", r"Queries per second:\s+([\d.]+)")):
                match = re.search(pattern, text)
                if match is None:
                    raise LabError(f"dnsperf for {name}: no '{key}' in its output: "
                                   f"{text[-800:]}")
                got[key] = float(match.group(1))
            out[name] = got
        return out


# -- the starvation: a CPU quota per node -------------------------------------------


def cgroup_version() -> int:
    """1 or 2: where this kernel lets us set a CPU quota (LabError if neither)."""
    if (CGROUP / "cpu" / "cpu.cfs_quota_us").exists():
        return 1
    controllers = CGROUP / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        subtree = (CGROUP / "cgroup.subtree_control").read_text().split()
        if "cpu" not in subtree:
            raise LabError(f"cgroup v2: the cpu controller is not enabled for children of "
                           f"{CGROUP} (cgroup.subtree_control: {' '.join(subtree) or 'empty'})")
        return 2
    raise LabError(f"no cgroup cpu controller under {CGROUP} (v1 cpu/ or v2 cpu.max)")


def _own_cgroup(pid: int, version: int) -> str:
    """The cgroup path (relative to the hierarchy's root) that `pid` is in now."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (version == 2 and controllers == "") or (
                version == 1 and "cpu" in controllers.split(",")):
            return path
    return "/"


class CpuQuota:
    """Each node's DNS server in its own cgroup limited to `share` of one core."""

    def __init__(self, lab: Lab, share: float, nodes: list[LabNode] | None = None) -> None:
        self.lab, self.share = lab, share
        self.nodes = list(nodes or lab.nodes)
        self.version = cgroup_version()
        self.root = CGROUP / "cpu" if self.version == 1 else CGROUP
        self.made: list[Path] = []
        self.moved: list[tuple[int, int, Path]] = []  # (pid, start time, the cgroup it left)

    def _path(self, node: LabNode) -> Path:
        return self.root / f"spklab-{self.lab.lab_id}-{node.name}-starved"

    def __enter__(self) -> CpuQuota:
        quota = max(1000, int(PERIOD_US * self.share))
        try:
            for node in self.nodes:
                path = self._path(node)
                path.mkdir()
                self.made.append(path)
                if self.version == 1:
                    (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                    (path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
                else:
                    (path / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
                named = node.named
                came_from = self.root / _own_cgroup(named.pid, self.version).lstrip("/")
                # cgroup.procs moves every thread of the process (v1's `tasks` only one)
                (path / "cgroup.procs").write_text(f"{named.pid}\n")
                self.moved.append((named.pid, named.started, came_from))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for pid, started, came_from in self.moved:
            if alive(pid, started):
                with contextlib.suppress(ProcessLookupError):
                    (came_from / "cgroup.procs").write_text(f"{pid}\n")
        self.moved.clear()
        problems = []
        for path in reversed(self.made):
            try:
                path.rmdir()
            except OSError as err:
                problems.append(f"{path}: {err}")
        self.made.clear()
        if problems and exc_type is None:
            raise LabError("cgroup left behind: " + "; ".join(problems))

    def throttled(self) -> dict[str, float]:
        """Per node: the seconds its DNS server was held back by the quota so far."""
        out = {}
        for node in self.nodes:
            stat = (self._path(node) / "cpu.stat").read_text().split()
            fields = dict(zip(stat[::2], stat[1::2], strict=True))
            if "throttled_time" in fields:  # v1: ns
                out[node.name] = int(fields["throttled_time"]) / 1e9
            else:  # v2: us
                out[node.name] = int(fields.get("throttled_usec", "0")) / 1e6
        return out


# -- what the FIB watch saw -----------------------------------------------------------


def outages(watch: FibWatch, since: float, until: float) -> list[tuple[float, float]]:
    """(start, seconds) of every interval in [since, until] with zero next hops."""
    watch.sampled(until)
    out: list[tuple[float, float]] = []
    start: float | None = None
    before = [hops for t, hops in watch.samples if t <= since]
    if before and not before[-1]:
        start = since
    for t, hops in watch.samples:
        if not since < t <= until:
            continue
        if not hops and start is None:
            start = t
        elif hops and start is not None:
            out.append((start, t - start))
            start = None
    if start is not None:
        out.append((start, until - start))
    return out


def withdraws(watch: FibWatch, since: float, until: float) -> dict[str, int]:
    """Per next hop: how often it left the FIB in (since, until]."""
    watch.sampled(until)
    out: dict[str, int] = {}
    previous: frozenset[str] | None = None
    for t, hops in watch.samples:
        if previous is not None and since < t <= until:
            for hop in previous - hops:
                out[hop] = out.get(hop, 0) + 1
        previous = hops
    return out


def least_hops(watch: FibWatch, since: float, until: float) -> int:
    """The fewest next hops the prefix had in [since, until]."""
    watch.sampled(until)
    before = [len(hops) for t, hops in watch.samples if t <= since][-1:]
    return min(before + [len(hops) for t, hops in watch.samples if since < t <= until])
