"""BIRD 2 as the router (`--router bird`): ECMP over every node needs `merge paths on`;
announce, crash (named and ExaBGP SIGKILL), drain and the graceful drain with BIRD too.

One lab for the module, with BIRD 2.0 from Debian 12 in the router namespace,
ExaBGP 4.2 and the real speaker on the nodes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, bird
from tests.lab.topology import build

from .conftest import keep_logs
from .scenarios import drain_loses_no_query, graceful_drain, sigkill_withdraws

pytestmark = pytest.mark.skipif(not bird.BIRD.exists(), reason=f"lab: missing {bird.BIRD}")


@pytest.fixture(scope="module")
def bird_lab() -> Iterator[Lab]:
    lab = Lab(router="bird")
    try:
        lab.up(timeout=30)
        yield lab
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
        assert not left, f"lab teardown left: {left}"


def test_bird_accepts_the_router_config(tmp_path: Path) -> None:
    """`bird -p` (parse only) accepts the config the lab writes."""
    conf = tmp_path / "bird.conf"
    conf.write_text(bird.conf(build("00000", 3)))
    proc = subprocess.run([str(bird.BIRD), "-p", "-c", str(conf)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_all_three_next_hops_are_in_the_fib_with_bird(bird_lab: Lab) -> None:
    """Every node's session is Established in BIRD and the FIB holds all three next hops."""
    bird_lab.wait_ecmp(timeout=30)
    assert bird_lab.router.established() == {str(n.address) for n in bird_lab.nodes}
    assert "proto bird" in bird_lab.router.route_text()


def test_a_withdraw_leaves_bird_and_an_announce_returns(bird_lab: Lab) -> None:
    """speakerctl withdraw on one node takes its next hop out of BIRD's FIB; announce
    (clearing the maintenance) brings it back."""
    bird_lab.wait_ecmp(timeout=30)
    node = bird_lab.node(2)
    t0 = time.monotonic()
    done = node.ctl("withdraw", "--drain-delay", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    bird_lab.router.time_until_gone(node.address, timeout=10, t0=t0)
    assert bird_lab.router.nexthops() == {str(bird_lab.node(i).address) for i in (1, 3)}
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    bird_lab.router.time_until_back(node.address, timeout=20)


def test_without_merge_paths_bird_installs_one_next_hop(bird_lab: Lab) -> None:
    """The README's router note: BIRD's kernel protocol without `merge paths on` exports
    the best route only, so the FIB gets one next hop of three; with it, all three."""
    bird_lab.wait_ecmp(timeout=30)
    rdir = bird_lab.root / "router"
    plain = rdir / "bird-no-merge.conf"
    plain.write_text((rdir / "bird.conf").read_text().replace("    merge paths on;\n", ""))
    try:
        assert "Reconfigur" in bird_lab.router.birdc(f'configure "{plain}"')
        bird_lab.router.wait_nexthops(lambda h: len(h) == 1, timeout=10,
                                      what="one next hop without merge paths")
        time.sleep(1)  # and it stays at one
        assert len(bird_lab.router.nexthops()) == 1
    finally:
        bird_lab.router.birdc(f'configure "{rdir / "bird.conf"}"')
    bird_lab.wait_ecmp(timeout=10)


def test_a_drain_with_bird_loses_no_query(bird_lab: Lab) -> None:
    """speakerctl withdraw while the client streams through BIRD: 0 failed; announce: back."""
    bird_lab.wait_ecmp(timeout=30)
    print(f"drain through BIRD: {drain_loses_no_query(bird_lab)}")


@pytest.mark.parametrize(("kill", "bound"), [("named", 1.5), ("exabgp", 1.0)])
def test_a_sigkill_leaves_birds_fib_within_its_bound(bird_lab: Lab, kill: str,
                                                     bound: float) -> None:
    """named SIGKILLed (the speaker's event path) or ExaBGP SIGKILLed (the TCP session
    closes): the next hop leaves BIRD's FIB within the bound FRR has, 0 failed after."""
    bird_lab.wait_ecmp(timeout=30)
    gone = sigkill_withdraws(bird_lab, kill, bound)
    print(f"{kill} SIGKILL through BIRD: next hop gone after {gone:.3f} s")


def test_a_graceful_drain_with_bird_moves_traffic_before_the_withdraw(bird_lab: Lab) -> None:
    """With the lab's import filter (`if (65535, 0) ~ bgp_community then bgp_local_pref =
    0;`, the README's router note), BIRD drops the draining node from the merged FIB route
    before the withdraw; 0 failed."""
    bird_lab.wait_ecmp(timeout=30)
    gone, took = graceful_drain(bird_lab, seconds=6)
    assert gone < 6 <= took
