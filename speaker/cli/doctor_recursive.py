"""`speakerctl doctor`'s entry for the `recursive` checks: an anycast resolver, asked once.

Owns `judge_recursive`, a pure judge of one run of each `recursive` check whose
server is an address of this node (the verdict, with the fix for its code, a
warning when no `uncached` name is set or no check asks the service's anycast
address) and `resolver_only` (a service of recursive checks only: the
authoritative-server findings of doctor and doctor_dns leave it out). The one
run is doctor's `probe_local` (only servers on this node: the resolver does its
own upstream queries); nothing here does I/O.
"""

from __future__ import annotations

from functools import partial

from speaker.adapters import checks
from speaker.cli.findings import Finding, Verdict, of_run
from speaker.core.config import Config, IPAddress, RecursiveCheck, Service

FIXES = {
    "refused": "is the resolver running (systemctl status unbound)? Does its interface: list "
               "include {server}?",
    "no-address": "{server} is not usable on this node: add the address (see the address "
                  "check) or fix the check's server",
    "timeout": "the resolver does not answer in time: is it hung or overloaded (unbound-control "
               "status)? Does a firewall drop port {port}?",
    "upstream": "the resolver answers from its cache only: can it reach its upstream (the "
                "stub-zone/forward-zone addresses, a firewall on the way; unbound-control "
                "lookup {name})?",
    "no-recursion": "{server} does not recurse for this node: is it a resolver? unbound: "
                    "access-control: <this node's address> allow",
    "rcode": "NXDOMAIN: fix qname, or add the wildcard the uncached name needs; SERVFAIL: "
             "unbound-control lookup {name} shows where it is stuck; REFUSED: access-control",
    "no-answer": "the zone has no {qtype} record for the name: fix qname or qtype, or the "
                 "zone's wildcard",
    "wrong-answer": "the answer differs from expect.answers: fix the zone or the check",
    "not-validated": "turn DNSSEC validation on (unbound: module-config: \"validator "
                     "iterator\", auto-trust-anchor-file) or set require_ad: false",
}


def resolver_only(service: Service) -> bool:
    """True for a service whose checks are all `recursive` (an anycast resolver)."""
    return all(isinstance(c, RecursiveCheck) for c in service.checks)


def _fix(check: RecursiveCheck, code: str) -> str:
    text = FIXES.get(code, "see the reason; the speaker runs the same check")
    return text.format(server=check.server, port=check.port, qtype=check.qtype,
                       name=check.qname or check.uncached)


def judge_recursive(cfg: Config, outcomes: dict[tuple[str, int], checks.Outcome],
                    mine: set[IPAddress] | None) -> list[Finding]:
    """Every recursive check: its one run's verdict (when its server is on this node)."""
    out = []
    for service in cfg.services:
        found = [(i, c) for i, c in enumerate(service.checks) if isinstance(c, RecursiveCheck)]
        for i, check in found:
            name, what = f"recursive {service.name}/{i}", check.describe()
            away = (f"{check.server} is not an address of this node"
                    if mine is not None and check.server not in mine else "")
            out.append(of_run(name, what, outcomes.get((service.name, i)), away,
                              partial(_fix, check), "not queried", passed="resolves"))
            if check.uncached is None:
                out.append(Finding(name, Verdict.WARN,
                                   f"{what}: no uncached name: a resolver that lost its "
                                   "upstream keeps answering cached names, and stays announced",
                                   "add uncached: \"{random}.probe.<your zone>.\" and a wildcard "
                                   "*.probe in that zone"))
        anycast = {p.network_address for p in service.prefixes}
        if found and resolver_only(service) and not {c.server for _, c in found} & anycast:
            out.append(Finding(f"recursive {service.name}", Verdict.WARN,
                               "no check queries the anycast address: a resolver that does "
                               "not listen on it would stay announced",
                               f"add a recursive check with server: \"{service.anycast}\""))
    return out
