"""Validators of DNS names and record types, shared by the check schemas.

Owns `DNS_NAME` (text dnspython reads as a name, kept as written) and
`RECORD_TYPE` (a type dnspython knows, upper-cased). Used by `schema` (the dns
check) and `recursive`; it reads nothing and queries nothing.
"""

from __future__ import annotations

from speaker.core.config.types import Parse, Text


def dns_name(text: str) -> str:
    import dns.name

    try:
        dns.name.from_text(text)
    except Exception as exc:  # dnspython raises several types for a bad name
        raise ValueError(exc) from None
    return text


def _record_type(text: str) -> str:
    import dns.rdatatype

    try:
        dns.rdatatype.from_text(text)
    except Exception as exc:  # dnspython raises several types for a bad type
        raise ValueError(exc) from None
    return text.upper()


DNS_NAME = Parse(Text(), dns_name, "is not a DNS name: {value!r} ({exc})")
RECORD_TYPE = Parse(Text(), _record_type, "is not a DNS record type: {value!r}")
