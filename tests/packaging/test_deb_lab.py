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
depend on each other's order: run the module as a whole.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.lab import Lab, LabNode, missing_requirements
from tests.lab.lab import ExternalExabgp
from tests.lab.system import children, cmdline, start_time, wait_for
from tests.packaging import unit
from tests.packaging.debs import (
    APT,
    CAP_NET_ADMIN,
    CLEAN_ENV,
    CONFFILES,
    PACKAGE,
    UNIT,
    _dpkg_status,
    _exists,
    _have_tools,
    _purge,
    deb_paths,
    run,
)

if TYPE_CHECKING:
    from tests.packaging.conftest import DebBuilder

CONF, YAML = CONFFILES
SOCKET = Path("/run/speaker/speaker.sock")
# Everything this module must not find before it starts (it would not be ours).
OURS = (Path("/etc/speaker"), Path("/run/speaker"), Path("/var/lib/speaker"))
PREFIX = "dlab"  # throwaway users: dlab<pid>m (in group speaker), dlab<pid>o (not)
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


# -- the installed configuration, moved to the lab's addresses ------------------------------


def lab_conf(text: str, lab: Lab, node: LabNode) -> str:
    """/etc/speaker/speaker.conf (the seed's dns-1) with the lab's router and dns1 values."""
    topo, spec = lab.topo, node.spec
    for pattern, value in (
        (r"^(neighbor )\S+( \{)$", str(topo.router_address)),
        (r"^(\s+router-id )\S+(;)$", spec.router_id),
        (r"^(\s+local-address )\S+(;)$", str(spec.address)),
        (r"^(\s+local-as )\d+(;)$", str(spec.asn)),
        (r"^(\s+peer-as )\d+(;)$", str(topo.router_asn)),
    ):
        text, count = re.subn(pattern, rf"\g<1>{value}\g<2>", text, flags=re.MULTILINE)
        assert count == 1, f"{pattern} matched {count} times in the installed {CONF}"
    return text


def lab_yaml(text: str, lab: Lab, node: LabNode) -> str:
    """/etc/speaker/speaker.yaml with the lab's anycast prefix and dns1's address.

    The values are replaced in the text (the comments stay); the installed file
    names them once each: the prefix, the anycast check and the node check.
    """
    doc = yaml.safe_load(text)
    assert doc["control"]["socket"] == str(SOCKET), doc["control"]
    (service,) = doc["services"]
    (prefix,) = service["prefixes"]
    seed_anycast = prefix.split("/")[0]
    servers = [c["server"] for c in service["checks"]]
    assert seed_anycast in servers and len(servers) == 2, servers
    (seed_node,) = [s for s in servers if s != seed_anycast]
    for old, new in ((prefix, f"{lab.anycast}/128"), (f'"{seed_anycast}"', f'"{lab.anycast}"'),
                     (f'"{seed_node}"', f'"{node.address}"')):
        assert text.count(old) == 1, f"{old} is not named exactly once in the installed {YAML}"
        text = text.replace(old, new)
    moved = yaml.safe_load(text)["services"][0]
    assert moved["prefixes"] == [f"{lab.anycast}/128"]
    assert {c["server"] for c in moved["checks"]} == {str(lab.anycast), str(node.address)}
    return text


# -- /proc --------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode(errors="replace").partition("=")[::2]
                for item in raw.split(b"\0") if item)


def processes_of(uids: set[int]) -> list[tuple[int, list[str]]]:
    """Live processes whose real or effective uid is one of `uids`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            real, eff = (int(u) for u in _status(pid)["Uid"].split()[:2])
        except (OSError, KeyError, ValueError):
            continue
        if {real, eff} & uids and start_time(pid) is not None:
            found.append((pid, cmdline(pid)))
    return found


# -- the scenario -------------------------------------------------------------------------


class InstalledNode:
    """The package installed, dns1 of a lab running its unit; `close()` undoes it all."""

    def __init__(self, deb: Path) -> None:
        self.deb = deb
        tag = f"{PREFIX}{os.getpid()}"
        self.member, self.other = f"{tag}m", f"{tag}o"
        self.user_existed = _exists("speaker", "passwd")
        self.group_existed = _exists("speaker", "group")
        self.preexisting = {p for p in deb_paths(deb) if p.exists() or p.is_symlink()}
        self.users: list[str] = []
        self.uids: set[int] = set()
        self.dirs: list[Path] = []
        self.lab: Lab | None = None
        self.ux: unit.UnitExec | None = None
        self.timings: dict[str, float] = {}
        self.closed = False
        self.left: list[str] = []

    @property
    def node(self) -> LabNode:
        assert self.lab is not None
        return self.lab.node("dns1")

    def setup(self) -> None:
        run(*APT, "install", self.deb)
        assert _dpkg_status() == "ii"
        self.uids.add(pwd.getpwnam("speaker").pw_uid)
        ux = self.ux = unit.load(UNIT)
        assert (ux.user, ux.group, ux.capabilities) == ("speaker", "speaker", ["CAP_NET_ADMIN"])
        for name, groups in ((self.member, ["--groups", "speaker"]), (self.other, [])):
            run("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                "--shell", "/usr/sbin/nologin", "--gid", "nogroup", *groups, name)
            self.users.append(name)
            self.uids.add(pwd.getpwnam(name).pw_uid)
        lab = self.lab = Lab(nodes=2, external_exabgp={"dns1": ExternalExabgp(
            argv=tuple(ux.setpriv()), env=ux.service_env(), cwd=Path("/"))})
        CONF.write_text(lab_conf(CONF.read_text(), lab, self.node))
        YAML.write_text(lab_yaml(YAML.read_text(), lab, self.node))
        run("/usr/sbin/exabgp", "--test", CONF)
        # What systemd does for RuntimeDirectory= and StateDirectory= before ExecStart.
        for path, mode in ux.runtime_dirs + ux.state_dirs:
            path.mkdir(mode=mode)
            os.chmod(path, mode)
            shutil.chown(path, ux.user, ux.group)
            self.dirs.append(path)
        t0 = time.monotonic()
        lab.up(timeout=30)  # both next hops in the router's FIB
        self.timings["start to route (both nodes)"] = time.monotonic() - t0

    def close(self) -> list[str]:
        """Tear everything down (idempotent); return what is left (empty: nothing)."""
        if self.closed:
            return self.left
        self.closed = True
        left: list[str] = []
        if self.lab is not None:
            left += [f"lab: {what}" for what in self.lab.down()]
        left += [f"process {pid} {' '.join(argv)}" for pid, argv in processes_of(self.uids)]
        for path in self.dirs:
            if path.parent == Path("/run"):
                shutil.rmtree(path, ignore_errors=True)
        for name in self.users:
            run("userdel", name, check=False)
        _purge()
        if not self.user_existed and _exists("speaker", "passwd"):
            run("deluser", "--system", "--quiet", "speaker", check=False)
        if not self.group_existed and _exists("speaker", "group"):
            run("delgroup", "--system", "--quiet", "speaker", check=False)
        if _dpkg_status() not in ("", "un", "pn"):
            left.append(f"{PACKAGE} is still installed ({_dpkg_status()})")
        left += [f"file {p}" for p in deb_paths(self.deb)
                 if (p.exists() or p.is_symlink()) and p not in self.preexisting]
        left += [f"directory {p}" for p in OURS if p.exists()]
        left += [f"user {u}" for u in self.users if _exists(u, "passwd")]
        for name in ("passwd", "group"):
            existed = self.user_existed if name == "passwd" else self.group_existed
            if not existed and _exists("speaker", name):
                left.append(f"{name} entry speaker")
        self.left = left
        return left

    # -- helpers for the tests ----------------------------------------------------------

    def exabgp_and_speaker(self) -> tuple[int, int]:
        """PIDs of dns1's ExaBGP (started by the lab) and of its speaker process."""
        proc = self.node.exabgp
        assert proc.alive, self.node.log_text()
        pid = self.node.wait_speaker(timeout=10)
        return proc.pid, pid

    def speakerctl_argv(self, user: str, *args: str) -> tuple[list[str], dict[str, str]]:
        """/usr/bin/speakerctl ARGS inside dns1's netns as `user` (groups from /etc/group)."""
        env = {**CLEAN_ENV, "HOME": "/nonexistent", "USER": user, "LOGNAME": user}
        return ["ip", "netns", "exec", self.node.ns, "setpriv", "--reuid", user,
                "--regid", "nogroup", "--init-groups", "/usr/bin/speakerctl", *args], env

    def speakerctl(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv, env = self.speakerctl_argv(user, *args)
        return run(*argv, check=False, env=env, timeout=60)

    def hops(self) -> frozenset[str]:
        assert self.lab is not None
        return self.lab.router.nexthops()


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
        st = _status(pid)
        assert {int(u) for u in st["Uid"].split()} == {uid}, st["Uid"]
        assert {int(g) for g in st["Gid"].split()} == {gid}, st["Gid"]
        for key in ("CapEff", "CapPrm", "CapAmb", "CapBnd"):
            assert int(st[key], 16) == CAP_NET_ADMIN, (pid, key, st[key])
        assert st["NoNewPrivs"] == "1"
        # The installed package, not the checkout: nothing points Python elsewhere.
        env = _environ(pid)
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
