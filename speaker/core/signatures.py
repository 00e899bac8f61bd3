"""DNSSEC signature validity: which RRSIG expires first, how long is left, the verdict. Pure.

Owns reading the RRSIGs out of the answers a node served (`signed`), the
cryptographic verdict on each against the zone's DNSKEY (`verify`, dnspython's
dns.dnssec, which needs the cryptography module: `crypto_problem` says when it
is missing), and the judgement on the whole (`judge`): the remaining time of
the RRset whose signatures run out first, against `min_validity`, in words.
Must not query, time or log anything: the `dnssec` probe in
`speaker.adapters.dnssec` asks the server and passes the wall-clock time
(RRSIG inception and expiration are absolute UNIX times, RFC 4034 3.1.5).

The rules:
- an RRset stays verifiable for as long as its longest-lived signature: during
  a key rollover an old signature about to expire beside a fresh one is no
  failure. remaining = expiration - now, of that best signature;
- the check reports the RRset whose best signature expires first (the
  earliest wins, over the SOA, the DNSKEY and every configured name);
- a failure: less than `min_validity` left (`expiring`), none left
  (`expired`), an RRset with no RRSIG at all (`unsigned`), no signature valid
  yet (`not-yet-valid`: inception in the future), and with validation on,
  no signature that verifies against the zone's DNSKEY (`bogus`).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from speaker.core.freshness import duration

CRYPTO_MODULE = "cryptography.hazmat.primitives.asymmetric.ec"  # what dns.dnssec needs
# what a dnssec check can say besides the codes every check shares (model.OUTCOME_CODES)
CODES = ("expiring", "expired", "unsigned", "bogus", "not-yet-valid")


def crypto_problem() -> str:
    """Why DNSSEC validation cannot run here ("" when it can)."""
    try:
        importlib.import_module(CRYPTO_MODULE)
    except ImportError as exc:
        return (f"needs the cryptography module for DNSSEC validation, which cannot be "
                f"imported ({exc}): install python3-cryptography (Debian) or cryptography "
                "(pip), or set validate: false")
    return ""


def in_zone(name: str, zone: str) -> bool:
    return dns.name.from_text(name).is_subdomain(dns.name.from_text(zone))


def apex(zone: str) -> tuple[tuple[str, str], ...]:
    """What every dnssec check asks for: the zone's SOA and DNSKEY."""
    return ((zone, "SOA"), (zone, "DNSKEY"))


@dataclass(frozen=True)
class Signature:
    """One RRSIG, as far as its validity goes (times in UNIX seconds)."""

    expiration: int
    inception: int
    key_tag: int
    verified: bool | None = None  # None: not validated; else the cryptographic verdict
    why: str = ""  # why it does not verify


@dataclass(frozen=True)
class Signed:
    """One RRset of an answer and the RRSIGs that cover it."""

    name: str
    rdtype: str
    signatures: tuple[Signature, ...]
    hint: str = ""  # a likely cause when there is no signature at all


@dataclass(frozen=True)
class Judgement:
    ok: bool
    code: str  # ok, expiring, expired, not-yet-valid, unsigned, bogus
    reason: str
    remaining: float | None = None  # seconds left of the first RRset to expire (< 0: gone)


def label(zone: str, name: str, rdtype: str) -> str:
    """'SOA' for the zone's apex, 'AAAA www.example.com.' for another name."""
    return rdtype if name == zone else f"{rdtype} {name}"


def verify(rrset: dns.rrset.RRset, rrsig: Any, dnskey: dns.rrset.RRset | None) -> str:
    """"" when `rrsig` verifies `rrset` with one of the `dnskey` keys, else why not.

    Time is judged apart (`judge`): the check is made as of the signature's
    inception, so an expired signature still gets its cryptographic verdict."""
    if dnskey is None:
        return "no DNSKEY to validate with"
    try:
        import dns.dnssec

        check: Any = dns.dnssec.validate_rrsig  # untyped where pyca is missing (_need_pyca)
        check(rrset, rrsig, {dnskey.name: dnskey}, now=float(rrsig.inception))
    except ImportError:
        return "the cryptography module is missing"
    except dns.exception.DNSException as exc:  # ValidationFailure, UnsupportedAlgorithm, ...
        return str(exc) or exc.__class__.__name__
    return ""


def find(response: dns.message.Message, owner: dns.name.Name, rdtype: int,
         covers: int = dns.rdatatype.NONE) -> dns.rrset.RRset | None:
    """The answer's non-empty IN RRset `owner`/`rdtype` (RRSIGs: those covering `covers`)."""
    for rrset in response.answer:
        if (rrset.name == owner and rrset.rdclass == dns.rdataclass.IN
                and rrset.rdtype == rdtype and rrset.covers == covers and len(rrset)):
            return rrset
    return None


def signed(response: dns.message.Message, name: str, rdtype: str,
           dnskey: dns.rrset.RRset | None = None, validate: bool = False
           ) -> Signed | tuple[str, str]:
    """The RRset `name`/`rdtype` of an authoritative answer and its RRSIGs (verified
    against `dnskey` when `validate`), or (code, reason) when the answer has none."""
    what = f"{rdtype} {name}"
    rcode = dns.rcode.to_text(response.rcode())
    if rcode != "NOERROR":
        return "rcode", f"rcode {rcode} for {what}"
    if not response.flags & dns.flags.AA:
        return "not-authoritative", f"not authoritative for {what} (AA flag not set)"
    owner = dns.name.from_text(name)
    kind = dns.rdatatype.from_text(rdtype)
    rrset = find(response, owner, kind)
    if rrset is None and kind == dns.rdatatype.DNSKEY:
        return "unsigned", f"no DNSKEY for {name}: the zone is served unsigned"
    if rrset is None:
        return "no-answer", f"no {what} in the answer"
    covering = find(response, owner, dns.rdatatype.RRSIG, kind)
    rrsigs = list(covering) if covering is not None else []
    found = []
    for rrsig in rrsigs:
        why = verify(rrset, rrsig, dnskey) if validate else ""
        found.append(Signature(expiration=int(rrsig.expiration), inception=int(rrsig.inception),
                               key_tag=int(rrsig.key_tag),
                               verified=(not why) if validate else None, why=why))
    hint = "" if response.edns >= 0 else "the server ignored EDNS (no OPT record in the answer)"
    if not rrsigs and response.edns >= 0 and not response.ednsflags & dns.flags.DO:
        hint = "the server cleared the DO bit: it does not do DNSSEC"
    return Signed(name, rdtype, tuple(found), hint)


def _best(s: Signed, now: float) -> tuple[Signature | None, str, str]:
    """The longest-lived signature of `s` that counts now (verified, if validated, and
    already valid), or (None, code, why none counts)."""
    verified = [g for g in s.signatures if g.verified is not False]
    if not verified:
        return None, "bogus", "; ".join(sorted({g.why for g in s.signatures}))
    started = [g for g in verified if g.inception <= now]
    if not started:
        return None, "not-yet-valid", duration(min(g.inception for g in verified) - now)
    return max(started, key=lambda g: g.expiration), "ok", ""


def judge(zone: str, answers: Sequence[Signed], now: float, min_validity: float,
          validated: bool = False) -> Judgement:
    """The verdict on one round: every RRset asked for, `now` in UNIX seconds (wall clock).

    Fails when an RRset has no RRSIG, none that counts (bogus, not yet valid), or when
    the best signature of the RRset that runs out first has less than `min_validity`
    seconds left."""
    minimum = duration(min_validity)
    first: tuple[float, Signed, Signature] | None = None
    for s in answers:
        what = label(zone, s.name, s.rdtype)
        if not s.signatures:
            hint = f": {s.hint}" if s.hint else " (is the zone signed, and loaded signed?)"
            return Judgement(False, "unsigned", f"no RRSIG for {what}: the answer to a query "
                                                f"with DO set is unsigned{hint}")
        best, code, detail = _best(s, now)
        if best is None:
            if code == "bogus":
                return Judgement(False, "bogus", f"RRSIG {what} does not validate against the "
                                                 f"zone's DNSKEY: {detail}")
            return Judgement(False, "not-yet-valid", f"RRSIG {what} not valid for another "
                                                     f"{detail} (inception in the future: "
                                                     "clock skew?)")
        left = best.expiration - now
        if first is None or left < first[0]:
            first = (left, s, best)
    if first is None:
        return Judgement(False, "unsigned", "no RRset asked for")
    left, s, best = first
    what = label(zone, s.name, s.rdtype)
    checked = "; validated" if validated else ""
    if left <= 0:
        return Judgement(False, "expired", f"RRSIG {what} expired {duration(-left)} ago "
                                           f"(key {best.key_tag}){checked}", left)
    if left < min_validity:
        return Judgement(False, "expiring", f"RRSIG {what} expires in {duration(left)} "
                                            f"(min {minimum}){checked}", left)
    many = f" first of {len(answers)} RRsets," if len(answers) > 1 else ""
    return Judgement(True, "ok", f"RRSIG {what} expires{many} in {duration(left)} "
                                 f"(min {minimum}){checked}", left)
