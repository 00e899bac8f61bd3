"""The schema of the `soa` check (zone freshness): its keys and what each must be.

Owns reading one `soa` check's mapping into `model.SoaCheck`, with every
problem at its path (`schema.CHECK_TYPES` lists it), and the service-wide rule
of `action: degrade`: it needs a degraded route, and a service has one
(`degraded_routes`, called by `schema.service`). Must not query anything:
the probe is `speaker.adapters.soa`, the judgement `speaker.core.freshness`.
"""

from __future__ import annotations

from speaker.core.config.model import SOA_ACTIONS, Check, Overload, Route, SoaCheck
from speaker.core.config.types import (
    IP_ADDRESS,
    At,
    Fields,
    Integer,
    OneOf,
    Parse,
    Reported,
    Seconds,
    Text,
)

KEYS = ("type", "server", "zone", "master", "port", "master_port", "max_lag", "action",
        "timeout")
PORT = Integer(1, 65535)


def _zone(text: str) -> str:
    import dns.name

    try:
        return str(dns.name.from_text(text).to_text())
    except Exception as exc:  # dnspython raises several types for a bad name
        raise ValueError(exc) from None


ZONE = Parse(Text(), _zone, "is not a DNS name: {value!r} ({exc})")


def soa_check(f: Fields) -> SoaCheck:
    server = f.need("server", IP_ADDRESS)
    master = f.need("master", IP_ADDRESS)
    zone = f.need("zone", ZONE)
    port = f.get("port", PORT, 53)
    master_port = f.get("master_port", PORT, 53)
    max_lag = f.get("max_lag", Seconds(0.1, 30 * 86400), None)
    action = f.get("action", OneOf(SOA_ACTIONS), "withdraw")
    timeout = f.get("timeout", Seconds(0.01, 60), None)
    if server is None or master is None or zone is None:
        raise Reported
    if server == master and port == master_port:
        (f.at / "master").add(f"is the server itself ({master}): the check would compare the "
                              "zone with itself")
        raise Reported
    return SoaCheck(server=server, zone=zone, master=master, port=port, master_port=master_port,
                    max_lag=max_lag, action=action, timeout=timeout)


def degraded_routes(at: At, checks: list[tuple[At, Check]], busy: Overload | None,
                    degraded: Route | None) -> None:
    """A service's degraded route is `overload.route` or `degraded_route`, never both;
    `action: degrade` needs one, or a stale node would be announced like a fresh one."""
    theirs = busy is not None and busy.route is not None
    if degraded is not None and theirs:
        (at / "degraded_route").add("overload.route is set too: a service has one degraded "
                                    "route; keep one of them")
    if degraded is not None or theirs:
        return
    for here, check in checks:
        if isinstance(check, SoaCheck) and check.action == "degrade":
            (here / "action").add(
                "degrade needs a less preferred route: set the service's degraded_route "
                "(e.g. as_path: [<its AS>, <its AS>, <its AS>], a prepend) or overload.route; "
                "else a stale node is announced exactly like a fresh one")
