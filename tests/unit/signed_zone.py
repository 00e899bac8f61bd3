"""A small DNSSEC-signed zone for the unit tests, signed by dnspython with a key made here.

`SignedZone` holds example.com.'s SOA, DNSKEY and www AAAA, each signed with an
ECDSA P-256 key generated per instance (dns.dnssec.sign), and answers queries
as an authoritative server would (`answer`, and `ask`, the dnssec probe's
`Ask`). A test changes what it serves: a signature's expiration per RRset,
an RRset without RRSIG, a second (longer-lived) signature, a signature by a
key the zone does not publish, or a transport error.
"""

from __future__ import annotations

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives.asymmetric import ec

ZONE = "example.com."
NOW = 1_780_000_000  # a wall-clock time in 2026 (UNIX seconds)
DAY = 86400
ALGORITHM = 13  # ECDSAP256SHA256


def question(name: str, rdtype: str) -> dns.message.Message:
    """A query with DO set, as the dnssec probe sends it."""
    return dns.message.make_query(name, rdtype, use_edns=0, want_dnssec=True)


class SignedZone:
    def __init__(self, expiration: int = NOW + 30 * DAY, inception: int = NOW - 3600) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.dnskey = dns.dnssec.make_dnskey(self.key.public_key(), ALGORITHM, flags=257)
        self.origin = dns.name.from_text(ZONE)
        self.rrsets: dict[tuple[str, str], dns.rrset.RRset] = {
            (ZONE, "SOA"): dns.rrset.from_text(
                ZONE, 300, "IN", "SOA", "ns1.example.com. admin.example.com. 1 10 5 604800 300"),
            (ZONE, "DNSKEY"): dns.rrset.from_rdata_list(self.origin, 300, [self.dnskey]),
            ("www.example.com.", "AAAA"): dns.rrset.from_text(
                "www.example.com.", 300, "IN", "AAAA", "2001:db8::1"),
        }
        # (inception, expiration, key) of each RRset's signatures; [] = unsigned
        self.signing: dict[tuple[str, str], list[tuple[int, int, ec.EllipticCurvePrivateKey]]]
        self.signing = {k: [(inception, expiration, self.key)] for k in self.rrsets}
        self.errors: dict[str, tuple[str, str]] = {}  # rdtype -> (code, reason) instead
        self.do = True  # the server keeps the DO bit (does DNSSEC)

    def expire(self, rdtype: str, expiration: int, name: str = ZONE) -> None:
        """The one signature of `name`/`rdtype` now expires at `expiration`."""
        inception = self.signing[(name, rdtype)][0][0]
        self.signing[(name, rdtype)] = [(inception, expiration, self.key)]

    def sign_also(self, rdtype: str, expiration: int, name: str = ZONE,
                  key: ec.EllipticCurvePrivateKey | None = None) -> None:
        """A second signature for `name`/`rdtype` (a rollover's, or by another `key`)."""
        self.signing[(name, rdtype)].append((NOW - 3600, expiration, key or self.key))

    def unsign(self, rdtype: str, name: str = ZONE) -> None:
        self.signing[(name, rdtype)] = []

    def rrsigs(self, key: tuple[str, str]) -> dns.rrset.RRset | None:
        rrset = self.rrsets[key]
        sigs = [dns.dnssec.sign(rrset, k, self.origin, self.dnskey, inception=i, expiration=e)
                for i, e, k in self.signing[key]]
        if not sigs:
            return None
        return dns.rrset.from_rdata_list(rrset.name, rrset.ttl, sigs)

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        q = query.question[0]
        key = (q.name.to_text(), dns.rdatatype.to_text(q.rdtype))
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.do and query.ednsflags & dns.flags.DO:
            response.want_dnssec(True)  # a DNSSEC-aware server echoes DO
        if key in self.rrsets:
            response.answer.append(self.rrsets[key])
            sigs = self.rrsigs(key)
            if sigs is not None and query.ednsflags & dns.flags.DO and self.do:
                response.answer.append(sigs)
        return response

    async def ask(self, query: dns.message.Message, server: str, port: int, timeout: float
                  ) -> dns.message.Message | tuple[str, str]:
        rdtype = dns.rdatatype.to_text(query.question[0].rdtype)
        if rdtype in self.errors:
            return self.errors[rdtype]
        return self.answer(query)
