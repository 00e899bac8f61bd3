"""Zone freshness: RFC 1982 serial arithmetic and the lag judgement of a secondary. Pure.

Owns comparing the serial a node serves with its master's (`compare`, SERIAL_BITS
32, wraparound included), how long the node has stayed behind (`Freshness`, the
state carried from one round to the next) and the verdict on it (`judge`, with
the time passed in). Must not query, time or log anything: the `soa` probe in
`speaker.adapters.soa` asks both servers and calls `judge`.

The rules:
- the node is *behind* when its serial is less than the master's (RFC 1982);
  it is *stale* once it has stayed behind, without a break, for longer than
  `max_lag` seconds (default: the master's SOA refresh plus retry, the time a
  secondary takes to notice and retry a change without NOTIFY);
- a master that cannot be asked changes nothing: the node is compared with the
  master serial last seen, a node not yet stale never turns stale meanwhile,
  and a warning says so. The master is a dependency every node shares:
  withdrawing on its loss would withdraw them all at once;
- a node *ahead* of its master (the master's serial went backwards) and a
  serial exactly 2^31 away (RFC 1982 leaves the order undefined; a secondary
  will not transfer) are the master's doing, shared by every node: warnings,
  never stale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SERIAL_BITS = 32
MODULUS = 1 << SERIAL_BITS
HALF = 1 << (SERIAL_BITS - 1)  # 2^31: the distance at which the order is undefined


def valid(serial: int) -> bool:
    return 0 <= serial < MODULUS


def add(serial: int, n: int) -> int:
    """RFC 1982 addition: `n` must be 0..2^31-1."""
    if not 0 <= n < HALF:
        raise ValueError(f"can only add 0..{HALF - 1} to a serial (got {n})")
    return (serial + n) % MODULUS


def distance(a: int, b: int) -> int:
    """How many steps forward from `a` to `b`, modulo 2^32 (0..2^32-1)."""
    return (b - a) % MODULUS


def compare(a: int, b: int) -> int | None:
    """-1 if a < b, 0 if equal, 1 if a > b in RFC 1982 arithmetic; None when undefined
    (exactly 2^31 apart)."""
    if not (valid(a) and valid(b)):
        raise ValueError(f"serials are 0..{MODULUS - 1} (got {a}, {b})")
    forward = distance(a, b)
    if forward == 0:
        return 0
    if forward == HALF:
        return None
    return -1 if forward < HALF else 1


@dataclass(frozen=True)
class Soa:
    """What one server's SOA says: the serial and the secondary's timers (seconds)."""

    serial: int
    refresh: int = 0
    retry: int = 0


@dataclass(frozen=True)
class Freshness:
    """What the check remembers between rounds."""

    behind_since: float | None = None  # when the node was first seen behind (monotonic)
    master: Soa | None = None  # the master's SOA last seen
    stale: bool = False


@dataclass(frozen=True)
class Judgement:
    state: Freshness
    code: str  # ok, behind, stale, ahead, serial-undefined, master-unreachable
    stale: bool  # behind for longer than max_lag
    reason: str  # what an operator reads: serials, lag and the bound
    warning: str = ""  # set when something deserves a look without being a failure
    lag: float = 0.0  # seconds behind (0 when not behind)


def duration(seconds: float) -> str:
    """Short human durations: 0.5s, 12s, 4m12s, 3m, 5h02m, 1d, 2d03h."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{m}m{r:02d}s" if r else f"{m}m"
    if s < 86400:
        h, r = divmod(s, 3600)
        return f"{h}h{r // 60:02d}m" if r // 60 else f"{h}h"
    d, r = divmod(s, 86400)
    return f"{d}d{r // 3600:02d}h" if r // 3600 else f"{d}d"


def bound(max_lag: float | None, master: Soa | None, served: Soa) -> float:
    """`max_lag` if configured, else the master's refresh + retry (the node's if the master
    was never seen)."""
    if max_lag is not None:
        return max_lag
    soa = master or served
    return float(soa.refresh + soa.retry)


def judge(state: Freshness, zone: str, served: Soa, master: Soa | None, now: float,
          max_lag: float | None = None, master_error: str = "") -> Judgement:
    """The verdict on one round: `served` is the node's SOA, `master` the master's (None
    when it could not be asked, `master_error` saying why); `now` is monotonic seconds."""
    if master is not None:
        state = replace(state, master=master)
    known = state.master
    why = f"master unreachable ({master_error or 'no answer'})"
    limit = bound(max_lag, known, served)
    if known is None:  # never seen the master: nothing to compare with
        return Judgement(state, "master-unreachable", False,
                         f"zone {zone} serial {served.serial}; master never answered",
                         warning=f"zone {zone}: {why}, freshness unknown")
    order = compare(served.serial, known.serial)
    unreachable = master is None
    if order != -1:
        state = replace(state, behind_since=None, stale=False)
        if unreachable:
            return Judgement(state, "master-unreachable", False,
                             f"zone {zone} serial {served.serial}, master last seen at "
                             f"{known.serial}", warning=f"zone {zone}: {why}")
        if order == 0:
            return Judgement(state, "ok", False, f"zone {zone} serial {served.serial} as master")
        if order == 1:
            text = (f"zone {zone} serial {served.serial} ahead of master {known.serial} "
                    "(the master's serial went backwards?)")
            return Judgement(state, "ahead", False, text, warning=text)
        text = (f"zone {zone} serial {served.serial} and master {known.serial} are 2^31 "
                "apart: order undefined (RFC 1982), no secondary will transfer")
        return Judgement(state, "serial-undefined", False, text, warning=text)
    since = now if state.behind_since is None else state.behind_since
    lag = max(0.0, now - since)
    text = (f"zone {zone} serial {served.serial} behind master {known.serial} for "
            f"{duration(lag)} (max {duration(limit)})")
    if unreachable:  # never turns stale on the master's loss; a stale node stays stale
        state = replace(state, behind_since=since)
        text = f"{text}; {why}, serial last seen"
        return Judgement(state, "stale" if state.stale else "master-unreachable", state.stale,
                         text, warning=f"zone {zone}: {why}", lag=lag)
    stale = lag > limit
    state = replace(state, behind_since=since, stale=stale)
    return Judgement(state, "stale" if stale else "behind", stale, text, lag=lag)
