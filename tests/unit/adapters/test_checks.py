"""The DNS check against a scripted DNS server on loopback: each failure has its reason."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from speaker.adapters.checks import DnsProbe
from speaker.core.config import DnsCheck, Expect
from speaker.core.verdicts import Outcome, classify, plainly_ok
from tests.dnsserver import CLOSE, DnsServer, Query, Reply, Send, answer

Answer = Callable[[Query], bytes | dns.message.Message | None]


def reply(mutate: Callable[[dns.message.Message], None] | None = None,
          aaaa: str = "2001:db8::1") -> Answer:
    def respond(query: Query) -> dns.message.Message:
        response = answer(query, "AAAA", [aaaa])
        if mutate:
            mutate(response)
        return response
    return respond


WWW = Expect(answers=("2001:db8::1",))


def free_port() -> int:
    """A port nothing listens on, UDP or TCP (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def check_on(port: int, expect: Expect = WWW, transport: str = "udp") -> DnsCheck:
    return DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="www.example.com.",
                    qtype="AAAA", port=port, expect=expect, transport=transport)


def probes(check: DnsCheck, timeout: float, runs: int = 1,
           between: float = 0.0) -> list[Outcome]:
    """`runs` rounds of one probe (one socket), `between` seconds apart."""
    async def go() -> list[Outcome]:
        probe = DnsProbe(check, timeout)
        out = []
        try:
            for i in range(runs):
                if i and between:
                    await asyncio.sleep(between)
                out.append(await probe.run())
        finally:
            probe.close()
        return out
    return asyncio.run(go())


def probe_with(respond: Answer | None, expect: Expect = WWW, delay: float = 0.0,
               timeout: float = 0.3, transport: str = "udp") -> Outcome:
    """One probe against a server answering with `respond` (None: nothing listening)."""
    if respond is None:
        return probes(check_on(free_port(), expect, transport), timeout)[0]

    def handler(query: Query) -> Reply:
        data = respond(query)
        return None if data is None else Send(data, delay)

    with DnsServer(handler) as server:
        return probes(check_on(server.port, expect, transport), timeout)[0]


def test_good_answer_passes() -> None:
    outcome = probe_with(reply())
    assert outcome.ok and outcome.reason == "ok" and outcome.latency < 0.3


def test_nothing_listening_is_refused_at_once() -> None:
    outcome = probe_with(None)
    assert outcome.code == "refused" and outcome.latency < 0.1
    assert outcome.reason.startswith("dns check 127.0.0.1:")


def test_hung_server_is_a_timeout() -> None:
    outcome = probe_with(lambda query: None, timeout=0.2)
    assert outcome.code == "timeout" and "timeout after 0.2 s" in outcome.reason


def test_slow_answer_within_timeout_passes() -> None:
    assert probe_with(reply(), delay=0.15, timeout=0.3).ok


def test_servfail() -> None:
    outcome = probe_with(reply(lambda r: r.set_rcode(dns.rcode.SERVFAIL)))
    assert outcome.code == "rcode" and "rcode SERVFAIL (expected NOERROR)" in outcome.reason


def test_refused() -> None:
    assert "rcode REFUSED" in probe_with(reply(lambda r: r.set_rcode(dns.rcode.REFUSED))).reason


def test_not_authoritative() -> None:
    def drop_aa(r: dns.message.Message) -> None:
        r.flags &= ~dns.flags.AA
    outcome = probe_with(reply(drop_aa))
    assert outcome.code == "not-authoritative"


def test_wrong_answer() -> None:
    outcome = probe_with(reply(aaaa="2001:db8::9"))
    assert outcome.code == "wrong-answer"
    assert "answer 2001:db8::9 (expected 2001:db8::1)" in outcome.reason


def test_truncated() -> None:
    def tc(r: dns.message.Message) -> None:
        r.flags |= dns.flags.TC
    assert probe_with(reply(tc)).code == "truncated"


def test_malformed() -> None:
    assert probe_with(lambda query: b"\x00\x01garbage").code in ("malformed", "timeout")


def test_expected_answers_compare_canonically() -> None:
    assert probe_with(reply(), expect=Expect(answers=("2001:DB8:0::1",))).ok


@pytest.mark.parametrize(("rcode", "expect_rcode", "ok"), [
    (dns.rcode.NXDOMAIN, "NXDOMAIN", True),
    (dns.rcode.NOERROR, "NXDOMAIN", False),
])
def test_expected_rcode(rcode: int, expect_rcode: str, ok: bool) -> None:
    check = DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="x.example.com.",
                     expect=Expect(rcode=expect_rcode))
    response = dns.message.make_response(dns.message.make_query("x.example.com.", "SOA"))
    response.flags |= dns.flags.AA
    response.set_rcode(rcode)
    assert (classify(check, response)[0] == "ok") is ok


def soa_reply(mutate: Callable[[dns.message.Message], None] | None = None) -> Answer:
    def respond(query: Query) -> dns.message.Message:
        response = answer(query, "SOA", ["ns1. admin. 1 3600 1800 604800 300"])
        if mutate:
            mutate(response)
        return response
    return respond


def test_plain_check_passes_from_the_header() -> None:
    assert probe_with(soa_reply(), expect=Expect()).ok


def test_plain_check_with_an_empty_answer_gets_its_reason() -> None:
    outcome = probe_with(soa_reply(lambda r: r.answer.clear()), expect=Expect())
    assert outcome.code == "no-answer"


def test_an_answer_to_another_question_is_refused() -> None:
    def other(query: Query) -> bytes:
        response = dns.message.make_response(dns.message.make_query("evil.example.", "SOA"))
        response.id = query.message.id
        response.flags |= dns.flags.AA
        return response.to_wire()
    outcome = probe_with(other, expect=Expect())
    assert outcome.code == "malformed" and "does not answer our query" in outcome.reason


def test_plainly_ok_reads_only_well_formed_yes() -> None:
    query = dns.message.make_query("example.com.", "SOA")
    wire = query.to_wire()
    end = 12 + len(b"\x07example\x03com\x00") + 4
    good = soa_reply()(Query(query, "udp", None)).to_wire()
    assert plainly_ok(good, wire, end, 0, True)
    assert not plainly_ok(good[:10], wire, end, 0, True)
    assert not plainly_ok(b"\x00\x00" + good[2:], wire, end, 0, True)  # other id
    assert not plainly_ok(good, wire, end, 2, True)  # expected SERVFAIL
    upper = good[:13] + good[13:end].upper() + good[end:]
    assert plainly_ok(upper, wire, end, 0, True)  # names compare case-insensitively


def test_one_socket_serves_many_probes_and_drops_late_answers() -> None:
    """A late answer to an earlier query, arriving on the same socket while the next query
    waits, is dropped: the next query gets its own answer."""
    late = answer(dns.message.make_query("www.example.com.", "AAAA"), rdata=["2001:db8::9"])

    def handler(query: Query) -> Reply:
        if len(server.queries) == 1:  # answered at once, and again 0.1 s later, wrongly
            late.id = query.message.id
            return [Send(answer(query)), Send(late.to_wire(), delay=0.1)]
        return Send(answer(query), delay=0.25)  # the second query waits past the late one

    with DnsServer(handler) as server:
        first, second = probes(check_on(server.port), timeout=1.0, runs=2)
        sent = [q.message.id for q in server.queries]
    assert first.ok and second.ok, second.reason
    assert server.queries[0].peer == server.queries[1].peer  # one socket: the late one reached it
    assert sent[0] == late.id != sent[1]
    assert second.latency >= 0.2  # it waited for its own answer, past the late one


def test_after_a_timeout_the_next_probe_is_not_fooled_by_the_late_answer() -> None:
    """A query that timed out gets its answer late; the next probe still judges its own."""
    def handler(query: Query) -> Reply:
        if len(server.queries) == 1:
            return Send(answer(query, rdata=["2001:db8::9"]), delay=0.2)  # late and wrong
        return answer(query)

    with DnsServer(handler) as server:
        first, second, third = probes(check_on(server.port), timeout=0.1, runs=3, between=0.2)
    assert first.code == "timeout"
    assert second.ok and third.ok


# -- TCP ---------------------------------------------------------------------------------


def test_a_tcp_check_passes_over_tcp() -> None:
    with DnsServer(reply()) as server:
        [outcome] = probes(check_on(server.port, transport="tcp"), timeout=1.0)
        transports = [q.transport for q in server.queries]
    assert outcome.ok, outcome.reason
    assert transports == ["tcp"]


def test_a_tcp_check_gets_the_answer_that_udp_truncates() -> None:
    def respond(query: Query) -> dns.message.Message:
        return answer(query, tc=query.transport == "udp")

    assert probe_with(respond).code == "truncated"
    assert probe_with(respond, transport="tcp").ok


def test_a_tcp_check_of_a_closed_port_is_refused_at_once() -> None:
    outcome = probe_with(None, transport="tcp")
    assert outcome.code == "refused" and outcome.latency < 0.1
    assert outcome.reason.startswith("dns check 127.0.0.1:") and "/tcp" in outcome.reason


def test_a_tcp_server_that_never_answers_is_a_timeout() -> None:
    outcome = probe_with(lambda query: None, transport="tcp", timeout=0.2)
    assert outcome.code == "timeout" and "timeout after 0.2 s" in outcome.reason


def test_a_tcp_server_that_hangs_up_is_named() -> None:
    with DnsServer(lambda query: CLOSE) as server:
        [outcome] = probes(check_on(server.port, transport="tcp"), timeout=1.0)
    assert outcome.code == "refused" and "connection closed by the server" in outcome.reason


def test_a_tcp_answer_is_judged_like_a_udp_one() -> None:
    assert probe_with(reply(aaaa="2001:db8::9"), transport="tcp").code == "wrong-answer"
    servfail = probe_with(reply(lambda r: r.set_rcode(dns.rcode.SERVFAIL)), transport="tcp")
    assert servfail.code == "rcode"


def test_a_slow_tcp_answer_within_the_timeout_passes() -> None:
    assert probe_with(reply(), delay=0.15, timeout=1.0, transport="tcp").ok
