"""The installed package (not the checkout) runs a node of the lab.

Issue 6's acceptance: the tree's .deb is installed on THIS machine, dns1 of a
two-node lab (tests/lab) runs the installed unit's ExecStart the way systemd
would (tests/packaging/unit.py: setpriv with the unit's user, group,
CAP_NET_ADMIN only, no-new-privs, the unit's environment) on the installed
/etc/speaker files, rewritten with the lab's addresses for dns1; dns2 runs the
checkout. The tests then show, in order: the session and the route at the
router, the speaker re-adding the anycast address (CAP_NET_ADMIN at work),
withdraw on a named SIGKILL and announce after named is back, `speakerctl`
refused to a user outside group speaker (permission denied, exit 69), and
`speakerctl withdraw` / `announce` working for a member. The last test tears
everything down (lab, /run/speaker, throwaway users, the package, the speaker
user if this module created it) and checks nothing is left.

Outside systemd the RuntimeDirectory (/run/speaker, for the control socket)
and StateDirectory (/var/lib/speaker) are created here as the unit would. The
module is skipped unless run as root with the build tools and the lab's
requirements, and when the package, /etc/speaker, /run/speaker or
/var/lib/speaker already exist (never clobber a real installation). The tests
depend on each other's order: run the module as a whole. The scenario's set-up and
teardown are tests/packaging/installed_node.py's.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.lab import missing_requirements
from tests.lab.system import children, cmdline, wait_for
from tests.packaging.debs import CAP_NET_ADMIN, PACKAGE, _dpkg_status, _have_tools
from tests.packaging.installed_node import (
    CONF,
    OURS,
    SOCKET,
    YAML,
    InstalledNode,
    proc_environ,
    proc_status,
)

if TYPE_CHECKING:
    from tests.packaging.conftest import DebBuilder

DENIED = "permission denied"
EX_UNAVAILABLE = 69

pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a .deb and runs a lab: needs root"),
    pytest.mark.skipif(not _have_tools(), reason="needs dpkg-buildpackage, debhelper, "
                       "apt-get and systemd-analyze"),
    pytest.mark.skipif(_dpkg_status() not in ("", "un", "pn"),
                       reason=f"{PACKAGE} is already installed here; not touching it"),
    pytest.mark.skipif(bool(missing_requirements()),
                       reason="lab: " + "; ".join(missing_requirements())),
]


@pytest.fixture(scope="module")
def deployed(deb_builder: DebBuilder) -> Iterator[InstalledNode]:
    if _dpkg_status() not in ("", "un", "pn"):
        pytest.skip(f"{PACKAGE} is installed ({_dpkg_status()}); not touching it")
    taken = [str(p) for p in OURS if p.exists()]
    if taken:
        pytest.skip(f"{', '.join(taken)} exist(s) already; not touching them")
    scenario = InstalledNode(deb_builder.build())
    try:
        try:
            scenario.setup()
        except BaseException:
            if scenario.lab is not None and scenario.lab.root.exists():
                print(scenario.lab.logs(40))
            raise
        yield scenario
    finally:
        scenario.close()


@pytest.fixture
def node(deployed: InstalledNode, request: pytest.FixtureRequest) -> Iterator[InstalledNode]:
    yield deployed
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and deployed.lab is not None \
            and deployed.lab.root.exists():
        print(deployed.lab.logs(40))


# -- the tests, in order --------------------------------------------------------------------


def test_node_runs_the_installed_unit_as_speaker_with_cap_net_admin_only(
        node: InstalledNode) -> None:
    """ExaBGP and the speaker run from the installed files as user speaker, CAP_NET_ADMIN only."""
    check_runs_as_speaker(node)


def check_runs_as_speaker(node: InstalledNode) -> None:
    exabgp, speaker = node.exabgp_and_speaker()
    assert node.node.exabgp.argv[:1] == ["setpriv"]
    unit_argv = ["/usr/sbin/exabgp", "--env", "/usr/share/anycast-speaker/exabgp.ini", str(CONF)]
    assert node.node.exabgp.argv[-4:] == unit_argv
    assert cmdline(exabgp)[-4:] == unit_argv, cmdline(exabgp)
    assert cmdline(speaker) == ["/usr/bin/python3", "-m", "speaker", "--config", str(YAML)]
    assert speaker in children(exabgp)
    uid, gid = pwd.getpwnam("speaker").pw_uid, pwd.getpwnam("speaker").pw_gid
    for pid in (exabgp, speaker):
        st = proc_status(pid)
        assert {int(u) for u in st["Uid"].split()} == {uid}, st["Uid"]
        assert {int(g) for g in st["Gid"].split()} == {gid}, st["Gid"]
        for key in ("CapEff", "CapPrm", "CapAmb", "CapBnd"):
            assert int(st[key], 16) == CAP_NET_ADMIN, (pid, key, st[key])
        assert st["NoNewPrivs"] == "1"
        # The installed package, not the checkout: nothing points Python elsewhere.
        env = proc_environ(pid)
        assert not {k for k in env if k.startswith("PYTHON")}, env
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert env.get("exabgp_daemon_user") == "speaker"
        assert env.get("RUNTIME_DIRECTORY") == "/run/speaker"
    sock = SOCKET.stat()
    assert (sock.st_uid, sock.st_gid, sock.st_mode & 0o777) == (uid, gid, 0o660), oct(sock.st_mode)


def test_session_is_up_and_the_route_is_at_the_router(node: InstalledNode) -> None:
    """The router has an Established session with dns1 and dns1 as a next hop of the anycast."""
    assert node.lab is not None
    assert str(node.node.address) in node.lab.router.established()
    assert str(node.node.address) in node.hops()
    assert f"via {node.node.address}" in node.lab.router.route_text()


def test_a_fresh_start_without_the_anycast_address_adds_it(node: InstalledNode) -> None:
    """ExaBGP stopped, the address removed from lo, ExaBGP started again (as systemd's
    Restart= would): the speaker, as user speaker with CAP_NET_ADMIN, adds the address
    and dns1 is announced again. (A restart also starts the speaker's flap damping afresh,
    so the faults below are not held down by the ones before.)"""
    assert node.lab is not None
    addr = node.node.address
    t0 = time.monotonic()
    node.node.kill_exabgp(signal.SIGTERM)
    node.timings["ExaBGP SIGTERM -> next hop gone"] = \
        node.lab.router.time_until_gone(addr, timeout=10, t0=t0)
    node.node.remove_anycast()
    assert not node.node.has_anycast()
    before = len(node.node.log_text())
    t1 = time.monotonic()
    node.node.start_exabgp()
    wait_for(node.node.has_anycast, 15, what="the speaker to add the anycast address")
    node.timings["ExaBGP started (no address) -> next hop back"] = \
        node.lab.router.time_until_back(addr, timeout=15, t0=t1)
    log = node.node.log_text()[before:]
    assert "anycast address added" in log, log
    assert "cannot add anycast address" not in log, log
    check_runs_as_speaker(node)


def test_named_sigkill_withdraws_and_named_back_announces(node: InstalledNode) -> None:
    """kill -9 named on dns1: its next hop leaves the FIB; named started again: it is back."""
    assert node.lab is not None
    addr, other = str(node.node.address), str(node.lab.node("dns2").address)
    t0 = time.monotonic()
    node.node.kill_named(signal.SIGKILL)
    node.timings["named SIGKILL -> next hop gone"] = \
        node.lab.router.time_until_gone(addr, timeout=10, t0=t0)
    assert node.hops() == {other}
    node.node.start_named()
    node.node.wait_named()
    t1 = time.monotonic()
    node.timings["named back -> next hop back"] = \
        node.lab.router.time_until_back(addr, timeout=15, t0=t1)
    assert node.hops() == {addr, other}


def test_speakerctl_is_refused_to_a_user_outside_group_speaker(node: InstalledNode) -> None:
    """A user not in group speaker: permission denied, exit 69, the route stays."""
    for args in (("withdraw",), ("status",)):
        r = node.speakerctl(node.other, *args)
        assert r.returncode == EX_UNAVAILABLE, (args, r.returncode, r.stdout, r.stderr)
        assert DENIED in r.stderr, r.stderr
        assert "member of group speaker" in r.stderr, r.stderr
    time.sleep(1)
    assert str(node.node.address) in node.hops()


def test_speakerctl_withdraw_and_announce_work_for_a_member(node: InstalledNode) -> None:
    """A member of group speaker withdraws (route gone) and announces (route back)."""
    assert node.lab is not None
    addr = str(node.node.address)
    status = node.speakerctl(node.member, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    argv, env = node.speakerctl_argv(node.member, "withdraw", "--reason", "deb-lab test")
    t0 = time.monotonic()
    with subprocess.Popen(argv, env=env, cwd="/", stdin=subprocess.DEVNULL, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as ctl:
        gone = node.lab.router.time_until_gone(addr, timeout=10, t0=t0)
        out, err = ctl.communicate(timeout=60)
    took = time.monotonic() - t0
    node.timings["speakerctl withdraw -> next hop gone"] = gone
    node.timings["speakerctl withdraw returned (after the drain)"] = took
    assert ctl.returncode == 0, out + err
    assert "withdrawn and drained" in out, out
    assert gone <= took and addr not in node.hops()
    # The maintenance is persisted in the StateDirectory, owned by the service user.
    assert any(Path("/var/lib/speaker").iterdir())
    time.sleep(2)
    assert addr not in node.hops(), "withdrawn but announced again"
    t1 = time.monotonic()
    r = node.speakerctl(node.member, "announce")
    assert r.returncode == 0, r.stdout + r.stderr
    node.timings["speakerctl announce -> next hop back"] = \
        node.lab.router.time_until_back(addr, timeout=15, t0=t1)


def test_teardown_leaves_nothing(deployed: InstalledNode) -> None:
    """Lab down, /run/speaker removed, users deleted, package purged: nothing of ours left."""
    left = deployed.close()
    print("\n".join(f"{what}: {seconds:.2f} s" for what, seconds in deployed.timings.items()))
    assert left == []
