"""The socket watch: tells the engine the moment a DNS server's last socket closes.

A sock_diag dump says which sockets receive on each watched listener (the
address and port a check queries); the kernel's socket-destroy multicast
groups (CAP_NET_ADMIN) report each of them going away. When one of them
goes, a fresh dump says whether any is left (BIND has one per thread); if
none, `on_gone(name, reason)` is called once, and the listener waits for
`rearm` (after a passing probe: the restarted server has new sockets).
Lost events (a full receive buffer) re-dump every listener. `unread` is one
dump of a listener's read queues, for the hang confirmation of the DNS probe.

It never decides about routes and never logs: the engine does both. It
reads bytes through `Kernel` (speaker.core.sockdiag builds and parses them).
"""

from __future__ import annotations

import array
import asyncio
import errno
import os
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from speaker.adapters import loopsock
from speaker.core import sockdiag
from speaker.core.sockdiag import Listener, Socket
from speaker.core.watch import Detection

SO_ATTACH_FILTER = 26
RCVBUF = 1 << 20
NOT_LISTENING = "nothing listens there"  # yet: the first passing probe arms the watch


class Overrun(Exception):
    """The kernel dropped events: the receive buffer was full."""


class Kernel(Protocol):
    def join(self, groups: Iterable[int], ports: Iterable[int]) -> None:
        """Receive destroy events of `groups`, only for sockets on one of `ports`."""
        ...

    def fileno(self) -> int: ...

    def events(self) -> list[bytes]:
        """The datagrams waiting (never blocks); Overrun if some were lost."""
        ...

    def dump(self, family: int, protocol: int, states: int) -> list[bytes]: ...

    def close(self) -> None: ...


class Netlink:
    """The real sock_diag sockets: one for events (non-blocking), one for dumps."""

    def __init__(self) -> None:
        self._events = _open()
        self._events.setblocking(False)
        try:
            self._events.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            self._dumps = _open()
        except BaseException:
            self._events.close()
            raise
        self._dumps.settimeout(1.0)
        self._joined: set[int] = set()
        self._ports: set[int] = set()
        self._seq = 0

    def join(self, groups: Iterable[int], ports: Iterable[int]) -> None:
        wanted = set(ports)
        if not wanted <= self._ports:
            self._ports |= wanted
            program = sockdiag.pack_filter(sockdiag.port_filter(self._ports))
            # struct sock_fprog points at the program: an array's buffer (not ctypes, whose
            # import and libffi cost 0.4 MB), alive until setsockopt has copied it
            code = array.array("B", program)
            fprog = struct.pack("@HP", len(program) // 8, code.buffer_info()[0])
            self._events.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
        for group in set(groups) - self._joined:
            self._events.setsockopt(sockdiag.SOL_NETLINK, sockdiag.NETLINK_ADD_MEMBERSHIP,
                                    group)
            self._joined.add(group)

    def fileno(self) -> int:
        return self._events.fileno()

    def events(self) -> list[bytes]:
        found: list[bytes] = []
        while True:
            try:
                found.append(self._events.recv(65536))
            except BlockingIOError:
                return found
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    raise Overrun() from None
                raise

    def dump(self, family: int, protocol: int, states: int) -> list[bytes]:
        self._seq += 1
        self._dumps.send(sockdiag.dump_request(family, protocol, states, self._seq))
        replies: list[bytes] = []
        while True:
            data = self._dumps.recv(1 << 16)
            replies.append(data)
            if sockdiag.parse(data).done:
                return replies

    def close(self) -> None:
        self._events.close()
        self._dumps.close()


def _open() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, sockdiag.NETLINK_SOCK_DIAG)
    try:
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(eq=False)  # identity: two services may watch the same listener
class _Watched:
    listener: Listener
    cookies: frozenset[int] = frozenset()
    problem: str = ""  # why the listener is not watched (when `cookies` is empty)
    fired: bool = False


@dataclass
class _Service:
    items: list[_Watched] = field(default_factory=list)


class SocketWatch:
    """Watches the server sockets of each service's listeners."""

    def __init__(self, on_gone: Callable[[str, str], None],
                 kernel: Callable[[], Kernel] = Netlink) -> None:
        self.on_gone = on_gone
        self._open_kernel = kernel
        self._kernel: Kernel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.unavailable = ""  # why no socket watch works at all
        self._services: dict[str, _Service] = {}
        self._tick: dict[int, list[Socket] | str] | None = None  # dumps shared by one tick

    def _ready(self) -> Kernel | None:
        if self._kernel is None and not self.unavailable:
            try:
                kernel = self._open_kernel()
            except OSError as exc:
                self.unavailable = f"sock_diag netlink unavailable: {_why(exc)}"
                return None
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(kernel.fileno(), self.readable)
            self._kernel = kernel
        return self._kernel

    def watch(self, name: str, listeners: Sequence[Listener]) -> None:
        """Watch `listeners` for service `name` (replacing what it watched before)."""
        self._services[name] = _Service([_Watched(item) for item in listeners])
        kernel = self._ready()
        if kernel is None:
            return
        try:
            kernel.join([g for item in listeners for g in sockdiag.group(item)],
                        [item.port for item in listeners])
        except OSError as exc:
            self.unavailable = f"cannot join the socket-destroy groups: {_why(exc)}"
            return
        if self._tick is None:  # many services start in one tick: one dump serves them all
            self._tick = {}
            assert self._loop is not None
            self._loop.call_soon(self._forget)
        self._learn(self._services[name].items, self._tick)

    def _forget(self) -> None:
        self._tick = None

    def unwatch(self, name: str) -> None:
        self._services.pop(name, None)

    def rearm(self, name: str) -> None:
        """Learn the sockets of every listener of `name` that has none (a restarted server)."""
        service = self._services.get(name)
        if service is not None and self._kernel is not None:
            self._learn([w for w in service.items if not w.cookies], {})

    def report(self, name: str) -> list[Detection]:
        service = self._services.get(name)
        found = []
        for item in service.items if service else []:
            target = item.listener.describe()
            if self.unavailable:
                found.append(Detection("socket", target, False, self.unavailable))
            elif item.cookies:
                count = len(item.cookies)
                found.append(Detection("socket", target, True,
                                       f"{count} listening socket{'s' * (count != 1)}"))
            else:
                waiting = item.problem.startswith(NOT_LISTENING)
                found.append(Detection("socket", target, False, item.problem, pending=waiting))
        return found

    def readable(self) -> None:
        """Destroy events arrived: re-dump the listeners that lost a socket."""
        kernel = self._kernel
        if kernel is None:
            return
        try:
            datagrams = kernel.events()
        except Overrun:
            hit = [w for s in self._services.values() for w in s.items if w.cookies]
            self._settle(hit, "socket events were lost; a fresh dump shows no socket")
            return
        except OSError:
            return
        gone: set[int] = set()
        for data in datagrams:
            try:
                gone.update(s.cookie for s in sockdiag.parse(data).sockets)
            except sockdiag.SockDiagError:
                continue  # not an event of ours: the dump that follows is the judge
        hit = [w for s in self._services.values() for w in s.items if w.cookies & gone]
        self._settle(hit, "its last listening socket closed")

    def _settle(self, hit: list[_Watched], why: str) -> None:
        if not hit:
            return
        self._learn(hit, {})
        touched = {id(item) for item in hit}
        for name, service in list(self._services.items()):
            for item in service.items:
                if id(item) in touched and not item.cookies and not item.fired:
                    item.fired = True
                    self.on_gone(name, f"{item.listener.describe()}: {why}")

    def _learn(self, items: list[_Watched], cache: dict[int, list[Socket] | str]) -> None:
        """Refresh the sockets of `items` from one dump per protocol."""
        for item in items:
            protocol = sockdiag.PROTOCOLS[item.listener.protocol]
            if protocol not in cache:
                cache[protocol] = self._dump(protocol)
            sockets = cache[protocol]
            if isinstance(sockets, str):
                item.cookies, item.problem = frozenset(), sockets
                continue
            item.cookies = frozenset(s.cookie for s in sockets
                                     if sockdiag.serves(s, item.listener))
            item.problem = "" if item.cookies else (NOT_LISTENING + " in this network "
                                                    "namespace (yet); watched once a probe "
                                                    "passes")
            item.fired = item.fired and not item.cookies

    def _dump(self, protocol: int) -> list[Socket] | str:
        kernel = self._kernel
        assert kernel is not None
        state = 1 << sockdiag.SERVING_STATE[protocol]
        found: list[Socket] = []
        for family in (sockdiag.AF_INET, sockdiag.AF_INET6):
            try:
                for data in kernel.dump(family, protocol, state):
                    batch = sockdiag.parse(data)
                    if batch.error:
                        return f"sock_diag dump refused: {os.strerror(batch.error)}"
                    found.extend(batch.sockets)
            except (OSError, sockdiag.SockDiagError) as exc:
                return f"sock_diag dump failed: {_why(exc)}"
        return found

    def close(self) -> None:
        loopsock.close(self._kernel, self._loop)
        self._kernel = None


def _why(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EPERM:
        return "permission denied (needs CAP_NET_ADMIN)"
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{exc.strerror} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return str(exc)


def queues(listener: Listener) -> sockdiag.Queues | None:
    """The read queues of the server's sockets on `listener` (UDP), from one dump; None when
    it cannot tell (no socket there in this network namespace, or the dump failed). Two
    of them, some time apart, tell the hang confirmation (`speaker.core.sockdiag.unread`)
    whether the server reads its queries: if it does, it is alive, however slowly it
    answers."""
    families = [sockdiag.AF_INET6] + ([sockdiag.AF_INET] if listener.address.version == 4
                                      else [])
    found: list[Socket] = []
    try:
        sock = _open()
        try:
            sock.settimeout(0.05)
            for seq, family in enumerate(families, 1):
                sock.send(sockdiag.dump_request(family, sockdiag.IPPROTO_UDP,
                                                1 << sockdiag.TCP_CLOSE, seq))
                while True:
                    batch = sockdiag.parse(sock.recv(1 << 16))
                    found.extend(batch.sockets)
                    if batch.error:
                        return None
                    if batch.done:
                        break
        finally:
            sock.close()
    except (OSError, sockdiag.SockDiagError):
        return None
    return sockdiag.queues(found, listener)


def available() -> str:
    """Empty when the socket watch works here, else why not (for doctor)."""
    try:
        kernel = Netlink()
    except OSError as exc:
        return f"sock_diag netlink unavailable: {_why(exc)}"
    try:
        kernel.join([sockdiag.DESTROY_GROUPS[(sockdiag.AF_INET6, sockdiag.IPPROTO_UDP)]], [53])
        kernel.dump(sockdiag.AF_INET6, sockdiag.IPPROTO_UDP, 1 << sockdiag.TCP_CLOSE)
    except (OSError, sockdiag.SockDiagError) as exc:
        return f"cannot join the socket-destroy groups: {_why(exc)}"
    finally:
        kernel.close()
    return ""
