"""The `recursive` check (an anycast resolver): its model, its keys and what each must be.

Owns `RecursiveCheck` (one check, frozen) and reading one `recursive` check's
mapping into it, with every problem at its path; `schema.CHECK_TYPES` lists it
and `model.Check` includes it. The `uncached` name template is validated here
(`{random}` exactly once, a valid name once filled). Must not query anything:
the probe is `speaker.adapters.recursive`, the verdict `speaker.core.recursion`.
"""

from __future__ import annotations

from dataclasses import dataclass

from speaker.core.config.names import DNS_NAME, RECORD_TYPE, dns_name
from speaker.core.config.types import (
    IP_ADDRESS,
    At,
    Boolean,
    Fields,
    Integer,
    Invalid,
    IPAddress,
    ListOf,
    Parse,
    Reported,
    Seconds,
    Text,
)

KEYS = ("type", "server", "qname", "qtype", "port", "timeout", "require_ad", "expect",
        "uncached")
PLACEHOLDER = "{random}"
# the longest label a probe puts in place of {random} (speaker.adapters.recursive.Labels)
LABEL_MAX = 25
# what a recursive check can say besides the codes every check shares (model.OUTCOME_CODES)
CODES = ("no-recursion", "not-validated", "upstream")


@dataclass(frozen=True)
class RecursiveCheck:
    """Ask a resolver (RD set) for `qname` and for a fresh name made from `uncached`.

    Each must come back NOERROR with RA set and at least one `qtype` record (AD
    too with `require_ad`; `answers`, if given, for `qname`). `uncached` is a
    name template with ``{random}`` once: each probe fills it with a new label,
    so the answer cannot come from the cache and a resolver that lost its
    upstream is seen (speaker.core.recursion).
    """

    server: IPAddress
    qname: str | None = None
    qtype: str = "AAAA"
    port: int = 53
    timeout: float | None = None
    require_ad: bool = False
    answers: tuple[str, ...] = ()  # expect.answers: compared for qname only
    uncached: str | None = None
    type: str = "recursive"

    def describe(self) -> str:
        host = f"[{self.server}]" if self.server.version == 6 else str(self.server)
        names = " + ".join(n for n in (self.qname, self.uncached) if n)
        return f"recursive check {host}:{self.port} {self.qtype} {names}"


def fill(template: str, label: str) -> str:
    """The template with `label` in place of {random}."""
    return template.replace(PLACEHOLDER, label, 1)


def _template(text: str) -> str:
    count = text.count(PLACEHOLDER)
    if count != 1:
        raise Invalid(f"must contain {PLACEHOLDER} exactly once (found {count} in {text!r}), "
                      "e.g. \"{random}.probe.example.com.\"")
    if "{" in text.replace(PLACEHOLDER, "") or "}" in text.replace(PLACEHOLDER, ""):
        raise Invalid(f"has a brace other than {PLACEHOLDER}: {text!r}")
    sample = fill(text, "x" * LABEL_MAX)
    try:
        dns_name(sample)
    except ValueError as exc:
        raise Invalid(f"is not a DNS name once {PLACEHOLDER} is filled with a "
                      f"{LABEL_MAX}-character label: {sample!r} ({exc})") from None
    return text


TEMPLATE = Parse(Text(), _template, errors=())
PORT = Integer(1, 65535)


def _expect(value: object, at: At) -> tuple[str, ...]:
    f = Fields(value, at, ("answers",))
    return f.get("answers", ListOf(Text()), ())


def recursive_check(f: Fields) -> RecursiveCheck:
    server = f.need("server", IP_ADDRESS)
    qname = f.get("qname", DNS_NAME, None)
    uncached = f.get("uncached", TEMPLATE, None)
    qtype = f.get("qtype", RECORD_TYPE, "AAAA")
    port = f.get("port", PORT, 53)
    timeout = f.get("timeout", Seconds(0.01, 60), None)
    require_ad = f.get("require_ad", Boolean(), False)
    answers = f.get("expect", _expect, (), null=True)
    if not f.has("qname") and not f.has("uncached"):
        f.at.add("needs qname (a name the resolver must resolve), uncached (a name template "
                 "it cannot answer from its cache), or both")
        raise Reported
    if answers and not f.has("qname"):
        (f.at / "expect").add("compares the answer for qname: set qname too")
    if server is None or (qname is None and uncached is None):
        raise Reported
    return RecursiveCheck(server=server, qname=qname, qtype=qtype, port=port, timeout=timeout,
                          require_ad=require_ad, answers=answers, uncached=uncached)
