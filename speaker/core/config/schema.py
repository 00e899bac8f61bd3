"""The schema: which keys each part of the configuration has, and what each must be.

This module owns the rules of every field, written with the reusable validators
of `types`, and the checks that span fields (a timeout within its interval, a
prefix announced by one service only). It turns plain data into the frozen
`model`, recording every problem at its path. It never parses YAML (that is
`reader`), never touches the network or the interfaces it describes: it checks
shapes and values, it does not run checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from urllib.parse import urlsplit

from speaker.core.config import dnssec, http, recursive, routing, soa
from speaker.core.config.hooks import hooks
from speaker.core.config.model import (
    OUTCOME_CODES,
    RCODES,
    STATISTICS_KINDS,
    STATISTICS_URLS,
    Address,
    Check,
    Config,
    Control,
    DnsCheck,
    DnsStatistics,
    Expect,
    Flap,
    Metrics,
    Overload,
    Route,
    Service,
    Timing,
    Watch,
)
from speaker.core.config.names import DNS_NAME, RECORD_TYPE
from speaker.core.config.types import (
    IP_ADDRESS,
    PREFIX,
    AbsolutePath,
    At,
    Boolean,
    Describe,
    Fields,
    Integer,
    IPNetwork,
    ListOf,
    Number,
    OneOf,
    Parse,
    Pattern,
    Refine,
    Reported,
    Seconds,
    Text,
    ensure,
    host_route,
    mapping,
    num,
)

NAME_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
COMMUNITY_RE = r"[0-9]{1,5}:[0-9]{1,5}"

# -- the validators that many fields share --------------------------------------

PORT = Integer(1, 65535)
AS_NUMBER = Describe(Integer(1, 2**32 - 1), "must be an AS number")
TEXTS = ListOf(Text())
HOST_ROUTE = host_route("set allow_shorter_prefixes: true on the service to allow it")


def _interface_name(name: str) -> bool:
    return len(name) <= 15 and "/" not in name and not any(c.isspace() for c in name)


def _stats_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _community(text: str) -> bool:
    return all(int(part) <= 65535 for part in text.split(":"))


INTERFACE = Refine(Text(), _interface_name, "is not an interface name: {value!r}")
COMMUNITY_MUST = "must be a community ASN:VALUE such as '65535:0'"
COMMUNITY = Refine(Pattern(COMMUNITY_RE, COMMUNITY_MUST), _community,
                   COMMUNITY_MUST + " (got {got})")
NAME = Pattern(NAME_RE, "must be letters, digits, '.', '_' or '-'")
MODE = Parse(Refine(Pattern(r"0?[0-7]{3}", "must be an octal mode string such as '0660'"),
                    lambda text: not int(text, 8) & 0o007,
                    "must not give access to other users (got {value!r})"),
             partial(int, base=8), errors=())
SOCKET = Refine(AbsolutePath(), lambda path: len(str(path).encode()) <= 107,
                "is too long for a unix socket (max 107 bytes): {value}")
STATISTICS_SERVERS = {"bind": "BIND's statistics channel", "powerdns": "PowerDNS's API"}
STATS_URLS = {kind: Refine(Text(), _stats_url,
                           f"must be an http:// URL of {STATISTICS_SERVERS[kind]}, such as "
                           f"{STATISTICS_URLS[kind]} (got {{value!r}})")
              for kind in STATISTICS_KINDS}
METRICS_ADDRESS = Refine(IP_ADDRESS, lambda address: not address.is_unspecified,
                         "must be one address, not the wildcard {value} "
                         "(metrics are served on exactly this address)")


# -- the parts of a service -----------------------------------------------------


OLD_INTERVAL = 0.3  # the default interval until 0.25 s (README, "Timing")


def stretched(interval: float, timeout: float) -> float:
    """The default interval, stretched to a timeout in (0.25, 0.3] s: a config that was valid
    with the old default stays valid (a longer timeout is still refused)."""
    return max(interval, min(timeout, OLD_INTERVAL))


def timing(value: object, at: At) -> Timing:
    f = Fields(value, at, ("interval", "fast_interval", "timeout", "rise", "fall",
                           "fail_at_once", "adaptive_timeout", "min_timeout"))
    d = Timing()
    timeout = f.get("timeout", Seconds(0.01, 60), d.timeout)
    interval = f.get("interval", Seconds(0.05, 3600), stretched(d.interval, timeout))
    fast = f.get("fast_interval", Seconds(0.01, 3600), min(d.fast_interval, interval))
    rise = f.get("rise", Integer(1, 1000), d.rise)
    fall = f.get("fall", Integer(1, 1000), d.fall)
    if f.has("fast_interval"):
        ensure(at / "fast_interval", fast, "<=", interval, "interval")
    ensure(at / "timeout", timeout, "<=", interval, "interval")
    at_once = f.get("fail_at_once", ListOf(OneOf(OUTCOME_CODES)), d.fail_at_once)
    adaptive = f.get("adaptive_timeout", Boolean(), d.adaptive_timeout)
    least = f.get("min_timeout", Seconds(0.001, 60), min(d.min_timeout, timeout))
    if f.has("min_timeout"):
        ensure(at / "min_timeout", least, "<=", timeout, "timeout")
    return Timing(interval=interval, fast_interval=fast, timeout=timeout, rise=rise, fall=fall,
                  fail_at_once=at_once, adaptive_timeout=adaptive, min_timeout=least)


def flap(value: object, at: At) -> Flap:
    f = Fields(value, at, ("enabled", "window", "max_transitions", "penalty", "max_penalty"))
    d = Flap()
    penalty = f.get("penalty", Seconds(0, 86400), d.penalty)
    max_penalty = f.get("max_penalty", Seconds(0, 86400), max(d.max_penalty, penalty))
    ensure(at / "max_penalty", max_penalty, ">=", penalty, "penalty")
    return Flap(
        enabled=f.get("enabled", Boolean(), d.enabled),
        window=f.get("window", Seconds(1, 86400), d.window),
        max_transitions=f.get("max_transitions", Integer(2, 10000), d.max_transitions),
        penalty=penalty,
        max_penalty=max_penalty,
    )


def address(value: object, at: At) -> Address:
    f = Fields(value, at, ("interface", "manage", "check"))
    d = Address()
    return Address(interface=f.get("interface", INTERFACE, d.interface),
                   manage=f.get("manage", Boolean(), d.manage),
                   check=f.get("check", Boolean(), d.check))


def expect(value: object, at: At) -> Expect:
    f = Fields(value, at, ("rcode", "aa", "answers"))
    d = Expect()
    return Expect(rcode=f.get("rcode", OneOf(RCODES), d.rcode), aa=f.get("aa", Boolean(), d.aa),
                  answers=f.get("answers", TEXTS, d.answers))


def dns_check(f: Fields) -> DnsCheck:
    server = f.need("server", IP_ADDRESS)
    qname = f.need("qname", DNS_NAME)
    qtype = f.get("qtype", RECORD_TYPE, "SOA")
    port = f.get("port", PORT, 53)
    transport = f.get("transport", OneOf(("udp", "tcp")), "udp")
    timeout = f.get("timeout", Seconds(0.01, 60), None)
    expected = f.get("expect", expect, Expect(), null=True)
    if server is None or qname is None:
        raise Reported
    return DnsCheck(server=server, qname=qname, qtype=qtype, port=port, transport=transport,
                    timeout=timeout, expect=expected)


# One entry per check type: the keys it accepts and how to read them. New
# check types (soa-serial, dnssec-expiry, http, ...) add a row here and an
# adapter in speaker.adapters.checks.
CHECK_TYPES: dict[str, tuple[tuple[str, ...], Callable[[Fields], Check]]] = {
    "dns": (
        ("type", "server", "qname", "qtype", "port", "transport", "timeout", "expect"),
        dns_check,
    ),
    "soa": (soa.KEYS, soa.soa_check),
    "dnssec": (dnssec.KEYS, dnssec.dnssec_check),
    "http": (http.KEYS, http.http_check),
    "recursive": (recursive.KEYS, recursive.recursive_check),
}


def check(value: object, at: At) -> Check:
    data = mapping(value)
    kind = (at / "type").read(OneOf(tuple(CHECK_TYPES)), data.get("type"), None)
    if kind is None:
        raise Reported
    known, read = CHECK_TYPES[kind]
    return read(Fields(data, at, known))


def route(value: object, at: At) -> Route:
    f = Fields(value, at, ("next_hop", "med", "communities", "as_path"))
    return Route(next_hop=f.get("next_hop", routing.next_hop, "self"),
                 med=f.get("med", Integer(0, 2**32 - 1), None),
                 communities=f.get("communities", ListOf(COMMUNITY), ()),
                 as_path=f.get("as_path", ListOf(AS_NUMBER, max_items=16), ()))


def watch(value: object, at: At) -> Watch:
    f = Fields(value, at, ("sockets", "pid_file"))
    d = Watch()
    return Watch(sockets=f.get("sockets", Boolean(), d.sockets),
                 pid_file=f.get("pid_file", AbsolutePath(), d.pid_file, null=True))


def overload(value: object, at: At) -> Overload:
    f = Fields(value, at, ("max_degraded", "min_client_rate", "stats_max_age", "route", "peers",
                           "min_up"))
    d = Overload()
    peers = f.get("peers", ListOf(IP_ADDRESS, unique=True), d.peers)
    min_up = f.get("min_up", Integer(0, 1000), 1 if peers else 0)
    ensure(at / "min_up", min_up, "<=", len(peers), "the number of peers")
    return Overload(
        max_degraded=f.get("max_degraded", Seconds(0, 86400), d.max_degraded),
        min_client_rate=f.get("min_client_rate", Number(0, 1e9), d.min_client_rate),
        stats_max_age=f.get("stats_max_age", Seconds(0.5, 3600), d.stats_max_age),
        route=f.get("route", route, None, null=True), peers=peers, min_up=min_up)


CHECKS = ListOf(check, min_items=1, too_few="must list at least one check")
SERVICE_KEYS = ("name", "prefixes", "allow_shorter_prefixes", "address", "timing", "flap",
                "checks", "route", "watch", "overload", "hooks", "degraded_route")


def service(value: object, at: At) -> Service:
    f = Fields(value, at, SERVICE_KEYS)
    name = f.need("name", NAME)
    allow_shorter = f.get("allow_shorter_prefixes", Boolean(), False)
    prefixes = f.need("prefixes", ListOf(PREFIX if allow_shorter else HOST_ROUTE, min_items=1,
                                         too_few="must list at least one prefix", unique=True))
    checks = f.need("checks", CHECKS.located) or []
    where = f.get("address", address, None, null=True)
    timed = f.get("timing", timing, Timing(), null=True)
    raw = f.data.get("timing")
    if not (isinstance(raw, dict) and "interval" in raw):  # the default interval stretches
        longest = max((p.timeout or 0.0 for _, p in checks), default=0.0)
        timed = replace(timed, interval=stretched(timed.interval, longest))
    for here, probe in checks:
        if probe.timeout is not None:
            ensure(here / "timeout", probe.timeout, "<=", timed.interval, "the service's interval")
    held = f.get("flap", flap, Flap(), null=True)
    routed = f.get("route", route, Route(), null=True)
    if prefixes:
        routing.check_next_hop(at / "route" / "next_hop", routed, prefixes)
    watched = f.get("watch", watch, Watch(), null=True)
    busy = f.get("overload", overload, None, null=True)
    degraded = f.get("degraded_route", route, None, null=True)
    soa.degraded_routes(at, checks, busy, degraded)
    hooked = f.get("hooks", hooks, None, null=True)
    if name is None or not prefixes or not checks:
        raise Reported
    return Service(name=name, prefixes=prefixes, checks=tuple(probe for _, probe in checks),
                   address=where, timing=timed, flap=held, route=routed, watch=watched,
                   overload=busy, hooks=hooked, degraded_route=degraded)


def services(value: object, at: At) -> tuple[Service, ...]:
    """The services, each checked alone and then against the others."""
    located = ListOf(service, min_items=1, too_few="must list at least one service").located(
        value, at)
    names: dict[str, At] = {}
    owners: dict[IPNetwork, str] = {}
    for here, one in located:
        if one.name in names:
            (here / "name").add(f"duplicate service name {one.name!r} "
                                f"(also {names[one.name].path})")
        names.setdefault(one.name, here)
        for j, prefix in enumerate(one.prefixes):  # j is exact unless an earlier one was bad
            if prefix in owners:
                (here / "prefixes" / j).add(
                    f"{prefix} is also announced by service {owners[prefix]!r}")
            owners.setdefault(prefix, one.name)
    return tuple(one for _, one in located)


# -- the top level ------------------------------------------------------------------


def control(value: object, at: At) -> Control:
    f = Fields(value, at, ("socket", "mode", "group"))
    d = Control()
    return Control(socket=f.get("socket", SOCKET, d.socket, null=True),
                   mode=f.get("mode", MODE, d.mode, null=True),
                   group=f.get("group", Text(), d.group))


def metrics(value: object, at: At) -> Metrics:
    f = Fields(value, at, ("listen", "port"))
    d = Metrics()
    return Metrics(listen=f.get("listen", METRICS_ADDRESS, d.listen),
                   port=f.get("port", PORT, d.port))


def dns_statistics(value: object, at: At) -> DnsStatistics:
    f = Fields(value, at, ("kind", "url", "interval", "api_key_file", "api_key"))
    d = DnsStatistics()
    kind = f.get("kind", OneOf(STATISTICS_KINDS), d.kind)
    if f.has("api_key"):
        (at / "api_key").add("a key is never written here in clear: put it in a file only the "
                             "speaker can read and name that file with api_key_file")
    key_file = f.get("api_key_file", AbsolutePath(), None)
    if kind == "powerdns" and not f.has("api_key_file"):
        (at / "api_key_file").add("is required for kind powerdns (the file that holds "
                                  "PowerDNS's api-key)")
    elif kind != "powerdns" and f.has("api_key_file"):
        (at / "api_key_file").add("is only for kind powerdns (BIND's statistics channel takes "
                                  "no key)")
    return DnsStatistics(url=f.get("url", STATS_URLS[kind], STATISTICS_URLS[kind]),
                         interval=f.get("interval", Seconds(0.5, 3600), d.interval),
                         kind=kind, api_key_file=key_file if kind == "powerdns" else None)


def _overload_needs_statistics(at: At, found: tuple[Service, ...],
                               stats: DnsStatistics | None) -> None:
    """An overload block needs the server's client query rate, read often enough."""
    for i, one in enumerate(found):
        if one.overload is None:
            continue
        here = at / "services" / i / "overload"
        if stats is None:
            here.add("needs dns_statistics: only the server's client query rate tells a busy "
                     "server's timeouts from a hung server's")
        elif one.overload.stats_max_age < stats.interval:
            (here / "stats_max_age").add(
                f"must be >= dns_statistics/interval ({num(stats.interval)}) "
                f"(got {num(one.overload.stats_max_age)}): every reading would be too old")


TOP_KEYS = ("control", "state_dir", "drain_delay", "watchdog_timeout", "metrics",
            "dns_statistics", "local_as_range", "router_limits", "hooks", "services")


def config(value: object, at: At) -> Config:
    """The whole configuration (named after the source of `at`'s problems)."""
    f = Fields(value, at, TOP_KEYS)
    d = Config(services=())
    found = f.need("services", services) or ()
    stats = f.get("dns_statistics", dns_statistics, d.dns_statistics, null=True)
    _overload_needs_statistics(at, found, stats)
    limits = routing.router_limits(f, at, found)
    return Config(
        services=found,
        control=f.get("control", control, d.control, null=True),
        state_dir=f.get("state_dir", AbsolutePath(), d.state_dir, null=True),
        drain_delay=f.get("drain_delay", Seconds(0, 3600), d.drain_delay),
        watchdog_timeout=f.get("watchdog_timeout", Seconds(0.5, 60), d.watchdog_timeout),
        metrics=f.get("metrics", metrics, d.metrics, null=True),
        dns_statistics=stats,
        local_as_range=limits.asn_range,
        router_limits=limits,
        hooks=f.get("hooks", hooks, None, null=True),
        source=at.problems.source,
    )

