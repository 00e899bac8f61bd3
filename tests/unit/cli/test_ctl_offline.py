"""speakerctl withdraw/announce with no process running: maintenance recorded in
the state file (owner, mode, all-services entries), exit 69.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from speaker.adapters.state import ALL, Maintenance, MaintenanceStore
from speaker.cli import offline
from tests.unit.cli.served import Run, cli, write_config


def test_withdraw_without_process_records_maintenance_and_exits_69(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, err = run(*cli(folder, "withdraw", "dns", "--reason", "offline"))
    assert code == 69
    assert "could NOT be changed through the process" in err
    assert "next start of the process keeps it withdrawn" in err
    assert MaintenanceStore(folder / "state").load()["dns"][0].reason == "offline"


def test_announce_without_process_clears_maintenance_and_exits_69(
        folder: Path, run: Run) -> None:
    write_config(folder)
    run(*cli(folder, "withdraw"))
    code, _, err = run(*cli(folder, "announce", "other"))
    assert code == 69 and "maintenance cleared" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns"}


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can write a file it then hands over")
def test_offline_withdraw_as_root_leaves_the_file_to_the_owner_of_state_dir(
        folder: Path, run: Run) -> None:
    write_config(folder)
    (folder / "state").mkdir()
    os.chown(folder / "state", 4321, 4322)  # the service user and group
    run(*cli(folder, "withdraw", "dns"))
    info = (folder / "state" / "maintenance.json").stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 4322, 0o640)
    run(*cli(folder, "announce", "dns"))
    info = (folder / "state" / "maintenance.json").stat()
    assert (info.st_uid, info.st_gid) == (4321, 4322)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs a state_dir owned by another user")
def test_offline_withdraw_warns_when_the_file_cannot_be_handed_over(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)
    (folder / "state").mkdir()
    os.chown(folder / "state", 4321, 4322)

    def refuse(*_: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(offline.os, "chown", refuse)
    code, _, err = run(*cli(folder, "withdraw", "dns"))
    assert code == 69 and "warning: " in err and "may not be able to read it" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns"}


def test_clearing_one_service_keeps_an_all_services_entry_for_the_others() -> None:
    everything = (Maintenance("file unreadable", 0.0),)
    own = (Maintenance("patching", 5.0, "ops"),)
    assert offline.cleared({ALL: everything, "b": own}, ["a"], ["a", "b", "c"]) == {
        "b": own, "c": everything}
    assert offline.cleared({ALL: everything}, ["a", "b", "c"], ["a", "b", "c"]) == {}


def test_offline_announce_of_one_service_keeps_the_others_in_all_services_maintenance(
        folder: Path, run: Run) -> None:
    write_config(folder)
    store = MaintenanceStore(folder / "state")
    store.save({ALL: (Maintenance("everything", 1.0, "root"),)})
    code, _, _ = run(*cli(folder, "announce", "dns"))
    assert code == 69 and store.load() == {"other": (Maintenance("everything", 1.0, "root"),)}
    run(*cli(folder, "announce"))
    assert store.load() == {}


def test_offline_withdraw_of_an_unknown_service_exits_67(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, _ = run(*cli(folder, "withdraw", "nope"))
    assert code == 67 and not (folder / "state").exists()


def test_offline_withdraw_with_an_unusable_config_says_not_recorded(
        folder: Path, run: Run) -> None:
    write_config(folder, f"control: {{socket: {folder}/s.sock}}\nservices: []\n")
    code, _, err = run(*cli(folder, "withdraw"))
    assert code == 69 and "maintenance NOT recorded" in err
