"""The speaker's configuration as the rest of the program sees it: frozen dataclasses.

This module owns the model (every field, its type and its default) and the
constants that name its allowed values. It does not read, parse or validate
anything (that is `schema` and `reader`): once a `Config` exists, its values
have been checked and are trusted everywhere else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from speaker.core import signatures
from speaker.core.config import recursive
from speaker.core.config.http import HttpCheck
from speaker.core.config.recursive import RecursiveCheck
from speaker.core.config.types import IPAddress, IPNetwork
from speaker.core.hooks import Hooks
from speaker.core.limits import DEFAULT_ASN_RANGE, RouterLimits
from speaker.core.paths import DEFAULT_PATH, DEFAULT_SOCKET

__all__ = [
    "DEFAULT_PATH",
    "DEFAULT_SOCKET",
    "DEFAULT_STATE_DIR",
    "DNSSEC_ACTIONS",
    "LOOPBACK",
    "OUTCOME_CODES",
    "RCODES",
    "SOA_ACTIONS",
    "STATISTICS_KINDS",
    "STATISTICS_URLS",
    "Address",
    "Check",
    "Config",
    "Control",
    "DnsCheck",
    "DnsStatistics",
    "DnssecCheck",
    "Expect",
    "Flap",
    "Hooks",
    "HttpCheck",
    "IPAddress",
    "IPNetwork",
    "Metrics",
    "Overload",
    "RecursiveCheck",
    "Route",
    "RouterLimits",
    "Service",
    "SoaCheck",
    "Timing",
    "Watch",
]

DEFAULT_STATE_DIR = Path("/var/lib/speaker")
LOOPBACK = ipaddress.IPv6Address("::1")

RCODES = (
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
)
# what a check can say (speaker.adapters.checks.Outcome.code), besides "ok"
OUTCOME_CODES = ("refused", "timeout", "rcode", "not-authoritative", "wrong-answer", "no-answer",
                 "truncated", "malformed", "no-address", "os-error",
                 "status", "body", "tls",  # the http check's
                 "stale",  # the soa check's (speaker.core.freshness; the rest of its codes pass)
                 *recursive.CODES, *signatures.CODES)


@dataclass(frozen=True)
class Timing:
    """How often a service is probed and how many results change its state.

    Worst cases at the defaults (see README, "Timing"): a killed server
    refuses at once, and a refusal needs no confirmation (`fail_at_once`), so
    it is withdrawn after at most ``interval`` = 0.25 s; a hung one after at
    most ``interval + min_timeout + 1.5 * min_timeout`` = 0.30 s (the first
    timeout is adaptive, `speaker.core.rtt`; the confirming round starts as
    soon as it ends and waits the hang window, or the full timeout for a
    server measured slow or that may be busy). One lost or slow probe never
    withdraws (fall = 2). The rise rounds after a start run at
    ``fast_interval``. Without an `interval`, a `timeout` (the service's or a
    check's) above 0.25 s stretches the interval to it.
    """

    interval: float = 0.25
    fast_interval: float = 0.1
    timeout: float = 0.25
    rise: int = 3
    fall: int = 2
    fail_at_once: tuple[str, ...] = ("refused",)  # outcome codes that need no confirmation
    # the first timeout comes after the server's measured latency (speaker.core.rtt), not
    # before `min_timeout`; a confirming round waits the hang window (at least 1.5 x
    # `min_timeout`), or the full `timeout` for a server measured slow or maybe busy
    adaptive_timeout: bool = True
    min_timeout: float = 0.02


@dataclass(frozen=True)
class Flap:
    """Hold a service down when it changes state too often.

    After ``max_transitions`` transitions within ``window`` seconds the service
    stays withdrawn for ``penalty`` seconds; each further hold doubles the
    penalty up to ``max_penalty``; the doubling is forgotten once a hold
    has been over for ``max_penalty`` seconds.
    """

    enabled: bool = True
    window: float = 60.0
    max_transitions: int = 6
    penalty: float = 10.0
    max_penalty: float = 300.0


@dataclass(frozen=True)
class Address:
    """The anycast address of a service on a local interface."""

    interface: str = "lo"
    manage: bool = False
    check: bool = True


@dataclass(frozen=True)
class Expect:
    """What a DNS answer must look like to pass."""

    rcode: str = "NOERROR"
    aa: bool = True
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class DnsCheck:
    """Query a DNS server and compare the response with `expect`."""

    server: IPAddress
    qname: str
    qtype: str = "SOA"
    port: int = 53
    transport: str = "udp"
    timeout: float | None = None
    expect: Expect = field(default_factory=Expect)
    type: str = "dns"

    def describe(self) -> str:
        host = f"[{self.server}]" if self.server.version == 6 else str(self.server)
        tcp = "/tcp" if self.transport == "tcp" else ""
        return f"dns check {host}:{self.port}{tcp} {self.qtype} {self.qname}"


SOA_ACTIONS = ("withdraw", "degrade", "warn")


@dataclass(frozen=True)
class SoaCheck:
    """Zone freshness: the serial `server` serves for `zone` against the master's.

    Stale once behind the master for longer than `max_lag` seconds (None: the
    master's SOA refresh + retry); then `action`: withdraw, degrade (stay
    announced with the service's degraded route for as long as it is stale) or
    only warn. An unreachable master is a warning, never a failure
    (speaker.core.freshness).
    """

    server: IPAddress
    zone: str
    master: IPAddress
    port: int = 53
    master_port: int = 53
    max_lag: float | None = None
    action: str = "withdraw"
    timeout: float | None = None
    type: str = "soa"

    def describe(self) -> str:
        def host(a: IPAddress, port: int) -> str:
            return f"[{a}]:{port}" if a.version == 6 else f"{a}:{port}"

        return (f"soa check {self.zone} at {host(self.server, self.port)} "
                f"vs master {host(self.master, self.master_port)}")


DNSSEC_ACTIONS = ("withdraw", "warn")


@dataclass(frozen=True)
class DnssecCheck:
    """Signatures about to expire: the RRSIGs `server` serves for `zone`'s SOA, DNSKEY and
    `names` ((name, type) pairs), each with at least `min_validity` seconds left.

    With `validate`, only signatures that verify against the zone's DNSKEY count
    (speaker.core.signatures); then `action` (withdraw, or only warn).
    """

    server: IPAddress
    zone: str
    names: tuple[tuple[str, str], ...] = ()
    port: int = 53
    min_validity: float = 86400.0
    validate: bool = False
    action: str = "withdraw"
    timeout: float | None = None
    type: str = "dnssec"

    def describe(self) -> str:
        host = f"[{self.server}]" if self.server.version == 6 else str(self.server)
        return f"dnssec check {self.zone} at {host}:{self.port}"


Check = DnsCheck | SoaCheck | DnssecCheck | HttpCheck | RecursiveCheck


@dataclass(frozen=True)
class Watch:
    """The event path: withdraw the moment the server dies, before any probe runs.

    `sockets`: watch, through sock_diag, the sockets the server receives the
    checks' queries on (needs CAP_NET_ADMIN; status says when it cannot).
    `pid_file`: watch the server's process, by the PID in this file.
    """

    sockets: bool = True
    pid_file: Path | None = None


@dataclass(frozen=True)
class Route:
    """BGP attributes the prefixes of a service are announced with."""

    next_hop: str = "self"
    med: int | None = None
    communities: tuple[str, ...] = ()
    as_path: tuple[int, ...] = ()  # sent verbatim: list your own AS first to prepend


@dataclass(frozen=True)
class Overload:
    """Tell a busy server's timeouts (soft) from a broken server (hard); see core.overload.

    A round whose only failures are timeouts, while the DNS server's statistics
    (no older than ``stats_max_age`` s) show at least ``min_client_rate`` client
    queries per second, is a soft failure: the service stays announced, with
    ``route`` while degraded (None: the service's ``degraded_route``, else its
    own route), and is withdrawn only once the soft failure has lasted
    ``max_degraded`` seconds, and then only while at least ``min_up`` of
    ``peers`` answer the same checks.
    """

    max_degraded: float = 30.0
    min_client_rate: float = 50.0
    stats_max_age: float = 10.0
    route: Route | None = None
    peers: tuple[IPAddress, ...] = ()
    min_up: int = 0


@dataclass(frozen=True)
class Service:
    name: str
    prefixes: tuple[IPNetwork, ...]
    checks: tuple[Check, ...]
    address: Address | None = None
    timing: Timing = field(default_factory=Timing)
    flap: Flap = field(default_factory=Flap)
    route: Route = field(default_factory=Route)
    watch: Watch = field(default_factory=Watch)
    overload: Overload | None = None  # None: every failure is hard (timeouts too)
    hooks: Hooks | None = None  # replaces the top-level hooks block for this service
    # the route while degraded (a check asks for it, or a soft failure without
    # overload.route); None: the service's route (speaker.core.overload.degraded_route)
    degraded_route: Route | None = None

    @property
    def anycast(self) -> IPAddress:
        """The service's address: that of its first prefix."""
        return self.prefixes[0].network_address


@dataclass(frozen=True)
class Control:
    socket: Path = DEFAULT_SOCKET
    mode: int = 0o660
    group: str | None = None


@dataclass(frozen=True)
class Metrics:
    listen: IPAddress = LOOPBACK
    port: int = 9474


STATISTICS_KINDS = ("bind", "powerdns")
STATISTICS_URLS = {
    "bind": "http://127.0.0.1:8053/json/v1/server",
    "powerdns": "http://127.0.0.1:8081/api/v1/servers/localhost/statistics",
}


@dataclass(frozen=True)
class DnsStatistics:
    """The DNS server's own statistics, polled for its query rate: BIND's statistics
    channel (kind ``bind``) or PowerDNS's webserver/API (kind ``powerdns``, its key read
    from ``api_key_file``, never written in the YAML)."""

    url: str = STATISTICS_URLS["bind"]
    interval: float = 2.0
    kind: str = "bind"
    api_key_file: Path | None = None


@dataclass(frozen=True)
class Config:
    services: tuple[Service, ...]
    control: Control = field(default_factory=Control)
    state_dir: Path = DEFAULT_STATE_DIR
    drain_delay: float = 2.0
    watchdog_timeout: float = 2.0
    metrics: Metrics | None = None
    dns_statistics: DnsStatistics | None = None
    local_as_range: tuple[int, int] = DEFAULT_ASN_RANGE  # = router_limits.asn_range
    router_limits: RouterLimits = field(default_factory=RouterLimits)
    hooks: Hooks | None = None
    source: str = "<config>"

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def prefixes(self) -> tuple[IPNetwork, ...]:
        return tuple(p for s in self.services for p in s.prefixes)
