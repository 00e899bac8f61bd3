"""The socket and process watches: events in, `on_gone` out, and their reports.

The socket watch reads recorded sock_diag datagrams from a fake kernel, plus
one test on the real kernel (needs CAP_NET_ADMIN); the process watch holds a
pidfd on a child process the test starts and kills.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from speaker.adapters.pidfd import ProcessWatch
from speaker.adapters.sockdiag import Netlink, SocketWatch
from speaker.adapters.watchers import ServerWatch
from speaker.core.sockdiag import Listener
from speaker.core.watch import Process
from tests.fakes import Kernel
from tests.unit import sockdiag_records as rec

UDP6 = (10, 17)
WATCHED = Listener("udp", ipaddress.ip_address("::1"), 5399)
WILDCARD4 = Listener("udp", ipaddress.ip_address("127.0.0.1"), 5398)


class Gone:
    """Collects on_gone calls; `wait` returns once one arrived."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.event = asyncio.Event()

    def __call__(self, name: str, reason: str) -> None:
        self.calls.append((name, reason))
        self.event.set()

    async def wait(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.event.wait(), timeout)


async def turn() -> None:
    """Let the event loop deliver what is readable."""
    for _ in range(3):
        await asyncio.sleep(0)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())  # type: ignore[arg-type]


def watch_with(kernel: Kernel) -> tuple[SocketWatch, Gone]:
    gone = Gone()
    return SocketWatch(gone, kernel=lambda: kernel), gone


def test_the_dump_at_start_says_who_listens() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6]
        watch, _ = watch_with(kernel)
        watch.watch("dns", [WATCHED, WILDCARD4])
        first, second = watch.report("dns")
        assert (first.active, first.detail) == (True, "1 listening socket")
        assert second.active  # the IPv6 wildcard that is not v6only takes IPv4
        assert kernel.joined == {2, 4} and kernel.ports == {5398, 5399}
        watch.close()
    run(body)


def test_the_last_socket_closing_calls_on_gone_once() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6, rec.DUMP_UDP6_AFTER]
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        kernel.push(rec.EVENT_UDP6)
        await gone.wait()
        assert gone.calls == [("dns", "udp [::1]:5399: its last listening socket closed")]
        kernel.push(rec.EVENT_UDP6)  # the same news again: no second call
        await turn()
        assert len(gone.calls) == 1 and not watch.report("dns")[0].active
        watch.close()
    run(body)


def test_a_socket_closing_while_another_serves_calls_nothing() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6, rec.DUMP_UDP6_RESTARTED]  # a sibling remains
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        kernel.push(rec.EVENT_UDP6)
        await turn()
        assert gone.calls == [] and watch.report("dns")[0].active
        watch.close()
    run(body)


def test_events_of_other_sockets_cost_no_dump() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6]
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        dumped = kernel.dumped
        kernel.push(rec.EVENT_CLIENT + rec.EVENT_TCP6)
        await turn()
        assert gone.calls == [] and kernel.dumped == dumped
        watch.close()
    run(body)


def test_lost_events_redump_and_report_a_dead_server() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6, rec.DUMP_UDP6_AFTER]
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        kernel.push(overrun=True)
        await gone.wait()
        assert "events were lost" in gone.calls[0][1]
        watch.close()
    run(body)


def test_a_restarted_server_is_watched_again_after_rearm() -> None:
    async def body() -> None:
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6, rec.DUMP_UDP6_AFTER, rec.DUMP_UDP6_RESTARTED,
                              rec.DUMP_UDP6_AFTER]
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        kernel.push(rec.EVENT_UDP6)
        await gone.wait()
        watch.rearm("dns")
        assert watch.report("dns")[0].active
        restarted_gone = bytearray(rec.EVENT_UDP6[0])  # the new socket's cookie
        new_cookie = 4100
        restarted_gone[16 + 44:16 + 52] = new_cookie.to_bytes(8, "little")
        gone.event.clear()
        kernel.push([bytes(restarted_gone)])
        await gone.wait()
        assert len(gone.calls) == 2
        watch.close()
    run(body)


def test_nothing_listening_at_start_says_so_and_is_not_an_event() -> None:
    async def body() -> None:
        kernel = Kernel()
        watch, gone = watch_with(kernel)
        watch.watch("dns", [WATCHED])
        (found,) = watch.report("dns")
        assert not found.active and "nothing listens there" in found.detail
        assert gone.calls == []
        watch.close()
    run(body)


def test_without_cap_net_admin_the_report_says_why() -> None:
    async def body() -> None:
        def refuse() -> Kernel:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        watch = SocketWatch(Gone(), kernel=refuse)
        watch.watch("dns", [WATCHED])
        (found,) = watch.report("dns")
        assert not found.active and "needs CAP_NET_ADMIN" in found.detail
    run(body)


def real_kernel_or_skip() -> None:
    try:
        kernel = Netlink()
    except OSError as exc:
        pytest.skip(f"no sock_diag netlink here: {exc}")
    try:
        kernel.join([4], [53])
    except OSError as exc:
        pytest.skip(f"no sock_diag destroy groups here (CAP_NET_ADMIN?): {exc}")
    finally:
        kernel.close()


def test_on_the_real_kernel_closing_the_servers_sockets_is_seen_at_once() -> None:
    real_kernel_or_skip()

    async def body() -> None:
        servers = []
        for _ in range(2):  # as BIND does: one socket per thread, SO_REUSEPORT
            sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("::1", 0 if not servers else servers[0].getsockname()[1]))
            servers.append(sock)
        port = servers[0].getsockname()[1]
        other = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        other.bind(("::1", 0))
        gone = Gone()
        watch = SocketWatch(gone)
        watch.watch("dns", [Listener("udp", ipaddress.ip_address("::1"), port)])
        assert watch.report("dns")[0].detail == "2 listening sockets"
        other.close()
        servers[0].close()
        await asyncio.sleep(0.05)  # the kernel's events are asynchronous: give them time
        assert gone.calls == [] and watch.report("dns")[0].detail == "1 listening socket"
        servers[1].close()
        await gone.wait()
        assert gone.calls[0][0] == "dns"
        watch.close()
    run(body)


def child(tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid_file = tmp / "named.pid"
    pid_file.write_text(f"{proc.pid}\n")
    return proc, pid_file


def test_a_killed_process_calls_on_gone_and_a_new_pid_is_watched_after_rearm(
        tmp_path: Path) -> None:
    async def body() -> None:
        first, pid_file = child(tmp_path)
        gone = Gone()
        watch = ProcessWatch(gone)
        try:
            watch.watch("dns", Process(pid_file))
            assert watch.report("dns")[0].detail == f"pid {first.pid}"
            first.kill()
            await gone.wait()
            assert gone.calls == [("dns", f"process {first.pid} (from {pid_file}) exited")]
            assert not watch.report("dns")[0].active
            first.wait()
            watch.rearm("dns")  # the old PID is gone and the file still names it
            assert "is not running" in watch.report("dns")[0].detail
            second, _ = child(tmp_path)
            watch.rearm("dns")
            assert watch.report("dns")[0].detail == f"pid {second.pid}"
            gone.event.clear()
            second.kill()
            await gone.wait()
            second.wait()
            assert len(gone.calls) == 2
        finally:
            watch.close()
            if first.poll() is None:
                first.kill()
                first.wait()
    run(body)


def test_a_missing_or_bad_pid_file_says_why(tmp_path: Path) -> None:
    async def body() -> None:
        watch = ProcessWatch(Gone())
        watch.watch("a", Process(tmp_path / "none.pid"))
        assert "does not exist" in watch.report("a")[0].detail
        (tmp_path / "bad.pid").write_text("named\n")
        watch.watch("b", Process(tmp_path / "bad.pid"))
        assert "holds no PID" in watch.report("b")[0].detail
        watch.close()
    run(body)


def test_unwatch_closes_the_pidfd(tmp_path: Path) -> None:
    async def body() -> None:
        proc, pid_file = child(tmp_path)
        watch = ProcessWatch(Gone())
        try:
            watch.watch("dns", Process(pid_file))
            before = len(os.listdir("/proc/self/fd"))
            watch.unwatch("dns")
            assert len(os.listdir("/proc/self/fd")) == before - 1
            assert watch.report("dns") == []
        finally:
            proc.kill()
            proc.wait()
    run(body)


def test_server_watch_routes_targets_and_reports_both(tmp_path: Path) -> None:
    async def body() -> None:
        gone = Gone()
        both = ServerWatch(gone)
        kernel = Kernel()
        kernel.dumps[UDP6] = [rec.DUMP_UDP6]
        both.sockets = SocketWatch(gone, kernel=lambda: kernel)
        both.watch("dns", [WATCHED, Process(tmp_path / "none.pid")])
        kinds = [(d.kind, d.active) for d in both.report("dns")]
        assert kinds == [("socket", True), ("process", False)]
        both.unwatch("dns")
        assert both.report("dns") == []
        both.close()
    run(body)
