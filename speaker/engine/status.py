"""What `speakerctl status` and the metrics read: one service's state, as a dict.

Owns the shape of a service's entry in the status reply. Reads only what it
is given and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from speaker.core.config import Check, DnssecCheck, IPNetwork
from speaker.core.gshut import GRACEFUL_SHUTDOWN, Drain
from speaker.core.maintenance import Maintenance
from speaker.core.routes import RouteBook
from speaker.core.verdicts import Outcome
from speaker.core.watch import Detection
from speaker.engine.runs import ServiceRun


def service(run: ServiceRun, state: str, maintenances: tuple[Maintenance, ...], book: RouteBook,
            now: float, detection: list[Detection] | None = None,
            resetting: list[str] | None = None, drain: Drain | None = None,
            over: Mapping[IPNetwork, str] | None = None) -> dict[str, Any]:
    """The status of `run`, shown as `state`; `now` is the monotonic clock; `detection`:
    which event sources watch its server; `resetting`: the peers whose session keeps
    resetting (a prefix announced to them is not held); `maintenances`: every one that
    holds it; `drain`: its graceful drain, while that still announces it; `over`: why a
    prefix its service wants is not announced (router_limits)."""
    svc = run.service
    return {
        "name": svc.name,
        "state": state,
        "health": run.health.state.value,
        "since": run.since,
        "reason": run.health.reason,
        "passes": run.health.passes,
        "fails": run.health.fails,
        "rise": svc.timing.rise,
        "fall": svc.timing.fall,
        # the first maintenance that holds it (as before tags), then all of them
        "maintenance": _maintenance(maintenances[0]) if maintenances else None,
        "maintenances": [_maintenance(m) for m in maintenances],
        "held_down_for": round(run.damping.remaining(now), 1),
        # a graceful drain (RFC 8326): announced with the community until withdrawn
        "draining": None if drain is None else {
            "withdrawn_in": round(drain.remaining(now), 1), "seconds": drain.seconds,
            "tag": drain.tag, "community": GRACEFUL_SHUTDOWN},
        "flap_holds": run.damping.holds,
        "address_present": run.address_ok,
        "detection": [d.as_dict() for d in detection or []],
        # the kind of the last failing round: "soft" (a busy server's timeouts) or "hard"
        "failure": None if run.degraded.last.value == "ok" else run.degraded.last.value,
        "degraded_for": (None if run.degraded.since is None
                         else round(now - run.degraded.since, 1)),
        # how long a check (the soa check's action: degrade) has asked for the degraded state
        "degrade_asked_for": (None if run.degraded.asked is None
                              else round(now - run.degraded.asked, 1)),
        "peers_up": run.degraded.peers_up,
        "checks": [_check(p.check, o) for p, o in zip(run.probes, run.outcomes, strict=False)],
        "prefixes": [
            {"prefix": str(p), "desired": "announced" if book.desired(p) else "withdrawn",
             "confirmed": book.confirmed(p).value,
             "resetting": list(resetting or []) if book.desired(p) else [],
             "over_limit": (over or {}).get(p)}
            for p in svc.prefixes
        ],
    }


def _check(check: Check, o: Outcome) -> dict[str, Any]:
    entry = {"check": check.describe(), "ok": o.ok, "code": o.code, "reason": o.reason,
             "warning": o.warning, "latency_ms": round(o.latency * 1000, 2)}
    if isinstance(check, DnssecCheck) and o.validity is not None:  # a dnssec check's round
        entry.update(zone=check.zone, validity=round(o.validity, 1))
    return entry


def _maintenance(m: Maintenance) -> dict[str, Any]:
    return {"reason": m.reason, "since": m.since, "by": m.by, "tag": m.tag}
