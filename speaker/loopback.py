"""The anycast addresses on local interfaces, through netlink (pyroute2).

Owns reading and adding addresses; it never removes one (a stopped speaker
leaves the address in place so the DNS server keeps its sockets) and decides
nothing about health. One netlink dump serves all services for a short while.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from speaker.config import IPAddress

IFA_F_NODAD = 0x02
CACHE_SECONDS = 0.05


class AddressError(Exception):
    """An address could not be read or added."""


class Addresses(Protocol):
    def present(self, interface: str, address: IPAddress) -> bool: ...

    def ensure(self, interface: str, address: IPAddress) -> bool:
        """Add `address` (host prefix) to `interface`; True if it was added now."""
        ...

    def close(self) -> None: ...


class Netlink:
    """Addresses read and written with pyroute2's IPRoute."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        from pyroute2 import IPRoute

        self._ipr: Any = IPRoute()
        self._clock = clock
        self._cache: dict[str, tuple[float, frozenset[IPAddress]]] = {}

    def _index(self, interface: str) -> int:
        found = self._ipr.link_lookup(ifname=interface)
        if not found:
            raise AddressError(f"interface {interface} does not exist")
        return int(found[0])

    def addresses(self, interface: str) -> frozenset[IPAddress]:
        now = self._clock()
        cached = self._cache.get(interface)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        index = self._index(interface)
        found: set[IPAddress] = set()
        for msg in self._ipr.get_addr(index=index):
            if msg.get_attr("IFA_FLAGS", 0) & 0x40:  # IFA_F_TENTATIVE: not usable yet
                continue
            value = msg.get_attr("IFA_ADDRESS") or msg.get_attr("IFA_LOCAL")
            if value:
                found.add(ipaddress.ip_address(value))
        result = frozenset(found)
        self._cache[interface] = (now, result)
        return result

    def present(self, interface: str, address: IPAddress) -> bool:
        return address in self.addresses(interface)

    def ensure(self, interface: str, address: IPAddress) -> bool:
        self._cache.pop(interface, None)
        if self.present(interface, address):
            return False
        self._cache.pop(interface, None)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        try:
            self._ipr.addr("add", index=self._index(interface), address=str(address),
                           prefixlen=address.max_prefixlen, family=family,
                           flags=IFA_F_NODAD if address.version == 6 else 0)
        except Exception as exc:  # pyroute2's NetlinkError carries an errno as .code
            code = getattr(exc, "code", None)
            if code == errno.EEXIST:
                return False
            if code == errno.EPERM:
                raise AddressError(f"cannot add {address} to {interface}: permission denied "
                                   "(needs CAP_NET_ADMIN)") from None
            raise AddressError(f"cannot add {address} to {interface}: {exc}") from None
        return True

    def close(self) -> None:
        self._ipr.close()
