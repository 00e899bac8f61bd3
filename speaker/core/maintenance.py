"""Maintenance records: which services an operator withdrew, and why. Plain data.

Owns the `Maintenance` record, `ALL` (the name under which an unreadable
maintenance file puts every service in maintenance) and the two changes of a
record, `recorded` and `cleared`, shared by the running speaker and
speakerctl's offline edits. Must not read or write anything:
`speaker.adapters.state` persists these records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALL = "*"  # a corrupt file puts every service in maintenance under this name


@dataclass(frozen=True)
class Maintenance:
    reason: str
    since: float  # wall-clock seconds
    by: str = ""


Entries = dict[str, Maintenance]


def recorded(entries: Entries, names: Iterable[str], entry: Maintenance) -> Entries:
    """`entries` with each of `names` in maintenance as `entry`."""
    return {**entries, **dict.fromkeys(names, entry)}


def cleared(entries: Entries, names: Iterable[str], known: Iterable[str]) -> Entries:
    """`entries` with `names` out of maintenance, and no other service.

    An all-services entry (ALL) stays in force for every other known service:
    announcing one service never brings back the others.
    """
    out = dict(entries)
    everything = out.pop(ALL, None)
    if everything is not None:
        for name in known:
            out.setdefault(name, everything)
    for name in names:
        out.pop(name, None)
    return out
