"""Anycast resolvers: unbound on every node, announced by the speaker's `recursive` check.

One lab for the module (`Lab(recursive=True)`, tests/lab/resolver.py): besides the
authoritative service (fd00:10:1::100), every node runs unbound on a second anycast
address (fd00:10:1::200), resolving example.com through a stub zone on the nodes'
BIND servers; the speaker's second service `resolver` checks it with a cached name
(www.example.com.) and a fresh one per probe ({random}.probe.example.com., the zone's
wildcard). A node whose resolver loses its upstream is withdrawn although its cache
still answers the cached name; it returns once the upstream is back; killing unbound
withdraws the resolver's prefix only.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import healthy, running_lab
from tests.lab import Lab, resolver
from tests.lab.lab import LabNode, summarize

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(not resolver.UNBOUND.exists(),
                                 reason=f"lab: missing {resolver.UNBOUND}")]


@pytest.fixture(scope="module")
def recursive_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=40, recursive=True)


@pytest.fixture
def rl(recursive_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    for ready in healthy(recursive_lab, request, timeout=40):
        resolvers(ready).wait_ecmp(timeout=30)
        yield ready


def resolvers(lab: Lab) -> resolver.Resolvers:
    assert lab.resolvers is not None
    return lab.resolvers


def every(lab: Lab) -> frozenset[str]:
    return frozenset(str(n.address) for n in lab.nodes)


def resolver_status(node: LabNode) -> dict[str, object]:
    return next(s for s in node.status()["services"] if s["name"] == "resolver")


def fresh() -> str:
    return f"t{secrets.token_hex(4)}.probe.example.com."


def test_healthy_resolver_prefix_announced_and_a_client_resolves_through_it(rl: Lab) -> None:
    assert resolvers(rl).nexthops() == every(rl)
    for name in ["www.example.com.", fresh(), fresh(), fresh()]:
        answer = resolver.client_ask(rl, name)
        assert resolver.resolves(answer), f"{name}: {answer}"
        assert answer is not None
        want = "2001:db8::1" if name.startswith("www") else resolver.WILDCARD
        assert [r.to_text() for rrset in answer.answer for r in rrset] == [want]
    for node in rl.nodes:
        status = resolver_status(node)
        assert status["state"] == "up", status
        check = status["checks"][0]  # type: ignore[index]
        assert check["ok"] and check["check"].startswith("recursive check [fd00:10:1::200]:53")
    doctor = rl.node(1).ctl("doctor", timeout=30).stdout
    assert any(x.startswith("ok") and "recursive resolver/0" in x and "resolves in" in x
               for x in doctor.splitlines()), doctor
    assert "dns listen fd00:10:1::200" not in doctor, doctor  # not BIND's address


def cut_and_wait_withdrawn(lab: Lab, node: LabNode) -> tuple[float, list[
        tuple[frozenset[str], frozenset[str]]]]:
    """Cut `node`'s upstream; (seconds until its resolver next hop left, the samples)."""
    res = resolvers(lab)
    t0 = time.monotonic()
    res.cut_upstream(node)
    seen = res.watch(10, until=lambda hops: str(node.address) not in hops)
    took = time.monotonic() - t0
    assert str(node.address) not in seen[-1][0], f"{node.name} never withdrawn: {seen[-1]}"
    return took, seen


def test_lost_upstream_withdraws_the_resolver_though_its_cache_still_answers(rl: Lab) -> None:
    res, cut = resolvers(rl), rl.node(2)
    others = every(rl) - {str(cut.address)}
    assert resolver.resolves(resolver.ask(cut, resolver.CACHED))  # in its cache now
    name = f"c{secrets.token_hex(3)}-{{i}}.probe.example.com."  # a fresh name per query
    stream = rl.client.stream(rate=50, duration=6, timeout=0.5, qname=name,
                              server=str(resolver.RESOLVER))
    time.sleep(1.0)
    t_cut = time.monotonic()
    took, seen = cut_and_wait_withdrawn(rl, cut)
    seen += res.watch(1.0)
    records = stream.wait()
    # the authoritative service never moved; the resolver lost exactly that node
    assert all(auth == every(rl) for _, auth in seen), "the authoritative prefix moved"
    assert seen[-1][0] == others
    assert took < 3.0, f"withdrawn {took:.2f} s after the cut"
    # both names on the cut node: the cached one alone would still pass the check
    cached = resolver.ask(cut, resolver.CACHED)
    assert resolver.resolves(cached), cached
    assert not resolver.resolves(resolver.ask(cut, fresh(), timeout=0.5))
    status = resolver_status(cut)
    check = status["checks"][0]  # type: ignore[index]
    assert status["state"] == "down" and check["code"] == "upstream", check
    assert "the cached name www.example.com. still resolves" in check["reason"]
    assert ".probe.example.com. AAAA" in check["reason"]
    doctor = cut.ctl("doctor", timeout=30).stdout  # runs the check once, prints the verdict
    line = next(x for x in doctor.splitlines() if "recursive resolver/0" in x)
    assert line.startswith("FAIL") and "still resolves" in line, doctor
    assert "fix: the resolver answers from its cache only" in doctor, doctor
    # the client: failures only while the cut node was still a next hop
    before = summarize(records, until=t_cut)
    during = summarize(records, since=t_cut, until=t_cut + took + 0.5)
    after = summarize(records, since=t_cut + took + 0.5)
    print(f"cut -> withdrawn {took:.2f} s; client: {before['failed']}/{before['sent']} failed "
          f"before, {during['failed']}/{during['sent']} until withdrawn + 0.5 s, "
          f"{after['failed']}/{after['sent']} after")
    assert before["failed"] == 0 and after["failed"] == 0 and after["sent"] > 50
    assert during["failed"] <= 0.6 * during["sent"]


def test_upstream_restored_announces_the_resolver_again(rl: Lab) -> None:
    res, cut = resolvers(rl), rl.node(2)
    cut_and_wait_withdrawn(rl, cut)
    t0 = time.monotonic()
    res.restore_upstream(cut)
    seen = res.watch(15, until=lambda hops: hops == every(rl))
    assert seen[-1][0] == every(rl), f"{cut.name} not announced again: {seen[-1][0]}"
    print(f"upstream restored -> announced {time.monotonic() - t0:.2f} s later")
    assert all(auth == every(rl) for _, auth in seen)
    assert resolver.resolves(resolver.ask(cut, fresh()))
    assert resolver_status(cut)["state"] == "up"


def test_killed_unbound_withdraws_the_resolver_prefix_only(rl: Lab) -> None:
    res, victim = resolvers(rl), rl.node(3)
    t0 = time.monotonic()
    res.kill(victim)
    seen = res.watch(5, until=lambda hops: str(victim.address) not in hops)
    took = time.monotonic() - t0
    assert str(victim.address) not in seen[-1][0], f"never withdrawn: {seen[-1]}"
    assert took < 1.0, f"withdrawn {took:.2f} s after SIGKILL"
    seen += res.watch(3.0)  # and it stays so, while the authoritative prefix stays whole
    assert all(str(victim.address) not in hops for hops, _ in seen[-50:])
    assert all(auth == every(rl) for _, auth in seen), "the authoritative prefix moved"
    print(f"unbound SIGKILL -> resolver next hop gone {took:.2f} s later")
    services = {s["name"]: s for s in victim.status()["services"]}
    assert services["resolver"]["state"] == "down" and services["dns"]["state"] == "up"
