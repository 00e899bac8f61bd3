"""Redundant routers (`--routers 2`): every node peers with two FRR routers on the guest link.

One lab for the module (3 nodes, ExaBGP 4.2, the real speaker) with a second
router, fd00:10:1::2 in its own namespace (tests/lab/routers.py). A withdraw and
a drain reach both routers; one router's daemons killed leave the other with
every next hop; a node whose session to one router is shut down still announces
to the other, and `speakerctl status` shows both sessions.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import Lab, render, routers, wait_for
from tests.lab.lab import REPO, base_env, exabgp_env
from tests.lab.lanes import EXABGP, SPEAKER_PYTHON
from tests.lab.topology import build

from .conftest import healthy, running_lab

ALL = frozenset({"fd00:10:1::50", "fd00:10:1::51", "fd00:10:1::52"})


@pytest.fixture(scope="module")
def routers_lab() -> Iterator[Lab]:
    yield from running_lab(timeout=60, routers=2)


@pytest.fixture
def lab(routers_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    yield from healthy(routers_lab, request, timeout=60)


def _shown(text: str) -> str | None:
    """`speakerctl status` if it shows router 1's session up and router 2's down."""
    states = {line.split()[0]: line.split()[1] for line in text.splitlines()
              if line.startswith("fd00:10:1::")}
    shown = (states.get("fd00:10:1::1") == "up"
             and states.get("fd00:10:1::2", "").startswith("down"))  # "down," if RESETTING
    return text if shown else None


def _gone_from_both(lab: Lab, address: str, timeout: float = 10) -> None:
    for router in routers.all_routers(lab):
        router.time_until_gone(address, timeout=timeout)


def _back_on_both(lab: Lab, address: str, timeout: float = 20) -> None:
    for router in routers.all_routers(lab):
        router.time_until_back(address, timeout=timeout)


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_the_two_neighbour_config_passes_exabgp_and_check_config(
        tmp_path: Path, exabgp_version: str) -> None:
    """Offline: the node's ExaBGP config with a neighbour per router passes ExaBGP's own
    check and `speakerctl check-config` (which cross-checks every neighbour)."""
    topo = routers.topology(build("00000", 3), 2)
    node = topo.node(1)
    wrapper = tmp_path / "run-speaker"
    wrapper.write_text(render.run_script(REPO, tmp_path / "speaker.yaml"))
    wrapper.chmod(0o755)
    conf = tmp_path / "exabgp.conf"
    conf.write_text(render.exabgp_conf(topo, node, wrapper))
    (tmp_path / "speaker.yaml").write_text(
        render.speaker_yaml(topo, node, tmp_path / "speaker.sock", tmp_path / "state"))
    assert conf.read_text().count("neighbor fd00:10:1::") == 2
    env = base_env()
    env.update(exabgp_env())
    binary = str(EXABGP[exabgp_version])
    argv = [binary, "--test", str(conf)] if exabgp_version == "4.2" else [binary, "validate",
                                                                          str(conf)]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    env["PYTHONPATH"] = str(REPO)
    check = subprocess.run([SPEAKER_PYTHON, "-m", "speaker.cli", "--config",
                            str(tmp_path / "speaker.yaml"), "check-config", "--exabgp", str(conf),
                            "--exabgp-version", exabgp_version],
                           capture_output=True, text=True, env=env, timeout=60, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_node_peers_with_both_routers(lab: Lab) -> None:
    """Both routers have every node's session Established and every next hop in the FIB,
    and each node's ExaBGP config has one neighbour per router."""
    for router in routers.all_routers(lab):
        assert router.established() == set(ALL)
        assert router.nexthops() == ALL
    conf = lab.node(1).exabgp_conf.read_text()
    assert "neighbor fd00:10:1::1 {" in conf and "neighbor fd00:10:1::2 {" in conf


def test_a_withdraw_leaves_both_routers_and_an_announce_returns_to_both(lab: Lab) -> None:
    """`speakerctl withdraw` takes the node's next hop out of both routers' FIBs; the
    other nodes stay on both; `announce` brings it back on both."""
    node = lab.node(2)
    done = node.ctl("withdraw", "--drain-delay", "0")
    assert done.returncode == 0, done.stdout + done.stderr
    _gone_from_both(lab, str(node.address))
    for router in routers.all_routers(lab):
        assert router.nexthops() == ALL - {str(node.address)}
    back = node.ctl("announce")
    assert back.returncode == 0, back.stdout + back.stderr
    _back_on_both(lab, str(node.address))


def test_a_drain_has_reached_both_routers_when_it_returns(lab: Lab) -> None:
    """The drain unit's command (`withdraw --tag dns-restart --wait`) returns, saying it is
    safe to stop the DNS server, only once the next hop has left both routers' FIBs."""
    node = lab.node(3)
    done = node.ctl("withdraw", "--tag", "dns-restart", "--wait", timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "safe to stop" in done.stdout
    for router in routers.all_routers(lab):
        assert str(node.address) not in router.nexthops(), router.lab.topo.router_ns
    back = node.ctl("announce", "--tag", "dns-restart")
    assert back.returncode == 0, back.stdout + back.stderr
    _back_on_both(lab, str(node.address))


@pytest.mark.parametrize("killed", [1, 2])
def test_a_dead_router_leaves_the_other_with_every_next_hop(lab: Lab, killed: int) -> None:
    """bgpd and zebra of one router SIGKILLed (by PID): the other router's FIB keeps all
    three next hops, watched every 20 ms for 12 s (4 hold times of the nodes' sessions)."""
    other = routers.all_routers(lab)[2 - killed]
    try:
        routers.kill(lab, killed)
        seen = routers.hop_sets(other, 12.0)
        assert seen == {ALL}, f"{other.lab.topo.router_ns} showed {seen}"
        # the nodes did notice: their session to the dead router is down
        dead = str(routers.all_routers(lab)[killed - 1].lab.topo.router_address)
        states = {n["peer"]: n["state"] for n in lab.node(1).status()["neighbors"]}
        assert states.get(dead) != "up", states
    finally:
        routers.restart(lab, killed, timeout=60)


def test_a_node_cut_from_one_router_still_announces_to_the_other(lab: Lab) -> None:
    """Router 2 shuts its neighbour dns1 down (`neighbor X shutdown`): dns1's next hop leaves
    router 2 only; `speakerctl status` shows its two sessions, one up and one down; a
    withdraw and an announce of dns1 still reach router 1."""
    node = lab.node(1)
    first, second = routers.all_routers(lab)
    address = str(node.address)
    asn = lab.topo.router_asn
    second.vtysh_config([f"router bgp {asn}", f"neighbor {address} shutdown"])
    try:
        second.time_until_gone(address, timeout=10)
        assert first.nexthops() == ALL

        # ExaBGP keeps reconnecting and router 2 closes each connection: "down" between tries
        states: dict[str, str] = {}

        def one_up_one_down() -> bool:
            states.clear()
            states.update({n["peer"]: n["state"] for n in node.status()["neighbors"]})
            return (states.get(str(lab.topo.router_address)) == "up"
                    and states.get(str(routers.SECOND_ADDRESS)) == "down")

        wait_for(one_up_one_down, 10, interval=0.2, what="router 1's session up, router 2's down")
        text = wait_for(lambda: _shown(node.ctl("status").stdout), 10, interval=0.2,
                        what="speakerctl status showing one session up, one down")
        assert text is not None and str(lab.topo.router_address) in text and str(routers.SECOND_ADDRESS) in text
        status = node.status()
        assert status["services"][0]["prefixes"][0]["desired"] == "announced", json.dumps(status)

        done = node.ctl("withdraw", "--drain-delay", "0")
        assert done.returncode == 0, done.stdout + done.stderr
        first.time_until_gone(address, timeout=10)
        back = node.ctl("announce")
        assert back.returncode == 0, back.stdout + back.stderr
        first.time_until_back(address, timeout=20)
        assert address not in second.nexthops()
    finally:
        second.vtysh_config([f"router bgp {asn}", f"no neighbor {address} shutdown"])
    second.time_until_back(address, timeout=30)
