"""The lab's state file and its cleanup, usable from any process.

Owns `<root>/state.json` (written atomically whenever the lab starts something)
and `teardown`: stop the recorded processes (only if PID and start time still
match), kill whatever else still lives in the lab's namespaces, delete the
namespaces, remove the directories, and report anything left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from tests.lab.system import (
    NETNS_DIR,
    alive,
    netns_inode,
    processes_in,
    run,
    start_time,
    terminate,
)
from tests.lab.topology import PREFIX

STATE = "state.json"
RUN_BASE = Path("/run")


class _Live(Protocol):
    pid: int
    started: int

    @property
    def alive(self) -> bool: ...


def save(root: Path, data: Mapping[str, Any]) -> None:
    tmp = root / f".{STATE}.tmp"
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, root / STATE)


def load(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / STATE).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def roots(base: Path = RUN_BASE) -> list[Path]:
    return sorted(p for p in base.glob("spklab-*") if p.is_dir())


def owner_alive(data: Mapping[str, Any]) -> bool:
    owner, started = data.get("owner"), data.get("owner_start")
    return bool(owner and started and alive(int(owner), int(started)))


def _safe_ns(name: str) -> bool:
    return name.startswith(PREFIX) and "/" not in name


def _safe_dir(path: str) -> bool:
    p = Path(path)
    return (p.parent == RUN_BASE and p.name.startswith("spklab-")) or (
        p.parent == Path("/run/frr") and p.name.startswith(PREFIX))


def teardown(root: Path, live: Mapping[str, _Live] | None = None) -> list[str]:
    """Clean up the lab whose state file is in `root`; return what could not be removed."""
    data = load(root)
    if data is None:
        if root.exists() and _safe_dir(str(root)):
            shutil.rmtree(root, ignore_errors=True)
        return [str(root)] if root.exists() else []
    procs = [(int(p["pid"]), int(p["start"])) for p in data.get("procs", [])]
    terminate([(p, s) for p, s in procs if alive(p, s)], grace=3.0)
    for proc in (live or {}).values():
        _ = proc.alive  # reap our own children
    namespaces = [ns for ns in data.get("netns", []) if _safe_ns(ns)]
    inodes = {ino for ns in namespaces if (ino := netns_inode(ns)) is not None}
    if inodes:
        # Anything still inside our namespaces is ours (e.g. an orphaned speaker).
        stray = [(p, s) for p in processes_in(inodes) if (s := start_time(p)) is not None]
        for pid, _started in stray:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        terminate(stray, grace=1.0)
    for ns in namespaces:
        if (NETNS_DIR / ns).exists():
            run(["ip", "netns", "delete", ns], check=False)
    for path in data.get("dirs", []):
        if _safe_dir(path) and Path(path) != root:
            shutil.rmtree(path, ignore_errors=True)
    left = leftovers(data)
    if not left or left == [f"directory {root}"]:
        shutil.rmtree(root, ignore_errors=True)
    return leftovers(data)


def leftovers(data: Mapping[str, Any]) -> list[str]:
    """Namespaces, recorded processes and directories of the lab that still exist."""
    left = []
    for p in data.get("procs", []):
        if alive(int(p["pid"]), int(p["start"])):
            left.append(f"process {p['pid']} ({p['key']})")
    for ns in data.get("netns", []):
        if (NETNS_DIR / ns).exists():
            left.append(f"netns {ns}")
    for path in data.get("dirs", []):
        if Path(path).exists():
            left.append(f"directory {path}")
    return left


def down_all(base: Path = RUN_BASE, force: bool = False,
             only: str | None = None) -> dict[str, list[str]]:
    """Tear down every lab whose owner is gone (or every lab with force, or one id)."""
    result = {}
    for root in roots(base):
        lab_id = root.name.removeprefix("spklab-")
        if only is not None and lab_id != only:
            continue
        data = load(root) or {}
        if only is None and not force and owner_alive(data):
            continue
        result[lab_id] = teardown(root)
    return result
