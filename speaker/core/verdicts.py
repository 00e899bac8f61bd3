"""DNS verdicts: what a check's answer means, as data. Pure.

Owns `Outcome` (the verdict of one check) and the functions that judge a DNS
response: `classify` (a parsed dnspython message against what the check
expects) and `plainly_ok` (the header-only fast path). Must not send, receive
or time anything: the probes in `speaker.adapters.checks` do that and call
these.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from speaker.core import config


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str  # "ok" or why not, prefixed with what was checked
    latency: float  # seconds from send to verdict
    code: str = "ok"  # short machine-readable class: ok, timeout, refused, rcode, ...
    warning: str = ""  # worth a look though not a failure (the soa check's unreachable master)
    validity: float | None = None  # a dnssec check: seconds its first signature has left
    # passed, but asks for the degraded state: announced with the less preferred degraded
    # route (the soa check's `action: degrade` on a stale zone; speaker.core.overload)
    degrade: bool = False
    queries: int = 1  # asks made (each at most one query): the server counts them too


def classify(check: config.DnsCheck, response: dns.message.Message) -> tuple[str, str]:
    """(code, reason) for a response: code 'ok' when it is what the check expects."""
    expect = check.expect
    rcode = dns.rcode.to_text(response.rcode())
    if rcode != expect.rcode:
        return "rcode", f"rcode {rcode} (expected {expect.rcode})"
    if response.flags & dns.flags.TC:
        return "truncated", "truncated response (TC set); use transport: tcp"
    if expect.aa and not response.flags & dns.flags.AA:
        return "not-authoritative", "answer is not authoritative (AA flag not set)"
    if expect.answers:
        qtype = dns.rdatatype.from_text(check.qtype)
        got = sorted(
            rdata.to_text()
            for rrset in response.answer
            if rrset.rdtype == qtype
            for rdata in rrset
        )
        wanted = ", ".join(expect.answers)
        if not got:
            return "wrong-answer", f"no {check.qtype} in the answer (expected {wanted})"
        want = sorted(_normal(check.qtype, a) for a in expect.answers)
        if sorted(_normal(check.qtype, g) for g in got) != want:
            return "wrong-answer", f"answer {', '.join(got)} (expected {wanted})"
    elif rcode == "NOERROR" and not response.answer and expect.aa:
        return "no-answer", f"empty answer for {check.qtype} {check.qname}"
    return "ok", "ok"


def plainly_ok(data: bytes, query: bytes, question_end: int, rcode: int, aa: bool) -> bool:
    """True when the header and question alone show the answer the check wants.

    The cheap path for the common case, 2,000 times a second with 1,000
    services: our id, a response, our question echoed, the expected rcode, no
    TC, AA if required, at least one answer record when NOERROR is expected
    (as `classify` requires). Anything else (False) goes through dnspython's
    full parse and `classify`, which give the precise reason.
    """
    if len(data) < question_end or data[:2] != query[:2]:
        return False
    flags = (data[2] << 8) | data[3]
    qdcount = (data[4] << 8) | data[5]
    ancount = (data[6] << 8) | data[7]
    if not flags & 0x8000 or flags & 0x0200 or qdcount != 1:  # QR, TC
        return False
    if (flags & 0x000F) != rcode or (aa and not flags & 0x0400):
        return False
    if rcode == 0 and aa and ancount == 0:
        return False
    return data[12:question_end].lower() == query[12:question_end].lower()


def _normal(qtype: str, text: str) -> str:
    """Canonical form of rdata so that '2001:DB8:0::01' matches '2001:db8::1'."""
    import dns.rdata
    import dns.rdataclass

    try:
        rdtype = dns.rdatatype.from_text(qtype)
        rdata = dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)
        return rdata.to_digestable().hex()
    except Exception:  # not parseable as that type: compare as given
        return text
