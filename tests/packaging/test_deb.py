"""The Debian package: build, lintian, install, run checks, upgrade, purge.

These tests install `anycast-speaker` onto THIS machine (root, dpkg, apt) and
purge it at the end; the `speaker` system user is removed again if it did not
exist before. They are skipped unless run as root with dpkg-buildpackage
available, and when the package is already installed (never clobber a real
installation). The tests depend on each other's order (install, upgrade,
checks, purge): run the module as a whole.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.packaging import unit
from tests.packaging.debs import (
    APT,
    CAP_NET_ADMIN,
    CLEAN_ENV,
    CONFFILES,
    PACKAGE,
    REPO,
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

ENV_FILE = Path("/usr/share/anycast-speaker/exabgp.env")
MAX_EXPOSURE = 2.0
DEPENDS = ("python3-exabgp", "python3-dnspython", "python3-pyroute2", "python3-yaml")
MARK = "# edited by tests/packaging/test_deb.py"
# The smoke run moves dns-1's addresses to a ULA prefix inside a netns of its own.
SEED_PREFIX = "2a01:b000:1046:10:1::"
LAB_PREFIX = "fd00:a5b:6::"


pytestmark = [
    pytest.mark.package,
    pytest.mark.skipif(os.geteuid() != 0, reason="installs a .deb: needs root"),
    pytest.mark.skipif(not _have_tools(), reason="needs dpkg-buildpackage, debhelper, "
                       "apt-get and systemd-analyze"),
    pytest.mark.skipif(_dpkg_status() not in ("", "un", "pn"),
                       reason=f"{PACKAGE} is already installed here; not touching it"),
]


def changelog_version() -> str:
    first = (REPO / "packaging" / "debian" / "changelog").read_text().splitlines()[0]
    m = re.match(r"^anycast-speaker \(([^)]+)\)", first)
    assert m, first
    return m.group(1)


@dataclass
class Debs:
    previous: Path
    current: Path
    version: str
    # Paths of the package that existed before the first install (shared dirs).
    preexisting: set[Path] = field(default_factory=set)
    user_existed: bool = False
    group_existed: bool = False


@pytest.fixture(scope="module")
def debs(deb_builder: DebBuilder) -> Iterator[Debs]:
    """Two builds (an older version and the tree's), purged and cleaned up afterwards."""
    version = changelog_version()
    previous = deb_builder.build(f"{version}~prev1")
    current = deb_builder.build()
    d = Debs(previous=previous, current=current, version=version,
             user_existed=_exists("speaker", "passwd"), group_existed=_exists("speaker", "group"))
    d.preexisting = {p for p in deb_paths(current) if p.exists() or p.is_symlink()}
    try:
        yield d
    finally:
        _purge()
        if not d.user_existed and _exists("speaker", "passwd"):
            run("deluser", "--system", "--quiet", "speaker", check=False)
        if not d.group_existed and _exists("speaker", "group"):
            run("delgroup", "--system", "--quiet", "speaker", check=False)


@pytest.fixture(scope="module")
def installed(debs: Debs) -> Debs:
    """The previous build installed, its conffile edited, then upgraded to the current build."""
    run(*APT, "install", debs.previous)
    assert _dpkg_status() == "ii"
    with CONFFILES[0].open("a") as f:
        f.write(f"\n{MARK}\n")
    run(*APT, "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
        "install", debs.current)
    r = run("dpkg-query", "-W", "-f=${Version}", PACKAGE)
    assert r.stdout == debs.version
    return debs


def test_lintian_reports_no_error_or_warning(debs: Debs) -> None:
    """lintian --fail-on error,warning passes on the built package."""
    if not shutil.which("lintian", path=CLEAN_ENV["PATH"]):
        pytest.skip("lintian is not installed")
    run("lintian", "--fail-on", "error,warning", debs.current)


def test_package_ships_only_our_python_package(debs: Debs) -> None:
    """Nothing is vendored: the only module in dist-packages is `speaker`."""
    site = Path("/usr/lib/python3/dist-packages")
    top = {p.relative_to(site).parts[0] for p in deb_paths(debs.current)
           if site in p.parents}
    assert {t for t in top if not t.endswith(".dist-info")} == {"speaker"}


def test_package_ships_the_operator_files(debs: Debs) -> None:
    """The alert rules, the dashboard, the bash completion, the drain unit and the man page."""
    shipped = {str(p) for p in deb_paths(debs.current)}
    for path in ("/usr/share/anycast-speaker/prometheus-alerts.yml",
                 "/usr/share/anycast-speaker/grafana-dashboard.json",
                 "/usr/share/bash-completion/completions/speakerctl",
                 "/usr/lib/systemd/system/anycast-speaker-drain@.service",
                 "/usr/share/man/man1/speakerctl.1.gz"):
        assert path in shipped or path.replace("/usr/lib/", "/lib/") in shipped, path


def test_install_pulls_only_debian_packages(debs: Debs) -> None:
    """apt installs nothing but Debian's packages beside ours, and our deps come from Debian."""
    sim = run(*APT, "install", "-s", debs.current).stdout
    for line in sim.splitlines():
        if line.startswith("Inst ") and not line.startswith(f"Inst {PACKAGE} "):
            assert re.search(r"\(\S+ Debian(-Security)?:", line), f"not from Debian: {line}"
    fields = run("dpkg-deb", "-f", debs.current, "Depends", "Recommends").stdout
    assert "python3-exabgp (>= 4.2.21)" in fields
    for dep in DEPENDS:
        assert dep in fields
    # What the dependency closure resolves to here (already installed, or about to
    # be) must be available from a Debian archive.
    closure = run("apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                  "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
                  *DEPENDS, "python3-prometheus-client").stdout
    names = sorted({ln.strip() for ln in closure.splitlines()
                    if ln and not ln.startswith(" ") and not ln.startswith("<")})
    policy = run("apt-cache", "policy", *names).stdout
    for name, wanted, origins, others in _policy(policy):
        # Our direct dependencies in exactly the installed version; the rest of the
        # closure at least by name (a base package may lag a point release).
        pool = origins if name in DEPENDS else origins + others
        assert any("debian.org" in o for o in pool), \
            f"{name} {wanted} is not available from a Debian archive: {pool}"


def _policy(text: str) -> Iterator[tuple[str, str, list[str], list[str]]]:
    """(package, installed-or-candidate version, its sources, sources of other versions)."""
    for block in re.split(r"\n(?=\S)", text.strip()):
        lines = block.splitlines()
        name = lines[0].rstrip(":")
        info = dict(ln.strip().split(": ", 1) for ln in lines[1:3] if ": " in ln)
        wanted = info.get("Installed", "(none)")
        if wanted == "(none)":
            wanted = info.get("Candidate", "(none)")
        sources: dict[str, list[str]] = {}
        current: list[str] = []
        table = lines.index("  Version table:") + 1 if "  Version table:" in lines else len(lines)
        for ln in lines[table:]:
            m = re.match(r"^ (?:\*\*\*| {3}) (\S+) -?\d+$", ln)
            if m:
                current = sources.setdefault(m.group(1), [])
            else:
                current.append(ln.strip())
        others = [o for v, srcs in sources.items() if v != wanted for o in srcs]
        yield name, wanted, sources.get(wanted, []), others


def test_upgrade_keeps_the_edited_conffile(installed: Debs) -> None:
    """An edit to /etc/speaker/speaker.conf survives the upgrade from the previous build."""
    assert MARK in CONFFILES[0].read_text()


def test_config_files_are_readable_by_the_service_group_only(installed: Debs) -> None:
    """/etc/speaker/* are root:speaker 0640 (they may hold an MD5 password), after upgrade too."""
    user = pwd.getpwnam("speaker")
    assert user.pw_uid < 1000 and user.pw_shell.endswith("nologin")
    gid = grp.getgrnam("speaker").gr_gid
    for path in CONFFILES:
        st = path.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, gid, 0o640), path
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", PACKAGE).stdout
    for path in CONFFILES:
        assert str(path) in conffiles


def test_speakerctl_version_runs_from_the_installed_files(installed: Debs) -> None:
    """/usr/bin/speakerctl --version works from /usr/lib/python3/dist-packages."""
    where = run("/usr/bin/python3", "-c", "import speaker; print(speaker.__file__)").stdout
    assert where.startswith("/usr/lib/python3/dist-packages/speaker/"), where
    r = run("/usr/bin/speakerctl", "--version")
    assert installed.version.split("~")[0].split("-")[0] in r.stdout + r.stderr


def test_exabgp_accepts_the_installed_config(installed: Debs) -> None:
    """exabgp --test /etc/speaker/speaker.conf passes, plain and with the unit's settings."""
    run("/usr/sbin/exabgp", "--test", "/etc/speaker/speaker.conf")
    env = dict(CLEAN_ENV)
    for line in ENV_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    run("/usr/sbin/exabgp", "--test", "/etc/speaker/speaker.conf", env=env)


def test_unit_environment_is_the_checkout_one_run_as_speaker(installed: Debs) -> None:
    """The unit's env file is exabgp/exabgp.env with exabgp_daemon_user=speaker."""
    ours = (REPO / "exabgp" / "exabgp.env").read_text().splitlines()
    theirs = ENV_FILE.read_text().splitlines()
    assert "exabgp_daemon_user=speaker" in theirs
    assert [ln for ln in ours if not ln.startswith("exabgp_daemon_user=")] == \
        [ln for ln in theirs if not ln.startswith("exabgp_daemon_user=")]
    unit = UNIT.read_text()
    assert f"EnvironmentFile={ENV_FILE}" in unit
    assert ("ExecStart=/usr/sbin/exabgp --env /usr/share/anycast-speaker/exabgp.ini "
            "/etc/speaker/speaker.conf") in unit


def test_unit_is_installed_but_not_enabled(installed: Debs) -> None:
    """The unit is not enabled by the install: /etc/speaker holds dns-1's values until edited."""
    assert UNIT.is_file()
    assert not Path("/etc/systemd/system/multi-user.target.wants/anycast-speaker.service") \
        .exists()


def test_systemd_analyze_verify_is_clean(installed: Debs) -> None:
    """systemd-analyze verify reports nothing on the installed unit."""
    r = run("systemd-analyze", "verify", UNIT)
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_systemd_exposure_score_is_at_most_2(installed: Debs) -> None:
    """systemd-analyze security --offline=true rates the installed unit <= 2.0."""
    r = run("systemd-analyze", "security", "--offline=true", UNIT, check=False)
    m = re.search(r"Overall exposure level for anycast-speaker\.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout + r.stderr
    assert float(m.group(1)) <= MAX_EXPOSURE, r.stdout


def _session(sid: int) -> list[tuple[int, str, str]]:
    """(pid, user, args) of the processes in session `sid`."""
    r = run("ps", "-o", "pid=,user=,args=", "--sid", str(sid), check=False)
    rows = []
    for line in r.stdout.splitlines():
        pid, user, args = line.split(None, 2)
        rows.append((int(pid), user, args))
    return rows


def _cap_eff(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no CapEff for {pid}")


def test_installed_unit_runs_the_speaker_as_its_user(installed: Debs, tmp_path: Path) -> None:
    """The unit's ExecStart (setpriv: its user, CAP_NET_ADMIN only) runs ExaBGP and the speaker.

    In a network namespace of its own, with the installed conffiles moved to a ULA
    prefix; members of group speaker reach the control socket, other users do not.
    """
    ux = unit.load(UNIT)
    assert (ux.user, ux.group, ux.capabilities) == ("speaker", "speaker", ["CAP_NET_ADMIN"])
    originals = {p: p.read_text() for p in CONFFILES}
    netns = f"aspkg{os.getpid()}"
    log = tmp_path / "exabgp.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for path, text in originals.items():
            path.write_text(text.replace(SEED_PREFIX, LAB_PREFIX))
        run("ip", "netns", "add", netns)
        run("ip", "-n", netns, "link", "set", "lo", "up")
        run("ip", "-n", netns, "addr", "add", f"{LAB_PREFIX}50/64", "dev", "lo", "nodad")
        for d, mode in ux.runtime_dirs + ux.state_dirs:
            d.mkdir(mode=mode, exist_ok=True)
            shutil.chown(d, ux.user, ux.group)
        with log.open("wb") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", netns, *ux.setpriv()], cwd="/",
                                    env={**CLEAN_ENV, **ux.env}, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        sock = Path("/run/speaker/speaker.sock")
        deadline = time.monotonic() + 20
        while not sock.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert "could not drop privileges" not in text, text
        assert "can not bind" not in text, text
        assert "loaded new configuration successfully" in text, text
        assert sock.exists(), f"no control socket after 20 s\n{text}"
        rows = _session(proc.pid)
        exa = [r for r in rows if "/usr/sbin/exabgp" in r[2]]
        spk = [r for r in rows if "-m speaker" in r[2]]
        assert exa and spk, rows
        assert {r[1] for r in exa + spk} == {"speaker"}, rows
        assert all(_cap_eff(r[0]) == CAP_NET_ADMIN for r in exa + spk), rows
        st = sock.stat()
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
        assert st.st_gid == grp.getgrnam("speaker").gr_gid
        gid = str(grp.getgrnam("speaker").gr_gid)
        member = run("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--groups", gid,
                     "/usr/bin/speakerctl", "status", check=False)
        assert member.returncode == 0, member.stdout + member.stderr
        other = run("setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups",
                    "/usr/bin/speakerctl", "status", check=False)
        assert other.returncode != 0, other.stdout + other.stderr
    finally:
        if proc is not None:
            _stop(proc)
        run("ip", "netns", "del", netns, check=False)
        for path, text in originals.items():
            path.write_text(text)
        for d, _ in ux.runtime_dirs:
            shutil.rmtree(d, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the session we started (ExaBGP, the speaker), SIGKILL after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        pids = [pid for pid, _, _ in _session(proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _session(proc.pid):
            break
    proc.wait(timeout=5)


def test_purge_leaves_no_file_the_package_created(installed: Debs) -> None:
    """dpkg --purge removes files, conffiles, state and runtime dirs, statoverrides."""
    # What systemd would have created for the running unit.
    for d, mode in ((Path("/var/lib/speaker"), 0o750), (Path("/run/speaker"), 0o750)):
        d.mkdir(mode=mode, exist_ok=True)
        shutil.chown(d, "speaker", "speaker")
        (d / "left-by-the-service").write_text("x")
    run("/usr/bin/python3", "-c", "import speaker.core.config")  # leaves __pycache__ behind
    shipped = deb_paths(installed.current)
    run(*APT, "purge", PACKAGE)
    assert _dpkg_status() in ("", "un", "pn")
    left = [p for p in shipped if (p.exists() or p.is_symlink()) and p not in installed.preexisting]
    assert left == []
    for p in (Path("/etc/speaker"), Path("/var/lib/speaker"), Path("/run/speaker"),
              Path("/usr/lib/python3/dist-packages/speaker"),
              Path("/var/lib/systemd/deb-systemd-helper-enabled/anycast-speaker.service"
                   ".dsh-also")):
        assert not p.exists(), p
    overrides = run("dpkg-statoverride", "--list").stdout
    assert "/etc/speaker" not in overrides
