"""The adaptive probe timeout: a server's measured latency in, a timeout out. Pure.

Owns the round-trip estimator of one probe (`Rtt`, `sample`) and the timeout
taken from it (`timeout`), the way TCP takes its retransmission timeout
(RFC 6298): a smoothed RTT plus K = 4 times its variation, here never below a
floor (`timing.min_timeout`) and never above the configured timeout (the
ceiling). Must not read a clock or the network: the probe passes its
measured latencies in.

The safety rule (`confirms`): only a *first* failure may come from an early
timeout. A round that follows a failure, or a soft failure of the overload
policy, waits the full configured timeout (the engine passes `confirm` to the
probes), so a withdraw by timeouts (`fall` >= 2 failing rounds in a row)
always includes a round that waited as long as it did before, and a degraded
service is judged at the configured timeout until it has recovered
(`speaker.core.overload`: its soft timeouts stay soft, and end after `rise`
passes as before). A server that is slow but answers within the configured
timeout is never withdrawn because of the adaptive timeout. `floor` says which
services get it: with `fall: 1` one early timeout would withdraw, so they do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.core.config import Timing
from speaker.core.health import Health
from speaker.core.overload import Degraded

ALPHA = 1 / 8  # RFC 6298: gain of the smoothed RTT
BETA = 1 / 4  # RFC 6298: gain of the variation
K = 4  # RFC 6298: variations above the smoothed RTT
WARMUP = 4  # samples before the timeout leaves the ceiling


@dataclass(frozen=True)
class Rtt:
    """What is known of one server's latency: the smoothed RTT, its variation, how many."""

    srtt: float = 0.0
    rttvar: float = 0.0
    samples: int = 0


def sample(est: Rtt, latency: float) -> Rtt:
    """Fold one measured round trip (seconds, >= 0) into `est` (RFC 6298, 2.2 and 2.3)."""
    r = max(0.0, latency)
    if est.samples == 0:
        return Rtt(srtt=r, rttvar=r / 2, samples=1)
    rttvar = (1 - BETA) * est.rttvar + BETA * abs(est.srtt - r)
    srtt = (1 - ALPHA) * est.srtt + ALPHA * r
    return Rtt(srtt=srtt, rttvar=rttvar, samples=min(est.samples + 1, 1 << 30))


def timeout(est: Rtt, floor: float, ceiling: float) -> float:
    """SRTT + K * RTTVAR, within [floor, ceiling]; the ceiling until WARMUP samples.

    The ceiling wins when the floor is above it (a check's own short timeout).
    """
    if est.samples < WARMUP:
        return ceiling
    return min(ceiling, max(floor, est.srtt + K * est.rttvar))


def floor(timing: Timing) -> float | None:
    """The floor of a service's adaptive timeout, or None: its probes keep the fixed one."""
    if not timing.adaptive_timeout or timing.fall < 2:
        return None
    return timing.min_timeout


def confirms(health: Health, degraded: Degraded) -> bool:
    """Whether the next round confirms a failure: then every probe waits its full timeout."""
    return health.fails > 0 or degraded.active
