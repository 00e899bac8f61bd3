"""A Debian root booted with systemd as PID 1 (systemd-nspawn), for the tests.

Owns one container's life: an overlay of a pristine root (roots.py) so the
cache is never written, the boot (`systemd-nspawn -b --private-network
--register=no --keep-unit`: this machine has no system bus, so nspawn must not
register), commands inside it through `nsenter -a` into its PID 1, reboot
(nspawn exits 133, booted again), poweroff and the cleanup of its mounts and
files. The container has its own network namespace: nothing it runs reaches
the outside, and its links vanish with it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CLEAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
BOOT_TIMEOUT = 60.0
REBOOT = 133


class ContainerError(RuntimeError):
    """The container did not boot, or a command inside it failed."""


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 0.05) -> float:
    """Poll until `predicate()` is true; seconds it took, or ContainerError naming `what`."""
    t0 = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise ContainerError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _inner_pid1(nspawn_pid: int) -> int | None:
    """The container's PID 1 among nspawn's descendants (its NSpid ends with 1)."""
    todo = [nspawn_pid]
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for child in map(int, children):
                status = Path(f"/proc/{child}/status").read_text()
                nspid = next((ln.split()[1:] for ln in status.splitlines()
                              if ln.startswith("NSpid:")), [])
                if len(nspid) > 1 and nspid[-1] == "1":
                    return child
                todo.append(child)
    return None


class Container:
    """A booted overlay of `lower`; use as a context manager (poweroff, unmount, delete)."""

    def __init__(self, lower: Path, name: str) -> None:
        self.lower = lower
        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"as-{name}-", dir="/var/tmp"))
        self.root = self.dir / "merged"
        self.console = self.dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid1 = 0
        self.boots = 0

    # -- life ------------------------------------------------------------------------------

    def __enter__(self) -> Container:
        for sub in ("upper", "work", "merged"):
            (self.dir / sub).mkdir()
        opts = f"lowerdir={self.lower},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(self.root)],
                       check=True, capture_output=True)
        try:
            self.boot()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.poweroff()
        finally:
            subprocess.run(["umount", "-l", str(self.root)], capture_output=True, check=False)
            shutil.rmtree(self.dir, ignore_errors=True)

    def boot(self) -> None:
        """Boot and wait until systemd says the system is up (running or degraded)."""
        self.boots += 1
        with open(self.console, "ab") as log:
            log.write(f"\n==== boot {self.boots}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                ["systemd-nspawn", "-b", "-q", "--private-network", "--register=no",
                 "--keep-unit", f"--machine=as-{self.name}", "--console=read-only",
                 "-D", str(self.root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={"PATH": CLEAN_PATH, "LC_ALL": "C.UTF-8"})
        proc = self.proc

        def found() -> bool:
            if proc.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited {proc.returncode} while "
                                     f"booting:\n{self.console_tail()}")
            self.pid1 = _inner_pid1(proc.pid) or 0
            return self.pid1 != 0

        wait_for(found, BOOT_TIMEOUT, "the container's PID 1")
        state = ""

        def up() -> bool:
            nonlocal state
            # "offline" until PID 1 answers on its private socket; then --wait blocks
            r = self.run("systemctl", "is-system-running", "--wait", check=False,
                         timeout=BOOT_TIMEOUT)
            state = r.stdout.strip()
            return state not in ("offline", "")

        wait_for(up, BOOT_TIMEOUT, "systemd in the container", interval=0.1)
        if state not in ("running", "degraded"):
            raise ContainerError(f"boot ended {state!r}:\n"
                                 f"{self.run('systemctl', '--failed', check=False).stdout}")

    def reboot(self) -> None:
        """`systemctl reboot` inside; nspawn exits 133; boot again."""
        assert self.proc is not None
        self.run("systemctl", "reboot", check=False)
        code = self.proc.wait(timeout=BOOT_TIMEOUT)
        if code != REBOOT:
            raise ContainerError(f"systemd-nspawn exited {code} on reboot, not {REBOOT}")
        self.boot()

    def poweroff(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        self.run("systemctl", "poweroff", check=False)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)  # our own nspawn, by PID
            proc.wait(timeout=10)

    def console_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # -- inside ----------------------------------------------------------------------------

    def run(self, *argv: str | Path, check: bool = True, timeout: float = 120,
            input: str | None = None, user: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
        """Run argv in the container (all its namespaces) with a clean environment."""
        if not self.pid1:
            raise ContainerError("the container is not booted")
        inner = [str(a) for a in argv]
        if user is not None:
            inner = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", *inner]
        cmd = ["nsenter", "-t", str(self.pid1), "-a", "--", "env", "-i", f"PATH={CLEAN_PATH}",
               "LC_ALL=C.UTF-8", "HOME=/root", "DEBIAN_FRONTEND=noninteractive", *inner]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                           input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise ContainerError(f"in {self.name}: {' '.join(inner)} exited {r.returncode}\n"
                                 f"stdout:\n{r.stdout[-4000:]}\nstderr:\n{r.stderr[-4000:]}")
        return r

    def sh(self, script: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("/bin/sh", "-ec", script, **kw)  # type: ignore[arg-type]

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a file inside the container (its /run and /tmp are its own tmpfs)."""
        self.run("/bin/sh", "-ec", 'mkdir -p "$(dirname "$1")"; cat > "$1"; chmod "$2" "$1"',
                 "write", path, f"{mode:o}", input=text)

    def read(self, path: str) -> str:
        return self.run("cat", path).stdout

    def exists(self, path: str) -> bool:
        return self.run("test", "-e", path, check=False).returncode == 0
