"""The anycast addresses on local interfaces, through netlink (pyroute2).

Owns reading and adding addresses; it never removes one (a stopped speaker
leaves the address in place so the DNS server keeps its sockets) and decides
nothing about health. The set of addresses is kept current by netlink address
events, read in a thread of its own, so a check costs a set lookup even with
1,000 addresses on `lo` (a netlink dump of those takes ~90 ms in pyroute2);
a full dump resynchronises it every `RESYNC` seconds, and whenever events
were lost.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from speaker.core.config import IPAddress

IFA_F_NODAD = 0x02
IFA_F_TENTATIVE = 0x40
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RESYNC = 30.0


class AddressError(Exception):
    """An address could not be read or added."""


class Addresses(Protocol):
    def present(self, interface: str, address: IPAddress) -> bool: ...

    def ensure(self, interface: str, address: IPAddress) -> bool:
        """Add `address` (host prefix) to `interface`; True if it was added now."""
        ...

    def close(self) -> None: ...


def _usable(msg: Any) -> IPAddress | None:
    """The address of an RTM_NEWADDR message, unless it is still tentative."""
    flags = msg.get_attr("IFA_FLAGS")
    if flags is None:
        flags = msg.get("flags", 0)
    if flags & IFA_F_TENTATIVE:
        return None
    value = msg.get_attr("IFA_ADDRESS") or msg.get_attr("IFA_LOCAL")
    return ipaddress.ip_address(value) if value else None


def _iproute_class() -> Any:
    """pyroute2's IPRoute, imported without running pyroute2/__init__.py.

    That file loads every pyroute2 entry point (NDB, IPDB, nftables, ...):
    +10 MB of RSS and +0.15 s of start-up for a process that needs rtnetlink
    only. A bare package module with the real __path__ lets Python import
    `pyroute2.iproute.linux` alone. Should that fail (another pyroute2
    layout), the ordinary import is used.
    """
    import importlib.util
    import sys
    import types

    if "pyroute2" not in sys.modules:
        spec = importlib.util.find_spec("pyroute2")
        if spec is not None and spec.submodule_search_locations:
            package = types.ModuleType("pyroute2")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules["pyroute2"] = package
            try:
                from pyroute2.iproute.linux import IPRoute as Light

                return Light
            except Exception:
                for name in [m for m in sys.modules if m.split(".")[0] == "pyroute2"]:
                    del sys.modules[name]
    from pyroute2 import IPRoute

    return IPRoute


def all_addresses() -> frozenset[tuple[str, IPAddress]]:
    """Every usable (interface, address) of this host, from one netlink dump."""
    ipr = _iproute_class()()
    try:
        names = {link["index"]: link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
        found = set()
        for msg in ipr.get_addr():
            address = _usable(msg)
            if address is not None:
                found.add((str(names.get(msg["index"], msg["index"])), address))
    finally:
        ipr.close()
    return frozenset(found)


class Netlink:
    """Addresses read from netlink events and written with pyroute2's IPRoute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        IPRoute = _iproute_class()
        self._ipr: Any = IPRoute()
        self._clock = clock
        self._lock = threading.Lock()
        self._by_index: dict[int, set[IPAddress]] = {}
        self._index: dict[str, int] = {}
        self._stop = threading.Event()
        self._monitor: Any = IPRoute()
        self._monitor.bind(groups=RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        self._resync()  # after bind: no event between dump and subscription is lost
        self._thread = threading.Thread(target=self._watch, name="netlink-addresses",
                                         daemon=True)
        self._thread.start()

    def _resync(self) -> None:
        found: dict[int, set[IPAddress]] = {}
        for msg in self._ipr.get_addr():
            address = _usable(msg)
            if address is not None:
                found.setdefault(int(msg["index"]), set()).add(address)
        with self._lock:
            self._by_index = found

    def _watch(self) -> None:
        last = self._clock()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._monitor.fileno()], [], [], 1.0)
                if ready:
                    self._apply(self._monitor.get())
                if self._clock() - last >= RESYNC:
                    self._resync()
                    last = self._clock()
            except OSError as exc:
                if self._stop.is_set():
                    return
                if exc.errno == errno.ENOBUFS:  # events were dropped: read the truth
                    self._resync()
                    last = self._clock()
                    continue
                time.sleep(0.5)
            except Exception:
                if self._stop.is_set():
                    return
                time.sleep(0.5)

    def _apply(self, messages: list[Any]) -> None:
        with self._lock:
            for msg in messages:
                event = msg.get("event")
                if event not in ("RTM_NEWADDR", "RTM_DELADDR"):
                    continue
                index = int(msg["index"])
                value = msg.get_attr("IFA_ADDRESS") or msg.get_attr("IFA_LOCAL")
                if not value:
                    continue
                address = ipaddress.ip_address(value)
                current = self._by_index.setdefault(index, set())
                if event == "RTM_DELADDR" or _usable(msg) is None:
                    current.discard(address)
                else:
                    current.add(address)

    def _lookup(self, interface: str) -> int:
        index = self._index.get(interface)
        if index is None:
            found = self._ipr.link_lookup(ifname=interface)
            if not found:
                raise AddressError(f"interface {interface} does not exist")
            index = self._index[interface] = int(found[0])
        return index

    def addresses(self, interface: str) -> frozenset[IPAddress]:
        index = self._lookup(interface)
        with self._lock:
            return frozenset(self._by_index.get(index, ()))

    def present(self, interface: str, address: IPAddress) -> bool:
        index = self._lookup(interface)
        with self._lock:
            return address in self._by_index.get(index, ())

    def ensure(self, interface: str, address: IPAddress) -> bool:
        if self.present(interface, address):
            return False
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        try:
            self._ipr.addr("add", index=self._lookup(interface), address=str(address),
                           prefixlen=address.max_prefixlen, family=family,
                           flags=IFA_F_NODAD if address.version == 6 else 0)
        except AddressError:
            raise
        except Exception as exc:  # pyroute2's NetlinkError carries an errno as .code
            code = getattr(exc, "code", None)
            if code == errno.EEXIST:
                return False
            if code == errno.EPERM:
                raise AddressError(f"cannot add {address} to {interface}: permission denied "
                                   "(needs CAP_NET_ADMIN)") from None
            raise AddressError(f"cannot add {address} to {interface}: {exc}") from None
        with self._lock:  # the event follows; count it present now (it is)
            self._by_index.setdefault(self._lookup(interface), set()).add(address)
        return True

    def close(self) -> None:
        self._stop.set()
        for ipr in (self._monitor, self._ipr):
            with contextlib.suppress(Exception):
                ipr.close()
