"""speakerctl's offline maintenance: editing the persisted file while the process is down.

Owns what `withdraw` and `announce` change in state_dir/maintenance.json
when the speaker process cannot be reached: which entries to add or drop
(pure: `recorded`, `cleared`, from
`speaker.core.maintenance`), writing them through the daemon's own
MaintenanceStore, and leaving the file owned like its folder, so that the
service user can still read what root wrote. It never touches routes, the
socket or the live process, and prints nothing: the commands say what was
done.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from speaker.adapters.state import Maintenance, MaintenanceStore
from speaker.core.config import Config
from speaker.core.maintenance import OPERATOR, Entries, cleared, recorded


@dataclass(frozen=True)
class Edit:
    """The file that was written, and why the service may not read it ('' if it can)."""

    path: Path
    warning: str = ""


# -- the file -------------------------------------------------------------------------------


def withdraw(cfg: Config, names: list[str], reason: str, tag: str = OPERATOR) -> Edit:
    """Put `names` in maintenance `tag` in the file; raises StateError if it cannot be
    written."""
    entry = Maintenance(reason=reason, since=time.time(), by=_me(), tag=tag)
    return _edit(cfg, lambda entries: recorded(entries, names, entry))


def announce(cfg: Config, names: list[str], tag: str | None = None) -> Edit:
    """Take `names` out of maintenance `tag` (of every tag if None) in the file; raises
    StateError if it cannot be written."""
    known = [s.name for s in cfg.services]
    return _edit(cfg, lambda entries: cleared(entries, names, known, tag))


def _edit(cfg: Config, change: Callable[[Entries], Entries]) -> Edit:
    store = MaintenanceStore(cfg.state_dir)
    store.save(change(store.load()))
    return Edit(store.path, _hand_over(store.path))


def _hand_over(path: Path) -> str:
    """Give `path` the owner and group of its folder; '' or why that failed.

    The process writes the file as the service user, who owns state_dir; a
    new file written by root would be root:root 0640, which the service
    cannot read (and then keeps every service withdrawn).
    """
    try:
        folder, mine = path.parent.stat(), path.stat()
        if (mine.st_uid, mine.st_gid) != (folder.st_uid, folder.st_gid):
            os.chown(path, folder.st_uid if os.geteuid() == 0 else -1, folder.st_gid)
    except OSError as exc:
        return (f"{path} could not be given the owner and group of {path.parent} "
                f"({exc.strerror or exc}): the speaker process may not be able to read it")
    return ""


def _me() -> str:
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = str(os.getuid())
    return f"{name} (pid {os.getpid()}, speakerctl while the process was not running)"
