"""FibWatch: the router's FIB watched over a whole interval, not sampled once.

A helper for the lab tests (tests/e2e): a thread dumps the router's next hops
for one prefix every 10 ms and keeps every change of the set, so a test can
say "withdrawn at t, and never back until t2" or "all next hops back at t".
It only reads the router's FIB (netlink in the router's namespace).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from types import TracebackType

from pyroute2.netlink.exceptions import NetlinkDumpInterrupted

from tests.lab import Lab, LabError, wait_for

Hops = frozenset[str]


class FibWatch:
    """Samples the router's FIB every 10 ms in a thread; keeps every change of the next hops
    of `prefix` (default: the anycast /128). Presence is about `hop` (any next hop if None)."""

    def __init__(self, lab: Lab, hop: object | None = None, prefix: str | None = None) -> None:
        self.lab = lab
        self.hop = None if hop is None else str(hop)
        self.prefix = ipaddress.IPv6Address(prefix) if prefix else None
        self.samples: list[tuple[float, Hops]] = []  # (time, next hops) at every change
        self.last_sample = 0.0
        self.error: BaseException | None = None  # what stopped the thread, if anything
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self._sample()
        except BaseException as exc:
            self.error = exc

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                hops = self.lab.router.nexthops(self.prefix)
            except NetlinkDumpInterrupted:  # the FIB changed during the dump: dump again
                continue
            now = time.monotonic()
            if not self.samples or self.samples[-1][1] != hops:
                self.samples.append((now, hops))
            self.last_sample = now
            time.sleep(0.01)

    def __enter__(self) -> FibWatch:
        self._thread.start()
        wait_for(lambda: bool(self.samples), 5, what="the first FIB sample")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(2)

    def has(self, hops: Hops) -> bool:
        return self.hop in hops if self.hop is not None else bool(hops)

    @property
    def changes(self) -> list[tuple[float, bool]]:
        """(time, present) at the first sample and at every change of presence."""
        out: list[tuple[float, bool]] = []
        for t, hops in self.samples:
            present = self.has(hops)
            if not out or out[-1][1] != present:
                out.append((t, present))
        return out

    def present(self) -> bool:
        return self.has(self.samples[-1][1])

    def flips(self, since: float = 0.0) -> int:
        """Changes of presence after `since` (the first sample is not a change)."""
        return sum(1 for t, _ in self.changes[1:] if t >= since)

    def sampled(self, until: float) -> None:
        """Wait until the watch has sampled the FIB at or after `until` (no wait once the
        watch has ended); LabError if its thread failed."""
        def fresh() -> bool:
            if self.error is not None:
                raise LabError(f"the FIB watch failed: {self.error!r}")
            return self._stop.is_set() or self.last_sample >= until
        wait_for(fresh, 2, interval=0.01, what=f"a FIB sample after {until:.2f}")

    def when(self, predicate: Callable[[Hops], bool], since: float) -> float | None:
        """The first time at or after `since` the next hops satisfied `predicate` (`since`
        itself if they already did then), or None (up to the present)."""
        self.sampled(time.monotonic())
        before = [hops for t, hops in self.samples if t <= since]
        if before and predicate(before[-1]):
            return since
        return next((t for t, hops in self.samples if t > since and predicate(hops)), None)

    def first(self, present: bool, since: float) -> float | None:
        """Seconds from `since` until `hop` was first present (or absent), or None."""
        t = self.when(lambda hops: self.has(hops) == present, since)
        return None if t is None else t - since

    def wait(self, present: bool, since: float, timeout: float) -> float:
        """Seconds from `since` until this watch saw `hop` present (or absent); timing taken
        from the watch itself, so `steady(present, since + result, ...)` agrees with it."""
        deadline = time.monotonic() + timeout
        while True:
            took = self.first(present, since)
            if took is not None:
                return took
            if time.monotonic() >= deadline:
                what = self.hop or "a next hop"
                state = "present" if present else "absent"
                raise LabError(f"timed out after {timeout:g} s waiting for {what} to be "
                               f"{state} (changes: {self.changes})")
            time.sleep(0.01)

    def steady(self, present: bool, since: float, until: float) -> bool:
        """Whether `hop` was present (or absent) at `since` and never changed until `until`
        (which must have been sampled)."""
        self.sampled(until)
        state = [p for t, p in self.changes if t <= since]
        return (bool(state) and state[-1] == present
                and not any(since < t <= until for t, _ in self.changes))
