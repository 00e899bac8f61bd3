"""The http check's probe against an in-process HTTP(S) server on loopback."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import struct
import threading
from pathlib import Path

import pytest

from speaker.adapters import checks
from speaker.adapters.http import HttpProbe, context
from speaker.core.config import HttpCheck
from speaker.core.verdicts import Outcome
from tests import tlsfiles
from tests.httpserver import chunked, response, serve


def check(port: int, scheme: str = "http", **kw: object) -> HttpCheck:
    base: dict[str, object] = {"url": f"{scheme}://127.0.0.1:{port}/health",
                               "server": ipaddress.ip_address("127.0.0.1"), "port": port,
                               "host": "127.0.0.1", "scheme": scheme, "target": "/health"}
    return HttpCheck(**{**base, **kw})  # type: ignore[arg-type]


def run(reply: bytes | None, timeout: float = 1.0, tls: tuple[Path, Path] | None = None,
        **kw: object) -> tuple[Outcome, list[bytes], list[str | None]]:
    async def go() -> tuple[Outcome, list[bytes], list[str | None]]:
        async with serve(reply, tls=tls) as server:
            probe = HttpProbe(check(server.port, "https" if tls else "http", **kw), timeout)
            outcome = await probe.run()
            probe.close()
            return outcome, server.requests, server.names

    return asyncio.run(go())


def test_a_200_with_the_body_passes_and_the_request_is_what_we_send() -> None:
    outcome, requests, _ = run(response(200, b"all ok\n"), body="ok", host="www.example.test")
    assert (outcome.ok, outcome.code, outcome.reason) == (True, "ok", "ok")
    assert len(requests) == 1 and requests[0].startswith(
        b"GET /health HTTP/1.1\r\nHost: www.example.test:")
    assert requests[0].endswith(b"\r\nUser-Agent: anycast-speaker\r\nAccept: */*\r\n"
                                b"Connection: close\r\n\r\n")


def test_the_probe_is_registered_for_the_http_check() -> None:
    assert isinstance(checks.build(check(80), 0.25), HttpProbe)


def test_a_503_fails_with_the_status_named() -> None:
    outcome, _, _ = run(response(503, b"down", "Service Unavailable"))
    assert (outcome.ok, outcome.code) == (False, "status")
    assert outcome.reason.endswith("/health: HTTP 503 (expected 200)")
    assert outcome.reason.startswith("http check http://127.0.0.1:")


def test_a_missing_body_fails_with_the_text_named() -> None:
    outcome, _, _ = run(response(200, b"maintenance"), body="ok")
    assert outcome.code == "body" and outcome.reason.endswith("body does not contain 'ok'")


def test_a_chunked_body_is_decoded_before_it_is_searched() -> None:
    outcome, _, _ = run(chunked(b"o", b"k\n"), body="ok")
    assert outcome.ok, outcome.reason


def test_a_close_delimited_body_is_read_to_the_end() -> None:
    outcome, _, _ = run(b"HTTP/1.0 200 OK\r\n\r\nstill ok", body="ok")
    assert outcome.ok, outcome.reason


def test_only_the_first_64_kib_of_the_body_are_searched() -> None:
    outcome, _, _ = run(response(200, b"x" * 70000 + b"ok"), body="ok")
    assert outcome.code == "body"
    assert outcome.reason.endswith("body does not contain 'ok' in its first 65536 bytes")


@pytest.mark.parametrize(("reply", "reason"), [
    (b"", "malformed response: connection closed before the status line"),
    (b"HTTP/1.1 200 OK\r\nContent-", "connection closed after 25 bytes, before the end of "
                                     "the headers"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line: 'SSH-2.0-OpenSSH'"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "body ended after 5 of 10 bytes"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
     "connection closed inside the chunked body"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"y" * 20000 + b"\r\n\r\n",
     "status line and headers longer than 16384 bytes"),
])
def test_malformed_responses_give_precise_reasons(reply: bytes, reason: str) -> None:
    outcome, _, _ = run(reply)
    assert outcome.code == "malformed" and reason in outcome.reason, outcome.reason


def test_a_hung_server_times_out_with_the_timeout_named() -> None:
    outcome, _, _ = run(None, timeout=0.05)
    assert outcome.code == "timeout" and outcome.reason.endswith("timeout after 0.05 s")


def free_port() -> int:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_listening_is_connection_refused() -> None:
    outcome = asyncio.run(HttpProbe(check(free_port()), 0.5).run())
    assert outcome.code == "refused" and "connection refused" in outcome.reason


# -- TLS: a CA made here, SNI, verify on and off ------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tlsfiles.TlsFiles:
    return tlsfiles.make(tmp_path_factory.mktemp("tls"), ["www.example.test"], ["127.0.0.1"])


def test_https_verified_against_the_ca_file_sends_the_host_as_sni(
        tls: tlsfiles.TlsFiles) -> None:
    outcome, _, names = run(response(), tls=(tls.cert, tls.key), ca_file=tls.ca,
                            host="www.example.test")
    assert outcome.ok, outcome.reason
    assert names == ["www.example.test"]


def test_https_to_an_ip_host_sends_no_sni_and_checks_the_ip_in_the_certificate(
        tls: tlsfiles.TlsFiles) -> None:
    outcome, _, names = run(response(), tls=(tls.cert, tls.key), ca_file=tls.ca)
    assert outcome.ok, outcome.reason
    assert names == [None]


def test_https_with_an_unknown_ca_fails_verification(tls: tlsfiles.TlsFiles) -> None:
    outcome, _, _ = run(response(), tls=(tls.cert, tls.key), host="www.example.test")
    assert outcome.code == "tls"
    assert "TLS: certificate verify failed: unable to get local issuer certificate" in (
        outcome.reason)


def test_https_with_a_name_not_in_the_certificate_fails(tls: tlsfiles.TlsFiles) -> None:
    outcome, _, _ = run(response(), tls=(tls.cert, tls.key), ca_file=tls.ca,
                        host="other.example.test")
    assert outcome.code == "tls" and "TLS: certificate verify failed: Hostname mismatch" in (
        outcome.reason), outcome.reason


def test_https_without_verify_accepts_any_certificate(tls: tlsfiles.TlsFiles) -> None:
    outcome, _, names = run(response(), tls=(tls.cert, tls.key), verify=False,
                            host="other.example.test")
    assert outcome.ok, outcome.reason
    assert names == ["other.example.test"]


def test_https_to_a_plain_http_server_is_a_tls_failure() -> None:
    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(response())  # at once: a plain server's answer to a ClientHello
        writer.close()

    async def go() -> Outcome:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await HttpProbe(check(port, "https", verify=False), 1.0).run()

    outcome = asyncio.run(go())
    assert outcome.code == "tls" and outcome.reason.endswith("TLS: wrong version number")


def test_an_unreadable_ca_file_is_named_and_tried_again(tmp_path: Path,
                                                        tls: tlsfiles.TlsFiles) -> None:
    ca = tmp_path / "ca.pem"
    probe = HttpProbe(check(free_port(), "https", ca_file=ca), 0.5)
    outcome = asyncio.run(probe.run())
    assert outcome.code == "tls" and f"TLS: cannot load ca_file {ca}: " in outcome.reason
    ca.write_bytes(tls.ca.read_bytes())
    assert asyncio.run(probe.run()).code == "refused"  # loaded now: on to the connection


def test_probes_with_the_same_cas_share_one_context_until_the_file_changes(
        tmp_path: Path, tls: tlsfiles.TlsFiles) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(tls.ca.read_bytes())
    first = context(check(443, "https", ca_file=ca))
    assert context(check(8443, "https", ca_file=ca, host="x.test")) is first
    assert context(check(443, "https")) is not first  # the system's CAs
    ca.write_bytes(tls.ca.read_bytes() * 2)
    assert context(check(443, "https", ca_file=ca)) is not first


def test_a_probe_starts_no_thread_and_no_resolver_executor() -> None:
    async def go() -> tuple[str, object, int]:
        async with serve(response()) as server:
            outcome = await HttpProbe(check(server.port), 1.0).run()
            loop = asyncio.get_running_loop()
            return outcome.code, getattr(loop, "_default_executor", None), threading.active_count()

    before = threading.active_count()
    assert asyncio.run(go()) == ("ok", None, before)


def test_a_rotated_ca_file_is_read_again_by_a_running_probe(
        tmp_path: Path, tls: tlsfiles.TlsFiles) -> None:
    """The probe verifies against the ca_file as it is now: a CA put in place after the
    first round is used from the next round on, without a restart."""
    other = tlsfiles.make(tmp_path / "other", ["www.example.test"], ["127.0.0.1"])
    ca = tmp_path / "ca.pem"
    ca.write_bytes(other.ca.read_bytes())  # the wrong CA first

    async def go() -> tuple[Outcome, Outcome]:
        async with serve(response(), tls=(tls.cert, tls.key)) as server:
            probe = HttpProbe(check(server.port, "https", ca_file=ca,
                                    host="www.example.test"), 1.0)
            before = await probe.run()
            ca.write_bytes(tls.ca.read_bytes() + b"\n")  # rotated: another size
            return before, await probe.run()

    before, after = asyncio.run(go())
    assert before.code == "tls" and "certificate verify failed" in before.reason
    assert after.ok, after.reason


async def tls_server_that(tls: tlsfiles.TlsFiles, reply: bytes, notify: bool) -> asyncio.Server:
    """A TLS server that writes `reply` and then closes with close_notify (`notify`) or
    drops the TCP connection without it (a ragged EOF, as many servers do)."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(tls.cert), str(tls.key))

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        if notify:
            writer.close()
        else:
            await asyncio.sleep(0.05)  # the record is on the wire
            writer.transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
            writer.transport.abort()

    return await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)


@pytest.mark.parametrize("notify", [True, False])
def test_https_body_to_the_close_is_read_whole_with_or_without_close_notify(
        tls: tlsfiles.TlsFiles, notify: bool) -> None:
    raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 40000 + b" ok"

    async def go() -> Outcome:
        server = await tls_server_that(tls, raw, notify)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await HttpProbe(check(port, "https", ca_file=tls.ca, body="x ok"),
                                   1.0).run()

    outcome = asyncio.run(go())
    assert outcome.ok, outcome.reason


def test_https_chunked_body_is_read(tls: tlsfiles.TlsFiles) -> None:
    outcome, _, _ = run(chunked(b"all ", b"ok\n"), tls=(tls.cert, tls.key), ca_file=tls.ca,
                        body="all ok")
    assert outcome.ok, outcome.reason


@pytest.mark.parametrize(("reset", "reason"), [
    (True, "connection reset by the server"),
    (False, "TLS: the server closed the connection in the handshake")])
def test_https_server_gone_in_the_handshake_is_named_not_a_hang(
        tls: tlsfiles.TlsFiles, reset: bool, reason: str) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if reset:  # SO_LINGER 0: close sends a RST, whatever was read
            writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            await reader.read(10)  # a piece of the ClientHello, then FIN
            writer.close()

    async def go() -> Outcome:
        server = await asyncio.start_server(drop, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            return await HttpProbe(check(port, "https", ca_file=tls.ca), 1.0).run()

    outcome = asyncio.run(go())
    assert not outcome.ok and outcome.reason.endswith(f"/health: {reason}"), outcome
