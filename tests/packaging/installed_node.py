"""The installed package running dns1 of a lab: the scenario of test_deb_lab.py.

A helper module, not a test. Owns `InstalledNode` (installs the tree's .deb on
this machine, creates the throwaway users, rewrites the installed /etc/speaker
files with the lab's addresses for dns1 (`lab_conf`, `lab_yaml`), creates the
unit's RuntimeDirectory and StateDirectory as systemd would, brings up a
two-node lab whose dns1 runs the unit's ExecStart under setpriv, and `close()`
undoes all of it and says what is left) and the /proc readers the checks use
(`proc_status`, `proc_environ`, `processes_of`). It checks only its own steps
(the files it rewrites, the package's state); what the installed speaker does is
checked by tests/packaging/test_deb_lab.py.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from tests.lab import Lab, LabNode
from tests.lab.procs import ExternalExabgp
from tests.lab.system import cmdline, start_time
from tests.packaging import unit
from tests.packaging.debs import (
    APT,
    CLEAN_ENV,
    CONFFILES,
    PACKAGE,
    UNIT,
    _dpkg_status,
    _exists,
    _purge,
    deb_paths,
    run,
)

CONF, YAML = CONFFILES
SOCKET = Path("/run/speaker/speaker.sock")
# Everything the scenario must not find before it starts (it would not be ours).
OURS = (Path("/etc/speaker"), Path("/run/speaker"), Path("/var/lib/speaker"))
PREFIX = "dlab"  # throwaway users: dlab<pid>m (in group speaker), dlab<pid>o (not)


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


def proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def proc_environ(pid: int) -> dict[str, str]:
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
            real, eff = (int(u) for u in proc_status(pid)["Uid"].split()[:2])
        except (OSError, KeyError, ValueError):
            continue
        if {real, eff} & uids and start_time(pid) is not None:
            found.append((pid, cmdline(pid)))
    return found


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
