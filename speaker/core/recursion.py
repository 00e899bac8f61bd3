"""Resolver verdicts: what a recursive resolver's answers mean, as data. Pure.

Owns `judge` (one response to one of the check's queries, RD set, against what
the `recursive` check requires: RA, NOERROR, at least one record of the qtype,
AD with `require_ad`, the expected answers for `qname`) and `combine` (the
verdict of a round from the verdicts of its names). Must not send, receive,
time or log anything: `speaker.adapters.recursive` asks and calls these.

The rules, for each name: RA not set is a failure before anything else (the
server will not recurse for us); then the rcode (NXDOMAIN, SERVFAIL, REFUSED,
each with what it likely means); then an empty answer. When both names are
configured, both must pass; the cached name failing is reported first. A fresh
name that times out or SERVFAILs (its rcode, `Asked.rcode`, never its wording)
while the cached name still resolves is code `upstream`: the resolver answers
from its cache but has lost its upstream.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from speaker.core.verdicts import _normal

Verdict = tuple[str, str]  # (code, reason): code "ok" when it passes


@dataclass(frozen=True)
class Asked:
    """One name a round asked, and the verdict on its answer."""

    name: str
    fresh: bool  # made from the uncached template (cannot be in the cache)
    code: str
    reason: str
    rcode: int | None = None  # the response's rcode (dns.rcode); None: no response

    @property
    def ok(self) -> bool:
        return self.code == "ok"


RCODE_HINTS = {
    "SERVFAIL": "the resolver cannot reach its upstream?",
    "REFUSED": "does the resolver's access control allow this node?",
}


def judge(response: dns.message.Message, name: str, qtype: str, *, fresh: bool = False,
          require_ad: bool = False, answers: tuple[str, ...] = ()) -> Verdict:
    """(code, reason) for the resolver's response to our query for `name` `qtype`."""
    what = f"{name} {qtype}"
    if not response.flags & dns.flags.RA:
        return "no-recursion", f"recursion not available (RA not set) for {what}"
    rcode = dns.rcode.to_text(response.rcode())
    if rcode == "NXDOMAIN":
        hint = ("no wildcard covers the fresh name: add one (e.g. *.probe) to its zone"
                if fresh else "the name does not exist: fix qname")
        return "rcode", f"NXDOMAIN for {what}: {hint}"
    if rcode != "NOERROR":
        hint = RCODE_HINTS.get(rcode, "")
        return "rcode", f"{rcode} for {what}" + (f": {hint}" if hint else "")
    if response.flags & dns.flags.TC:
        return "truncated", f"truncated response (TC set) for {what}"
    rdtype = dns.rdatatype.from_text(qtype)
    got = sorted(rdata.to_text() for rrset in response.answer if rrset.rdtype == rdtype
                 for rdata in rrset)
    if not got:
        return "no-answer", f"empty answer for {what} (NOERROR, no {qtype} record)"
    if answers and sorted(_normal(qtype, g) for g in got) != sorted(
            _normal(qtype, a) for a in answers):
        return "wrong-answer", (f"answer {', '.join(got)} for {what} "
                                f"(expected {', '.join(answers)})")
    if require_ad and not response.flags & dns.flags.AD:
        return "not-validated", (f"answer for {what} not validated (AD not set; require_ad is "
                                 "true: does the resolver validate DNSSEC, and is the zone "
                                 "signed?)")
    return "ok", "ok"


def combine(asked: list[Asked]) -> Verdict:
    """The round's verdict: every name must pass; the cached name's failure comes first."""
    cached = [a for a in asked if not a.fresh]
    fresh = [a for a in asked if a.fresh]
    for a in cached + fresh:
        if a.ok:
            continue
        if a.fresh and cached and all(c.ok for c in cached):
            note = (f" (the cached name {cached[0].name} still resolves: the resolver answers "
                    "from its cache only)")
            if a.code == "timeout" or a.rcode == dns.rcode.SERVFAIL:
                return "upstream", a.reason + note
            return a.code, a.reason + note
        return a.code, a.reason
    return "ok", "ok"
