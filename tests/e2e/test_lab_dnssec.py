"""Signatures about to expire: real BIND serving a zone signed by dnssec-signzone.

One lab for the module (tests/lab/dnssec.py): every node serves example.com
signed with its own keys, valid for 30 days, and its speaker has a dnssec check
(min_validity 20 s, validate: true). A node re-signed with signatures that
expire 26 s later is withdrawn once less than 20 s are left, before they
expire, the others staying; re-signed for 30 days and `rndc reload`ed, it is
announced again. A node that serves the zone unsigned is withdrawn too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.conftest import healthy, running_lab
from tests.lab import Lab, dnssec

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(bool(dnssec.missing()), reason="; ".join(dnssec.missing()))]

MIN_VALIDITY = 20  # seconds: the check fails once a signature has less left
LEAD = 6  # seconds the short signatures pass the check before they fall under the minimum


@pytest.fixture(scope="module")
def signed_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=40, dnssec={"min_validity": MIN_VALIDITY, "validate": True})


@pytest.fixture
def sl(signed_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    for node in signed_lab.nodes:  # every node back to signatures valid for 30 days
        dnssec.sign(node)
        dnssec.reload(node)
    yield from healthy(signed_lab, request, timeout=40)


def watch(lab: Lab, seconds: float, until: Callable[[frozenset[str]], bool]
          ) -> list[tuple[float, frozenset[str]]]:
    """(wall-clock time, the router's next hops), every 50 ms for `seconds` or until
    `until` holds."""
    seen: list[tuple[float, frozenset[str]]] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        hops = lab.router.nexthops()
        seen.append((time.time(), hops))
        if until(hops):
            break
        time.sleep(0.05)
    return seen


def every(lab: Lab) -> frozenset[str]:
    return frozenset(str(n.address) for n in lab.nodes)


def dnssec_check(lab: Lab, which: int) -> dict[str, object]:
    check = lab.node(which).status()["services"][0]["checks"][-1]
    assert str(check["check"]).startswith("dnssec check"), check
    return check


def test_a_healthy_signed_zone_passes_with_the_time_left(sl: Lab) -> None:
    for i in range(1, len(sl.nodes) + 1):
        check = dnssec_check(sl, i)
        assert check["ok"] and check["code"] == "ok", check
        assert "expires first of 2 RRsets, in 29d23h (min 20s); validated" in str(
            check["reason"]), check
        assert 29 * 86400 < float(str(check["validity"])) <= 30 * 86400


def test_signatures_about_to_expire_withdraw_the_node_before_they_expire(sl: Lab) -> None:
    node = sl.node(2)
    me, others = str(node.address), every(sl) - {str(node.address)}
    expiration = dnssec.sign(node, MIN_VALIDITY + LEAD)
    dnssec.reload(node)
    seen = watch(sl, LEAD + 10, until=lambda hops: me not in hops)
    withdrawn_at, hops = seen[-1]
    assert me not in hops, f"{node.name} never withdrawn: {sorted(hops)}"
    assert withdrawn_at < expiration, "withdrawn only after the signatures expired"
    # fallen under min_validity, not expired: within a few seconds of that moment
    assert expiration - MIN_VALIDITY - 1 <= withdrawn_at < expiration - MIN_VALIDITY + 3, \
        f"withdrawn {expiration - withdrawn_at:.1f} s before expiry (min {MIN_VALIDITY} s)"
    assert all(others <= h for _, h in seen), "another node left the router meanwhile"
    check = dnssec_check(sl, 2)
    assert not check["ok"] and check["code"] == "expiring", check
    assert "expires in 1" in str(check["reason"]) and "(min 20s)" in str(check["reason"])

    dnssec.sign(node)  # 30 days again, then rndc reload
    dnssec.reload(node)
    back = watch(sl, 15, until=lambda hops: hops == every(sl))
    assert back[-1][1] == every(sl), f"{node.name} not announced again: {sorted(back[-1][1])}"
    assert dnssec_check(sl, 2)["ok"]


def test_an_unsigned_zone_withdraws_the_node_and_says_so(sl: Lab) -> None:
    node = sl.node(3)
    me = str(node.address)
    dnssec.unsign(node)
    dnssec.reload(node)
    seen = watch(sl, 10, until=lambda hops: me not in hops)
    assert me not in seen[-1][1], f"{node.name} never withdrawn"
    assert all(every(sl) - {me} <= h for _, h in seen)
    check = dnssec_check(sl, 3)
    assert check["code"] == "unsigned", check
    assert "no DNSKEY for example.com.: the zone is served unsigned" in str(check["reason"])
