"""`speakerctl doctor`: the node's troubleshooting checks, each with a verdict and the fix.

The judges (`judge_*`) are pure: they turn what was observed (the config,
the status from the process, the addresses on the interfaces, the outcome
of each DNS check) into findings. `examine` gathers the observations:
netlink for the addresses, the configured checks (speaker.checks) for DNS,
and only towards addresses of this node: doctor never queries another host.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from speaker.adapters import checks
from speaker.cli import doctor_dns, doctor_dnssec, doctor_http, doctor_recursive, freshness
from speaker.cli.findings import Finding, Verdict, of_run
from speaker.core import limits
from speaker.core.config import (
    Check,
    Config,
    DnsCheck,
    DnssecCheck,
    HttpCheck,
    IPAddress,
    RecursiveCheck,
    Service,
)
from speaker.core.exabgp_conf import Finding as ConfFinding

Local = frozenset[tuple[str, IPAddress]]  # (interface, address) pairs of this node


# -- judges (pure) ------------------------------------------------------------------------


def judge_config(path: Path, cfg: Config | None, problem: str) -> Finding:
    if cfg is None:
        return Finding("config", Verdict.FAIL, problem,
                       f"speakerctl check-config {path} lists every problem; or pass the "
                       "right file with --config")
    over = limits.excess(cfg.router_limits, cfg.prefixes)
    if over is not None:
        return Finding("config", Verdict.FAIL, f"{path}: {over[0]}: {over[1]}",
                       limits.MAX_PREFIXES_FIX)
    return Finding("config", Verdict.OK, f"{path} is valid: {len(cfg.services)} service(s), "
                                         f"{len(cfg.prefixes)} prefix(es)")


def judge_exabgp(path: Path | None, found: Iterable[ConfFinding]) -> Finding:
    if path is None:
        return Finding("exabgp-config", Verdict.SKIP,
                       "no speaker.conf next to the YAML (use --exabgp CONF)")
    problems = [str(f) for f in found if f.level == "error"]
    warnings = [str(f) for f in found if f.level != "error"]
    if problems:
        return Finding("exabgp-config", Verdict.FAIL, "; ".join(problems),
                       f"edit {path}, then: exabgp --test {path} (4.2) and systemctl restart "
                       "anycast-speaker")
    if warnings:
        return Finding("exabgp-config", Verdict.WARN, "; ".join(warnings), f"edit {path}")
    return Finding("exabgp-config", Verdict.OK, f"{path} agrees with the YAML")


def judge_process(status: dict[str, Any] | None, unreachable: str) -> Finding:
    if status is None:
        lines = unreachable.splitlines() or ["cannot reach the speaker process"]
        return Finding("process", Verdict.FAIL, lines[0],
                       "; ".join(line.strip() for line in lines[1:]))
    return Finding("process", Verdict.OK, f"running: pid {status['pid']}, anycast-speaker "
                                          f"{status['version']}, up {status['uptime']:.0f} s")


def _interface(service: Service) -> str:
    return service.address.interface if service.address else "lo"


def _add_command(address: IPAddress, interface: str) -> str:
    family = "-6 " if address.version == 6 else ""
    return f"ip {family}addr add {address}/{address.max_prefixlen} dev {interface}"


def judge_addresses(cfg: Config, local: Local | None, error: str = "") -> list[Finding]:
    """The anycast address of every prefix is on the service's interface (lo)."""
    out = []
    for service in cfg.services:
        interface = _interface(service)
        for prefix in service.prefixes:
            addr = prefix.network_address
            name = f"address {addr}"
            if local is None:
                out.append(Finding(name, Verdict.FAIL, f"cannot read addresses: {error}",
                                   "run doctor on the node itself (netlink)"))
            elif (interface, addr) in local:
                out.append(Finding(name, Verdict.OK, f"on {interface}"))
            else:
                elsewhere = sorted(i for i, a in local if a == addr)
                where = f" (it is on {', '.join(elsewhere)})" if elsewhere else ""
                manage = service.address is not None and service.address.manage
                out.append(Finding(
                    name, Verdict.FAIL, f"not on {interface}{where}: queries to the "
                                        "anycast address cannot reach this node's DNS server",
                    f"{_add_command(addr, interface)}" + (
                        "" if manage else f"; or set address: {{interface: {interface}, "
                                          f"manage: true}} on service {service.name} so the "
                                          "speaker adds it")))
    return out


FIXES = {
    "refused": "is named running (systemctl status named)? Does listen-on-v6 (listen-on "
               "for IPv4) in /etc/bind/named.conf.options include {server}? Then: rndc "
               "reconfig",
    "no-address": "{server} is not usable on this node: add the address (see the address "
                  "check) or fix the check's server",
    "timeout": "named does not answer in time: is it hung or overloaded (rndc status)? Does "
               "a firewall drop port {port}?",
    "truncated": "set transport: tcp on this check",
    "rcode": "named answers, but not as expected: is the zone loaded (rndc zonestatus "
             "ZONE; named-checkzone)? Compare with the check's expect",
    "not-authoritative": "named is not authoritative for {qname}: is the zone loaded (rndc "
                         "zonestatus)?",
    "no-answer": "the zone has no {qtype} record for {qname}: fix the zone or the check",
    "wrong-answer": "the zone answers differently: fix the zone or the check's "
                    "expect.answers",
}


# the same, for PowerDNS Authoritative (codes not listed here: FIXES)
PDNS_FIXES = {
    "refused": "is pdns running (systemctl status pdns)? Does local-address in "
               "/etc/powerdns/pdns.conf include {server} (or ::)? Then: systemctl restart pdns",
    "timeout": "pdns_server does not answer in time: is it hung or overloaded (pdns_control "
               "ping)? Does a firewall drop port {port}?",
    "rcode": "PowerDNS answers, but not as expected: is the zone loaded (pdnsutil check-zone "
             "ZONE; pdns_control bind-domain-status ZONE)? Compare with the check's expect",
    "not-authoritative": "PowerDNS is not authoritative for {qname}: is the zone in its "
                         "backend (pdnsutil list-all-zones)?",
}


def _fix(check: DnsCheck, code: str, kind: str | None = None) -> str:
    table = {**FIXES, **PDNS_FIXES} if kind == "powerdns" else FIXES
    text = table.get(code, "see the reason; the speaker runs the same check")
    return text.format(server=check.server, port=check.port, qname=check.qname,
                       qtype=check.qtype)


def judge_dns(cfg: Config, outcomes: dict[tuple[str, int], checks.Outcome],
              local: Local | None, kind: str | None = None) -> list[Finding]:
    """Every configured check: queried when its server is an address of this node; the
    fixes are those of the DNS server `kind` (bind, powerdns)."""
    out = []
    mine = {a for _, a in local} if local is not None else None
    for service in cfg.services:
        anycast = {p.network_address for p in service.prefixes}
        servers = {c.server for c in service.checks if isinstance(c, DnsCheck)}
        if not servers and doctor_recursive.resolver_only(service):
            continue  # a resolver: speaker.cli.doctor_recursive
        for i, check in enumerate(service.checks):
            if not isinstance(check, DnsCheck):
                continue  # soa: speaker.cli.freshness; recursive: doctor_recursive
            away = (f"{check.server} is not an address of this node"
                    if mine is not None and check.server not in mine else "")
            out.append(of_run(f"dns {service.name}/{i}", check.describe(),
                              outcomes.get((service.name, i)), away,
                              partial(_fix, check, kind=kind), "not queried"))
        if not servers:
            continue  # no dns check (an http service): nothing to say about DNS
        if not servers & anycast:
            out.append(Finding(f"dns {service.name}", Verdict.WARN,
                               "no check queries the anycast address: a server that does not "
                               "listen on it would stay announced",
                               f"add a check with server: \"{service.anycast}\""))
        if not servers - anycast:
            out.append(Finding(f"dns {service.name}", Verdict.WARN,
                               "no check queries this node's own address",
                               "add a check with the node's unicast address as server"))
    return out


def judge_bgp(status: dict[str, Any] | None) -> list[Finding]:
    if status is None:
        return [Finding("bgp", Verdict.SKIP, "process not reachable")]
    neighbors = status["neighbors"]
    if not neighbors and not status.get("exabgp", {}).get("neighbors_known", True):
        return [Finding("bgp", Verdict.WARN, "BGP session state unknown: ExaBGP has not "
                        "answered show neighbor summary, nor reported a change",
                        "on the router: show bgp summary; journalctl -u anycast-speaker")]
    if not neighbors:
        return [Finding("bgp", Verdict.FAIL, "ExaBGP has reported no BGP session",
                        "speakerctl check-config (neighbor, local-address, ASNs, api "
                        "neighbor-changes); journalctl -u anycast-speaker (ExaBGP's log); on "
                        "the router: is this node configured as its neighbour (show bgp "
                        "summary)?")]
    now = time.time()
    out = []
    for n in neighbors:
        name = f"bgp {n['peer']}"
        since = f"since {max(0.0, now - n['since']):.0f} s"
        if n.get("resetting"):
            out.append(Finding(name, Verdict.FAIL,
                               f"session keeps resetting: {n['recent_resets']} downs in the "
                               "last 60 s, each right after its start or our UPDATE; last: "
                               f"{n.get('down_reason') or 'no reason given'}",
                               "the router refuses what we send: read the NOTIFICATION above "
                               "and the router's log (a martian next hop: route.next_hop; too "
                               "many prefixes: router_limits)"))
        elif n["state"] == "up":
            out.append(Finding(name, Verdict.OK, f"established {since}"))
        else:
            reason = f": {n['reason']}" if n.get("reason") else ""
            out.append(Finding(name, Verdict.FAIL, f"session {n['state']} {since}{reason}",
                               "journalctl -u anycast-speaker (ExaBGP's log); check the peer "
                               "address, peer-as, local-address and md5-password in the "
                               "ExaBGP config, and the router's side (show bgp summary)"))
    return out


def judge_prefixes(status: dict[str, Any] | None) -> list[Finding]:
    if status is None:
        return [Finding("prefix", Verdict.SKIP, "process not reachable")]
    out = []
    for service in status["services"]:
        for item in service["prefixes"]:
            name = f"prefix {item['prefix']}"
            if item.get("over_limit"):
                out.append(Finding(name, Verdict.FAIL,
                                   f"{item['over_limit']}: service {service['name']} is "
                                   f"{service['state']}, but the router's slots are taken by "
                                   "prefixes listed before it", limits.MAX_PREFIXES_FIX))
            elif item.get("resetting") and item["confirmed"] == "announced":
                out.append(Finding(name, Verdict.FAIL,
                                   "confirmed by ExaBGP but not held: the session with "
                                   f"{', '.join(item['resetting'])} keeps resetting",
                                   "see the bgp finding of that neighbour"))
            elif item["confirmed"] == "announced" and item["desired"] == "announced":
                out.append(Finding(name, Verdict.OK, "announced (confirmed by ExaBGP)"))
            elif service["state"] == "maintenance":
                maint = service.get("maintenance") or {}
                out.append(Finding(name, Verdict.WARN,
                                   f"withdrawn for maintenance: {maint.get('reason') or '-'} "
                                   f"(by {maint.get('by') or 'unknown'})",
                                   f"speakerctl announce {service['name']}"))
            elif item["desired"] == "announced":
                out.append(Finding(name, Verdict.FAIL,
                                   f"not confirmed by ExaBGP (confirmed: {item['confirmed']})",
                                   "is a BGP session up, and does the neighbour's api block "
                                   "name the process? exabgp.api.ack must be true"))
            else:
                out.append(Finding(name, Verdict.FAIL,
                                   f"withdrawn: service {service['name']} is "
                                   f"{service['state']}: {service['reason']}",
                                   "see the dns and address checks above"))
    return out


def _event_fix(detail: str) -> str:
    if "CAP_NET_ADMIN" in detail:
        return "run the speaker with CAP_NET_ADMIN (the packaged unit has it)"
    if "nothing listens" in detail or "not running" in detail or "does not exist" in detail:
        return "start the DNS server: it is watched again once a probe passes"
    return "probes still detect a dead server, at their interval"


def judge_events(status: dict[str, Any] | None) -> list[Finding]:
    """Which event detection (socket, process) is active per service, and why not."""
    if status is None:
        return [Finding("event-detection", Verdict.SKIP, "process not reachable")]
    out = []
    active = 0
    for service in status["services"]:
        for item in service.get("detection", []):
            if item["active"]:
                active += 1
                continue
            out.append(Finding(f"event {item['kind']} {service['name']}", Verdict.WARN,
                               f"{item['target']} not watched: {item['detail']}",
                               _event_fix(item["detail"])))
    if not out:
        detail = (f"{active} server socket(s)/process(es) watched: a dead server is withdrawn "
                  "at once" if active else "off for every service (watch: sockets: false, "
                  "no pid_file): probes alone detect a dead server")
        out.append(Finding("event-detection", Verdict.OK, detail))
    return out


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.verdict is Verdict.FAIL for f in findings)


LABELS = {Verdict.OK: "ok", Verdict.WARN: "WARN", Verdict.FAIL: "FAIL", Verdict.SKIP: "skip"}


def render(findings: list[Finding]) -> list[str]:
    width = max((len(f.check) for f in findings), default=0)
    out = []
    for f in findings:
        out.append(f"{LABELS[f.verdict]:<4}  {f.check:<{width}}  {f.detail}")
        if f.fix and f.verdict in (Verdict.FAIL, Verdict.WARN):
            out.append(f"{'':<4}  {'':<{width}}  fix: {f.fix}")
    counts = {v: sum(1 for f in findings if f.verdict is v) for v in Verdict}
    out.append(f"doctor: {counts[Verdict.FAIL]} failed, {counts[Verdict.WARN]} warning(s), "
               f"{counts[Verdict.OK]} ok, {counts[Verdict.SKIP]} skipped")
    return out


# -- observations (I/O) -------------------------------------------------------------------


def local_addresses() -> Local:
    """Every usable (interface, address) of this node, read through netlink."""
    from speaker.adapters.loopback import all_addresses

    return all_addresses()


async def _probe_all(jobs: list[tuple[tuple[str, int], checks.Probe]]
                     ) -> dict[tuple[str, int], checks.Outcome]:
    try:
        results = await asyncio.gather(*(probe.run() for _, probe in jobs))
    finally:
        for _, probe in jobs:
            probe.close()
    return {key: outcome for (key, _), outcome in zip(jobs, results, strict=True)}


def probe_local(cfg: Config, local: Local | None,
                build: Callable[[Check, float], checks.Probe] = checks.build
                ) -> dict[tuple[str, int], checks.Outcome]:
    """Run each dns, dnssec, http and recursive check whose server is an address of this
    node (never another host)."""
    mine = {a for _, a in local} if local is not None else set()
    jobs = [((s.name, i), build(c, s.timing.timeout)) for s in cfg.services
            for i, c in enumerate(s.checks)
            if isinstance(c, DnsCheck | DnssecCheck | HttpCheck | RecursiveCheck)
            and c.server in mine]
    return asyncio.run(_probe_all(jobs)) if jobs else {}


def examine(*, config_path: Path, cfg: Config | None, config_problem: str,
            exabgp_path: Path | None, exabgp: list[ConfFinding],
            status: dict[str, Any] | None, unreachable: str,
            addresses: Callable[[], Local] | None = None,
            build: Callable[[Check, float], checks.Probe] | None = None,
            dns_config: Path | None = None) -> list[Finding]:
    """Every finding, in the order an operator would look (defaults: netlink, real checks,
    the DNS server's config file and statistics endpoint on this node)."""
    findings = [judge_config(config_path, cfg, config_problem)]
    if cfg is not None:
        findings.append(judge_exabgp(exabgp_path, exabgp))
    findings.append(judge_process(status, unreachable))
    if cfg is not None:
        local: Local | None
        try:
            local, error = (addresses or local_addresses)(), ""
        except Exception as exc:  # netlink unavailable: say so as a finding
            local, error = None, f"{exc.__class__.__name__}: {exc}"
        findings += judge_addresses(cfg, local, error)
        server = doctor_dns.which(cfg, dns_config)
        outcomes = probe_local(cfg, local, build or checks.build)
        findings += judge_dns(cfg, outcomes, local, server.kind)
        findings += doctor_dnssec.judge_dnssec(
            cfg, outcomes, {a for _, a in local} if local is not None else None)
        findings += doctor_http.judge_http(cfg, outcomes,
                                           {a for _, a in local} if local is not None else None)
        findings += doctor_dns.examine(cfg, dns_config,
                                       {a for _, a in local} if local is not None else None)
        findings += freshness.judge_freshness(cfg, status)
        findings += doctor_recursive.judge_recursive(
            cfg, outcomes,
            {a for _, a in local} if local is not None else None)
    findings += judge_events(status)
    findings += judge_bgp(status)
    findings += judge_prefixes(status)
    return findings
