"""The fault matrix: each way DNS fails on dns1 (killed, hung, SERVFAIL, REFUSED, a wrong
answer, no AA), withdrawn with the precise reason and back after the repair.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.lab import Lab, LabNode, render, summarize, wait_for

from ..faults import DNS_FAILED, HUNG_FAILED, assert_failed_at_most, record, service
from ..fib import FibWatch

pytestmark = pytest.mark.lab


def _zone(lab: Lab, replace: dict[str, str]) -> str:
    text = render.zone_file(lab.topo).replace("2025112001", "2025112002")
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def _serve_zone(node: LabNode, text: str, check: Callable[[], bool]) -> None:
    """Write the zone file and make named reload it (SIGHUP); wait until `check`."""
    node.dirty = True
    node.zone_broken = True  # heal() writes the lab's zone back and restarts named
    node.zone_path.write_text(text)
    node.named.signal(signal.SIGHUP)
    wait_for(check, 10, interval=0.05, what=f"named on {node.name} to serve the new zone")


WWW = "www     IN      AAAA    2001:db8::1"


def _www(node: LabNode) -> Any:
    return node.query(str(node.address), "www.example.com.", "AAAA", timeout=0.3)


def _inject(mode: str, lab: Lab, node: LabNode) -> None:
    if mode == "killed":
        node.kill_named(signal.SIGKILL)
    elif mode == "hung":
        node.stop_named()
    elif mode in ("servfail", "refused"):
        node.break_zone(mode)
    elif mode == "wrong-answer":
        _serve_zone(node, _zone(lab, {WWW: "www     IN      AAAA    2001:db8::99"}),
                    lambda: (a := _www(node)) is not None and "2001:db8::99" in a.to_text())
    elif mode == "no-aa":
        # www delegated away: named answers with a referral, NOERROR without AA
        _serve_zone(node, _zone(lab, {WWW: "www     IN      NS      ns1.example.com."}),
                    lambda: (a := _www(node)) is not None and not a.flags & 0x0400)
    else:
        raise ValueError(mode)


def _repair(mode: str, lab: Lab, node: LabNode) -> None:
    if mode == "killed":
        node.start_named()
    elif mode == "hung":
        node.cont_named()
    elif mode in ("servfail", "refused"):
        node.fix_zone()
    else:
        good = render.zone_file(lab.topo).replace("2025112001", "2025112003")
        _serve_zone(node, good, lambda: (a := _www(node)) is not None
                    and "2001:db8::1" in a.to_text() and bool(a.flags & 0x0400))


DNS_MODES = {
    # mode: (row title, check code in status, text in the service's reason)
    "killed": ("named SIGKILL (refused)", "refused", "connection refused"),
    "hung": ("named SIGSTOP (timeout)", "timeout", "timeout: hung, "),
    "servfail": ("zone fails to load (SERVFAIL)", "rcode", "rcode SERVFAIL"),
    "refused": ("zone not served (REFUSED)", "rcode", "rcode REFUSED"),
    "wrong-answer": ("wrong answer (www AAAA edited)", "wrong-answer",
                     "answer 2001:db8::99 (expected 2001:db8::1)"),
    "no-aa": ("answer without AA (referral)", "not-authoritative",
              "answer is not authoritative"),
}


@pytest.mark.parametrize("mode", list(DNS_MODES))
def test_dns_failure_withdrawn_with_precise_reason(lab: Lab, node: LabNode, mode: str) -> None:
    """Each DNS failure: withdrawn, the reason in `speakerctl status --json` names it;
    repaired: back after rise."""
    title, code, text = DNS_MODES[mode]
    stream = lab.client.stream(rate=50, duration=5)
    time.sleep(1.0)
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        _inject(mode, lab, node)
        gone = fib.wait(False, t0, 8)
        # down, for the injected reason: a zone broken by restarting named is first refused
        # (nothing listening for a moment), then answered with the broken rcode
        state = wait_for(lambda: (s := service(node))["state"] == "down" and text in s["reason"]
                         and s, 5, what=f"the service to be down with reason {text!r}")
        time.sleep(0.6)
        t1 = time.monotonic()
        stayed = fib.steady(False, t0 + gone, t1)
        _repair(mode, lab, node)
        back = lab.router.time_until_back(node.address, timeout=15, t0=t1)
    stats = summarize(stream.wait())
    restart = " (incl. named restart)" if mode in ("servfail", "refused") else ""
    record(title, gone, back, stats,
           f"reason: {state['reason'][:60]}{restart}; recover from repair")
    assert stayed, f"re-announced while failing: {fib.changes}"
    assert state["health"] == "down" and state["prefixes"][0]["desired"] == "withdrawn"
    assert text in state["reason"], state
    assert any(c["code"] == code and not c["ok"] for c in state["checks"]), state["checks"]
    if mode == "hung":  # the hang confirmation: 0.30 s at worst, plus the router's ~0.07 s
        assert gone <= 0.6, f"hung: withdrawn after {gone:.2f} s (worst case 0.37 s)"
    elif mode in ("killed", "wrong-answer", "no-aa"):
        assert gone <= 1.5, f"{mode}: withdrawn after {gone:.2f} s"
    else:  # incl. restarting named with the broken zone
        assert gone <= 4.0, f"{mode}: withdrawn after {gone:.2f} s"
    assert back <= 5.0, f"{mode}: back {back:.2f} s after the repair (measured 1.0-1.7 s)"
    assert_failed_at_most(stats, HUNG_FAILED if mode == "hung" else DNS_FAILED,
                          "dns1's share until the withdraw")
