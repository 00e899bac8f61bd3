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

Answer = Callable[[dns.message.Message], bytes | None]


def reply(mutate: Callable[[dns.message.Message], None] | None = None,
          aaaa: str = "2001:db8::1") -> Answer:
    def answer(query: dns.message.Message) -> bytes:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "AAAA", aaaa))
        if mutate:
            mutate(response)
        return response.to_wire()
    return answer


class Server(asyncio.DatagramProtocol):
    def __init__(self, answer: Answer, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        wire = self.answer(dns.message.from_wire(data))
        if wire is None:
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.delay, self.transport.sendto, wire, addr)  # type: ignore[union-attr]


WWW = Expect(answers=("2001:db8::1",))


def probe_with(answer: Answer | None, expect: Expect = WWW,
               delay: float = 0.0, timeout: float = 0.3) -> Outcome:
    async def go() -> Outcome:
        loop = asyncio.get_running_loop()
        if answer is None:  # nothing listening: a free port
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            transport = None
        else:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: Server(answer, delay), local_addr=("127.0.0.1", 0))
            port = transport.get_extra_info("sockname")[1]
        check = DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="www.example.com.",
                         qtype="AAAA", port=port, expect=expect)
        probe = DnsProbe(check, timeout)
        try:
            return await probe.run()
        finally:
            probe.close()
            if transport:
                transport.close()
    return asyncio.run(go())


def test_good_answer_passes() -> None:
    outcome = probe_with(reply())
    assert outcome.ok and outcome.reason == "ok" and outcome.latency < 0.3


def test_nothing_listening_is_refused_at_once() -> None:
    outcome = probe_with(None)
    assert outcome.code == "refused" and outcome.latency < 0.1
    assert outcome.reason.startswith("dns check 127.0.0.1:")


def test_hung_server_is_a_timeout() -> None:
    outcome = probe_with(lambda q: None, timeout=0.2)
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
    assert probe_with(lambda q: b"\x00\x01garbage").code in ("malformed", "timeout")


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
    def answer(query: dns.message.Message) -> bytes:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(dns.rrset.from_text(
            query.question[0].name, 300, "IN", "SOA", "ns1. admin. 1 3600 1800 604800 300"))
        if mutate:
            mutate(response)
        return response.to_wire()
    return answer


def test_plain_check_passes_from_the_header() -> None:
    assert probe_with(soa_reply(), expect=Expect()).ok


def test_plain_check_with_an_empty_answer_gets_its_reason() -> None:
    outcome = probe_with(soa_reply(lambda r: r.answer.clear()), expect=Expect())
    assert outcome.code == "no-answer"


def test_an_answer_to_another_question_is_refused() -> None:
    def other(query: dns.message.Message) -> bytes:
        response = dns.message.make_response(dns.message.make_query("evil.example.", "SOA"))
        response.id = query.id
        response.flags |= dns.flags.AA
        return response.to_wire()
    outcome = probe_with(other, expect=Expect())
    assert outcome.code == "malformed" and "does not answer our query" in outcome.reason


def test_plainly_ok_reads_only_well_formed_yes() -> None:
    query = dns.message.make_query("example.com.", "SOA")
    wire = query.to_wire()
    end = 12 + len(b"\x07example\x03com\x00") + 4
    good = soa_reply()(query)
    assert plainly_ok(good, wire, end, 0, True)
    assert not plainly_ok(good[:10], wire, end, 0, True)
    assert not plainly_ok(b"\x00\x00" + good[2:], wire, end, 0, True)  # other id
    assert not plainly_ok(good, wire, end, 2, True)  # expected SERVFAIL
    upper = good[:13] + good[13:end].upper() + good[end:]
    assert plainly_ok(upper, wire, end, 0, True)  # names compare case-insensitively


def test_one_socket_serves_many_probes_and_drops_late_answers() -> None:
    """A late answer (to a query that timed out) is not taken for the next query's."""
    async def go() -> list[Outcome]:
        loop = asyncio.get_running_loop()
        slow = {"first": True}

        def answer(query: dns.message.Message) -> bytes:
            return reply()(query)

        server = Server(answer)

        def delayed(data: bytes, addr: tuple[str, int]) -> None:
            wire = server.answer(dns.message.from_wire(data))
            delay = 0.3 if slow["first"] else 0.0
            slow["first"] = False
            loop.call_later(delay, server.transport.sendto, wire, addr)  # type: ignore[union-attr]

        server.datagram_received = delayed  # type: ignore[method-assign]
        transport, _ = await loop.create_datagram_endpoint(lambda: server,
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        check = DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="www.example.com.",
                         qtype="AAAA", port=port, expect=WWW)
        probe = DnsProbe(check, 0.1)
        try:
            first = await probe.run()
            await asyncio.sleep(0.3)  # the late answer arrives now
            return [first, await probe.run(), await probe.run()]
        finally:
            probe.close()
            transport.close()

    first, second, third = asyncio.run(go())
    assert first.code == "timeout"
    assert second.ok and third.ok
