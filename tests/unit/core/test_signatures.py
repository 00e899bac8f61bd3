"""DNSSEC signature validity (speaker.core.signatures): remaining time, the earliest RRset,
missing RRSIGs, the wording, and the validation verdict with a key made by the test."""

from __future__ import annotations

import sys

import dns.flags
import dns.rcode
import dns.rrset
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from speaker.core import signatures
from speaker.core.signatures import Signature, Signed, judge, signed
from tests.unit.signed_zone import DAY, NOW, ZONE, SignedZone, question

MIN = float(DAY)


def soa(expiration: int, inception: int = NOW - 3600, *more: Signature) -> Signed:
    return Signed(ZONE, "SOA", (Signature(expiration, inception, 1), *more))


def answers(zone: SignedZone, validate: bool = False,
            wanted: tuple[tuple[str, str], ...] = ((ZONE, "SOA"), (ZONE, "DNSKEY"))
            ) -> list[Signed]:
    dnskey = zone.rrsets[(ZONE, "DNSKEY")]
    out = []
    for name, rdtype in wanted:
        got = signed(zone.answer(question(name, rdtype)), name, rdtype, dnskey, validate)
        assert isinstance(got, Signed), got
        out.append(got)
    return out


# -- the arithmetic and the boundary ----------------------------------------------------


def test_remaining_is_expiration_minus_now() -> None:
    j = judge(ZONE, [soa(NOW + 3 * DAY)], now=NOW, min_validity=MIN)
    assert j.ok and j.code == "ok" and j.remaining == 3 * DAY


def test_exactly_min_validity_left_passes_one_second_less_fails() -> None:
    assert judge(ZONE, [soa(NOW + DAY)], now=NOW, min_validity=MIN).ok
    j = judge(ZONE, [soa(NOW + DAY)], now=NOW + 1, min_validity=MIN)
    assert not j.ok and j.code == "expiring" and j.remaining == DAY - 1


def test_the_reason_says_how_long_remains_against_the_minimum() -> None:
    j = judge(ZONE, [soa(NOW + 5 * 3600 + 120)], now=NOW, min_validity=MIN)
    assert j.reason == "RRSIG SOA expires in 5h02m (min 1d)"


def test_a_passing_reason_says_the_remaining_time_too() -> None:
    j = judge(ZONE, [soa(NOW + 10 * DAY + 3 * 3600)], now=NOW, min_validity=MIN)
    assert j.ok and j.reason == "RRSIG SOA expires in 10d03h (min 1d)"


def test_an_expired_signature_says_since_when() -> None:
    j = judge(ZONE, [soa(NOW - 180)], now=NOW, min_validity=MIN)
    assert not j.ok and j.code == "expired" and j.remaining == -180
    assert j.reason.startswith("RRSIG SOA expired 3m ago")


def test_min_validity_zero_fails_only_once_expired() -> None:
    assert judge(ZONE, [soa(NOW + 1)], now=NOW, min_validity=0).ok
    assert judge(ZONE, [soa(NOW)], now=NOW, min_validity=0).code == "expired"


def test_a_signature_valid_only_in_the_future_fails_not_yet_valid() -> None:
    j = judge(ZONE, [soa(NOW + 30 * DAY, inception=NOW + 600)], now=NOW, min_validity=MIN)
    assert not j.ok and j.code == "not-yet-valid" and "another 10m" in j.reason


# -- several RRsets and several signatures ----------------------------------------------


def test_several_names_the_earliest_wins() -> None:
    zone = SignedZone()
    zone.expire("AAAA", NOW + 2 * DAY, name="www.example.com.")
    zone.expire("DNSKEY", NOW + 5 * DAY)
    got = answers(zone, wanted=((ZONE, "SOA"), (ZONE, "DNSKEY"), ("www.example.com.", "AAAA")))
    j = judge(ZONE, got, now=NOW, min_validity=MIN)
    assert j.ok and j.remaining == 2 * DAY
    assert j.reason == "RRSIG AAAA www.example.com. expires first of 3 RRsets, in 2d (min 1d)"
    zone.expire("DNSKEY", NOW + 3600)
    j = judge(ZONE, answers(zone), now=NOW, min_validity=MIN)
    assert not j.ok and j.reason == "RRSIG DNSKEY expires in 1h (min 1d)"


def test_an_rrset_lasts_as_long_as_its_longest_lived_signature() -> None:
    # a rollover: the old key's signature about to expire beside the new one's
    j = judge(ZONE, [soa(NOW + 3600, NOW - 3600, Signature(NOW + 20 * DAY, NOW - 60, 2))],
              now=NOW, min_validity=MIN)
    assert j.ok and j.remaining == 20 * DAY


def test_an_rrset_without_rrsig_fails_and_says_so() -> None:
    zone = SignedZone()
    zone.unsign("SOA")
    j = judge(ZONE, answers(zone), now=NOW, min_validity=MIN)
    assert not j.ok and j.code == "unsigned" and j.remaining is None
    assert j.reason.startswith("no RRSIG for SOA: the answer to a query with DO set is unsigned")


def test_a_zone_without_dnskey_is_served_unsigned() -> None:
    response = SignedZone().answer(question(ZONE, "DNSKEY"))
    response.answer.clear()
    assert signed(response, ZONE, "DNSKEY") == (
        "unsigned", "no DNSKEY for example.com.: the zone is served unsigned")


def test_a_server_that_drops_the_do_bit_is_named_as_the_cause() -> None:
    zone = SignedZone()
    zone.do = False
    j = judge(ZONE, answers(zone), now=NOW, min_validity=MIN)
    assert j.code == "unsigned" and "the server cleared the DO bit" in j.reason


def test_a_server_without_edns_is_named_as_the_cause() -> None:
    response = SignedZone().answer(question(ZONE, "SOA"))
    response.use_edns(False)
    response.answer = response.answer[:1]
    got = signed(response, ZONE, "SOA")
    assert isinstance(got, Signed) and got.hint.startswith("the server ignored EDNS")


# -- what an answer can lack --------------------------------------------------------------


def test_answers_that_are_not_usable_are_named() -> None:
    zone = SignedZone()
    refused = zone.answer(question(ZONE, "SOA"))
    refused.set_rcode(dns.rcode.REFUSED)
    assert signed(refused, ZONE, "SOA") == ("rcode", "rcode REFUSED for SOA example.com.")
    cached = zone.answer(question(ZONE, "SOA"))
    cached.flags &= ~dns.flags.AA
    assert signed(cached, ZONE, "SOA")[0] == "not-authoritative"
    nodata = zone.answer(question("mail.example.com.", "MX"))
    assert signed(nodata, "mail.example.com.", "MX") == (
        "no-answer", "no MX mail.example.com. in the answer")


# -- validation -----------------------------------------------------------------------------


def test_signatures_by_the_zones_key_validate() -> None:
    zone = SignedZone()
    got = answers(zone, validate=True)
    assert all(g.verified for s in got for g in s.signatures)
    j = judge(ZONE, got, now=NOW, min_validity=MIN, validated=True)
    assert j.ok and j.reason.endswith("; validated")


def test_a_signature_by_a_key_the_zone_does_not_publish_is_bogus() -> None:
    zone = SignedZone()
    stranger = ec.generate_private_key(ec.SECP256R1())
    zone.signing[(ZONE, "SOA")] = [(NOW - 3600, NOW + 30 * DAY, stranger)]
    got = answers(zone, validate=True)
    assert got[0].signatures[0].verified is False
    j = judge(ZONE, got, now=NOW, min_validity=MIN, validated=True)
    assert not j.ok and j.code == "bogus"
    assert j.reason.startswith("RRSIG SOA does not validate against the zone's DNSKEY: ")


def test_an_altered_rrset_does_not_validate() -> None:
    zone = SignedZone()
    sigs = zone.rrsigs((ZONE, "SOA"))
    altered = dns.rrset.from_text(ZONE, 300, "IN", "SOA",
                                  "ns1.example.com. admin.example.com. 2 10 5 604800 300")
    assert signatures.verify(altered, next(iter(sigs or [])), zone.rrsets[(ZONE, "DNSKEY")])


def test_only_signatures_that_validate_count_for_the_time_left() -> None:
    zone = SignedZone()
    zone.expire("SOA", NOW + 3600)
    zone.sign_also("SOA", NOW + 60 * DAY, key=ec.generate_private_key(ec.SECP256R1()))
    assert judge(ZONE, answers(zone), now=NOW, min_validity=MIN).ok  # unvalidated: 60 d
    j = judge(ZONE, answers(zone, validate=True), now=NOW, min_validity=MIN, validated=True)
    assert not j.ok and j.remaining == 3600


def test_an_expired_signature_still_gets_its_cryptographic_verdict() -> None:
    zone = SignedZone(expiration=NOW - 60, inception=NOW - DAY)
    got = answers(zone, validate=True)
    assert got[0].signatures[0].verified is True
    assert judge(ZONE, got, now=NOW, min_validity=MIN, validated=True).code == "expired"


def test_no_dnskey_means_nothing_validates() -> None:
    zone = SignedZone()
    assert signatures.verify(zone.rrsets[(ZONE, "SOA")],
                             next(iter(zone.rrsigs((ZONE, "SOA")) or [])), None) == \
        "no DNSKEY to validate with"


def test_crypto_problem_names_the_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    assert signatures.crypto_problem() == ""
    monkeypatch.setitem(sys.modules, signatures.CRYPTO_MODULE, None)  # import now fails
    problem = signatures.crypto_problem()
    assert "cannot be imported" in problem and "python3-cryptography" in problem


def test_apex_and_zone_membership() -> None:
    assert signatures.apex(ZONE) == ((ZONE, "SOA"), (ZONE, "DNSKEY"))
    assert signatures.in_zone("www.example.com.", ZONE)
    assert not signatures.in_zone("www.example.org.", ZONE)
