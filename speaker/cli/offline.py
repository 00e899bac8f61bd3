"""speakerctl's offline maintenance: editing the persisted file while the process is down.

Owns what `withdraw` and `announce` change in state_dir/maintenance.json
when the speaker process cannot be reached: which entries to add or drop
(pure: `recorded`, `cleared`), writing them through the daemon's own
MaintenanceStore. It never touches routes, the socket or the live process,
and prints nothing: the commands say what was done.
"""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from speaker.adapters.state import ALL, Maintenance, MaintenanceStore
from speaker.core.config import Config

Entries = dict[str, Maintenance]


@dataclass(frozen=True)
class Edit:
    """The file that was written."""

    path: Path


# -- the change (pure) --------------------------------------------------------------------


def recorded(entries: Entries, names: Iterable[str], entry: Maintenance) -> Entries:
    """`entries` with each of `names` in maintenance as `entry`."""
    return {**entries, **dict.fromkeys(names, entry)}


def cleared(entries: Entries, names: Iterable[str]) -> Entries:
    """`entries` with `names` and the all-services entry (ALL) out of maintenance."""
    out = dict(entries)
    out.pop(ALL, None)
    for name in names:
        out.pop(name, None)
    return out


# -- the file -------------------------------------------------------------------------------


def withdraw(cfg: Config, names: list[str], reason: str) -> Edit:
    """Put `names` in maintenance in the file; raises StateError if it cannot be written."""
    entry = Maintenance(reason=reason, since=time.time(), by=_me())
    return _edit(cfg, lambda entries: recorded(entries, names, entry))


def announce(cfg: Config, names: list[str]) -> Edit:
    """Take `names` out of maintenance in the file; raises StateError if it cannot be written."""
    return _edit(cfg, lambda entries: cleared(entries, names))


def _edit(cfg: Config, change: Callable[[Entries], Entries]) -> Edit:
    store = MaintenanceStore(cfg.state_dir)
    store.save(change(store.load()))
    return Edit(store.path)


def _me() -> str:
    try:
        name = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        name = str(os.getuid())
    return f"{name} (pid {os.getpid()}, speakerctl while the process was not running)"
