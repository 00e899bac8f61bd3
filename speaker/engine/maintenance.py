"""Which services are in maintenance (under which tags), persisted before it takes effect.

Owns the in-memory maintenance record and its MaintenanceStore: loading it at
start (and saying which services stay withdrawn), and changing it by saving
first, so a record that cannot be written changes nothing. A service stays in
maintenance while any tag holds it. A save may block
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
from speaker.core.maintenance import ALL, OPERATOR, Entries, Maintenance, cleared, holding, recorded
from speaker.ports import Clock, MaintenanceStore

LOG = logs.get("speaker")


class Maintenances:
    def __init__(self, store: MaintenanceStore, wall: Clock) -> None:
        self.store = store
        self.wall = wall
        self.entries: Entries = {}
        self._changing = asyncio.Lock()

    def load(self) -> None:
        """Read the record (at start) and say which services it keeps withdrawn."""
        self.entries = self.store.load()
        if ALL in self.entries:
            logs.log(LOG, logging.ERROR, "maintenance file unreadable: every service stays "
                     "withdrawn until `speakerctl announce`", reason=self.entries[ALL][0].reason)
        for name, held in self.entries.items():
            for item in held if name != ALL else ():
                logs.log(LOG, logging.WARNING, "service in maintenance: stays withdrawn",
                         service=name, tag=item.tag, reason=item.reason)

    def of(self, name: str) -> Maintenance | None:
        """The (first) maintenance that keeps service `name` withdrawn, if any."""
        held = holding(self.entries, name)
        return held[0] if held else None

    def all_of(self, name: str) -> tuple[Maintenance, ...]:
        """Every maintenance that keeps service `name` withdrawn."""
        return holding(self.entries, name)

    async def enter(self, names: Iterable[str], reason: str, by: str,
                    tag: str = OPERATOR) -> None:
        """Record maintenance `tag` for `names`; raises StateError (and changes nothing) if
        it cannot."""
        async with self._changing:
            before = self.entries
            after = recorded(before, names, Maintenance(reason, self.wall(), by, tag))
            self.entries = after  # in force while it is written: nothing is announced meanwhile
            try:
                await asyncio.to_thread(self.store.save, after)
            except Exception:
                self.entries = before
                raise

    async def leave(self, names: Iterable[str], services: Iterable[str],
                    tag: str | None = None) -> None:
        """End maintenance `tag` (every tag if None) for `names`; raises StateError (and
        changes nothing) if it cannot.

        An all-services entry (ALL) stays in force for every other of `services`,
        and for `names` too when a tag is given.
        """
        async with self._changing:
            after = cleared(self.entries, names, services, tag)
            await asyncio.to_thread(self.store.save, after)
            self.entries = after
