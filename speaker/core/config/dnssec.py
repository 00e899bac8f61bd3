"""The schema of the `dnssec` check (signatures about to expire): its keys and what each must be.

Owns reading one `dnssec` check's mapping into `model.DnssecCheck`, with every
problem at its path; `schema.CHECK_TYPES` lists it. Must not query anything:
the probe is `speaker.adapters.dnssec`, the judgement `speaker.core.signatures`.
`validate: true` is refused here when the cryptography module cannot be
imported (dnspython's DNSSEC validation needs it): a config error, never a
traceback at the first round.
"""

from __future__ import annotations

from speaker.core import signatures
from speaker.core.config.model import DNSSEC_ACTIONS, DnssecCheck
from speaker.core.config.soa import PORT, ZONE
from speaker.core.config.types import (
    IP_ADDRESS,
    Boolean,
    Fields,
    Invalid,
    ListOf,
    OneOf,
    Parse,
    Reported,
    Seconds,
    Text,
)

KEYS = ("type", "server", "zone", "names", "port", "min_validity", "validate", "action",
        "timeout")
DEFAULT_MIN_VALIDITY = 86400.0  # one day: see README, "DNSSEC: the dnssec check"


def _name_type(text: str) -> tuple[str, str]:
    """'www.example.com. AAAA' -> (absolute name, type); the type defaults to A."""
    import dns.name
    import dns.rdatatype

    parts = text.split()
    if len(parts) > 2:
        raise ValueError("must be 'NAME' or 'NAME TYPE', e.g. 'www.example.com. AAAA'")
    try:
        name = dns.name.from_text(parts[0]).to_text()
    except Exception as exc:  # dnspython raises several types for a bad name
        raise ValueError(f"not a DNS name ({exc})") from None
    kind = parts[1].upper() if len(parts) == 2 else "A"
    try:
        code = dns.rdatatype.from_text(kind)
    except Exception:  # dnspython raises several types for a bad type
        raise ValueError(f"{kind!r} is not a DNS record type") from None
    if code in (dns.rdatatype.RRSIG, dns.rdatatype.ANY):
        raise ValueError(f"{kind} is not a type an answer is signed for")
    return name, dns.rdatatype.to_text(code)


class Action(OneOf):
    """withdraw or warn; degrade is named as not available for this check."""

    def convert(self, value: object) -> str:
        if value == "degrade":
            raise Invalid("degrade is not available for a dnssec check; use withdraw or warn")
        return super().convert(value)


NAME_TYPE = Parse(Text(), _name_type, "is not a name to check: {value!r} ({exc})")


def dnssec_check(f: Fields) -> DnssecCheck:
    server = f.need("server", IP_ADDRESS)
    zone = f.need("zone", ZONE)
    names = f.get("names", ListOf(NAME_TYPE, unique=True), ())
    port = f.get("port", PORT, 53)
    min_validity = f.get("min_validity", Seconds(0, 365 * 86400), DEFAULT_MIN_VALIDITY)
    validate = f.get("validate", Boolean(), False)
    action = f.get("action", Action(DNSSEC_ACTIONS), "withdraw")
    timeout = f.get("timeout", Seconds(0.01, 60), None)
    if server is None or zone is None:
        raise Reported
    bad = False
    for i, (name, kind) in enumerate(names):
        if not signatures.in_zone(name, zone):
            (f.at / "names" / i).add(f"{name} is not in zone {zone}")
            bad = True
        elif (name, kind) in signatures.apex(zone):
            (f.at / "names" / i).add(f"{name} {kind} is always checked (the zone's SOA and "
                                     "DNSKEY): leave it out")
            bad = True
    if validate and (problem := signatures.crypto_problem()):
        (f.at / "validate").add(problem)
        bad = True
    if bad:
        raise Reported
    return DnssecCheck(server=server, zone=zone, names=names, port=port,
                       min_validity=min_validity, validate=validate, action=action,
                       timeout=timeout)
