"""The node under test in test_systemd.py: a booted release with the package's .debs.

Owns the setup of one release (its pristine root, the boot, the tree copied in
and both .debs built there with the release's own tools, the lab) and the
questions the tests ask about the unit: its processes and their credentials,
the speaker's status, the unit's journal since a cursor. The pristine roots of
every release are built in parallel, at the first need (roots.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.packaging import nodelab, roots
from tests.packaging.nspawn import Container, wait_for

REPO = Path(__file__).resolve().parents[2]
UNIT = "anycast-speaker.service"
PACKAGE = "anycast-speaker"
CAP_NET_ADMIN = 1 << 12
# A journal line that an operator would read as trouble.
TROUBLE = re.compile(r"\b(warn(ing)?|error|errno|critical|fatal|traceback|deprecat\w*|"
                     r"missing|denied|not permitted|failed|limited|unavailable)\b", re.I)
APT = ("apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120",
       "-o", "Dpkg::Options::=--force-confold")

_pool = ThreadPoolExecutor(max_workers=len(roots.RELEASES))
_roots: dict[str, Future[Path]] = {}


def pristine(release: str) -> Path:
    """The release's pristine root; asks for every release's at once (built in parallel)."""
    for name in roots.RELEASES:
        if name not in _roots:
            _roots[name] = _pool.submit(roots.pristine, name)
    return _roots[release].result()


@dataclass
class Node:
    release: str
    box: Container
    debs: dict[str, str] = field(default_factory=dict)  # "current"/"next" -> path inside
    versions: dict[str, str] = field(default_factory=dict)
    build_logs: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    # -- setup -----------------------------------------------------------------------------

    def copy_tree(self) -> None:
        """The checkout's files (tracked and untracked-not-ignored) into /src."""
        files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached",
                                "--others", "--exclude-standard"], capture_output=True,
                               check=True).stdout.split(b"\0")
        names = b"\0".join(f for f in files if f and (REPO / f.decode()).exists())
        dest = self.box.root / "src"
        dest.mkdir()
        pack = subprocess.Popen(["tar", "--null", "--no-recursion", "-C", str(REPO), "-cf", "-",
                                 "--files-from=-"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
        unpack = subprocess.Popen(["tar", "-C", str(dest), "-xf", "-"], stdin=pack.stdout)
        assert pack.stdin is not None and pack.stdout is not None
        pack.stdout.close()
        pack.stdin.write(names)
        pack.stdin.close()
        if pack.wait() != 0 or unpack.wait() != 0:
            raise RuntimeError("copying the tree into the container failed")

    def build(self, key: str, version: str | None) -> None:
        argv = ["/src/packaging/build-deb", *(["--version", version] if version else []),
                f"/out/{key}"]
        r = self.box.run(*argv, timeout=600)
        self.debs[key] = r.stdout.strip().splitlines()[-1]
        self.build_logs[key] = r.stderr
        self.versions[key] = self.box.run("dpkg-deb", "-f", self.debs[key],
                                          "Version").stdout.strip()

    # -- the unit --------------------------------------------------------------------------

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.box.run("systemctl", *args, check=check)

    def prop(self, name: str, unit: str = UNIT) -> str:
        return self.systemctl("show", "--property", name, "--value", unit).stdout.strip()

    def main_pid(self) -> int:
        return int(self.prop("MainPID") or 0)

    def processes(self) -> dict[int, str]:
        """PID (inside the container) -> command line of every process of the unit."""
        out: dict[int, str] = {}
        for line in self.box.run("ps", "-e", "-o", "pid=,unit=,args=").stdout.splitlines():
            pid, unit, *args = line.split(None, 2)
            if unit == UNIT and args:
                out[int(pid)] = args[0]
        return out

    def proc_status(self, pid: int) -> dict[str, str]:
        """/proc/PID/status inside the container, as a dict."""
        text = self.box.run("cat", f"/proc/{pid}/status").stdout
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines())}

    def speaker_pid(self) -> int:
        """PID of the speaker process (python3 -m speaker), 0 when there is none."""
        found = [p for p, cmd in self.processes().items()
                 if re.search(r"-m speaker( |$)", cmd)
                 and self.box.run("cat", f"/proc/{p}/comm", check=False).stdout.strip()
                 != "speaker-watchd"]  # the forked watchdog shares the command line
        return found[0] if len(found) == 1 else 0

    def status(self, user: str | None = None) -> dict[str, Any]:
        r = self.box.run("speakerctl", "--json", "status", user=user)
        data: dict[str, Any] = json.loads(r.stdout)
        return data

    def service(self) -> dict[str, Any]:
        services: list[dict[str, Any]] = self.status()["services"]
        return services[0]

    def cursor(self) -> str:
        out = self.box.run("journalctl", "-n", "0", "--show-cursor", "-q").stdout
        m = re.search(r"-- cursor: (\S+)", out)
        assert m, out
        return m.group(1)

    def journal(self, cursor: str, unit: str = UNIT, priority: str = "debug") -> list[str]:
        """The unit's journal lines after `cursor` (of `priority` or more urgent)."""
        out = self.box.run("journalctl", "-u", unit, "--no-pager", "-o", "short-precise",
                           "-p", priority, f"--after-cursor={cursor}").stdout
        return [ln for ln in out.splitlines() if not ln.startswith("-- ")]  # "-- No entries --"

    def wait_announced(self, timeout: float = 30) -> float:
        return wait_for(lambda: nodelab.announced(self.box), timeout,
                        f"{nodelab.ANYCAST_NET} at the router")

    def wait_withdrawn(self, timeout: float = 30) -> float:
        return wait_for(lambda: nodelab.withdrawn(self.box), timeout,
                        f"{nodelab.ANYCAST_NET} gone from the router", interval=0.02)

    def wait_active(self, timeout: float = 30) -> None:
        wait_for(lambda: self.prop("ActiveState") == "active"
                 and self.box.exists("/run/speaker/speaker.sock")
                 and self.box.run("speakerctl", "status", check=False).returncode == 0,
                 timeout, f"{UNIT} active with its control socket", interval=0.2)


def trouble(node: Node, cursor: str) -> list[str]:
    """Journal lines of the unit after `cursor` that look like a warning or an error:
    logged at priority warning or above, or saying so in words."""
    urgent = node.journal(cursor, priority="warning")
    return urgent + [ln for ln in node.journal(cursor) if TROUBLE.search(ln) and ln not in urgent]


def boot_node(release: str) -> tuple[Container, Node]:
    """Boot the release, copy the tree, build both .debs, set up the lab (timed)."""
    t0 = time.monotonic()
    lower = pristine(release)
    t_root = time.monotonic() - t0
    box = Container(lower, release).__enter__()
    node = Node(release, box)
    try:
        node.timings["root"] = t_root
        node.timings["boot"] = time.monotonic() - t0 - t_root
        node.copy_tree()
        t1 = time.monotonic()
        current = box.run("dpkg-parsechangelog", "-l", "/src/packaging/debian/changelog",
                          "-S", "Version").stdout.strip()
        node.build("current", None)
        node.build("next", f"{current}+systemd1")
        node.timings["build"] = time.monotonic() - t1
        t2 = time.monotonic()
        nodelab.prepare(box)
        node.timings["lab"] = time.monotonic() - t2
    except BaseException:
        box.__exit__(None, None, None)
        raise
    return box, node
