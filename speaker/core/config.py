"""The speaker's configuration: parse YAML, validate every field, freeze.

This module owns the schema. It never touches the network or the interfaces it
describes: validation checks shapes and values, it does not run checks. Every
problem is collected with its path (``/services/0/timing/rise``) and reported
together; after `parse` returns, the types are trusted everywhere else.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from speaker.core.errors import ConfigError
from speaker.core.limits import DEFAULT_ASN_RANGE, RouterLimits, breaches

DEFAULT_PATH = Path("/etc/speaker/speaker.yaml")
DEFAULT_SOCKET = Path("/run/speaker/speaker.sock")
DEFAULT_STATE_DIR = Path("/var/lib/speaker")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

RCODES = (
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
)
# what a check can say (speaker.adapters.checks.Outcome.code), besides "ok"
OUTCOME_CODES = ("refused", "timeout", "rcode", "not-authoritative", "wrong-answer", "no-answer",
                 "truncated", "malformed", "no-address", "os-error")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
COMMUNITY_RE = re.compile(r"^\d{1,5}:\d{1,5}$")


# -- the frozen configuration -------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """How often a service is probed and how many results change its state.

    Worst cases at the defaults (see README, "Timing"): a killed server
    refuses at once, and a refusal needs no confirmation (`fail_at_once`), so
    it is withdrawn after at most ``interval`` = 0.3 s; a hung one after at
    most ``interval + 2 * timeout`` = 0.8 s (the confirming probe starts as
    soon as the timed-out one ends). One lost or slow probe never withdraws
    (fall = 2).
    """

    interval: float = 0.3
    fast_interval: float = 0.1
    timeout: float = 0.25
    rise: int = 3
    fall: int = 2
    fail_at_once: tuple[str, ...] = ("refused",)  # outcome codes that need no confirmation


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


Check = DnsCheck


@dataclass(frozen=True)
class Route:
    """BGP attributes the prefixes of a service are announced with."""

    next_hop: str = "self"
    med: int | None = None
    communities: tuple[str, ...] = ()
    as_path: tuple[int, ...] = ()  # sent verbatim: list your own AS first to prepend


@dataclass(frozen=True)
class Service:
    name: str
    prefixes: tuple[IPNetwork, ...]
    checks: tuple[Check, ...]
    address: Address | None = None
    timing: Timing = field(default_factory=Timing)
    flap: Flap = field(default_factory=Flap)
    route: Route = field(default_factory=Route)

    @property
    def anycast(self) -> IPAddress:
        """The service's address: that of its first prefix."""
        return self.prefixes[0].network_address


@dataclass(frozen=True)
class Control:
    socket: Path = DEFAULT_SOCKET
    mode: int = 0o660
    group: str | None = None


LOOPBACK = ipaddress.IPv6Address("::1")


@dataclass(frozen=True)
class Metrics:
    listen: IPAddress = LOOPBACK
    port: int = 9474


@dataclass(frozen=True)
class DnsStatistics:
    """BIND's statistics channel, polled for the server's own query rate."""

    url: str = "http://127.0.0.1:8053/json/v1/server"
    interval: float = 2.0


@dataclass(frozen=True)
class Config:
    services: tuple[Service, ...]
    control: Control = field(default_factory=Control)
    state_dir: Path = DEFAULT_STATE_DIR
    drain_delay: float = 2.0
    watchdog_timeout: float = 2.0
    metrics: Metrics | None = None
    dns_statistics: DnsStatistics | None = None
    local_as_range: tuple[int, int] = DEFAULT_ASN_RANGE  # router_limits.asn_range
    router_limits: RouterLimits = field(default_factory=RouterLimits)
    source: str = "<config>"

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def prefixes(self) -> tuple[IPNetwork, ...]:
        return tuple(p for s in self.services for p in s.prefixes)


# -- YAML with duplicate keys refused -----------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            line = key_node.start_mark.line + 1
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line})", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


# -- validation ----------------------------------------------------------------


class _Problems:
    """Collects problems, each prefixed with the file name and a JSON-pointer path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.source}: {path or '/'}: {message}")


class _Reader:
    """Reads one mapping at `path`, recording a problem instead of raising."""

    def __init__(self, problems: _Problems, path: str, data: Any, known: tuple[str, ...]) -> None:
        self.problems = problems
        self.path = path
        self.ok = isinstance(data, dict)
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        if not self.ok:
            problems.add(path, f"must be a mapping (got {_kind(data)})")
            return
        for key in self.data:
            if key not in known:
                hint = ", ".join(known)
                problems.add(f"{path}/{key}", f"unknown key (known keys: {hint})")

    def at(self, key: str) -> str:
        return f"{self.path}/{key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        return self.data.get(key)

    def number(self, key: str, default: float, *, low: float, high: float,
               integer: bool = False) -> float:
        if key not in self.data:
            return default
        value = self.data[key]
        kind = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, int | float) or (
            integer and not isinstance(value, int)
        ):
            self.problems.add(self.at(key), f"must be {kind} (got {_show(value)})")
            return default
        if value < low:
            self.problems.add(self.at(key), f"must be >= {_num(low)} (got {_num(value)})")
            return default
        if value > high:
            self.problems.add(self.at(key), f"must be <= {_num(high)} (got {_num(value)})")
            return default
        return value

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        return int(self.number(key, default, low=low, high=high, integer=True))

    def boolean(self, key: str, default: bool) -> bool:
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, bool):
            self.problems.add(self.at(key), f"must be true or false (got {_show(value)})")
            return default
        return value

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               choices: tuple[str, ...] = ()) -> str | None:
        if key not in self.data:
            if required:
                self.problems.add(self.at(key), "is required")
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value:
            self.problems.add(self.at(key), f"must be a non-empty string (got {_show(value)})")
            return default
        if choices and value not in choices:
            self.problems.add(self.at(key), f"must be one of {', '.join(choices)} (got {value!r})")
            return default
        return value

    def sequence(self, key: str, *, required: bool = False) -> list[Any]:
        if key not in self.data:
            if required:
                self.problems.add(self.at(key), "is required")
            return []
        value = self.data[key]
        if not isinstance(value, list):
            self.problems.add(self.at(key), f"must be a list (got {_kind(value)})")
            return []
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        return _kind(value)
    return repr(value)


def _num(value: float) -> str:
    return f"{value:g}"


def _address(problems: _Problems, path: str, value: Any) -> IPAddress | None:
    if not isinstance(value, str):
        problems.add(path, f"must be an IP address as a string (got {_show(value)})")
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        problems.add(path, f"is not an IP address: {value!r}")
        return None


def _prefix(problems: _Problems, path: str, value: Any, allow_shorter: bool) -> IPNetwork | None:
    if not isinstance(value, str):
        problems.add(path, f"must be a prefix as a string (got {_show(value)})")
        return None
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        problems.add(path, f"is not a valid prefix: {value!r} ({exc})")
        return None
    if net.prefixlen != net.max_prefixlen and not allow_shorter:
        problems.add(
            path,
            f"must be a host route (/{net.max_prefixlen}), got /{net.prefixlen}; "
            "set allow_shorter_prefixes: true on the service to allow it",
        )
        return None
    return net


def _timing(problems: _Problems, path: str, data: Any) -> Timing:
    if data is None:
        return Timing()
    known = ("interval", "fast_interval", "timeout", "rise", "fall", "fail_at_once")
    r = _Reader(problems, path, data, known)
    d = Timing()
    interval = r.number("interval", d.interval, low=0.05, high=3600)
    fast = r.number("fast_interval", min(d.fast_interval, interval), low=0.01, high=3600)
    timeout = r.number("timeout", d.timeout, low=0.01, high=60)
    rise = r.integer("rise", d.rise, low=1, high=1000)
    fall = r.integer("fall", d.fall, low=1, high=1000)
    if r.has("fast_interval") and fast > interval:
        problems.add(r.at("fast_interval"),
                     f"must be <= interval ({_num(interval)}) (got {_num(fast)})")
    if timeout > interval:
        problems.add(r.at("timeout"),
                     f"must be <= interval ({_num(interval)}) (got {_num(timeout)})")
    at_once: list[str] = []
    for i, item in enumerate(r.sequence("fail_at_once") if r.has("fail_at_once") else
                             list(d.fail_at_once)):
        if item in OUTCOME_CODES:
            at_once.append(item)
        else:
            problems.add(f"{r.at('fail_at_once')}/{i}",
                         f"must be one of {', '.join(OUTCOME_CODES)} (got {_show(item)})")
    return Timing(interval=interval, fast_interval=fast, timeout=timeout, rise=rise, fall=fall,
                  fail_at_once=tuple(at_once))


def _flap(problems: _Problems, path: str, data: Any) -> Flap:
    if data is None:
        return Flap()
    known = ("enabled", "window", "max_transitions", "penalty", "max_penalty")
    r = _Reader(problems, path, data, known)
    d = Flap()
    penalty = r.number("penalty", d.penalty, low=0, high=86400)
    max_penalty = r.number("max_penalty", max(d.max_penalty, penalty), low=0, high=86400)
    if max_penalty < penalty:
        problems.add(r.at("max_penalty"),
                     f"must be >= penalty ({_num(penalty)}) (got {_num(max_penalty)})")
    return Flap(
        enabled=r.boolean("enabled", d.enabled),
        window=r.number("window", d.window, low=1, high=86400),
        max_transitions=r.integer("max_transitions", d.max_transitions, low=2, high=10000),
        penalty=penalty,
        max_penalty=max_penalty,
    )


def _address_block(problems: _Problems, path: str, data: Any) -> Address | None:
    if data is None:
        return None
    r = _Reader(problems, path, data, ("interface", "manage", "check"))
    interface = r.string("interface", "lo") or "lo"
    if len(interface) > 15 or "/" in interface or " " in interface:
        problems.add(r.at("interface"), f"is not an interface name: {interface!r}")
    return Address(interface=interface, manage=r.boolean("manage", False),
                   check=r.boolean("check", True))


def _expect(problems: _Problems, path: str, data: Any) -> Expect:
    if data is None:
        return Expect()
    r = _Reader(problems, path, data, ("rcode", "aa", "answers"))
    rcode = r.string("rcode", "NOERROR", choices=RCODES) or "NOERROR"
    answers: list[str] = []
    for i, item in enumerate(r.sequence("answers")):
        if isinstance(item, str) and item:
            answers.append(item)
        else:
            problems.add(f"{r.at('answers')}/{i}",
                         f"must be a non-empty string (got {_show(item)})")
    return Expect(rcode=rcode, aa=r.boolean("aa", True), answers=tuple(answers))


def _dns_check(problems: _Problems, r: _Reader) -> DnsCheck | None:
    server = _address(problems, r.at("server"), r.raw("server")) if r.has("server") else None
    if not r.has("server"):
        problems.add(r.at("server"), "is required")
    qname = r.string("qname", required=True)
    qtype = r.string("qtype", "SOA") or "SOA"
    if qname is not None:
        import dns.name

        try:
            dns.name.from_text(qname)
        except Exception as exc:  # dnspython raises several types for a bad name
            problems.add(r.at("qname"), f"is not a DNS name: {qname!r} ({exc})")
    import dns.rdatatype

    try:
        dns.rdatatype.from_text(qtype)
    except Exception:
        problems.add(r.at("qtype"), f"is not a DNS record type: {qtype!r}")
    port = r.integer("port", 53, low=1, high=65535)
    transport = r.string("transport", "udp", choices=("udp", "tcp")) or "udp"
    timeout = r.number("timeout", 0.0, low=0.01, high=60) if r.has("timeout") else None
    expect = _expect(problems, r.at("expect"), r.raw("expect"))
    if server is None or qname is None:
        return None
    return DnsCheck(server=server, qname=qname, qtype=qtype.upper(), port=port,
                    transport=transport, timeout=timeout, expect=expect)


# One entry per check type: the keys it accepts and how to read them. New
# check types (soa-serial, dnssec-expiry, http, ...) add a row here and an
# adapter in speaker.adapters.checks.
CHECK_TYPES: dict[str, tuple[tuple[str, ...], Callable[[_Problems, _Reader], Check | None]]] = {
    "dns": (
        ("type", "server", "qname", "qtype", "port", "transport", "timeout", "expect"),
        _dns_check,
    ),
}


def _check(problems: _Problems, path: str, data: Any) -> Check | None:
    if not isinstance(data, dict):
        problems.add(path, f"must be a mapping (got {_kind(data)})")
        return None
    kind = data.get("type")
    if kind not in CHECK_TYPES:
        problems.add(f"{path}/type", f"must be one of {', '.join(CHECK_TYPES)} (got {_show(kind)})")
        return None
    known, read = CHECK_TYPES[kind]
    return read(problems, _Reader(problems, path, data, known))


def _route(problems: _Problems, path: str, data: Any) -> Route:
    if data is None:
        return Route()
    r = _Reader(problems, path, data, ("next_hop", "med", "communities", "as_path"))
    next_hop = _next_hop(problems, r.at("next_hop"), r.raw("next_hop"))
    med = r.integer("med", 0, low=0, high=2**32 - 1) if r.has("med") else None
    communities: list[str] = []
    for i, item in enumerate(r.sequence("communities")):
        ok = isinstance(item, str) and COMMUNITY_RE.match(item)
        if ok and all(int(x) <= 65535 for x in item.split(":")):
            communities.append(item)
        else:
            problems.add(f"{r.at('communities')}/{i}",
                         f"must be a community ASN:VALUE such as '65535:0' (got {_show(item)})")
    as_path: list[int] = []
    for i, item in enumerate(r.sequence("as_path")):
        if isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 4294967295:
            as_path.append(item)
        else:
            problems.add(f"{r.at('as_path')}/{i}", f"must be an AS number (got {_show(item)})")
    if len(as_path) > 16:
        problems.add(r.at("as_path"), f"must have at most 16 entries (got {len(as_path)})")
    return Route(next_hop=next_hop, med=med, communities=tuple(communities),
                 as_path=tuple(as_path))


def _next_hop(problems: _Problems, path: str, value: Any) -> str:
    """`self` (ExaBGP picks the session's local address) or one unicast address."""
    if value is None or value == "self":
        return "self"
    address = _address(problems, path, value)
    if address is None:
        return "self"
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        problems.add(path, f"must be 'self' or a unicast address of this node (got {value})")
        return "self"
    return str(address)


def _route_family(problems: _Problems, path: str, route: Route,
                  prefixes: list[IPNetwork]) -> None:
    """An explicit next hop is of the family of every prefix it is announced for."""
    if route.next_hop == "self":
        return
    version = ipaddress.ip_address(route.next_hop).version
    for prefix in prefixes:
        if prefix.version != version:
            problems.add(f"{path}/next_hop",
                         f"is an IPv{version} address but {prefix} is IPv{prefix.version}: "
                         f"put IPv{prefix.version} prefixes in a service of their own "
                         f"with an IPv{prefix.version} next_hop (or next_hop: self)")


SERVICE_KEYS = ("name", "prefixes", "allow_shorter_prefixes", "address", "timing", "flap",
                "checks", "route")


def _service(problems: _Problems, path: str, data: Any) -> Service | None:
    r = _Reader(problems, path, data, SERVICE_KEYS)
    if not r.ok:
        return None
    name = r.string("name", required=True)
    if name is not None and not NAME_RE.match(name):
        problems.add(r.at("name"), f"must be letters, digits, '.', '_' or '-' (got {name!r})")
        name = None
    allow_shorter = r.boolean("allow_shorter_prefixes", False)
    prefixes: list[IPNetwork] = []
    raw_prefixes = r.sequence("prefixes", required=True)
    if r.has("prefixes") and not raw_prefixes and isinstance(r.raw("prefixes"), list):
        problems.add(r.at("prefixes"), "must list at least one prefix")
    for i, item in enumerate(raw_prefixes):
        net = _prefix(problems, f"{r.at('prefixes')}/{i}", item, allow_shorter)
        if net is not None:
            if net in prefixes:
                problems.add(f"{r.at('prefixes')}/{i}", f"is listed twice: {net}")
            else:
                prefixes.append(net)
    checks: list[Check] = []
    raw_checks = r.sequence("checks", required=True)
    if r.has("checks") and not raw_checks and isinstance(r.raw("checks"), list):
        problems.add(r.at("checks"), "must list at least one check")
    for i, item in enumerate(raw_checks):
        check = _check(problems, f"{r.at('checks')}/{i}", item)
        if check is not None:
            checks.append(check)
    address = _address_block(problems, r.at("address"), r.raw("address"))
    timing = _timing(problems, r.at("timing"), r.raw("timing"))
    for i, check in enumerate(checks):
        if check.timeout is not None and check.timeout > timing.interval:
            problems.add(f"{r.at('checks')}/{i}/timeout",
                         f"must be <= the service's interval ({_num(timing.interval)}) "
                         f"(got {_num(check.timeout)})")
    flap = _flap(problems, r.at("flap"), r.raw("flap"))
    route = _route(problems, r.at("route"), r.raw("route"))
    _route_family(problems, r.at("route"), route, prefixes)
    if name is None or not prefixes or not checks:
        return None
    return Service(name=name, prefixes=tuple(prefixes), checks=tuple(checks), address=address,
                   timing=timing, flap=flap, route=route)


TOP_KEYS = ("control", "state_dir", "drain_delay", "watchdog_timeout", "metrics",
            "dns_statistics", "local_as_range", "router_limits", "services")


def _path(problems: _Problems, path: str, value: Any, default: Path) -> Path:
    if value is None:
        return default
    if not isinstance(value, str) or not value.startswith("/"):
        problems.add(path, f"must be an absolute path (got {_show(value)})")
        return default
    return Path(value)


def _control(problems: _Problems, path: str, data: Any) -> Control:
    if data is None:
        return Control()
    r = _Reader(problems, path, data, ("socket", "mode", "group"))
    socket = _path(problems, r.at("socket"), r.raw("socket"), DEFAULT_SOCKET)
    if len(str(socket).encode()) > 107:
        problems.add(r.at("socket"), f"is too long for a unix socket (max 107 bytes): {socket}")
    mode = 0o660
    raw_mode = r.raw("mode")
    if raw_mode is not None:
        if isinstance(raw_mode, str) and re.fullmatch(r"0?[0-7]{3}", raw_mode):
            mode = int(raw_mode, 8)
            if mode & 0o007:
                problems.add(r.at("mode"),
                             f"must not give access to other users (got {raw_mode!r})")
                mode = 0o660
        else:
            problems.add(r.at("mode"), f"must be an octal mode string such as '0660' "
                                       f"(got {_show(raw_mode)})")
    return Control(socket=socket, mode=mode, group=r.string("group"))


def _metrics(problems: _Problems, path: str, data: Any) -> Metrics | None:
    if data is None:
        return None
    r = _Reader(problems, path, data, ("listen", "port"))
    listen = Metrics().listen
    if r.has("listen"):
        listen = _address(problems, r.at("listen"), r.raw("listen")) or listen
        if listen.is_unspecified:
            problems.add(r.at("listen"), f"must be one address, not the wildcard {listen} "
                                         "(metrics are served on exactly this address)")
    return Metrics(listen=listen, port=r.integer("port", 9474, low=1, high=65535))


def _dns_statistics(problems: _Problems, path: str, data: Any) -> DnsStatistics | None:
    if data is None:
        return None
    from urllib.parse import urlsplit

    r = _Reader(problems, path, data, ("url", "interval"))
    d = DnsStatistics()
    url = r.string("url", d.url) or d.url
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        problems.add(r.at("url"), f"must be an http:// URL of BIND's statistics channel, such "
                                  f"as {d.url} (got {url!r})")
    return DnsStatistics(url=url, interval=r.number("interval", d.interval, low=0.5, high=3600))


def _as_range(problems: _Problems, path: str, value: Any) -> tuple[int, int]:
    default = DEFAULT_ASN_RANGE
    if value is None:
        return default
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
          and 1 <= value[0] <= value[1] <= 4294967295)
    if not ok:
        problems.add(path, f"must be [low, high] with 1 <= low <= high <= 4294967295 "
                           f"(got {_show(value)})")
        return default
    return (value[0], value[1])


def parse(text: str, source: str = "<config>") -> Config:
    """Parse and validate a YAML document; raise ConfigError listing every problem."""
    problems = _Problems(source)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: {where}invalid YAML: {reason}"]) from None
    top = _Reader(problems, "", data, TOP_KEYS)
    if not top.ok:
        raise ConfigError(problems.items)
    services: list[Service] = []
    raw_services = top.sequence("services", required=True)
    if top.has("services") and not raw_services and isinstance(top.raw("services"), list):
        problems.add("/services", "must list at least one service")
    for i, item in enumerate(raw_services):
        service = _service(problems, f"/services/{i}", item)
        if service is not None:
            services.append(service)
    _cross_check(problems, services)
    config = Config(
        services=tuple(services),
        control=_control(problems, "/control", top.raw("control")),
        state_dir=_path(problems, "/state_dir", top.raw("state_dir"), DEFAULT_STATE_DIR),
        drain_delay=top.number("drain_delay", 2.0, low=0, high=3600),
        watchdog_timeout=top.number("watchdog_timeout", 2.0, low=0.5, high=60),
        metrics=_metrics(problems, "/metrics", top.raw("metrics")),
        dns_statistics=_dns_statistics(problems, "/dns_statistics", top.raw("dns_statistics")),
        source=source,
    )
    limits = _router_limits(problems, top, services)
    config = replace(config, router_limits=limits, local_as_range=limits.asn_range)
    if problems.items:
        raise ConfigError(problems.items)
    return config


def _router_limits(problems: _Problems, top: _Reader, services: list[Service]) -> RouterLimits:
    """`router_limits`, with the older top-level `local_as_range` as its asn_range."""
    data = top.raw("router_limits")
    old = top.raw("local_as_range")
    if data is None:
        return RouterLimits(asn_range=_as_range(problems, "/local_as_range", old))
    if old is not None:
        problems.add("/local_as_range", "is router_limits/asn_range now: move it there "
                                        "(both are set)")
    r = _Reader(problems, "/router_limits", data,
                ("max_prefixes", "min_length", "max_length", "asn_range"))
    if not r.ok:
        return RouterLimits()

    def maybe(key: str, low: int, high: int) -> int | None:
        return r.integer(key, 0, low=low, high=high) if r.has(key) else None

    limits = RouterLimits(
        max_prefixes=maybe("max_prefixes", 1, 1_000_000),
        min_length=maybe("min_length", 0, 128),
        max_length=maybe("max_length", 0, 128),
        asn_range=_as_range(problems, r.at("asn_range"), r.raw("asn_range")),
    )
    if (limits.min_length is not None and limits.max_length is not None
            and limits.min_length > limits.max_length):
        problems.add(r.at("min_length"), f"must be <= max_length ({limits.max_length}) "
                                         f"(got {limits.min_length})")
    located = [(f"/services/{i}/prefixes/{j}", p)
               for i, s in enumerate(services) for j, p in enumerate(s.prefixes)]
    for path, message in breaches(limits, located):
        problems.add(path, message)
    return limits


def _cross_check(problems: _Problems, services: list[Service]) -> None:
    names: dict[str, int] = {}
    owners: dict[IPNetwork, str] = {}
    for i, service in enumerate(services):
        if service.name in names:
            problems.add(f"/services/{i}/name",
                         f"duplicate service name {service.name!r} "
                         f"(also /services/{names[service.name]})")
        names.setdefault(service.name, i)
        for j, prefix in enumerate(service.prefixes):
            if prefix in owners:
                problems.add(f"/services/{i}/prefixes/{j}",
                             f"{prefix} is also announced by service {owners[prefix]!r}")
            owners.setdefault(prefix, service.name)


def load(path: Path) -> Config:
    """Read and parse the file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except PermissionError:
        raise ConfigError(
            [f"{path}: permission denied (run as the service user or root)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, source=str(path))

