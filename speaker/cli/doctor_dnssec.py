"""`speakerctl doctor`'s entry for the `dnssec` checks: signatures about to expire.

Owns `judge_dnssec`, a pure judge of each dnssec check's outcome, which doctor
gets by running the check itself towards its server when that is an address
of this node (`doctor.probe_local`, as for the dns checks; never another
host): the time the first signature has left, or why the answers fail, with
the fix; a server that is not an address of this node fails, with the fix,
as for the http and recursive checks (`findings.of_run`). The validation
module's absence is a config problem (check-config names it), so it never
shows here as a traceback.
"""

from __future__ import annotations

from functools import partial

from speaker.cli.findings import Finding, Verdict, of_run
from speaker.core.config import Config, DnssecCheck, IPAddress
from speaker.core.verdicts import Outcome

FIXES = {
    "expiring": "re-sign {zone} before its signatures expire: with dnssec-policy or "
                "inline-signing, read named's log for signing errors and 'rndc dnssec -status "
                "{zone}' (keys present and readable?); a pre-signed zone: dnssec-signzone with "
                "a later -e, then rndc reload {zone}",
    "expired": "{zone}'s signatures have expired: validating resolvers answer SERVFAIL for "
               "it. Re-sign it now (dnssec-signzone, or fix the signer: rndc dnssec -status "
               "{zone}), then rndc reload {zone}",
    "unsigned": "the server answers {zone} without RRSIGs: is the signed zone file the one "
                "loaded (named-checkzone; the .signed file in the zone statement), or "
                "dnssec-policy set? A zone not meant to be signed needs no dnssec check",
    "bogus": "the signatures do not verify with {zone}'s DNSKEY: a key removed before its "
             "signatures expired, or a file signed with other keys: re-sign with the "
             "published keys",
    "not-yet-valid": "the signatures start in the future: check this node's clock and the "
                     "signer's (timedatectl), or sign with an earlier inception (-s now-1h)",
    "no-address": "{server} is not usable on this node: add the address (see the address "
                  "check) or fix the check's server",
}


def _fix(check: DnssecCheck, code: str) -> str:
    return FIXES.get(code, "see the dns checks above: the server does not answer as it "
                           "should").format(zone=check.zone, server=check.server)


def judge_dnssec(cfg: Config, outcomes: dict[tuple[str, int], Outcome],
                 mine: set[IPAddress] | None) -> list[Finding]:
    """One finding per dnssec check; `mine`: this node's addresses (None: unknown)."""
    out: list[Finding] = []
    for service in cfg.services:
        for i, check in enumerate(service.checks):
            if not isinstance(check, DnssecCheck):
                continue
            name = f"dnssec {service.name}/{i}"
            outcome = outcomes.get((service.name, i))
            if outcome is not None and outcome.warning:
                out.append(Finding(name, Verdict.WARN, outcome.reason,
                                   _fix(check, outcome.code)))
            elif outcome is not None and outcome.ok:  # the reason: how long they last
                out.append(Finding(name, Verdict.OK, outcome.reason))
            else:
                away = (f"{check.server} is not an address of this node"
                        if mine is not None and check.server not in mine else "")
                out.append(of_run(name, check.describe(), outcome, away,
                                  partial(_fix, check), "not queried"))
    return out
