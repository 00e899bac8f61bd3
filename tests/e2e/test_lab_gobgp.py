"""GoBGP as the router (`--router gobgp`), checked at the BGP level: its RIB, not a FIB.

One lab for the module with Debian's gobgpd in the router namespace (config
from tests/lab/gobgp.py), ExaBGP 4.2 and the real speaker on the nodes. GoBGP
installs no route in the kernel here, so every check reads `gobgp global rib -a
ipv6` in the router's namespace: each node's path to the anycast /128, with
that node as next hop, and the path gone after a withdraw, a drain or named's death.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, gobgp, wait_for
from tests.lab.topology import build

from .conftest import healthy, running_lab

pytestmark = pytest.mark.skipif(not all(p.exists() for p in gobgp.BINARIES),
                                reason=f"lab: missing {gobgp.GOBGPD} or {gobgp.GOBGP}")


@pytest.fixture(scope="module")
def gobgp_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=60, router="gobgp")


@pytest.fixture
def lab(gobgp_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    yield from healthy(gobgp_lab, request, timeout=60)


def _paths(lab: Lab) -> dict[str, str]:
    return gobgp.paths(lab.topo.router_ns, f"{lab.anycast}/128")


def _wait_without(lab: Lab, address: str, timeout: float = 10) -> dict[str, str]:
    """Wait until GoBGP's RIB has no path from `address`; the paths then."""
    def without() -> list[dict[str, str]] | None:
        paths = _paths(lab)
        return [paths] if address not in paths else None  # a list: true even if empty

    found = wait_for(without, timeout, interval=0.05,
                     what=f"{address}'s path to leave GoBGP's RIB")
    assert found is not None
    return found[0]


def test_gobgpd_accepts_the_router_config(tmp_path: Path) -> None:
    """`gobgpd -d` (check the config only) accepts the TOML the lab writes."""
    conf = tmp_path / "gobgpd.toml"
    conf.write_text(gobgp.conf(build("00000", 3)))
    proc = subprocess.run([str(gobgp.GOBGPD), "-d", "-t", "toml", "-f", str(conf)],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_node_announces_to_gobgp(lab: Lab) -> None:
    """GoBGP's RIB holds one path per node, each with that node as next hop, and the plain
    `gobgp global rib -a ipv6` shows them; no kernel route (GoBGP has no FIB here)."""
    want = {str(n.address): str(n.address) for n in lab.nodes}
    assert _paths(lab) == want
    text = gobgp.gobgp(lab.topo.router_ns, "global", "rib", "-a", "ipv6").stdout
    for node in lab.nodes:
        assert f"{lab.anycast}/128" in text and str(node.address) in text, text
    assert lab.router.nexthops() == frozenset()


def test_a_withdraw_removes_the_nodes_path_and_an_announce_returns_it(lab: Lab) -> None:
    """`speakerctl withdraw` on dns2 removes its path from GoBGP's RIB, the others stay;
    `announce` brings it back."""
    node = lab.node(2)
    done = node.ctl("withdraw", "--drain-delay", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    left = _wait_without(lab, str(node.address))
    assert set(left) == {str(lab.node(i).address) for i in (1, 3)}
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    lab.wait_ecmp(timeout=20)


def test_a_drain_has_left_gobgp_when_it_returns(lab: Lab) -> None:
    """The drain unit's command (`withdraw --tag dns-restart --wait`) returns, safe to stop,
    only once dns3's path has left GoBGP's RIB."""
    node = lab.node(3)
    done = node.ctl("withdraw", "--tag", "dns-restart", "--wait", timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "safe to stop" in done.stdout
    assert str(node.address) not in _paths(lab)
    back = node.ctl("announce", "--tag", "dns-restart")
    assert back.returncode == 0, back.stdout + back.stderr
    lab.wait_ecmp(timeout=20)


def test_a_killed_named_is_withdrawn_from_gobgp(lab: Lab) -> None:
    """named SIGKILLed on dns1: its path leaves GoBGP's RIB within 5 s and stays out while
    named is dead (watched for 3 s); the other nodes' paths stay."""
    node = lab.node(1)
    t0 = time.monotonic()
    node.kill_named()
    _wait_without(lab, str(node.address), timeout=5)
    took = time.monotonic() - t0
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        paths = _paths(lab)
        assert set(paths) == {str(lab.node(i).address) for i in (2, 3)}, (took, paths)
        time.sleep(0.1)
