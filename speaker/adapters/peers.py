"""Who is on the other end of a unix socket, and their user names, looked up off the loop.

Owns SO_PEERCRED (pid and uid of the peer) and `Names`: uid -> user name
through NSS, which with LDAP or sssd can block for seconds, so a lookup never
runs on the event loop, is bounded in time and is cached. Knows nothing of
requests or of the speaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import pwd
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NAME_TIMEOUT = 1.0  # a user name not found by then is shown as its uid
NAMES_KEPT = 256
NAME_TTL = 600.0


@dataclass(frozen=True)
class Peer:
    """Who is on the other end of a request (SO_PEERCRED); None when unknown."""

    uid: int | None = None
    pid: int | None = None


def credentials(sock: Any) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end of a unix socket."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return None
    pid, uid, _ = struct.unpack("3i", creds)
    return pid, uid


def peer_of(writer: asyncio.StreamWriter) -> Peer:
    found = credentials(writer.get_extra_info("socket"))
    return Peer() if found is None else Peer(uid=found[1], pid=found[0])


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class Names:
    """User names by uid, looked up off the event loop; at most one lookup per uid at a time.

    Each lookup runs in a daemon thread of its own (a hung NSS lookup must
    neither hold the loop nor keep the process from exiting); one that takes
    longer than NAME_TIMEOUT gives the uid instead. Names are kept NAME_TTL
    seconds, at most NAMES_KEPT of them.
    """

    def __init__(self, lookup: Callable[[int], str] = _user_name,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._clock = clock
        self._kept: OrderedDict[int, tuple[float, str]] = OrderedDict()
        self._pending: dict[int, asyncio.Future[str]] = {}

    async def name(self, uid: int) -> str:
        kept = self._kept.get(uid)
        if kept is not None and self._clock() - kept[0] < NAME_TTL:
            return kept[1]
        pending = self._pending.get(uid)
        if pending is None:
            pending = self._pending[uid] = self._start(uid)
        try:
            return await asyncio.wait_for(asyncio.shield(pending), NAME_TIMEOUT)
        except Exception:  # too slow (TimeoutError) or NSS failed: the uid says who it was
            return str(uid)

    def _start(self, uid: int) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()

        def settle(name: str | None, error: BaseException | None) -> None:
            self._pending.pop(uid, None)
            if name is not None:
                self._kept[uid] = (self._clock(), name)
                self._kept.move_to_end(uid)
                while len(self._kept) > NAMES_KEPT:
                    self._kept.popitem(last=False)
            if done.done():
                return
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(name or str(uid))

        def work() -> None:
            name, error = None, None
            try:
                name = self._lookup(uid)
            except Exception as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
                loop.call_soon_threadsafe(settle, name, error)

        threading.Thread(target=work, name="user-name", daemon=True).start()
        return done

    async def describe(self, peer: Peer) -> str:
        """Who asked, for the maintenance record: `name (pid N)`."""
        if peer.uid is None:
            return "unknown"
        return f"{await self.name(peer.uid)} (pid {peer.pid})"
