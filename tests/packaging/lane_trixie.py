"""Lane (d) of the version matrix: Debian 13's packages, in a Debian 13 root.

Owns the trixie lane: a cached Debian 13 root (roots.py, flavour "lane") with
trixie's python3 (3.13), python3-exabgp 4.2, pyroute2, dnspython, PyYAML,
prometheus-client, pytest, hypothesis, FRR 10 and BIND 9.20 installed from
apt; an overlay of it (the cache is never written) with a copy of this
checkout's tracked files in /src; and one `systemd-nspawn --private-network`
run (not booted: no systemd, no services) of a shell script in it, as root
with nspawn's capabilities, so `ip netns add` works and the lab builds its
namespaces inside the container's own network namespace. Nothing it runs
reaches the outside; the container's links vanish with it.

Run by `tests/run.sh --lane trixie` and by a full run:
    python3 -m tests.packaging.lane_trixie [TEST ...]
With no TEST it runs the unit suite (no fuzz) and the key lab tests
(tests/run.sh's `lane_e2e`, passed on the command line). Prints the
versions it ran with. Exit status: 0 when everything passed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.packaging import roots

REPO = Path(__file__).resolve().parents[2]
LANE_PACKAGES = ("exabgp", "python3-exabgp", "python3-dnspython", "python3-pyroute2",
                 "python3-yaml", "python3-prometheus-client", "python3-pytest",
                 "python3-hypothesis", "util-linux",
                 # the unit suite's own tools: promtool for the alert rules, matplotlib for
                 # the failover pictures (test_monitoring.py, test_pictures.py)
                 "prometheus", "python3-matplotlib",
                 # the dnssec check's validation and its tests' signed zones
                 "python3-cryptography",
                 "openssl")  # the http check's TLS tests make their CA (tests/tlsfiles.py)
VERSIONS = ("python3", "python3-exabgp", "python3-pyroute2", "python3-dnspython",
            "python3-yaml", "python3-prometheus-client", "frr", "bind9")
TIMEOUT = 1500


def lane_root() -> Path:
    """The cached Debian 13 root with the lane's packages (built first if missing)."""
    return roots.pristine("trixie", extra=LANE_PACKAGES, flavour="lane")


@contextlib.contextmanager
def overlay(lower: Path) -> Iterator[Path]:
    """A writable overlay of `lower` with the checkout's tracked files in /src."""
    work = Path(tempfile.mkdtemp(prefix="as-trixie-lane-", dir="/var/tmp"))
    merged = work / "merged"
    for sub in ("upper", "work", "merged"):
        (work / sub).mkdir()
    opts = f"lowerdir={lower},upperdir={work / 'upper'},workdir={work / 'work'}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)],
                   check=True, capture_output=True)
    try:
        src = merged / "src"
        files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached",
                                "--others", "--exclude-standard"],
                               check=True, capture_output=True).stdout.split(b"\0")
        for name in filter(None, files):
            rel = os.fsdecode(name)
            if not (REPO / rel).is_file():  # deleted in the work tree
                continue
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
        yield merged
    finally:
        subprocess.run(["umount", "-l", str(merged)], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


def script(tests: list[str]) -> str:
    """What runs inside: versions, the unit suite, then the key lab tests."""
    versions = " ".join(VERSIONS)
    lab = shlex.join(tests)
    return f"""
set -u
cd /src
# not booted: make /run's directories as boot would (/run/frr, /run/named)
systemd-tmpfiles --create >/dev/null 2>&1 || true
export PYTHONDONTWRITEBYTECODE=1 CI="${{CI:-}}"
echo "== lane trixie: $(. /etc/os-release; echo "$PRETTY_NAME"), $(python3 --version)" >&2
dpkg-query -W -f '   ${{Package}} ${{Version}}\\n' {versions} >&2
rc=0
echo "== lane trixie: unit suite" >&2
python3 -m pytest -q -p no:cacheprovider -m "not fuzz" tests/unit || rc=$?
if [ -n {shlex.quote(lab)} ]; then
  echo "== lane trixie: key lab tests (ExaBGP $(python3 -c \\
    'import importlib.metadata as m; print(m.version("exabgp"))') from Debian 13)" >&2
  python3 -m pytest -q -rA -p no:cacheprovider {lab} || rc=$?
  python3 -m tests.lab down >/dev/null 2>&1 || true
fi
exit $rc
"""


def run(tests: list[str], command: str | None = None) -> int:
    root = lane_root()
    with overlay(root) as merged:
        body = command if command is not None else script(tests)
        env = {"PATH": roots.CLEAN_ENV["PATH"], "LC_ALL": "C.UTF-8"}
        argv = ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--private-network",
                f"--machine=as-lane-{os.getpid()}", "-D", str(merged),
                "--setenv=LC_ALL=C.UTF-8", "--setenv=HOME=/root",
                *([f"--setenv=CI={os.environ['CI']}"] if os.environ.get("CI") else []),
                "/bin/bash", "-c", body]
        try:
            return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                  timeout=TIMEOUT, check=False).returncode
        except subprocess.TimeoutExpired:
            print(f"lane trixie: timed out after {TIMEOUT} s", file=sys.stderr)
            return 124


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.packaging.lane_trixie",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("tests", nargs="*", help="lab tests to run after the unit suite")
    parser.add_argument("--shell", metavar="COMMAND",
                        help="run COMMAND (bash) in the lane's root instead")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("lane trixie: needs root (overlay mount, systemd-nspawn)", file=sys.stderr)
        return 2
    try:
        return run(args.tests, args.shell)
    except roots.RootError as exc:
        print(f"lane trixie: the Debian 13 root: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
