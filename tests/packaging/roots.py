"""Debootstrapped Debian roots for the systemd boot test, cached between runs.

Owns the recipe of a root (debootstrap, then the build tools, FRR and BIND, and
the package's dependencies downloaded, not installed) and its cache under
/var/cache/anycast-speaker-test/: a pristine directory per release and recipe,
marked complete only once the whole recipe has run, rebuilt when missing,
unfinished, older than a week or of another recipe. Nothing depends on the
cache being there: a missing one is built (about 1.5 min per release). A run
never writes into a pristine root: it boots an overlay of it (see nspawn.py).

The Debian mirror is the one this machine's apt uses (its sources), so the
test reaches no host the machine does not already use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("ANYCAST_TEST_ROOTS", "/var/cache/anycast-speaker-test"))
RELEASES = {"bookworm": "12", "trixie": "13"}
MAX_AGE = 7 * 24 * 3600.0
BASE = ("systemd", "systemd-sysv", "dbus", "iproute2", "procps")
# Built inside the root (its own dpkg-buildpackage, setuptools, systemd) and
# the lab: FRR as the peer, BIND as the DNS server the unit checks.
TOOLS = ("build-essential", "debhelper", "dh-python", "pybuild-plugin-pyproject",
         "python3-setuptools", "dpkg-dev", "frr", "bind9", "bind9-dnsutils", "man-db")
# What `apt-get install ./anycast-speaker.deb` will want from the release:
# downloaded into the root's apt cache, so the install needs no network.
DEPENDS = ("adduser", "python3-dnspython", "python3-exabgp", "python3-pyroute2",
           "python3-yaml", "python3-prometheus-client")
RECIPE = 1
STAMP = ".anycast-speaker-test-complete"
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root"}


class RootError(RuntimeError):
    """A root could not be built: the message says which step and its output."""


def mirror() -> str:
    """The Debian archive this machine's apt uses (deb822 or one-line sources)."""
    override = os.environ.get("ANYCAST_TEST_MIRROR")
    if override:
        return override
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file() or path.suffix not in ("", ".list", ".sources"):
            continue
        text = path.read_text(errors="replace")
        uris = re.findall(r"^URIs:\s*(\S+)", text, re.M)
        uris += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M)
        for uri in uris:
            if uri.rstrip("/").endswith("/debian"):
                return str(uri)
    raise RootError("no Debian mirror in /etc/apt/sources*: set ANYCAST_TEST_MIRROR")


def recipe_key(release: str, extra: tuple[str, ...] = ()) -> str:
    recipe: dict[str, object] = {"release": release, "base": BASE, "tools": TOOLS,
                                 "depends": DEPENDS, "recipe": RECIPE}
    if extra:  # a flavour (e.g. the trixie lane's): its packages installed too
        recipe["extra"] = sorted(extra)
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def _run(step: str, argv: list[str], timeout: float) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, env=CLEAN_ENV,
                       stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RootError(f"{step}: {' '.join(argv)} exited {r.returncode}\n"
                        f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")


def _in_root(root: Path, script: str, timeout: float) -> None:
    """Run a shell script in `root` with systemd-nspawn (not booted; host network)."""
    _run(script.split()[0], ["systemd-nspawn", "-q", "--register=no", "--keep-unit",
                             f"--machine=as-build-{os.getpid()}", "-D", str(root),
                             "--setenv=DEBIAN_FRONTEND=noninteractive",
                             "/bin/sh", "-ec", script], timeout)


def build(release: str, target: Path, extra: tuple[str, ...] = ()) -> None:
    """The whole recipe into `target` (which must not exist), `extra` installed too."""
    _run("debootstrap", ["debootstrap", "--variant=minbase", f"--include={','.join(BASE)}",
                         release, str(target), mirror()], 900)
    policy = target / "usr/sbin/policy-rc.d"
    # No service may start from a postinst here (this is the host's netns).
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    apt = "apt-get -y -q -o DPkg::Lock::Timeout=120"
    _in_root(target, f"apt-get -q update && {apt} install --no-install-recommends "
                     f"{' '.join(TOOLS)} && {apt} install --download-only {' '.join(DEPENDS)}"
                     + (f" && {apt} install --no-install-recommends {' '.join(extra)}"
                        if extra else ""),
             900)
    policy.unlink()
    (target / "etc/hostname").write_text(f"as-{release}\n")
    (target / STAMP).write_text(f"{time.time():.0f} {recipe_key(release, extra)}\n")


def _fresh(root: Path) -> bool:
    stamp = root / STAMP
    with contextlib.suppress(OSError, ValueError):
        built = float(stamp.read_text().split()[0])
        return time.time() - built < MAX_AGE
    return False


@contextlib.contextmanager
def _locked(release: str) -> Iterator[None]:
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f".{release}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def pristine(release: str, extra: tuple[str, ...] = (), flavour: str = "") -> Path:
    """The cached pristine root of `release`, built first if needed; never written to.

    `extra` packages are installed in it too; such a root is cached apart, under
    `flavour` (e.g. "trixie-lane-<key>"), so it never replaces the plain one."""
    if release not in RELEASES:
        raise RootError(f"unknown release {release!r}: one of {', '.join(RELEASES)}")
    name = f"{release}-{flavour}" if flavour else release
    root = CACHE / f"{name}-{recipe_key(release, extra)}"
    with _locked(name):
        if _fresh(root):
            return root
        work = Path(tempfile.mkdtemp(prefix=f".{name}-building-", dir=CACHE))
        try:
            target = work / "root"
            build(release, target, extra)
            for old in CACHE.glob(f"{name}-*"):
                if flavour or old.name.count("-") == 1:  # a plain root spares the flavours
                    shutil.rmtree(old, ignore_errors=True)
            target.rename(root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return root
