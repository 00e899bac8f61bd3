"""Anycast HTTP(S): nginx on every node, its own prefix, judged by the `http` check.

One lab for the module with `http=True` (tests/lab/web.py): each node runs
nginx in its namespace and a second service, `web`, announcing fd00:10:1::80/128
beside the DNS service's prefix, with an http check and an https check (the lab
CA) through the web anycast address. A client GETs the page through the router;
nginx stopped on one node withdraws that node's web prefix only (its DNS prefix
stays); started again, it is announced again; `speakerctl withdraw web` drains
the node with no failed request from a 20/s client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import healthy, running_lab
from tests.e2e.fib import FibWatch
from tests.lab import Lab
from tests.lab.web import WEB_ANYCAST, GetLoop, Web

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(bool(Web.missing()), reason="lab: " + "; ".join(Web.missing()))]


@pytest.fixture(scope="module")
def web_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=40, http=True)


@pytest.fixture
def lab(web_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    assert web_lab.web is not None
    web_lab.web.heal()
    for ready in healthy(web_lab, request, timeout=40):
        assert web_lab.web is not None
        web_lab.web.wait_nexthops(every(web_lab), timeout=20)
        yield ready


def every(lab: Lab) -> set[str]:
    return {str(n.address) for n in lab.nodes}


def web(lab: Lab) -> Web:
    assert lab.web is not None
    return lab.web


def test_the_web_prefix_is_announced_by_every_node_and_serves_the_page_over_http_and_https(
        lab: Lab) -> None:
    assert web(lab).nexthops() == every(lab)
    assert lab.router.nexthops() == every(lab)  # the DNS prefix beside it
    page = web(lab).get()
    assert page is not None and page.startswith("anycast web page from dns"), page
    health = web(lab).get_tls("/health")  # HTTPS, verified against the lab CA
    assert health.startswith("ok dns"), health
    service = next(s for s in lab.node(1).status()["services"] if s["name"] == "web")
    assert service["state"] == "up"
    assert [c["code"] for c in service["checks"]] == ["ok", "ok"]
    assert service["checks"][1]["check"] == (
        f"http check https://www.example.test/health at {WEB_ANYCAST}")


def test_nginx_stopped_withdraws_the_web_prefix_only_and_started_announces_it(
        lab: Lab) -> None:
    node = lab.node(2)
    others = every(lab) - {str(node.address)}
    with FibWatch(lab, node.address) as dns_fib:
        t0 = time.monotonic()
        web(lab).stop(node)
        gone = web(lab).wait_nexthops(others, timeout=5)
        time.sleep(1.0)  # several probe rounds: the web prefix stays withdrawn
        t1 = time.monotonic()
        assert web(lab).nexthops() == others
        assert dns_fib.steady(True, t0, t1), f"the DNS prefix moved: {dns_fib.changes}"
    service = next(s for s in node.status()["services"] if s["name"] == "web")
    assert service["state"] == "down"
    assert "connection refused" in service["checks"][0]["reason"], service["checks"]
    web(lab).start(node)
    back = web(lab).wait_nexthops(every(lab), timeout=15)
    print(f"nginx stopped: web prefix withdrawn after {gone:.3f} s; started: back after "
          f"{back:.3f} s")


def test_speakerctl_withdraw_web_drains_with_no_failed_request(lab: Lab) -> None:
    node = lab.node(3)
    others = every(lab) - {str(node.address)}
    loop = GetLoop(lab, rate=20, duration=5)
    time.sleep(1.5)
    done = node.ctl("withdraw", "web", "--reason", "e2e http drain")
    assert done.returncode == 0, done.stdout + done.stderr
    drained = time.monotonic()
    assert web(lab).nexthops() == others
    assert lab.router.nexthops() == every(lab)  # only the web service is drained
    gets = loop.wait()
    stats = GetLoop.summary(gets)
    assert stats["sent"] >= 80 and stats["failed"] == 0, stats
    after = [g for g in gets if g.t > drained]
    assert after and all(g.node != node.name for g in after), stats  # none reach it now
    assert node.ctl("announce", "web").returncode == 0
    web(lab).wait_nexthops(every(lab), timeout=15)
    print(f"drain of web on {node.name}: {stats}")
