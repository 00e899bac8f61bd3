"""The log of server-gone events: one line per dead server, not one per service.

Owns `GoneLog`: the services an event source reported gone in one pass of the
event loop, by reason (one reason names one socket or process), logged at the
end of that pass as one `server gone: withdrawing now, a probe confirms` line
per reason, naming how many services and which (the first NAMED, then how
many more). One service alone gets the line it always had (`service=`). Each
service's own change of state is still logged by the speaker, one line each.
Must not decide nor change anything: the speaker withdraws, this only tells.
"""

from __future__ import annotations

import asyncio
import logging

from speaker import logs

LOG = logs.get("speaker")
GONE = "server gone: withdrawing now, a probe confirms"
NAMED = 10  # services named in full on a line; the rest are counted


class GoneLog:
    def __init__(self) -> None:
        self.waiting: dict[str, list[str]] = {}  # reason: the services it took down
        self._due: asyncio.Handle | None = None

    def add(self, name: str, reason: str) -> None:
        """Service `name` goes down because of `reason`: logged at the end of this pass
        (at once outside an event loop)."""
        self.waiting.setdefault(reason, []).append(name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.say()
            return
        if self._due is None:
            self._due = loop.call_soon(self.say)

    @staticmethod
    def already_down(name: str, reason: str) -> None:
        """Another of its sockets, or its process: no news, only at debug."""
        logs.log(LOG, logging.DEBUG, "server gone (service already down)", service=name,
                 reason=reason)

    def say(self) -> None:
        """Log the waiting events, one line per reason."""
        waiting, self.waiting, self._due = self.waiting, {}, None
        for reason, names in waiting.items():
            if len(names) == 1:
                logs.log(LOG, logging.WARNING, GONE, service=names[0], reason=reason)
                continue
            more = len(names) - NAMED
            shown = ",".join(names[:NAMED]) + (f" and {more} more" if more > 0 else "")
            logs.log(LOG, logging.WARNING, GONE, services=len(names), names=shown,
                     reason=reason)
