"""`python3 -m speaker` imports asyncio without ssl: no OpenSSL unless an https check needs it.

A node whose checks are all DNS maps neither libcrypto nor libssl (issue 14:
1.5-2 MB); a node with an https check loads ssl when the check is built, and the
check's TLS (speaker.adapters.tls, over memory BIOs) works in that process,
whose asyncio has no TLS of its own.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import httpserver, tlsfiles
from tests.dnsserver import DnsServer
from tests.integration.test_watchdog_fork import ANNOUNCE, Speaker, soa

pytestmark = pytest.mark.integration
OPENSSL = ("libcrypto", "libssl", "/_ssl.", "/_hashlib.")


def mapped(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in OPENSSL if name in maps]


def test_a_node_with_dns_checks_only_loads_no_openssl(tmp_path: Path) -> None:
    with DnsServer(soa) as dns:
        speaker = Speaker(tmp_path, dns.port)
        try:
            speaker.exabgp.wait_for(ANNOUNCE, timeout=15)
            assert mapped(speaker.proc.pid) == []
        finally:
            err = speaker.stderr()
    assert "Traceback" not in err


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server on 127.0.0.1 answering 200 ok, in a thread: (port, CA file)."""
    tls = tlsfiles.make(tmp_path / "tls", ["www.example.test"], ["127.0.0.1"])
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    stop = asyncio.Event()

    async def run() -> None:
        async with httpserver.serve(httpserver.response(), tls=(tls.cert, tls.key)) as server:
            ready.append(server.port)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready:
        assert time.monotonic() < deadline, "the TLS server did not start"
        time.sleep(0.01)
    try:
        yield ready[0], tls.ca
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
        loop.close()


def test_an_https_check_passes_in_the_speaker_process(tmp_path: Path,
                                                      tls_server: tuple[int, Path]) -> None:
    port, ca = tls_server
    check = (f"[{{type: http, url: 'https://www.example.test:{port}/health', "
             f"address: 127.0.0.1, ca_file: '{ca}', body: ok}}]")
    speaker = Speaker(tmp_path, 0, checks=check)
    try:
        speaker.exabgp.wait_for(ANNOUNCE, timeout=15)  # announced: the https check passed
        assert "libssl" in mapped(speaker.proc.pid)  # loaded for the check
        assert "/_hashlib." not in mapped(speaker.proc.pid)  # hashlib: Python's own digests
    finally:
        err = speaker.stderr()
    assert "Traceback" not in err and "TLS" not in err
