"""The fault matrix of issue 5: every fault we can inject, measured at the router.

Each lab test injects one fault on dns1 (or the router) of a shared 3-node lab
(ExaBGP 4.2, the real speaker; reset to healthy before every test) while the
client streams queries, and asserts on the router's FIB (dns1's next hop gone, then back, with
the time it took, watched over the whole interval by a FibWatch) and on the
client's failed queries. Every test adds a row to `FAULT_RESULTS`; the table is
printed at the end of the run (see tests/e2e/conftest.py). Every row asserts a
bound on its withdraw and recover times and on its failed queries: the issue's
goals, or about 3x what was measured (the measured numbers are in the comments
and in the README's "Failure behaviour" table; the machine is shared).

Covered elsewhere: an unhandled exception in the speaker (tests/integration/
test_crash.py runs the real process with a probe that raises: it withdraws and
exits 70, and ExaBGP starts a fresh one as after a kill), truncated/malformed DNS
responses and answers slow near the timeout (BIND does not produce them; see
tests/unit/adapters/test_checks.py).
The last test runs the speaker outside the lab with a pipe as its stdin.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Lab, LabNode, render, summarize, wait_for
from tests.lab.lab import REPO
from tests.lab.lanes import SPEAKER_PYTHON
from tests.lab.system import alive, run, wait_gone

from .faults import (
    RoundCounter,
    assert_failed_at_most,
    hold_time,
    log_since,
    negotiated_timers,
    port_down,
    record,
    restart_bgpd,
    service,
    use_exabgp,
)
from .fib import FibWatch

pytestmark = pytest.mark.lab

SECOND = "fd00:10:1::101"  # a second anycast prefix for the reload test

# Bounds on failed client queries (every row also asserts its times). Rows whose fault
# leaves named answering (speaker, ExaBGP, reload) measured 0 and allow 3 (a loaded
# machine). A DNS fault loses dns1's third of the queries until the withdraw: at 50 q/s
# that is 25 within the 1.5 s withdraw bound (measured 0-8 of 250), 35 for a hung named,
# whose last queries also wait out their 0.5 s timeout (measured 14).
DNS_FAILED = 25
HUNG_FAILED = 35
FLAPPING_FAILED = 40  # 6 stops of named at 20 q/s: measured 12 of 560 (3x)
ALTERNATING_FAILED = 10  # a 0.45 s pause is shorter than the 0.5 s timeout: measured 0


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def node(lab: Lab) -> Iterator[LabNode]:
    """dns1, with its speaker.yaml put back after the test (heal() restarts it)."""
    dns1 = lab.node(1)
    try:
        yield dns1
    finally:
        dns1.write_speaker_yaml()


# -- process crash and hang ------------------------------------------------------------------


def test_speaker_sigkill_withdrawn_at_once_respawned_announced_after_rise(
        lab: Lab, node: LabNode) -> None:
    """SIGKILL of the speaker: the watchdog (pipe EOF) and the respawned process both
    withdraw; next hop gone well under 1 s, back after `rise` passes of the new process."""
    old = node.wait_speaker()
    stream = lab.client.stream(rate=50, duration=5)
    time.sleep(1.0)
    mark = len(node.log_text())
    t0 = time.monotonic()
    node.kill_speaker(signal.SIGKILL)
    gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    back = lab.router.time_until_back(node.address, timeout=15, t0=t0)
    stats = summarize(stream.wait())
    new = node.wait_speaker(other_than=old)
    record("speaker SIGKILL", gone, back, stats, "respawned by ExaBGP")
    assert gone < 1.0, f"next hop left {gone:.2f} s after the speaker was killed"
    assert back <= 5.0, f"back {back:.2f} s after the kill (measured 1.4-1.7 s)"
    assert_failed_at_most(stats, 3, "named answers all along: measured 0")
    assert new != old
    log = log_since(node, mark)
    assert "speaker exited without cleaning up; withdrew 1 prefixes" in log, log
    assert log.index("starting version") < log.index("withdrawn prefix="), log


def test_speaker_sigstop_watchdog_withdraws_and_kills_it(lab: Lab, node: LabNode) -> None:
    """SIGSTOP of the speaker (a hung event loop): the watchdog withdraws after
    watchdog_timeout (2 s) and SIGKILLs it; ExaBGP respawns it; back after rise."""
    old = node.wait_speaker()
    got = node.speaker_pid()
    assert got is not None and node.watchdog_pid() is not None
    stream = lab.client.stream(rate=50, duration=7)
    time.sleep(1.0)
    mark = len(node.log_text())
    t0 = time.monotonic()
    node.kill_speaker(signal.SIGSTOP)
    gone = lab.router.time_until_gone(node.address, timeout=8, t0=t0)
    killed = wait_for(lambda: not alive(*got), 5, what="the hung speaker to be killed")
    back = lab.router.time_until_back(node.address, timeout=15, t0=t0)
    stats = summarize(stream.wait())
    record("speaker SIGSTOP (hang)", gone, back, stats, "watchdog_timeout 2 s, then SIGKILL")
    assert killed
    assert 1.5 <= gone <= 3.0, f"next hop left {gone:.2f} s after SIGSTOP (timeout is 2 s)"
    assert back <= 10.0, f"back {back:.2f} s after the hang (measured 3.2-4.7 s)"
    assert_failed_at_most(stats, 3, "named answers all along: measured 0")
    assert node.wait_speaker(other_than=old) != old
    assert "speaker hung: no heartbeat" in log_since(node, mark)


# -- ExaBGP gives up, ExaBGP stops ------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_crash_loop_exabgp_gives_up_route_gone(lab: Lab, node: LabNode, version: str) -> None:
    """Six speaker deaths in a row: ExaBGP gives up and exits (4.2 with 0, 5.0 with 1); the
    session is down, so the route is gone (systemd's Restart= brings it back: not tested)."""
    use_exabgp(lab, node, version)
    exabgp = node.exabgp
    stream = lab.client.stream(rate=50, duration=3)
    time.sleep(1.0)
    pid: int | None = None
    t0 = time.monotonic()
    gone: float | None = None
    for _ in range(6):
        pid = node.wait_speaker(timeout=10, other_than=pid)
        node.kill_speaker(signal.SIGKILL)
        if gone is None:
            gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    t_last = time.monotonic()
    exited = exabgp.wait_gone(15)
    gave_up = time.monotonic() - t_last
    stats = summarize(stream.wait())
    code = exabgp.popen.returncode if exabgp.popen else None
    record(f"crash loop, ExaBGP {version}", gone, None, stats,
           f"ExaBGP exit {code} {gave_up:.1f} s after the 6th kill")
    assert exited, "ExaBGP did not give up after 6 deaths of its process"
    assert gone is not None and gone < 1.0, f"first withdraw after {gone} s"
    assert gave_up <= 3.0, f"ExaBGP exited {gave_up:.1f} s after the 6th kill (measured 0.1)"
    assert_failed_at_most(stats, 3, "named answers all along: measured 0")
    assert code == (0 if version == "4.2" else 1)
    assert str(node.address) not in lab.router.nexthops()
    assert str(node.address) not in lab.router.established()
    assert node.speaker_pid() is None


@pytest.mark.parametrize("version", ["4.2", "5.0"])
def test_exabgp_sigterm_speaker_withdraws_and_exits(lab: Lab, node: LabNode,
                                                    version: str) -> None:
    """SIGTERM to ExaBGP: the speaker is told (shutdown), withdraws and exits; ExaBGP exits
    within 3 s (4.2 would wait forever for a process that ignores SIGTERM)."""
    use_exabgp(lab, node, version)
    exabgp = node.exabgp
    speaker, dog = node.speaker_pid(), node.watchdog_pid()
    assert speaker is not None and dog is not None
    stream = lab.client.stream(rate=50, duration=4)
    time.sleep(1.0)
    mark = len(node.log_text())
    t0 = time.monotonic()
    exabgp.signal(signal.SIGTERM)
    exited = exabgp.wait_gone(10)
    took = time.monotonic() - t0
    gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    t1 = time.monotonic()
    node.start_exabgp_version(version)
    back = lab.router.time_until_back(node.address, timeout=15, t0=t1)
    stats = summarize(stream.wait())
    record(f"ExaBGP {version} SIGTERM", gone, back, stats,
           f"ExaBGP exited after {took:.2f} s; recover = restart to announce")
    assert exited and took <= 3.0, f"ExaBGP {version} took {took:.2f} s to exit"
    assert gone <= 1.0, f"next hop left {gone:.2f} s after SIGTERM (measured 0.15-0.17 s)"
    assert back <= 8.0, f"back {back:.2f} s after the restart (measured 1.5-2.7 s)"
    assert_failed_at_most(stats, 3, "named answers all along: measured 0")
    assert not alive(*speaker) and not alive(*dog)
    assert "stopping: withdrawing announced prefixes" in log_since(node, mark)


def test_exabgp_sigkill_router_drops_the_path_at_once(lab: Lab, node: LabNode) -> None:
    """SIGKILL of ExaBGP: the kernel closes its TCP session, so the router drops the next
    hop at once (no hold time involved); named answers all along, so no client query is
    lost; the speaker and its watchdog see EOF and exit by themselves; a new ExaBGP
    announces after rise."""
    exabgp = node.exabgp
    speaker, dog = node.speaker_pid(), node.watchdog_pid()
    assert speaker is not None and dog is not None
    stream = lab.client.stream(rate=50, duration=4)
    time.sleep(1.0)
    with FibWatch(lab, node.address) as fib:
        node.dirty = True
        t0 = time.monotonic()
        assert exabgp.signal(signal.SIGKILL)
        gone = fib.wait(False, t0, 5)
        exited = exabgp.wait_gone(5)
        left_alone = wait_gone(*speaker, 5.0) and wait_gone(*dog, 5.0)
        t1 = time.monotonic()
        stayed = fib.steady(False, t0 + gone, t1)
        node.start_exabgp()
        back = lab.router.time_until_back(node.address, timeout=15, t0=t1)
    stats = summarize(stream.wait())
    record("ExaBGP SIGKILL", gone, back, stats, "TCP closed by the kernel; recover = restart "
                                                "to announce")
    assert exited
    assert gone <= 1.0, f"next hop left {gone:.2f} s after the kill (measured 0.08-0.23 s)"
    assert left_alone, "the speaker or its watchdog outlived ExaBGP"
    assert stayed, f"announced again without ExaBGP: {fib.changes}"
    assert back <= 6.0, f"back {back:.2f} s after the restart (measured 1.6-1.7 s)"
    assert_failed_at_most(stats, 3, "named answers all along: measured 0")


# -- the router and the network ---------------------------------------------------------------


def test_router_bgpd_restart_all_next_hops_back_soon(lab: Lab) -> None:
    """The router's bgpd restarted (SIGTERM, then started again): every session closes and
    the route leaves the FIB (an outage of the router, not of the nodes: the client's
    queries fail only while no next hop is left); ExaBGP reconnects and re-sends what it
    announced: all next hops back soon after bgpd starts, and no speaker restarts."""
    speakers = {n.name: n.wait_speaker() for n in lab.nodes}
    everyone = {str(n.address) for n in lab.nodes}
    stream = lab.client.stream(rate=50, duration=6)
    time.sleep(1.0)
    with FibWatch(lab) as fib:
        t0 = time.monotonic()
        started = restart_bgpd(lab)
        lab.router.wait_nexthops(lambda hops: hops == everyone, 15, what="all next hops back")
        t_none = fib.when(lambda hops: not hops, t0)  # zebra may drop them after bgpd exits
        assert t_none is not None, fib.samples
        t_first = fib.when(bool, t_none)
        t_all = fib.when(lambda hops: hops == everyone, t_none)
    records = stream.wait()
    stats = summarize(records)
    assert t_first is not None and t_all is not None, fib.samples
    outage = t_first - t_none
    back = t_all - started
    record("router bgpd restart", t_none - t0, back, stats,
           f"no next hop for {outage:.2f} s; recover = all 3 back after bgpd starts")
    assert t_none - t0 <= 2.0, f"route left {t_none - t0:.2f} s after SIGTERM to bgpd"
    assert back <= 4.0, f"all next hops back {back:.2f} s after bgpd started (measured 1.0-1.1 s)"
    # queries fail only in the outage (plus those in flight, 0.5 s timeout)
    assert_failed_at_most(stats, int(50 * (outage + 1.0)), f"{outage:.2f} s with no route")
    after = summarize(records, since=t_all + 0.5)
    assert_failed_at_most(after, 1, "after every next hop is back")
    assert {n.name: n.wait_speaker() for n in lab.nodes} == speakers, "a speaker restarted"


@pytest.mark.parametrize("hold", [3, 9])
def test_node_cut_off_without_fin_withdrawn_at_hold_time_expiry(
        lab: Lab, node: LabNode, hold: int) -> None:
    """dns1's port on the router's bridge down (no FIN, no RST: a dead link, a firewall):
    only the router's hold timer notices. It expires between 2/3 of the hold time (a
    keepalive, every third of it, had just arrived) and all of it after the cut: hold 3
    (the shipped default) -> 2-3 s, hold 9 -> 6-9 s. Meanwhile the router still sends dns1
    its share of the queries (about a third), which are lost; the other nodes' paths stay.
    FRR takes the short hold time (negotiated: keepalive every third of it). Port up again:
    ExaBGP reconnects and the route is back."""
    others = {str(n.address) for n in lab.nodes if n is not node}
    with hold_time(lab, node, hold):
        negotiated = negotiated_timers(lab, node)
        stream = lab.client.stream(rate=50, duration=hold + 5)
        time.sleep(1.0)
        with FibWatch(lab, node.address) as fib:
            t0 = time.monotonic()
            with port_down(lab, node):
                gone = fib.wait(False, t0, hold + 5)
                time.sleep(0.5)
                t1 = time.monotonic()
                stayed = fib.steady(False, t0 + gone, t1)
            back = lab.router.time_until_back(node.address, timeout=40, t0=t1)
            lost_other = fib.when(lambda hops: not others <= hops, t0)
        records = stream.wait()
    stats = summarize(records)
    window = summarize(records, since=t0, until=t0 + gone)
    after = summarize(records, since=t0 + gone + 0.2)
    record(f"node cut off (port down), hold time {hold}", gone, back, stats,
           f"{window['failed']}/{window['sent']} failed until the hold timer fired; "
           f"recover = port up to announced")
    assert negotiated == (float(hold), hold / 3), f"router's (hold, keepalive): {negotiated}"
    assert hold * 2 / 3 - 0.3 <= gone <= hold + 1.0, (
        f"withdrawn {gone:.2f} s after the cut (hold time {hold} s)")
    assert stayed, f"next hop back while cut off: {fib.changes}"
    assert lost_other is None, f"another node's path left at {lost_other - t0:.2f} s"
    assert 0.1 <= window["failed_share"] <= 0.6, f"dns1's share lost while cut: {window}"
    assert_failed_at_most(after, 2, "dns1 is out of the FIB: the others answer")
    assert back <= 10.0, f"back {back:.2f} s after the port came up (measured 0.5-2.6 s)"


# -- flapping --------------------------------------------------------------------------------


def test_flapping_named_is_held_down(lab: Lab, node: LabNode) -> None:
    """named stopped 1.5 s / running 2.5 s in a loop: after max_transitions (6) the service
    is held down (status and events say so) and stays withdrawn although named is healthy;
    UPDATEs at the router stay bounded; back after the penalty."""
    named = node.named
    updates0 = lab.router.updates_received(node.address)
    stream = lab.client.stream(rate=20, duration=28)
    held_at: float | None = None
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        for _ in range(6):
            named.signal(signal.SIGSTOP)
            time.sleep(1.5)
            named.signal(signal.SIGCONT)
            time.sleep(2.5)
            if service(node)["state"] == "held-down":
                held_at = time.monotonic()
                break
        assert held_at is not None, f"never held down: {service(node)}"
        flaps = fib.flips(t0)
        held = service(node)
        time.sleep(3.0)  # named is healthy all along now
        withdrawn_while_held = fib.steady(False, held_at, time.monotonic())
        back = lab.router.time_until_back(node.address, timeout=20, t0=held_at)
    updates = lab.router.updates_received(node.address) - updates0
    events = json.loads(node.ctl("--json", "events").stdout)
    stats = summarize(stream.wait())
    first_gone = next((t for t, present in fib.changes if not present and t >= t0), None)
    record("named flapping (1.5 s stop / 2.5 s run)",
           None if first_gone is None else first_gone - t0, back, stats,
           f"held down after {held_at - t0:.1f} s, {flaps} FIB changes, {updates} UPDATEs")
    assert withdrawn_while_held, f"re-announced while held down: {fib.changes}"
    assert held["flap_holds"] >= 1 and held["held_down_for"] > 3, held
    assert any(e["new"] == "held-down" and "flapping" in e["reason"] for e in events), events
    assert flaps <= 6, f"{flaps} FIB changes before the hold"
    assert updates <= 8, f"{updates} UPDATEs from a flapping node"
    assert first_gone is not None and first_gone - t0 <= 2.0, fib.changes
    # the penalty is 10 s from the hold, which began before held_at was seen
    assert 3.0 <= back <= 14.0, f"back {back:.2f} s after the hold was seen (penalty 10 s)"
    assert_failed_at_most(stats, FLAPPING_FAILED, "dns1's share of each stop until withdrawn")


def test_alternating_check_does_not_send_an_update_per_probe(lab: Lab, node: LabNode) -> None:
    """named paused 0.45 s of every 0.7 s for 12 s: a probe sent in the first 0.2 s of a
    pause times out (0.25 s), its fast re-probe is answered when the pause ends, so the
    check fails and passes alternately (the 0.7 s period drifts against the 0.3 s interval:
    about 2 of every 7 rounds fail). No UPDATE per failing probe: fall (2 in a row) filters
    it; flap damping would bound anything that got through."""
    named = node.named
    updates0 = lab.router.updates_received(node.address)
    stream = lab.client.stream(rate=20, duration=13)
    with FibWatch(lab, node.address) as fib, RoundCounter(node) as rounds:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 12.0:
            named.signal(signal.SIGSTOP)
            time.sleep(0.45)
            named.signal(signal.SIGCONT)
            time.sleep(0.25)
        time.sleep(0.3)
        flaps = fib.flips(t0)
    updates = lab.router.updates_received(node.address) - updates0
    stats = summarize(stream.wait())
    state = service(node)
    record("named paused 0.45 s of every 0.7 s (12 s)", None, None, stats,
           f"{rounds.failed} failed / {rounds.passed} passed probe rounds -> {updates} "
           f"UPDATEs, {flaps} FIB changes; ends {state['state']}")
    assert rounds.failed >= 3, f"the check did not fail often enough ({rounds.failed})"
    assert updates <= 8 and updates < rounds.failed, (
        f"{updates} UPDATEs for {rounds.failed} failing probe rounds")
    assert_failed_at_most(stats, ALTERNATING_FAILED, "dns1's queries that wait out a pause")


# -- DNS failure modes ------------------------------------------------------------------------


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
    "hung": ("named SIGSTOP (timeout)", "timeout", "timeout after 0.25 s"),
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
    if mode in ("killed", "hung", "wrong-answer", "no-aa"):
        assert gone <= 1.5, f"{mode}: withdrawn after {gone:.2f} s"
    else:  # incl. restarting named with the broken zone
        assert gone <= 4.0, f"{mode}: withdrawn after {gone:.2f} s"
    assert back <= 5.0, f"{mode}: back {back:.2f} s after the repair (measured 1.0-1.7 s)"
    assert_failed_at_most(stats, HUNG_FAILED if mode == "hung" else DNS_FAILED,
                          "dns1's share until the withdraw")


# -- the anycast address ---------------------------------------------------------------------


def test_address_removed_manage_false_stays_withdrawn_until_readded(
        lab: Lab, node: LabNode) -> None:
    """manage: false (the lab's default): the address removed from lo -> withdrawn at the
    next probe and not re-added; re-added by hand -> back after rise."""
    assert lab.manage_address is False
    stream = lab.client.stream(rate=50, duration=6)
    time.sleep(1.0)
    with FibWatch(lab, node.address) as fib:
        t0 = time.monotonic()
        node.remove_anycast()
        gone = fib.wait(False, t0, 5)
        time.sleep(2.0)
        state = service(node)
        t1 = time.monotonic()
        still = fib.steady(False, t0 + gone, t1) and not node.has_anycast()
        node.add_anycast()
        back = lab.router.time_until_back(node.address, timeout=10, t0=t1)
    stats = summarize(stream.wait())
    record("anycast address removed, manage false", gone, back, stats,
           "recover from re-adding by hand")
    assert gone <= 1.5
    assert still, f"address or route came back by itself with manage: false: {fib.changes}"
    assert back <= 5.0, f"back {back:.2f} s after re-adding (measured 1.3-1.4 s)"
    assert_failed_at_most(stats, DNS_FAILED, "dns1's share until the withdraw")
    assert "missing from lo" in state["reason"] and state["address_present"] is False, state


def test_address_removed_manage_true_readded_and_announced(lab: Lab, node: LabNode) -> None:
    """manage: true: the address removed from lo -> withdrawn, put back by the speaker,
    announced again after rise."""
    node.write_speaker_yaml(manage=True)
    node.kill_exabgp(signal.SIGTERM)
    node.start_exabgp()
    lab.router.time_until_back(node.address, timeout=15)
    stream = lab.client.stream(rate=50, duration=5)
    time.sleep(1.0)
    t0 = time.monotonic()
    node.remove_anycast()
    gone = lab.router.time_until_gone(node.address, timeout=5, t0=t0)
    readded = wait_for(node.has_anycast, 5, interval=0.02, what="the speaker to re-add it")
    t_added = time.monotonic() - t0
    back = lab.router.time_until_back(node.address, timeout=10, t0=t0)
    stats = summarize(stream.wait())
    record("anycast address removed, manage true", gone, back, stats,
           f"re-added by the speaker after {t_added:.2f} s")
    assert readded and gone <= 1.5 and back <= 5.0
    assert t_added <= 1.5, f"re-added {t_added:.2f} s after the removal"
    assert_failed_at_most(stats, DNS_FAILED, "dns1's share until the withdraw")


# -- config reload ---------------------------------------------------------------------------


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
    import ipaddress

    return ipaddress.IPv6Address(text)


# -- bad input from ExaBGP (no lab) ----------------------------------------------------------


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.integration
def test_bad_stdin_logged_memory_bounded_never_a_crash(tmp_path: Path) -> None:
    """The real process with a pipe as stdin: truncated JSON, an unknown message type,
    binary garbage, deep nesting, a 10 MB line without newline, then `done`: it stays up,
    logs each as ignored, RSS stays under 80 MB, the control socket still answers; EOF on
    stdin makes it withdraw and exit 0."""
    sock = tmp_path / "speaker.sock"
    cfg = tmp_path / "speaker.yaml"
    cfg.write_text(json.dumps({
        "control": {"socket": str(sock)},
        "state_dir": str(tmp_path / "state"),
        "services": [{"name": "dns", "prefixes": ["2001:db8:ffff::53/128"],
                      "checks": [{"type": "dns", "server": "::1", "port": 9,
                                  "qname": "example.com.", "qtype": "SOA"}]}],
    }))
    (tmp_path / "state").mkdir()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1"}
    errlog = tmp_path / "stderr.log"
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(
            [SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg), "--log-level", "debug"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env, cwd=tmp_path)
    assert proc.stdin is not None and proc.stdout is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.extend(iter(proc.stdout.readline, b"")),
                              daemon=True)
    reader.start()

    def ctl_status() -> dict[str, Any]:
        result = subprocess.run(
            [SPEAKER_PYTHON, "-m", "speaker.cli", "--socket", str(sock), "--json",
             "status"], capture_output=True, text=True, timeout=20, env=env, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    try:
        wait_for(sock.exists, 15, what="the control socket")
        rss0 = _rss_kb(proc.pid)
        feed = [
            b'{"exabgp": "4.0.1", "time": 1.0, "type": "state", "neighbor": {"addr',  # cut
            b'{"exabgp": "5.0.0", "type": "frobnicate", "frobnicate": {}}',
            b"\xff\xfe\x00\x80garbage\x1b[2J",
            b'{"a": ' + b"[" * 30_000,
            b"A" * 10_000_000,  # 10 MB, newline only after it
            b"done",
        ]
        t0 = time.monotonic()
        for chunk in feed:
            proc.stdin.write(chunk + b"\n")
            proc.stdin.flush()
        status = wait_for(lambda: (s := ctl_status())["exabgp"]["ignored_lines"] >= 4 and s,
                          15, what="the bad lines to be counted")
        took = time.monotonic() - t0
        rss = _rss_kb(proc.pid)
        assert proc.poll() is None, "the speaker died on bad input"
        proc.stdin.close()  # ExaBGP gone: withdraw and exit
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    reader.join(5)
    log = errlog.read_text(errors="replace")
    record("bad stdin (5 kinds incl. 10 MB line)", None, None, None,
           f"survived; RSS {rss0 // 1024} -> {rss // 1024} MB; handled in {took:.1f} s; "
           f"exit {code} on EOF")
    assert status["exabgp"]["ignored_lines"] == 4, status["exabgp"]
    assert log.count("ignored unexpected line from ExaBGP") == 4, log
    for problem in ("invalid JSON", "not UTF-8", "line longer than", "kind=frobnicate"):
        assert problem in log, f"{problem!r} not logged"
    assert rss < 80 * 1024, f"RSS {rss} kB after a 10 MB line"
    assert code == 0
    lines = [line.decode().strip() for line in out]
    assert lines == ["clear adj-rib out"], lines  # the start-up clear, acked by the `done`
    assert "Traceback" not in log
