"""The DNS server's statistics (BIND, PowerDNS): counters, rates, key file, errors, real HTTP on
loopback."""

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from speaker.adapters import dnsstats
from speaker.core import config
from speaker.core.errors import ConfigError
from tests.unit import http_stub


def test_counter_from_opcodes_or_nsstats() -> None:
    assert dnsstats.queries({"opcodes": {"QUERY": 12}}) == 12
    assert dnsstats.queries({"nsstats": {"Requestv4": 2, "Requestv6": 5}}) == 7
    with pytest.raises(dnsstats.StatsError):
        dnsstats.queries({"views": {}})
    with pytest.raises(dnsstats.StatsError):
        dnsstats.queries([1])


def test_client_rate_is_the_rate_less_our_probes() -> None:
    assert dnsstats.rates((0.0, 100, 10), (2.0, 160, 18)) == (30.0, 4.0, 26.0)
    assert dnsstats.rates((0.0, 100, 10), (2.0, 104, 18)) == (2.0, 4.0, 0.0)
    assert dnsstats.rates((1.0, 5, 5), (1.0, 9, 9)) == (0.0, 0.0, 0.0)


def test_poller_reads_a_real_http_channel() -> None:
    count = {"n": 100}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"opcodes": {"QUERY": count["n"]}}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    now = {"t": 0.0}
    try:
        url = f"http://127.0.0.1:{server.server_port}/json/v1/server"
        poller = dnsstats.Poller(url, 1.0, lambda: 0, clock=lambda: now["t"])
        asyncio.run(poller.poll())
        assert poller.snapshot().queries_total == 100 and poller.snapshot().rate is None
        count["n"], now["t"] = 150, 5.0
        asyncio.run(poller.poll())
        snap = poller.snapshot()
        assert (snap.rate, snap.client_rate, snap.error) == (10.0, 10.0, "")
    finally:
        server.shutdown()
        server.server_close()
    asyncio.run(poller.poll())
    assert "cannot connect" in poller.snapshot().error and poller.snapshot().queries_total == 150


def test_config_refuses_a_non_http_url() -> None:
    base = ("services:\n  - name: dns\n    prefixes: ['2001:db8::1/128']\n"
            "    checks: [{type: dns, server: '::1', qname: a.}]\n")
    assert config.parse(base + "dns_statistics: {}\n").dns_statistics == config.DnsStatistics()
    with pytest.raises(ConfigError) as info:
        config.parse(base + "dns_statistics: {url: 'file:///etc/passwd'}\n", "t.yaml")
    assert "t.yaml: /dns_statistics/url: must be an http:// URL" in str(info.value)


# -- PowerDNS ---------------------------------------------------------------------------

PDNS_PATH = "/api/v1/servers/localhost/statistics"


def pdns_stats(udp: int, tcp: int) -> bytes:
    return json.dumps([
        {"name": "corrupt-packets", "type": "StatisticItem", "value": "0"},
        {"name": "tcp-queries", "type": "StatisticItem", "value": str(tcp)},
        {"name": "udp-queries", "type": "StatisticItem", "value": str(udp)},
        {"name": "udp4-queries", "type": "StatisticItem", "value": str(udp)},
        {"name": "response-by-qtype", "type": "MapStatisticItem", "value": []},
    ]).encode()


def key_file(folder: Path, key: str = "s3cret", mode: int = 0o600) -> Path:
    path = folder / "pdns-api.key"
    path.write_text(key + "\n")
    path.chmod(mode)
    return path


def test_powerdns_counter_is_udp_plus_tcp_queries() -> None:
    assert dnsstats.powerdns_queries(json.loads(pdns_stats(40, 2))) == 42
    assert dnsstats.powerdns_queries([{"name": "udp-queries", "value": 7}]) == 7


def test_powerdns_document_without_the_counters_is_refused() -> None:
    with pytest.raises(dnsstats.StatsError, match="no udp-queries or tcp-queries"):
        dnsstats.powerdns_queries([{"name": "uptime", "value": "5"}])
    with pytest.raises(dnsstats.StatsError, match="not a JSON list"):
        dnsstats.powerdns_queries({"udp-queries": 1})
    with pytest.raises(dnsstats.StatsError, match="udp-queries is not a counter"):
        dnsstats.powerdns_queries([{"name": "udp-queries", "value": "lots"}])


def test_api_key_is_read_from_a_private_file(folder: Path) -> None:
    assert dnsstats.read_key(key_file(folder, mode=0o600)) == "s3cret"
    assert dnsstats.read_key(key_file(folder, mode=0o640)) == "s3cret"  # root:speaker 0640
    assert dnsstats.read_key(key_file(folder, mode=0o400)) == "s3cret"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o602])
def test_api_key_file_open_to_others_or_group_writable_is_refused(folder: Path,
                                                                  mode: int) -> None:
    path = key_file(folder, mode=mode)
    with pytest.raises(dnsstats.StatsError) as info:
        dnsstats.read_key(path)
    assert f"{path} has mode {mode:04o}" in str(info.value) and "chmod 0600" in str(info.value)


def test_api_key_file_missing_empty_two_lines_or_a_symlink_is_refused(folder: Path) -> None:
    with pytest.raises(dnsstats.StatsError, match=r"cannot read the API key file .*No such file"):
        dnsstats.read_key(folder / "absent")
    with pytest.raises(dnsstats.StatsError, match="is empty"):
        dnsstats.read_key(key_file(folder, key="  "))
    with pytest.raises(dnsstats.StatsError, match="one key on one line"):
        dnsstats.read_key(key_file(folder, key="a\nb"))
    link = folder / "link.key"
    link.symlink_to(key_file(folder))
    with pytest.raises(dnsstats.StatsError, match="cannot read the API key file"):
        dnsstats.read_key(link)


def test_poller_reads_powerdns_with_the_api_key_header(folder: Path) -> None:
    seen: list[tuple[str, str | None]] = []
    count = {"udp": 100, "tcp": 0}

    def reply(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        seen.append((path, headers.get("x-api-key")))
        if headers.get("x-api-key") != "s3cret":
            return 401, b"Unauthorized"
        return 200, pdns_stats(count["udp"], count["tcp"])

    now = {"t": 0.0}
    with http_stub.serve(reply) as base:
        source = dnsstats.Source(url=base + PDNS_PATH, kind="powerdns",
                                 api_key_file=key_file(folder))
        poller = dnsstats.Poller(source, 1.0, lambda: 4 * int(now["t"]),
                                 clock=lambda: now["t"])
        asyncio.run(poller.poll())
        count.update(udp=150, tcp=10)
        now["t"] = 5.0
        asyncio.run(poller.poll())
    snap = poller.snapshot()
    assert seen == [(PDNS_PATH, "s3cret")] * 2
    assert (snap.server, snap.queries_total, snap.rate, snap.probe_rate, snap.client_rate,
            snap.error) == ("PowerDNS", 160, 12.0, 4.0, 8.0, "")


def test_powerdns_wrong_key_names_the_server_the_url_and_the_status(folder: Path) -> None:
    with http_stub.serve(lambda _p, _h: (401, b"Unauthorized")) as base:
        url = base + PDNS_PATH
        source = dnsstats.Source(url=url, kind="powerdns",
                                 api_key_file=key_file(folder, key="wrong"))
        with pytest.raises(dnsstats.StatsError) as info:
            asyncio.run(dnsstats.fetch(source, timeout=2.0))
    message = str(info.value)
    assert message.startswith(f"PowerDNS statistics at {url}: HTTP 401 Unauthorized")
    assert "api-key" in message


def test_bind_http_error_names_the_server_the_url_and_the_status() -> None:
    with http_stub.serve(lambda _p, _h: (404, b"no")) as base, \
            pytest.raises(dnsstats.StatsError) as info:
        asyncio.run(dnsstats.fetch(base + "/json/v1/nope", timeout=2.0))
    assert str(info.value).startswith(f"BIND statistics at {base}/json/v1/nope: HTTP 404")


def test_a_bad_key_file_is_the_snapshot_error_and_nothing_is_sent(folder: Path) -> None:
    seen: list[str] = []
    with http_stub.serve(lambda p, _h: (seen.append(p), (200, pdns_stats(1, 1)))[1]) as base:
        poller = dnsstats.Poller(dnsstats.Source(url=base + PDNS_PATH, kind="powerdns",
                                                 api_key_file=key_file(folder, mode=0o644)),
                                 1.0, lambda: 0)
        asyncio.run(poller.poll())
    assert "has mode 0644" in poller.snapshot().error and seen == []


def test_a_garbled_reply_is_a_statistics_error_not_a_dead_task() -> None:
    # issue 12: http.client.HTTPException (here BadStatusLine) escaped the poller
    with http_stub.serve_raw(b"garbage\r\n\r\n") as base:
        poller = dnsstats.Poller(base + "/json/v1/server", 1.0, lambda: 0)
        asyncio.run(poller.poll())
    error = poller.snapshot().error
    assert error == (f"BIND statistics at {base}/json/v1/server: bad HTTP reply: "
                     "not an HTTP/1.x status line: 'garbage'")


def test_the_polling_task_survives_an_unexpected_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    poller = dnsstats.Poller("http://127.0.0.1:1/json/v1/server", 1.0, lambda: 0)

    async def boom(_source: dnsstats.Source, timeout: float) -> int:
        poller.stop()  # one round of the loop
        raise RuntimeError("surprise")

    monkeypatch.setattr(dnsstats, "fetch", boom)
    asyncio.run(poller._run())  # returns (stop is set) instead of raising
    assert "unexpected error: RuntimeError: surprise" in poller.snapshot().error


BASE = ("services:\n  - name: dns\n    prefixes: ['2001:db8::1/128']\n"
        "    checks: [{type: dns, server: '::1', qname: a.}]\n")


def test_config_powerdns_kind_gets_its_default_url_and_the_key_file() -> None:
    cfg = config.parse(BASE + "dns_statistics: {kind: powerdns, "
                              "api_key_file: /etc/speaker/pdns-api.key}\n").dns_statistics
    assert cfg == config.DnsStatistics(
        url="http://127.0.0.1:8081/api/v1/servers/localhost/statistics", kind="powerdns",
        api_key_file=Path("/etc/speaker/pdns-api.key"))
    assert config.parse(BASE + "dns_statistics: {}\n").dns_statistics.kind == "bind"


@pytest.mark.parametrize(("block", "problem"), [
    ("{kind: powerdns}", "/dns_statistics/api_key_file: is required for kind powerdns"),
    ("{kind: powerdns, api_key_file: /k, api_key: s3cret}",
     "/dns_statistics/api_key: a key is never written here in clear"),
    ("{api_key_file: /k}", "/dns_statistics/api_key_file: is only for kind powerdns"),
    ("{kind: powerdns, api_key_file: k.key}", "/dns_statistics/api_key_file: must be an "
                                              "absolute path"),
    ("{kind: knot}", "/dns_statistics/kind: must be one of bind, powerdns"),
    ("{kind: powerdns, api_key_file: /k, url: 'ftp://x'}",
     "/dns_statistics/url: must be an http:// URL of PowerDNS's API"),
])
def test_config_refuses_a_bad_statistics_block(block: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(BASE + f"dns_statistics: {block}\n", "t.yaml")
    assert f"t.yaml: {problem}" in str(info.value)


def test_a_server_that_never_answers_is_an_error_within_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts (the kernel does), never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/json/v1/server"
        t0 = time.monotonic()
        with pytest.raises(dnsstats.StatsError) as info:
            asyncio.run(dnsstats.fetch(url, timeout=0.3))
        took = time.monotonic() - t0
    assert str(info.value) == f"BIND statistics at {url}: no answer within 0.3 s (reading)"
    assert 0.25 < took < 2.0


def test_a_chunked_reply_is_read_whole() -> None:
    body = json.dumps({"opcodes": {"QUERY": 77}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7))
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    with http_stub.serve_raw(raw) as base:
        assert asyncio.run(dnsstats.fetch(base + "/json/v1/server", timeout=2.0)) == 77


def test_the_poller_polls_on_the_loop_until_stopped() -> None:
    count = {"n": 0}

    def reply(_path: str, _headers: dict[str, str]) -> tuple[int, bytes]:
        count["n"] += 10
        return 200, json.dumps({"opcodes": {"QUERY": count["n"]}}).encode()

    async def scenario(base: str) -> list[int | None]:
        poller = dnsstats.Poller(base + "/json/v1/server", 0.05, lambda: 0)
        seen: list[int | None] = []
        poller.start()
        for _ in range(40):
            await asyncio.sleep(0.02)
            seen.append(poller.snapshot().queries_total)
        poller.stop()
        await asyncio.sleep(0.15)
        after = count["n"]
        await asyncio.sleep(0.15)
        assert count["n"] == after, "still polling after stop()"
        return seen

    with http_stub.serve(reply) as base:
        seen = asyncio.run(scenario(base))
    polled = sorted({s for s in seen if s is not None})
    assert len(polled) >= 5 and polled == sorted(polled)  # every 0.05 s, a rising counter


def test_an_https_url_is_spoken_over_tls_verified_against_the_system_cas(
        tmp_path: Path) -> None:
    from tests import httpserver, tlsfiles

    tls = tlsfiles.make(tmp_path / "tls", ["stats.example.test"], ["127.0.0.1"])

    async def scenario() -> tuple[str, list[bytes]]:
        async with httpserver.serve(httpserver.response(body=b'{"opcodes":{"QUERY":1}}'),
                                    tls=(tls.cert, tls.key)) as server:
            url = f"https://127.0.0.1:{server.port}/json/v1/server"
            try:
                await dnsstats.fetch(url, timeout=2.0)
            except dnsstats.StatsError as exc:
                return str(exc), server.requests
            return "", server.requests

    error, requests = asyncio.run(scenario())
    # a CA of the test's own, not the system's: the handshake fails, nothing is sent in clear
    assert "cannot connect: TLS: certificate verify failed" in error, error
    assert requests == []


def test_an_api_key_that_is_not_latin_1_is_a_statistics_error(folder: Path) -> None:
    key = folder / "pdns-api.key"
    key.write_text("s3cr\u20act\n")
    key.chmod(0o600)
    source = dnsstats.Source(url="http://127.0.0.1:1" + PDNS_PATH, kind="powerdns",
                             api_key_file=key)
    with pytest.raises(dnsstats.StatsError, match="bad URL or key"):
        asyncio.run(dnsstats.fetch(source, timeout=1.0))


def test_a_poll_task_that_ends_by_itself_says_so(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> dnsstats.Snapshot:
        poller = dnsstats.Poller("http://127.0.0.1:1/json/v1/server", 1.0, lambda: 0)

        async def broken() -> None:
            raise RuntimeError("surprise")

        poller._run = broken  # type: ignore[method-assign]
        poller.start()
        await asyncio.sleep(0.01)
        return poller.snapshot()

    snap = asyncio.run(scenario())
    assert snap.error == "polling stopped: RuntimeError('surprise')"
    assert any("DNS server statistics stopped" in r.getMessage() for r in caplog.records)
