"""A session the real FRR keeps resetting is shown resetting and its prefix is not held.

The trigger: FRR resets the session (`clear bgp`, a NOTIFICATION Cease /
Administrative Reset) each time within a second of it coming up, that is right
after our UPDATE, four times in a row. (Tried first, in this lab FRR 8.4 kept the
session up for an AS_PATH with a wrong first AS under `enforce-first-as`, and for two
prefixes under `maximum-prefix 1`; the martian next hop, an IPv4 /32 over IPv6 with
next-hop self, is refused by check-config.) `speakerctl status` shows the session
RESETTING with the NOTIFICATION, `speakerctl doctor` fails the prefix and the session,
and the metrics count the resets and flag the session.
"""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from tests.lab import Lab, wait_for
from tests.lab.lab import LabNode

pytestmark = pytest.mark.lab

PORT = 9331
SCRAPE = ("import urllib.request; print(urllib.request.urlopen("
          f"'http://[::1]:{PORT}/metrics', timeout=5).read().decode())")


def restart(node: LabNode) -> None:
    node.kill_exabgp(signal.SIGTERM)
    node.start_exabgp()
    node.wait_speaker()


def neighbor(node: LabNode) -> dict[str, Any]:
    """The node's one BGP neighbour in `speakerctl status` ({} while the speaker starts)."""
    status = node.ctl("--json", "status")
    if status.returncode != 0:
        return {}
    found = json.loads(status.stdout)["neighbors"]
    return found[0] if found else {}


def test_a_session_frr_keeps_resetting_is_shown_and_fails_doctor(lab: Lab) -> None:
    node = lab.node(3)
    node.write_speaker_yaml(extra={"metrics": {"listen": "::1", "port": PORT}})
    try:
        restart(node)
        for _ in range(4):
            up = wait_for(lambda: (n := neighbor(node)).get("state") == "up" and n, 30,
                          interval=0.1, what="the session to come up")
            time.sleep(0.5)  # our UPDATE is sent at the up
            lab.router.vtysh(f"clear bgp ipv6 unicast {node.address}")
            wait_for(lambda ups=up["ups"]: neighbor(node).get("downs", 0) >= ups, 10,
                     interval=0.1, what="the reset to reach the speaker")
        wait_for(lambda: neighbor(node).get("state") == "up", 30, interval=0.2,
                 what="the session to come up again")
        now = neighbor(node)
        assert now["resetting"] and now["recent_resets"] >= 3, now
        assert "Administrative Reset" in str(now["down_reason"]), now
        assert "notification" in str(now["down_reason"]), now
        shown = node.ctl("status").stdout
        assert "RESETTING" in shown and "Administrative Reset" in shown, shown
        doctor = node.ctl("doctor")
        text = doctor.stdout + doctor.stderr
        assert doctor.returncode == 1, text
        assert "keeps resetting" in text and f"{lab.anycast}/128" in text, text
        scraped = node.run(["/usr/bin/python3", "-c", SCRAPE], check=True).stdout.splitlines()
        counts = [line for line in scraped if line.startswith("speaker_bgp_session_resets_total")]
        assert counts and float(counts[0].split()[-1]) >= 3, counts
        assert any(line.startswith("speaker_bgp_neighbor_resetting") and line.endswith(" 1.0")
                   for line in scraped), [x for x in scraped if "resetting" in x]
        print(f"resetting: {now}; {counts[0]}")
    finally:
        node.write_speaker_yaml()
        restart(node)
    lab.router.time_until_back(node.address, timeout=30)
