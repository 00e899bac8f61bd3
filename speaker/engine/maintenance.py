"""Which services an operator put in maintenance, persisted before it takes effect.

Owns the in-memory maintenance record and its MaintenanceStore: loading it at
start (and saying which services stay withdrawn), and changing it by saving
first, so a record that cannot be written changes nothing. A save may block
(it fsyncs): it runs in a worker thread, never on the event loop, and one
change at a time, each computed from the one before, in the order asked.
While a maintenance is being written it already counts (the safe side: no
announce meanwhile); an end of maintenance counts only once written. Must not
touch routes: the speaker withdraws or re-announces once the record changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from speaker import logs
from speaker.core.maintenance import ALL, Maintenance, cleared, recorded
from speaker.ports import Clock, MaintenanceStore

LOG = logs.get("speaker")


class Maintenances:
    def __init__(self, store: MaintenanceStore, wall: Clock) -> None:
        self.store = store
        self.wall = wall
        self.entries: dict[str, Maintenance] = {}
        self._changing = asyncio.Lock()

    def load(self) -> None:
        """Read the record (at start) and say which services it keeps withdrawn."""
        self.entries = self.store.load()
        if ALL in self.entries:
            logs.log(LOG, logging.ERROR, "maintenance file unreadable: every service stays "
                     "withdrawn until `speakerctl announce`", reason=self.entries[ALL].reason)
        for name, item in self.entries.items():
            if name != ALL:
                logs.log(LOG, logging.WARNING, "service in maintenance: stays withdrawn",
                         service=name, reason=item.reason)

    def of(self, name: str) -> Maintenance | None:
        """The maintenance that keeps service `name` withdrawn, if any."""
        return self.entries.get(name) or self.entries.get(ALL)

    async def enter(self, names: Iterable[str], reason: str, by: str) -> None:
        """Record maintenance for `names`; raises StateError (and changes nothing) if it cannot."""
        async with self._changing:
            before = self.entries
            after = recorded(before, names, Maintenance(reason, self.wall(), by))
            self.entries = after  # in force while it is written: nothing is announced meanwhile
            try:
                await asyncio.to_thread(self.store.save, after)
            except Exception:
                self.entries = before
                raise

    async def leave(self, names: Iterable[str], services: Iterable[str]) -> None:
        """End maintenance for `names`; raises StateError (and changes nothing) if it cannot.

        An all-services entry (ALL) stays in force for every other of `services`.
        """
        async with self._changing:
            after = cleared(self.entries, names, services)
            await asyncio.to_thread(self.store.save, after)
            self.entries = after
