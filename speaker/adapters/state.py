"""Persisted maintenance: which services are withdrawn for maintenance, by whom, and why.

Owns one JSON file in `state_dir`, written atomically (temporary file, fsync,
rename, fsync of the folder) so a crash or power loss leaves the old or the
new content, never half of one. A file that cannot be parsed keeps every
service withdrawn (the safe side) and says so. `save` blocks until the disk
has the file (fsync): the engine calls it in a worker thread, never on the
event loop.

Format (version 2): `{"version": 2, "services": {NAME: [{"tag", "reason",
"since", "by"}, ...]}}`, one object per maintenance of the service. Version 1
files (`{NAME: {"reason", "since", "by"}}`, one maintenance per service, from
before tags) are still read: each entry is the operator's. A version 1 speaker
reading a version 2 file keeps every service withdrawn (the safe side).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from speaker.core.maintenance import ALL, OPERATOR, Entries, Maintenance
from speaker.ports import StateError

__all__ = ["ALL", "FILENAME", "VERSION", "Maintenance", "MaintenanceStore", "StateError"]

FILENAME = "maintenance.json"
VERSION = 2
READABLE = (1, 2)  # versions load() understands


class MaintenanceStore:
    """The maintenance record in one JSON file: a `speaker.ports.MaintenanceStore`."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILENAME

    def load(self) -> Entries:
        """Services in maintenance; {ALL: ...} if the file is unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            return {ALL: (Maintenance(f"cannot read {self.path}: {exc.strerror}", 0.0),)}
        try:
            return _decode(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            return {ALL: (Maintenance(f"cannot parse {self.path}: {exc}", 0.0),)}

    def save(self, entries: Entries) -> None:
        data = {"version": VERSION,
                "services": {name: [asdict(m) for m in held]
                             for name, held in sorted(entries.items()) if held}}
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            import tempfile  # shutil, bz2, lzma with it: only when maintenance is saved

            fd, tmp = tempfile.mkstemp(prefix=".maintenance.", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o640)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _decode(data: Any) -> Entries:
    if not isinstance(data, dict) or data.get("version") not in READABLE:
        raise ValueError(f"not a version {' or '.join(map(str, READABLE))} maintenance file")
    services = data["services"]
    if not isinstance(services, dict):
        raise ValueError("'services' is not an object")
    out: Entries = {}
    for name, held in services.items():
        items = [held] if data["version"] == 1 else held
        if not isinstance(items, list):
            raise ValueError(f"entry {name!r} is not a list")
        entries = tuple(_entry(name, item) for item in items)
        if entries:
            out[str(name)] = entries
    return out


def _entry(name: str, item: Any) -> Maintenance:
    if not isinstance(item, dict):
        raise ValueError(f"entry {name!r} is not an object")
    return Maintenance(reason=str(item.get("reason", "")), since=float(item.get("since", 0.0)),
                       by=str(item.get("by", "")), tag=str(item.get("tag", OPERATOR)))
