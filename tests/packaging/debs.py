"""The Debian package tests' shared helpers: names, paths, dpkg and apt commands.

A helper module, not a test: tests/packaging/test_deb.py, test_deb_lab.py,
installed_node.py and conftest.py (which builds each .deb once per session)
import from here.
"""

from __future__ import annotations

import grp
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_DEB = REPO / "packaging" / "build-deb"
PACKAGE = "anycast-speaker"
UNIT = Path("/lib/systemd/system/anycast-speaker.service")
CONFFILES = (Path("/etc/speaker/speaker.conf"), Path("/etc/speaker/speaker.yaml"))
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root"}
APT = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=300"]
CAP_NET_ADMIN = 1 << 12


def _dpkg_status() -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PACKAGE],
                       capture_output=True, text=True, env=CLEAN_ENV)
    return r.stdout.strip() if r.returncode == 0 else ""


def _have_tools() -> bool:
    return all(shutil.which(t, path=CLEAN_ENV["PATH"])
               for t in ("dpkg-buildpackage", "dh", "apt-get", "systemd-analyze"))


def run(*argv: str | Path, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run argv with a clean PATH (no pyenv, no PYTHONPATH) from /; fail with its output."""
    kw.setdefault("cwd", "/")
    kw.setdefault("env", CLEAN_ENV)
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    if check and r.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {r.returncode}\n"
                    f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
    return r  # type: ignore[no-any-return]


def deb_paths(deb: Path) -> list[Path]:
    """Every path the .deb ships (files and directories), absolute."""
    listing = run("dpkg-deb", "-c", deb).stdout
    paths = []
    for line in listing.splitlines():
        name = line.split(None, 5)[5].split(" -> ")[0]
        name = name.lstrip(".").rstrip("/")
        if name:
            paths.append(Path(name))
    return paths


def _purge() -> None:
    run(*APT, "purge", PACKAGE, check=False)
    run("dpkg", "--purge", PACKAGE, check=False)


def _exists(name: str, db: str) -> bool:
    try:
        (pwd.getpwnam if db == "passwd" else grp.getgrnam)(name)
    except KeyError:
        return False
    return True
