"""The fault matrix: the speaker and ExaBGP crashing, hanging, giving up and stopping.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.lab import Lab, LabNode, summarize, wait_for
from tests.lab.system import alive, wait_gone

from ..faults import assert_failed_at_most, log_since, record, use_exabgp
from ..fib import FibWatch

pytestmark = pytest.mark.lab

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
