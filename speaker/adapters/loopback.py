"""The anycast addresses on local interfaces, through rtnetlink (speaker.adapters.rtnl).

Owns reading and adding addresses; it never removes one (a stopped speaker
leaves the address in place so the DNS server keeps its sockets) and decides
nothing about health. The set of addresses is kept current by netlink address
events, read in a thread of its own, so a check costs a set lookup even with
1,000 addresses on `lo`; a full dump resynchronises it every `RESYNC` seconds,
and whenever events were lost (ENOBUFS). A failure in that thread is logged
(when it starts and when it ends) and retried; the thread never ends before
`close`. Interface names map to indexes with
if_nametoindex(3), not netlink. No pyroute2 socket is used (see rtnl): the
same code runs on pyroute2 0.7 and 0.9, inside or outside an event loop.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable

from speaker import logs
from speaker.adapters.rtnl import (
    RECV_SIZE,
    REPLY_TIMEOUT,
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV6_IFADDR,
    Change,
    Rtnl,
    change,
    connect,
    split,
)
from speaker.core.config import IPAddress
from speaker.ports import AddressError

LOG = logs.get("loopback")
RESYNC = 30.0
RETRY = 0.5  # seconds between two attempts after a failure


class Table:
    """The usable addresses per interface index, from dumps and events (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_index: dict[int, set[IPAddress]] = {}

    def replace(self, changes: Iterable[Change]) -> None:
        """Forget everything: the addresses are those of a dump."""
        found: dict[int, set[IPAddress]] = {}
        for c in changes:
            if c.usable:
                found.setdefault(c.index, set()).add(c.address)
        with self._lock:
            self._by_index = found

    def apply(self, changes: Iterable[Change]) -> None:
        """Events, in the order the kernel sent them."""
        with self._lock:
            for c in changes:
                current = self._by_index.setdefault(c.index, set())
                if c.usable:
                    current.add(c.address)
                else:
                    current.discard(c.address)

    def on(self, index: int) -> frozenset[IPAddress]:
        with self._lock:
            return frozenset(self._by_index.get(index, ()))

    def has(self, index: int, address: IPAddress) -> bool:
        with self._lock:
            return address in self._by_index.get(index, ())


def index_of(interface: str) -> int:
    """The index of `interface` (if_nametoindex: no netlink, safe in any thread)."""
    try:
        return socket.if_nametoindex(interface)
    except (OSError, ValueError):
        raise AddressError(f"interface {interface} does not exist") from None


def _name_of(index: int) -> str:
    try:
        return socket.if_indextoname(index)
    except OSError:  # the interface went away since the dump
        return str(index)


def all_addresses(open_socket: Callable[[int], socket.socket] = connect
                  ) -> frozenset[tuple[str, IPAddress]]:
    """Every usable (interface, address) of this host, from one netlink dump."""
    rtnl = Rtnl(open_socket(0))
    try:
        return frozenset((_name_of(c.index), c.address) for c in rtnl.dump() if c.usable)
    finally:
        rtnl.close()


# -- the adapter ------------------------------------------------------------------------


class Netlink:
    """Addresses kept current by netlink events, in a thread of its own; added by request.

    Every method is safe to call from the event loop: `present` is a set lookup and
    `ensure` one request the kernel answers at once (bounded by REPLY_TIMEOUT).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 open_socket: Callable[[int], socket.socket] = connect,
                 start: bool = True) -> None:
        self._clock = clock
        self._table = Table()
        self._indexes: dict[str, int] = {}  # interface name: index, as `present` last saw it
        self._stop = threading.Event()
        self._events = open_socket(RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self._last = clock()
        self._failing = ""  # the error of the last failed turn, "" once one succeeded
        try:
            self._rtnl = Rtnl(open_socket(0))
        except BaseException:
            self._events.close()
            raise
        try:
            self.resync()  # after subscribing: no event between dump and subscription is lost
        except BaseException:
            self._events.close()
            self._rtnl.close()
            raise
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._watch, name="netlink-addresses",
                                        daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Start reading events in the thread (the constructor does, unless start=False)."""
        self._thread.start()

    def resync(self) -> None:
        """Read the truth: a full dump replaces what events said so far."""
        self._table.replace(self._rtnl.dump())
        self._indexes.clear()  # an interface renamed or made again: its index anew
        self._last = self._clock()

    def receive(self, timeout: float) -> bool:
        """Apply the events of one datagram, or resync if due; False once closed.

        Waits at most `timeout`, and no longer than until the next resync is due."""
        wait = min(timeout, max(0.0, self._last + RESYNC - self._clock()))
        ready, _, _ = select.select([self._events.fileno(), self._wake_r], [], [], wait)
        if self._stop.is_set():
            return False
        if self._events.fileno() in ready:
            try:
                datagram = self._events.recv(RECV_SIZE)
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.resync()  # the kernel dropped events: read the truth
                return True
            self._table.apply(c for c in map(change, split(datagram)) if c is not None)
        if self._clock() - self._last >= RESYNC:
            self.resync()
        return True

    def watch_once(self, timeout: float) -> bool:
        """One turn of the thread: `receive`, or log its failure and wait RETRY. False once closed.

        A failure is logged when it starts and when it ends, not at every retry.
        """
        if self._stop.is_set():
            return False
        try:
            alive = self.receive(timeout)
        except Exception as exc:  # a failed dump or a bad datagram: say so, retry, never die
            if self._stop.is_set():  # closed under our feet: not a failure
                return False
            error = repr(exc)
            if error != self._failing:
                self._failing = error
                logs.log(LOG, logging.ERROR, "netlink address events unreadable: addresses "
                         "may be stale; retrying", error=error, retry=RETRY)
            return not self._stop.wait(RETRY)
        if self._failing:
            self._failing = ""
            logs.log(LOG, logging.INFO, "netlink address events readable again")
        return alive

    def _watch(self) -> None:
        # woken by an event, by `close` (its pipe) or for the resync: no wake-ups between
        while not self._stop.is_set() and self.watch_once(RESYNC):
            pass

    def addresses(self, interface: str) -> frozenset[IPAddress]:
        return self._table.on(index_of(interface))

    def present(self, interface: str, address: IPAddress) -> bool:
        # if_nametoindex is a syscall, asked per service and round: a hit trusts the index
        # seen before (forgotten at each resync), a miss asks the kernel again
        index = self._indexes.get(interface)
        if index is not None and self._table.has(index, address):
            return True
        index = self._indexes[interface] = index_of(interface)
        return self._table.has(index, address)

    def ensure(self, interface: str, address: IPAddress) -> bool:
        index = index_of(interface)
        if self._table.has(index, address):
            return False
        try:
            added = self._rtnl.add(index, address)
        except TimeoutError:
            raise AddressError(f"cannot add {address} to {interface}: netlink did not answer "
                               f"within {REPLY_TIMEOUT:g} s") from None
        except OSError as exc:
            if exc.errno == errno.EPERM:
                raise AddressError(f"cannot add {address} to {interface}: permission denied "
                                   "(needs CAP_NET_ADMIN)") from None
            raise AddressError(f"cannot add {address} to {interface}: {exc}") from None
        if added:  # the event follows; the address is there now
            self._table.apply([Change(index, address, True)])
        return added

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
        self._events.close()
        self._rtnl.close()
