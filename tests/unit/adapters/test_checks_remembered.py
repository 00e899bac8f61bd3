"""The DNS probe's remembered passes: the same response bytes get the same verdict as the
full parse, a changed response is judged in full, and only passes are remembered."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import itertools
from collections.abc import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from speaker.adapters import checks
from speaker.adapters.checks import DnsProbe
from speaker.core.config import DnsCheck, Expect
from speaker.core.verdicts import Outcome
from tests.dnsserver import DnsServer, Query, Reply, answer

Recorded = Callable[[Query], bytes]


def check_on(port: int, answers: tuple[str, ...] = ("2001:db8::1",)) -> DnsCheck:
    return DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="www.example.com.",
                    qtype="AAAA", port=port, expect=Expect(answers=answers))


def _message(mutate: Callable[[dns.message.Message], None] | None = None,
             rdata: tuple[str, ...] = ("2001:db8::1",)) -> Recorded:
    def wire(query: Query) -> bytes:
        response = answer(query, "AAAA", list(rdata))
        if mutate:
            mutate(response)
        return response.to_wire()
    return wire


def _bytes(change: Callable[[bytes], bytes]) -> Recorded:
    """A good answer's wire, then `change` applied to it (the id stays the query's)."""
    good = _message()
    return lambda query: change(good(query))


def _flags(on: int = 0, off: int = 0) -> Callable[[dns.message.Message], None]:
    def mutate(response: dns.message.Message) -> None:
        response.flags = (response.flags | on) & ~off
    return mutate


def _rcode(code: dns.rcode.Rcode) -> Callable[[dns.message.Message], None]:
    return lambda response: response.set_rcode(code)


def _other_question(response: dns.message.Message) -> None:
    response.question = [dns.rrset.RRset(dns.name.from_text("evil.example."), dns.rdataclass.IN,
                                     dns.rdatatype.AAAA)]


RECORDED: dict[str, Recorded] = {
    "good": _message(),
    "wrong answer": _message(rdata=("2001:db8::9",)),
    "not authoritative": _message(_flags(off=dns.flags.AA)),
    "servfail": _message(_rcode(dns.rcode.SERVFAIL)),
    "truncated": _message(_flags(on=dns.flags.TC)),
    "empty answer": _message(lambda r: r.answer.clear()),
    "another question": _message(_other_question),
    "trailing junk": _bytes(lambda wire: wire + b"\x00junk"),
    "cut short": _bytes(lambda wire: wire[:-5]),
    "header only": _bytes(lambda wire: wire[:12]),
    "not a response": _bytes(lambda wire: wire[:2] + bytes([wire[2] & 0x7F]) + wire[3:]),
}


def _outcomes(recorded: Recorded, runs: int, passed: tuple[int, ...] = (checks.PASSED,),
              check: Callable[[int], DnsCheck] = check_on) -> list[list[Outcome]]:
    """For each of `passed`: `runs` probes of one DnsProbe remembering that many passes,
    against one server answering with `recorded`."""
    def handler(query: Query) -> Reply:
        return recorded(query)

    async def go(port: int, remember: int) -> list[Outcome]:
        probe = DnsProbe(check(port), 1.0)
        probe._passed = type(probe._passed)(maxlen=remember)
        try:
            return [await probe.run() for _ in range(runs)]
        finally:
            probe.close()

    with DnsServer(handler) as server:
        return [asyncio.run(go(server.port, remember)) for remember in passed]


def _verdict(outcome: Outcome) -> tuple[bool, str, str]:
    return outcome.ok, outcome.code, outcome.reason


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_a_remembered_verdict_is_the_full_parse_s(name: str) -> None:
    full, remembered = ([_verdict(o) for o in run]
                        for run in _outcomes(RECORDED[name], runs=3, passed=(0, checks.PASSED)))
    assert remembered == full
    assert len(set(full)) == 1  # the same bytes, the same verdict every time


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    parsed: list[bytes] = []
    real = dns.message.from_wire

    def from_wire(wire: bytes, **kwargs: object) -> dns.message.Message:
        if wire[2] & 0x80:  # a response (the test server parses the queries)
            parsed.append(wire)
        return real(wire, **kwargs)  # type: ignore[arg-type]
    monkeypatch.setattr(dns.message, "from_wire", from_wire)
    return parsed


def test_the_same_passing_bytes_again_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch)
    outcomes = _outcomes(RECORDED["good"], runs=4)[0]
    assert all(o.ok for o in outcomes)
    assert len(parsed) == 1


def test_a_failure_is_never_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = _counting(monkeypatch)
    outcomes = _outcomes(RECORDED["wrong answer"], runs=3)[0]
    assert [o.code for o in outcomes] == ["wrong-answer"] * 3
    assert len(parsed) == 3


def test_a_changed_answer_after_passes_is_judged_in_full() -> None:
    served: list[int] = []

    def flips(query: Query) -> bytes:
        served.append(1)
        good = len(served) <= 2
        return _message(rdata=("2001:db8::1" if good else "2001:db8::9",))(query)

    outcomes = _outcomes(flips, runs=4)[0]
    assert [o.code for o in outcomes] == ["ok", "ok", "wrong-answer", "wrong-answer"]
    assert outcomes[2].reason.endswith("answer 2001:db8::9 (expected 2001:db8::1)")


def test_a_server_rotating_its_records_is_remembered_in_each_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    records = ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    orders = list(itertools.permutations(records))  # BIND's random order: six of them
    served: list[int] = []

    def rotating(query: Query) -> bytes:
        """The three records, in each of their orders in turn."""
        served.append(1)
        order = orders[len(served) % len(orders)]
        wire = answer(query, "AAAA", []).to_wire()
        name = query.message.question[0].name
        header = wire[:6] + len(order).to_bytes(2, "big") + bytes(4)  # answers only
        out = io.BytesIO(header + wire[12:12 + len(name.to_wire() or b"") + 4])
        out.seek(0, io.SEEK_END)
        for one in order:
            dns.rrset.from_text(name, 300, "IN", "AAAA", one).to_wire(out)
        return out.getvalue()

    parsed = _counting(monkeypatch)
    outcomes = _outcomes(rotating, runs=18, check=lambda port: check_on(port, tuple(records)))[0]
    assert all(o.ok for o in outcomes), outcomes
    assert len(parsed) == len(orders)  # one parse per order
