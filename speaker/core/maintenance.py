"""Maintenance records: which services an operator withdrew, and why. Plain data.

Owns the `Maintenance` record and `ALL`, the name under which an unreadable
maintenance file puts every service in maintenance. Must not read or write
anything: `speaker.adapters.state` persists these records.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL = "*"  # a corrupt file puts every service in maintenance under this name


@dataclass(frozen=True)
class Maintenance:
    reason: str
    since: float  # wall-clock seconds
    by: str = ""
