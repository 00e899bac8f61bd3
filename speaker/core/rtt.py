"""The adaptive probe timeout: a server's measured latency in, timeouts out. Pure.

Owns the round-trip estimator of one probe (`Rtt`, `sample`, `stalled`), the
first timeout taken from it (`timeout`), the way TCP takes its retransmission
timeout (RFC 6298): a smoothed RTT plus K = 4 times its variation, never below
a floor (`timing.min_timeout`) nor above the configured timeout (the
ceiling); the window that confirms a hang (`window`), and what kind of run a
round is (`confirms`). Must not read a clock or the network: the probe passes
its measured latencies in, the engine the server's load.

The safety rules (README, "Timing"):
- Only a *first* failure may come from the early timeout (`Run.FIRST`).
- A round that confirms a failure of a server that is not visibly busy
  (`Run.CONFIRM`) waits `window`: several of the server's own timeouts and
  twice the slowest answer it gave lately (`Rtt.peak`), never less than
  CONFIRM_FLOORS x the floor; it sends CONFIRM_PROBES queries spread over the
  window, and an answer to any of them, or a late one to the first round's
  query, is an answer: the server is slow, not hung. A server measured slow
  gets the full timeout this way (the window reaches the ceiling).
- While the overload policy may call the server busy (degraded, or its
  statistics missing, stale or showing clients), the confirming round waits
  the full configured timeout (`Run.FULL`), as before: a busy server's
  timeouts stay soft, and are judged at the configured timeout.
`floor` says which services get any of it: with `fall: 1` one early timeout
would withdraw, so they do not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from speaker.core.config import Overload, Timing
from speaker.core.health import Health
from speaker.core.overload import Degraded, Load

ALPHA = 1 / 8  # RFC 6298: gain of the smoothed RTT
BETA = 1 / 4  # RFC 6298: gain of the variation
K = 4  # RFC 6298: variations above the smoothed RTT
WARMUP = 4  # samples before the timeout leaves the ceiling
PEAK_DECAY = 0.995  # per answer: the slowest recent answer is forgotten in ~140 answers
CONFIRM_FLOORS = 1.5  # the hang window is at least this many floors (30 ms at the defaults)
CONFIRM_RTOS = 4  # ... and at least this many of the server's unfloored timeouts
CONFIRM_PEAKS = 2  # ... and at least twice its slowest recent answer
CONFIRM_PROBES = 3  # queries spread over the window


class Run(enum.Enum):
    """What a probe's run is for, and so how long it waits."""

    FIRST = "first"  # no failure to confirm: the adaptive timeout (`timeout`)
    CONFIRM = "confirm"  # confirms a quiet server's failure: the hang window (`window`)
    FULL = "full"  # confirms while the server may be busy: the configured timeout


@dataclass(frozen=True)
class Rtt:
    """What is known of one server's latency: the smoothed RTT, its variation, how
    many answers, and the slowest recent one (decaying by PEAK_DECAY per answer)."""

    srtt: float = 0.0
    rttvar: float = 0.0
    samples: int = 0
    peak: float = 0.0


def sample(est: Rtt, latency: float) -> Rtt:
    """Fold one measured round trip (seconds, >= 0) into `est` (RFC 6298, 2.2 and 2.3)."""
    r = max(0.0, latency)
    peak = max(r, est.peak * PEAK_DECAY)
    if est.samples == 0:
        return Rtt(srtt=r, rttvar=r / 2, samples=1, peak=peak)
    rttvar = (1 - BETA) * est.rttvar + BETA * abs(est.srtt - r)
    srtt = (1 - ALPHA) * est.srtt + ALPHA * r
    return Rtt(srtt=srtt, rttvar=rttvar, samples=min(est.samples + 1, 1 << 30), peak=peak)


def stalled(est: Rtt, silence: float) -> Rtt:
    """`est` after a confirming round bridged a stall: the server answered `silence` seconds
    after the query that timed out first. The peak learns it, so its next hang window is
    longer. (A round after a hang was confirmed learns nothing here: its answer may be a
    hang's end, not a latency.)"""
    return Rtt(srtt=est.srtt, rttvar=est.rttvar, samples=est.samples,
               peak=max(est.peak, max(0.0, silence)))


def timeout(est: Rtt, floor: float, ceiling: float) -> float:
    """SRTT + K * RTTVAR, within [floor, ceiling]; the ceiling until WARMUP samples.

    The ceiling wins when the floor is above it (a check's own short timeout).
    """
    if est.samples < WARMUP:
        return ceiling
    return min(ceiling, max(floor, est.srtt + K * est.rttvar))


def window(est: Rtt, floor: float, ceiling: float, backoff: int = 0) -> float:
    """How long a confirming round of a quiet server waits for any answer (see the module):
    the ceiling until WARMUP samples. Doubled for each of `backoff` earlier confirmations
    that timed out (RFC 6298, 5.5): a server withdrawn as hung that is only slow is heard
    again within a few rounds, however short its window was."""
    if est.samples < WARMUP:
        return ceiling
    rto = est.srtt + K * est.rttvar
    base = max(CONFIRM_FLOORS * floor, CONFIRM_RTOS * rto, CONFIRM_PEAKS * est.peak)
    return min(ceiling, base * 2.0 ** min(max(0, backoff), 30))


def floor(timing: Timing) -> float | None:
    """The floor of a service's adaptive timeout, or None: its probes keep the fixed one."""
    if not timing.adaptive_timeout or timing.fall < 2:
        return None
    return timing.min_timeout


def confirms(health: Health, degraded: Degraded, policy: Overload | None = None,
             load: Load | None = None) -> Run:
    """The kind of the next round's runs: FIRST, or it confirms a failure (CONFIRM), at the
    full timeout (FULL) while the overload policy may call the server busy."""
    if health.fails == 0 and not degraded.active:
        return Run.FIRST
    if degraded.active:
        return Run.FULL
    if policy is not None and (load is None or load.age > policy.stats_max_age
                               or load.client_rate >= policy.min_client_rate):
        return Run.FULL
    return Run.CONFIRM
