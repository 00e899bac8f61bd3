"""The recursive check: config keys and template validation, the probe against a fake
resolver (flags, fresh labels, every failure reason), and doctor's entry."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from speaker.adapters import checks
from speaker.adapters.recursive import Labels, RecursiveProbe
from speaker.cli import doctor, doctor_recursive
from speaker.cli.findings import Verdict
from speaker.core import config
from speaker.core.errors import ConfigError
from speaker.core.verdicts import Outcome

RESOLVER = "2001:db8::53"
CACHED = "www.example.com."
TEMPLATE = "{random}.probe.example.com."

DOC = """
services:
  - name: resolver
    prefixes: ["2001:db8::53/128"]
    checks:
      - {{type: recursive, server: "2001:db8::53"{extra}}}
"""


def load(extra: str = f', qname: {CACHED}, uncached: "{TEMPLATE}"') -> config.RecursiveCheck:
    check = config.parse(DOC.format(extra=extra)).services[0].checks[0]
    assert isinstance(check, config.RecursiveCheck)
    return check


def problems(extra: str) -> str:
    with pytest.raises(ConfigError) as info:
        config.parse(DOC.format(extra=extra))
    return str(info.value)


# -- config ---------------------------------------------------------------------------


def test_defaults_and_describe() -> None:
    check = load()
    assert (check.qtype, check.port, check.require_ad, check.answers, check.timeout) == (
        "AAAA", 53, False, (), None)
    assert check.describe() == ("recursive check [2001:db8::53]:53 AAAA www.example.com. + "
                                "{random}.probe.example.com.")
    assert checks.build(check, 0.25).check is check


def test_keys_read() -> None:
    check = load(', qname: example.org., qtype: a, port: 5353, timeout: 0.2, require_ad: true, '
                 'expect: {answers: ["192.0.2.1"]}')
    assert (check.qname, check.qtype, check.port, check.timeout, check.require_ad,
            check.answers, check.uncached) == ("example.org.", "A", 5353, 0.2, True,
                                               ("192.0.2.1",), None)


def test_either_name_is_enough_but_one_is_needed() -> None:
    assert load(f', uncached: "{TEMPLATE}"').qname is None
    assert load(f", qname: {CACHED}").uncached is None
    assert "/services/0/checks/0: needs qname" in problems("")


@pytest.mark.parametrize(("template", "message"), [
    ("probe.example.com.", "must contain {random} exactly once (found 0"),
    ("{random}.{random}.example.com.", "must contain {random} exactly once (found 2"),
    ("{rnd}.{random}.example.com.", "has a brace other than {random}"),
    ("{random}..example.com.", "is not a DNS name once {random} is filled"),
    ("{random}" + "a" * 50 + ".example.com.", "label is > 63 octets"),
])
def test_template_errors_are_named(template: str, message: str) -> None:
    text = problems(f', uncached: "{template}"')
    assert "/services/0/checks/0/uncached: " in text and message in text


def test_expect_without_qname_and_bad_values_are_named() -> None:
    assert "expect: compares the answer for qname" in problems(
        f', uncached: "{TEMPLATE}", expect: {{answers: [x]}}')
    text = problems(f", qname: {CACHED}, qtype: NOPE, require_ad: 1, transport: tcp")
    assert "qtype: is not a DNS record type: 'NOPE'" in text
    assert "require_ad: must be true or false" in text
    assert "transport: unknown key" in text


def test_its_codes_can_fail_at_once() -> None:
    cfg = config.parse(DOC.format(extra=f", qname: {CACHED}")
                       + "    timing: {fail_at_once: [refused, upstream, no-recursion]}\n")
    assert "upstream" in cfg.services[0].timing.fail_at_once


# -- the probe ------------------------------------------------------------------------


Answer = Callable[[dns.message.Message], dns.message.Message | tuple[str, str]]


def reply(rcode: int = dns.rcode.NOERROR, ra: bool = True, ad: bool = False,
          records: tuple[str, ...] = ("2001:db8::1",)) -> Answer:
    """A fake resolver's answer to any query: `records` of the query's own type and name."""
    def answer(query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.set_rcode(rcode)
        response.flags |= (dns.flags.RA if ra else 0) | (dns.flags.AD if ad else 0)
        q = query.question[0]
        if records and rcode == dns.rcode.NOERROR:
            response.answer.append(dns.rrset.from_text_list(q.name, 60, "IN", q.rdtype,
                                                            list(records)))
        return response
    return answer


class Resolver:
    """A fake resolver: one answer for the cached name, one for fresh names; it records
    every query it got."""

    def __init__(self) -> None:
        self.cached: Answer = reply()
        self.fresh: Answer = reply()
        self.queries: list[dns.message.Message] = []

    async def ask(self, query: dns.message.Message, server: str, port: int, timeout: float
                  ) -> dns.message.Message | tuple[str, str]:
        self.queries.append(query)
        name = query.question[0].name.to_text()
        return (self.cached if name == CACHED else self.fresh)(query)


def probe(check: config.RecursiveCheck | None = None) -> tuple[RecursiveProbe, Resolver]:
    resolver = Resolver()
    tokens = iter(["7f3a0001", "9b2c0002"])
    labels = Labels(token=lambda _n: next(tokens))
    return RecursiveProbe(check or load(), 0.25, ask=resolver.ask,
                          clock=lambda: 5.0, labels=labels), resolver


def run(p: RecursiveProbe) -> Outcome:
    return asyncio.run(p.run())


def test_both_names_asked_with_rd_and_both_pass() -> None:
    p, resolver = probe()
    out = run(p)
    assert out.ok and out.code == "ok" and out.reason == "ok"
    names = [q.question[0].name.to_text() for q in resolver.queries]
    assert names == [CACHED, "7f3a0001-1.probe.example.com."]
    assert all(q.flags & dns.flags.RD and not q.flags & dns.flags.AD for q in resolver.queries)


def test_require_ad_sets_ad_in_the_query_and_requires_it_in_the_answer() -> None:
    p, resolver = probe(load(f", qname: {CACHED}, require_ad: true"))
    out = run(p)
    assert resolver.queries[0].flags & dns.flags.AD
    assert not out.ok and out.code == "not-validated"
    assert f"answer for {CACHED} AAAA not validated (AD not set" in out.reason
    resolver.cached = reply(ad=True)
    assert run(p).ok


def test_fresh_labels_differ_across_probes_and_processes() -> None:
    p, resolver = probe(load(f', uncached: "{TEMPLATE}"'))
    for _ in range(3):
        run(p)
    names = [q.question[0].name.to_text() for q in resolver.queries]
    assert len(set(names)) == 3 and all(n.endswith(".probe.example.com.") for n in names)
    first, second = Labels(), Labels()
    assert len({first.next(), first.next(), second.next()}) == 3


def test_no_ra_is_named() -> None:
    p, resolver = probe()
    resolver.cached = reply(ra=False, rcode=dns.rcode.REFUSED)
    out = run(p)
    assert not out.ok and out.code == "no-recursion"
    assert f"recursion not available (RA not set) for {CACHED} AAAA" in out.reason


def test_servfail_on_the_fresh_name_while_the_cached_one_resolves_is_upstream() -> None:
    p, resolver = probe()
    resolver.fresh = reply(rcode=dns.rcode.SERVFAIL)
    out = run(p)
    assert not out.ok and out.code == "upstream"
    assert ("SERVFAIL for 7f3a0001-1.probe.example.com. AAAA: the resolver cannot reach its "
            "upstream?") in out.reason
    assert f"the cached name {CACHED} still resolves" in out.reason


def test_timeout_on_the_fresh_name_is_upstream_too() -> None:
    p, resolver = probe()
    resolver.fresh = lambda _q: ("timeout", "timeout after 0.25 s")
    out = run(p)
    assert out.code == "upstream"
    assert "timeout after 0.25 s for 7f3a0001-1.probe.example.com. AAAA" in out.reason


def test_the_cached_name_failing_comes_first() -> None:
    p, resolver = probe()
    resolver.cached = resolver.fresh = lambda _q: ("refused", "connection refused")
    out = run(p)
    assert out.code == "refused" and f"connection refused for {CACHED} AAAA" in out.reason


def test_nxdomain_names_what_is_missing() -> None:
    p, resolver = probe()
    resolver.fresh = reply(rcode=dns.rcode.NXDOMAIN)
    out = run(p)
    assert out.code == "rcode" and "no wildcard covers the fresh name" in out.reason
    resolver.fresh, resolver.cached = reply(), reply(rcode=dns.rcode.NXDOMAIN)
    out = run(p)
    assert f"NXDOMAIN for {CACHED} AAAA: the name does not exist" in out.reason


def test_refused_rcode_and_empty_answer_are_named() -> None:
    p, resolver = probe()
    resolver.cached = reply(rcode=dns.rcode.REFUSED)
    assert "REFUSED for www.example.com. AAAA: does the resolver's access control" in run(
        p).reason
    resolver.cached = reply(records=())
    out = run(p)
    assert out.code == "no-answer" and "empty answer for www.example.com. AAAA" in out.reason


def test_expected_answers_compared_for_the_cached_name_only() -> None:
    p, resolver = probe(load(f', qname: {CACHED}, uncached: "{TEMPLATE}", '
                             'expect: {answers: ["2001:db8:0::1"]}'))
    resolver.fresh = reply(records=("2001:db8::99",))
    assert run(p).ok
    resolver.cached = reply(records=("2001:db8::2",))
    out = run(p)
    assert out.code == "wrong-answer" and "(expected 2001:db8:0::1)" in out.reason


# -- doctor ---------------------------------------------------------------------------


def outcome(ok: bool, code: str = "ok", reason: str = "ok") -> Outcome:
    return Outcome(ok=ok, reason=reason, latency=0.002, code=code)


def test_doctor_runs_a_local_check_once_and_prints_the_verdict() -> None:
    cfg = config.parse(DOC.format(extra=f', qname: {CACHED}, uncached: "{TEMPLATE}"'))
    local = frozenset({("lo", ipaddress.ip_address(RESOLVER))})
    built: list[config.Check] = []

    class Once:
        def __init__(self, check: config.Check) -> None:
            self.check = check

        async def run(self, confirm: bool = False) -> Outcome:
            return outcome(False, "upstream", "SERVFAIL for x.probe.example.com. AAAA: ...")

        def close(self) -> None:
            return None

    def build(check: config.Check, timeout: float) -> checks.Probe:
        built.append(check)
        return Once(check)

    found = doctor_recursive.judge_recursive(
        cfg, doctor.probe_local(cfg, local, build),
        {ipaddress.ip_address(RESOLVER)})
    assert len(built) == 1
    assert [(f.check, f.verdict) for f in found] == [("recursive resolver/0", Verdict.FAIL)]
    assert "SERVFAIL" in found[0].detail and "reach its upstream" in found[0].fix


def test_doctor_warns_without_an_uncached_name_and_skips_other_hosts() -> None:
    cfg = config.parse(DOC.format(extra=f", qname: {CACHED}"))
    mine = {ipaddress.ip_address(RESOLVER)}
    found = doctor_recursive.judge_recursive(cfg, {("resolver", 0): outcome(True)}, mine)
    assert [f.verdict for f in found] == [Verdict.OK, Verdict.WARN]
    assert "no uncached name" in found[1].detail
    found = doctor_recursive.judge_recursive(cfg, {}, {ipaddress.ip_address("2001:db8::9")})
    assert found[0].verdict is Verdict.FAIL and "not an address of this node" in found[0].detail


def test_doctor_leaves_a_resolver_service_out_of_the_authoritative_findings() -> None:
    cfg = config.parse(DOC.format(extra=f", qname: {CACHED}"))
    assert doctor_recursive.resolver_only(cfg.services[0])
    assert doctor.judge_dns(cfg, {}, frozenset()) == []
