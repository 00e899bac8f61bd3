"""The demo's hidden-master steps (`tests/demo.sh --hidden-master`).

Shows the set-up (the master's SOA, a transfer after a serial bump), a node
whose transfers are refused going stale and being withdrawn after max_lag, its
return once transfers work again, and the master's loss changing nothing. Owns
these steps' printing and checks, and, for the lab tests of `action: degrade`,
rewriting every node's soa check (`use_soa`) and reading the router's AS paths
(`as_paths`); the faults are `tests.lab.master`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.demo import Demo
    from tests.lab.lab import Lab

MAX_LAG = 3.0  # the demo's soa checks: stale after 3 s behind


def _hops(lab: Lab) -> frozenset[str]:
    return lab.router.nexthops()


def steps(demo: Demo, lab: Lab) -> None:
    master = lab.master
    assert master is not None
    every = frozenset(str(n.address) for n in lab.nodes)
    demo.step("Step 6: the hidden master -> the nodes, its secondaries (NOTIFY, then a transfer)")
    demo.shell(f"dig @{master.address} example.com SOA +short   # on the master, hidden",
               f"serial {master.served_serial()}")
    t0 = time.monotonic()
    serial = master.bump_serial()
    master.wait_in_sync(timeout=15)
    demo.check(True, f"serial bumped to {serial} on the master: every node was notified, "
                     f"transferred the zone and serves it {time.monotonic() - t0:.1f} s later")
    for node in lab.nodes:
        check = node.status()["services"][0]["checks"][-1]
        demo.out(f"  {node.name}: {check['reason'].split(': ', 1)[-1]}")

    stale = lab.node(2)
    demo.step(f"Step 7: {stale.name}'s transfers refused, the master moves on (max_lag "
              f"{MAX_LAG:g} s)")
    master.block_transfers(stale.name)
    t0 = time.monotonic()
    serial = master.bump_serial()
    took = lab.router.wait_nexthops(lambda hops: str(stale.address) not in hops, 20, t0=t0,
                                    what=f"{stale.name} withdrawn")
    demo.check(str(stale.address) not in _hops(lab) and _hops(lab) == every - {
        str(stale.address)}, f"{stale.name} withdrawn {took:.1f} s after serial {serial} "
                             "(others stay)")
    check = stale.status()["services"][0]["checks"][-1]
    demo.out(f"  {stale.name}: {check['reason'].split(': ', 1)[-1]}")
    master.unblock_transfers(stale.name)
    t0 = time.monotonic()
    lab.wait_ecmp(timeout=30)
    demo.check(master.node_serial(stale) == serial,
               f"transfers allowed again: {stale.name} caught up and announced "
               f"{time.monotonic() - t0:.1f} s later")

    demo.step("Step 8: the hidden master stopped")
    master.stop()
    t0, changed = time.monotonic(), False
    while time.monotonic() - t0 < 3 * MAX_LAG:
        changed = changed or _hops(lab) != every
        time.sleep(0.05)
    demo.check(not changed, f"no node withdrawn over {3 * MAX_LAG:g} s (the master is "
                            "shared: its loss is a warning)")
    check = lab.node(1).status()["services"][0]["checks"][-1]
    demo.out(f"  {lab.node(1).name} WARN {check['warning']}")


# -- action: degrade (tests/e2e/test_lab_freshness.py) -------------------------------------

PREPEND = 2  # a degraded node's AS path: its own AS, then PREPEND more times


def use_soa(lab: Lab, degrade: bool = False, **keys: object) -> None:
    """Every node's speaker.yaml with the soa check's `keys` over the lab's; with `degrade`,
    each node's `degraded_route` prepends its own AS. Applied by `speakerctl reload`; no
    arguments: the lab's own config again."""
    from tests.lab import master as hidden
    from tests.lab import render
    from tests.lab.system import LabError

    assert lab.master is not None
    for node in lab.nodes:
        service = ({"degraded_route": {"as_path": [node.spec.asn] * (1 + PREPEND)}}
                   if degrade else {})
        check = hidden.soa_check(node.address, lab.master.address, **{**lab.soa, **keys})
        node.write_speaker_yaml(text=render.speaker_yaml(
            lab.topo, node.spec, node.socket, node.state_dir, manage=lab.manage_address,
            extra={"service": service}, statistics=node.statistics, more_checks=[check]))
        done = node.ctl("reload")
        if done.returncode != 0:
            raise LabError(f"{node.name}: speakerctl reload failed ({done.returncode}): "
                           f"{done.stdout}{done.stderr}")


def as_paths(lab: Lab) -> dict[str, str]:
    """The router's BGP paths for the anycast prefix: {next hop: AS path}."""
    import json

    data = json.loads(lab.router.vtysh(f"show bgp ipv6 unicast {lab.anycast}/128 json"))
    return {hop["ip"]: path.get("aspath", {}).get("string", "")
            for path in data.get("paths", []) for hop in path.get("nexthops", [])
            if hop.get("scope", "global") == "global"}
