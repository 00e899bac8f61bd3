"""A socket the event loop reads (`add_reader`): closed only after the loop stops reading it.

Owns that one order, for every adapter whose socket the loop watches (the DNS
probes' UDP sockets, the sock_diag socket). Must not open sockets.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Watched(Protocol):
    """A socket, or anything the loop can watch that closes like one."""

    def fileno(self) -> int: ...
    def close(self) -> None: ...


def close(sock: Watched | None, loop: asyncio.AbstractEventLoop | None) -> None:
    """Stop `loop` reading `sock`, then close it; None: nothing to close."""
    if sock is None:
        return
    if loop is not None and not loop.is_closed():
        loop.remove_reader(sock.fileno())
    sock.close()
