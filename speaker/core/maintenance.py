"""Maintenance records: which services are withdrawn for maintenance, by whom, and why.

Plain data. A service may be in several maintenances at once, each under its
own tag (its origin): `operator` for `speakerctl withdraw`, `dns-restart` for
the systemd drain of a DNS-server restart, or any tag a script picks. It stays
withdrawn while any of them remains, and ending one tag never ends another.

Owns the `Maintenance` record, `ALL` (the name under which an unreadable
maintenance file puts every service in maintenance), tag validation, and the
two changes of a record, `recorded` and `cleared`, shared by the running
speaker and speakerctl's offline edits. Must not read or write anything:
`speaker.adapters.state` persists these records.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ALL = "*"  # a corrupt file puts every service in maintenance under this name
OPERATOR = "operator"  # the tag of a withdraw that names none
TAG = re.compile(r"[a-z0-9][a-z0-9._-]{0,39}")


@dataclass(frozen=True)
class Maintenance:
    reason: str
    since: float  # wall-clock seconds
    by: str = ""
    tag: str = OPERATOR


Entries = dict[str, tuple[Maintenance, ...]]
Held = Mapping[str, tuple[Maintenance, ...]]  # what the edits read


def tag_problem(tag: str) -> str:
    """Why `tag` is not a valid maintenance tag ('' if it is)."""
    if TAG.fullmatch(tag):
        return ""
    return (f"tag {tag[:50]!r} is not 1-40 lower-case letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)")


def holding(entries: Held, name: str) -> tuple[Maintenance, ...]:
    """Every maintenance that keeps service `name` withdrawn, its own first, then ALL's."""
    return entries.get(name, ()) + entries.get(ALL, ())


def recorded(entries: Held, names: Iterable[str], entry: Maintenance) -> Entries:
    """`entries` with each of `names` in maintenance as `entry`.

    An earlier entry of the same tag is replaced; those of other tags stay.
    """
    out = dict(entries)
    for name in names:
        out[name] = (*(m for m in out.get(name, ()) if m.tag != entry.tag), entry)
    return out


def cleared(entries: Held, names: Iterable[str], known: Iterable[str],
            tag: str | None = None) -> Entries:
    """`entries` with `names` out of maintenance of `tag` (of every tag if None).

    With no tag, an all-services entry (ALL) stays in force for every other
    known service: announcing one service never brings back the others. With a
    tag, only that tag's entries of `names` go: other tags, and ALL (an
    unreadable file, which only an untagged announce ends), stay.
    """
    out = dict(entries)
    if tag is None:
        everything = out.pop(ALL, None)
        if everything is not None:
            for name in known:
                out.setdefault(name, everything)
        for name in names:
            out.pop(name, None)
        return out
    for name in names:
        rest = tuple(m for m in out.get(name, ()) if m.tag != tag)
        if rest:
            out[name] = rest
        else:
            out.pop(name, None)
    return out
