"""The persisted maintenance file."""

import os
from pathlib import Path

from speaker.adapters.state import MaintenanceStore
from speaker.core.maintenance import ALL, Maintenance


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path / "state")
    assert store.load() == {}
    entries = {"dns": (Maintenance("patching", 1.5, "root (pid 1)"),)}
    store.save(entries)
    assert store.load() == entries
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["maintenance.json"]
    assert oct(os.stat(store.path).st_mode & 0o777) == "0o640"


def test_unreadable_file_keeps_everything_withdrawn(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path)
    store.path.write_text("{ half a file")
    loaded = store.load()
    assert list(loaded) == [ALL] and "cannot parse" in loaded[ALL][0].reason


def test_wrong_version_is_unreadable(tmp_path: Path) -> None:
    store = MaintenanceStore(tmp_path)
    store.path.write_text('{"version": 9, "services": {}}')
    assert ALL in store.load()
