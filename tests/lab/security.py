"""MD5 and GTSM in the lab: the node's ExaBGP and the router's FRR, reconfigured live.

`reconfigure` rewrites one node's ExaBGP config with more neighbour statements
(`md5-password "x"`, `outgoing-ttl 255`, `incoming-ttl 255`) and restarts its
ExaBGP (and so the speaker); `router` enters FRR commands for that node's
neighbour (`password x`, `ttl-security hops 1`, `ebgp-multihop 64`);
`wait_session` waits for FRR's view of the session. heal() afterwards restores
the node (a fresh ExaBGP on the lab's config, written again by the caller).
"""

from __future__ import annotations

import json
import signal
import time

from tests.lab import render
from tests.lab.lab import Lab, LabNode
from tests.lab.system import LabError


def reconfigure(node: LabNode, extra: tuple[str, ...]) -> None:
    """Restart the node's ExaBGP with `extra` statements in its neighbour block."""
    node.kill_exabgp(signal.SIGTERM)
    node.exabgp_conf.write_text(render.exabgp_conf(node.lab.topo, node.spec,
                                                   node.dir / "run-speaker", extra=extra))
    node.start_exabgp()


def router(lab: Lab, node: LabNode, *settings: str) -> None:
    """`neighbor ADDRESS SETTING` for each setting (a leading "no " is kept in front)."""
    lines = [f"router bgp {lab.topo.router_asn}"]
    for setting in settings:
        no = "no " if setting.startswith("no ") else ""
        lines.append(f"{no}neighbor {node.address} {setting.removeprefix('no ')}")
    lab.router.vtysh_config(lines)
    lab.router.vtysh(f"clear bgp ipv6 {node.address}")


def state(lab: Lab, node: LabNode) -> str:
    data = json.loads(lab.router.vtysh(f"show bgp neighbors {node.address} json"))
    return str(data.get(str(node.address), {}).get("bgpState", ""))


def wait_session(lab: Lab, node: LabNode, established: bool, timeout: float) -> None:
    """Until FRR's session with `node` is (or is not) Established, for 1 s in a row."""
    deadline = time.monotonic() + timeout
    held_since: float | None = None
    while time.monotonic() < deadline:
        ok = (state(lab, node) == "Established") == established
        now = time.monotonic()
        held_since = (held_since or now) if ok else None
        if held_since is not None and now - held_since >= 1.0:
            return
        time.sleep(0.1)
    raise LabError(f"{node.name}: session {'not ' if established else ''}established after "
                   f"{timeout:g} s (FRR: {state(lab, node)})")


def stays_down(lab: Lab, node: LabNode, seconds: float) -> bool:
    """Whether FRR's session with `node` stays short of Established for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if state(lab, node) == "Established":
            return False
        time.sleep(0.1)
    return True
