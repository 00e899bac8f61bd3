"""Lab machinery for the RFC 8326 graceful drain: the router's BGP view of each node's path,
and a speakerctl command run in the background (the drain waits SECONDS before it returns).

`paths` reads FRR's `show bgp ipv6 unicast PREFIX json` (BIRD: `show route all`) into one
`Path` per node: its LOCAL_PREF, whether it carries GRACEFUL_SHUTDOWN and whether it is
in the multipath set (BIRD: whether it is the best or merged). Reads only.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.lab import Lab, LabNode


@dataclass(frozen=True)
class Path:
    local_pref: int | None
    gshut: bool
    multipath: bool


def paths(lab: Lab) -> dict[str, Path]:
    """Each node's path to the anycast prefix in the router's BGP RIB, by next hop."""
    if lab.router_kind == "bird":
        return _bird_paths(lab.router.birdc(f"show route {lab.anycast}/128 all"))
    data = json.loads(lab.router.vtysh(f"show bgp ipv6 unicast {lab.anycast}/128 json") or "{}")
    out = {}
    for item in data.get("paths", []):
        hops = item.get("nexthops") or [{}]
        address = hops[0].get("ip") or item.get("peer", {}).get("peerId", "")
        community = item.get("community", {}).get("string", "")
        out[address] = Path(item.get("locPrf"), "graceful-shutdown" in community,
                            bool(item.get("multipath") or item.get("bestpath")))
    return out


_BEST = re.compile(r"\]\s+\*")  # `unicast [dns1 12:00:00] * (100)`: the best route


def _bird_paths(text: str) -> dict[str, Path]:
    """`show route ... all` of one prefix: a block per route (its first line has
    `unicast [`, a `*` after the protocol for the best), then `BGP.next_hop`,
    `BGP.local_pref` and `BGP.community` lines. `multipath` is "the best route" here:
    BIRD's RIB does not say which routes `merge paths` merged (the FIB does)."""
    out: dict[str, Path] = {}
    blocks: list[dict[str, str]] = []
    for line in text.splitlines():
        if " unicast [" in line:
            blocks.append({"head": line})
        elif blocks and ":" in line:
            key, _, value = line.strip().partition(":")
            blocks[-1][key.strip()] = value.strip()
    for block in blocks:
        hop = (block.get("BGP.next_hop") or "").split()
        pref = block.get("BGP.local_pref")
        gshut = "(65535,0)" in block.get("BGP.community", "").replace(" ", "")
        out[hop[0] if hop else ""] = Path(int(pref) if pref else None, gshut,
                                          bool(_BEST.search(block["head"])))
    return out


class Background:
    """`speakerctl ARGS` on `node` in a thread: `result()` waits for it."""

    def __init__(self, node: LabNode, *args: str, timeout: float = 120.0) -> None:
        self._done: list[subprocess.CompletedProcess[str]] = []
        self._thread = threading.Thread(
            target=lambda: self._done.append(node.ctl(*args, timeout=timeout)), daemon=True)
        self._thread.start()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        self._thread.join(timeout)
        if not self._done:
            raise TimeoutError("speakerctl did not finish")
        return self._done[0]
