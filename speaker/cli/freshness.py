"""`speakerctl doctor`'s entry for the `soa` checks: zone freshness, as the process sees it.

Owns `judge_freshness`, a pure judge of the status the running process reports
for each `soa` check: in sync, behind, stale, or its master unreachable (a
warning: the master is shared by every node, so its loss never withdraws).
Must not query anything: the master is another host, and doctor never
queries another host; the process does, each round.
"""

from __future__ import annotations

from typing import Any

from speaker.cli.findings import Finding, Verdict
from speaker.core.config import Config, SoaCheck

FIXES = {
    "stale": "transfers from the master fail: see named's log on this node ('refresh: "
             "failure', 'transfer of ... failed'), the master's allow-transfer and "
             "also-notify for this node, TCP port 53 from here to {master}; then rndc "
             "retransfer {zone}",
    "behind": "a transfer is due: it normally follows the master's NOTIFY within seconds",
    "master-unreachable": "the master {master} does not answer SOA {zone} from this node: is "
                          "it running, does its allow-query admit this node, is port "
                          "{master_port} open? This node stays announced meanwhile",
    "ahead": "the master's serial went backwards (restored from a backup?): raise its serial "
             "above {served}, or the secondaries never transfer again",
    "serial-undefined": "raise the master's serial by less than 2^31 steps at a time (RFC "
                        "1982): the secondaries cannot order serials 2^31 apart",
}


def judge_freshness(cfg: Config, status: dict[str, Any] | None) -> list[Finding]:
    """One finding per soa check, read from the running process's status."""
    out: list[Finding] = []
    for service in cfg.services:
        shown = {}
        if status is not None:
            for svc in status["services"]:
                if svc["name"] == service.name:
                    shown = {c["check"]: c for c in svc["checks"]}
        for i, check in enumerate(service.checks):
            if not isinstance(check, SoaCheck):
                continue
            name = f"soa {service.name}/{i}"
            seen = shown.get(check.describe())
            if seen is None:
                why = "process not reachable" if status is None else "no round yet"
                out.append(Finding(name, Verdict.SKIP, f"{check.describe()}: {why} (doctor never "
                                   "queries the master itself)"))
                continue
            fix = FIXES.get(seen["code"], "see the reason").format(
                master=check.master, master_port=check.master_port, zone=check.zone,
                served="the served serial")
            if not seen["ok"]:
                out.append(Finding(name, Verdict.FAIL, seen["reason"], fix))
            elif seen.get("warning"):
                out.append(Finding(name, Verdict.WARN, seen["warning"], fix))
            else:
                out.append(Finding(name, Verdict.OK, seen["reason"]))
    return out
