"""The fault matrix: config reloads, invalid (nothing changes) and adding a prefix.
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

import pytest

from tests.lab import Lab, LabNode, render, summarize, wait_for
from tests.lab.system import run

from ..faults import assert_failed_at_most, log_since, record, service
from ..fib import FibWatch

pytestmark = pytest.mark.lab

SECOND = "fd00:10:1::101"  # a second anycast prefix for the reload test


def _yaml_with_second_service(lab: Lab, node: LabNode) -> str:
    text = render.speaker_yaml(lab.topo, node.spec, node.socket, node.state_dir)
    header, body = text.split("\n", 1)
    doc = json.loads(body)
    first = doc["services"][0]
    doc["services"].append({
        "name": "dns-second", "prefixes": [f"{SECOND}/128"],
        "address": {"interface": "lo", "manage": True},
        "checks": [{"type": "dns", "server": SECOND, "qname": "example.com.",
                    "qtype": "SOA"}, first["checks"][1]],
    })
    return header + "\n" + json.dumps(doc, indent=2) + "\n"


def test_reload_invalid_yaml_changes_nothing(lab: Lab, node: LabNode) -> None:
    """SIGHUP and `speakerctl reload` with an invalid YAML: nothing changes (same process,
    still announced, no UPDATE, no client query lost), the error is logged / replied with
    exit 78."""
    pid = node.wait_speaker()
    updates0 = lab.router.updates_received(node.address)
    sock = ("--socket", str(node.socket))
    stream = lab.client.stream(rate=20, duration=5)
    with FibWatch(lab, node.address) as fib:
        # 1. SIGHUP, YAML that does not parse
        node.write_speaker_yaml(text="services: [ {name: dns\n")
        mark = len(node.log_text())
        node.sighup_speaker()
        wait_for(lambda: "config NOT changed" in log_since(node, mark), 5,
                 what="the reload error in the log")
        # 2. speakerctl reload, YAML that parses but does not validate
        bad = render.speaker_yaml(lab.topo, node.spec, node.socket, node.state_dir).replace(
            '"server": "fd00:10:1::100"', '"server": "not-an-address"')
        assert "not-an-address" in bad
        node.write_speaker_yaml(text=bad)
        invalid = node.ctl("reload")
        # 3. speakerctl reload, YAML that does not parse (socket given, the YAML has none)
        node.write_speaker_yaml(text="services: [ {name: dns\n")
        broken = node.ctl(*sock, "reload")
        broken_no_socket = node.ctl("reload")
        time.sleep(1.0)
        state = service(node)
        flips = fib.flips()
    updates = lab.router.updates_received(node.address) - updates0
    stats = summarize(stream.wait())
    record("reload with invalid YAML (SIGHUP, speakerctl)", None, None, stats,
           f"ctl exit {invalid.returncode} (bad value), {broken.returncode} (bad YAML), "
           f"{broken_no_socket.returncode} (bad YAML, no --socket); {flips} FIB changes, "
           f"{updates} UPDATEs")
    assert invalid.returncode == 78, invalid.stdout + invalid.stderr
    assert "not-an-address" in invalid.stderr, invalid.stderr
    assert broken.returncode == 78, broken.stdout + broken.stderr
    assert broken_no_socket.returncode != 0  # 69: locates no socket in an unparsable YAML
    assert node.wait_speaker() == pid, "the speaker restarted"
    assert state["state"] == "up" and state["prefixes"][0]["confirmed"] == "announced", state
    assert flips == 0 and updates == 0, (fib.changes, updates)
    assert_failed_at_most(stats, 3, "nothing changes: measured 0")


def test_reload_adds_prefix_withdrawn_then_announced_and_removes_it(
        lab: Lab, node: LabNode) -> None:
    """speakerctl reload with a second service: its prefix starts withdrawn and is announced
    after rise, the first prefix is not touched (no client query lost); reload without it:
    withdrawn at the router."""
    stream = lab.client.stream(rate=20, duration=5)
    with FibWatch(lab, node.address) as first, \
            FibWatch(lab, node.address, prefix=SECOND) as second:
        node.write_speaker_yaml(text=_yaml_with_second_service(lab, node))
        t0 = time.monotonic()
        added = node.ctl("reload")
        assert added.returncode == 0, added.stdout + added.stderr
        at_reply = time.monotonic() - t0
        announced = lab.router.wait_nexthops(
            lambda _h: str(node.address) in lab.router.nexthops(_ip(SECOND)), 10, t0=t0,
            what=f"{SECOND} announced by {node.name}")
        state = service(node, "dns-second")
        node.write_speaker_yaml()
        t1 = time.monotonic()
        removed = node.ctl("reload")
        assert removed.returncode == 0, removed.stdout + removed.stderr
        withdrawn = lab.router.wait_nexthops(
            lambda _h: str(node.address) not in lab.router.nexthops(_ip(SECOND)), 5,
            t0=t1, what=f"{SECOND} withdrawn")
        first_flips = first.flips()
        second_changes = list(second.changes)
    run(["ip", "-n", node.ns, "-6", "addr", "del", f"{SECOND}/128", "dev", "lo"], check=False)
    stats = summarize(stream.wait())
    record("reload: prefix added, then removed", withdrawn, announced, stats,
           f"announced {announced:.2f} s after reload (reply after {at_reply:.2f} s); "
           "withdraw = removal")
    assert not second_changes[0][1], "the new prefix was announced before any check"
    # rise (3) passing rounds, a new service's `fast_interval` (0.1 s) apart: never sooner
    assert announced >= 0.2, f"announced {announced:.2f} s after reload: before rise?"
    assert state["state"] == "up", state
    assert first_flips == 0, f"the first prefix moved: {first.changes}"
    assert withdrawn <= 2.0
    assert announced <= 5.0, f"announced {announced:.2f} s after reload (measured 1.8-1.9 s)"
    assert_failed_at_most(stats, 3, "the first prefix is not touched: measured 0")


def _ip(text: str) -> Any:
    return ipaddress.IPv6Address(text)
