"""BIND's statistics channel: the counter, the rates, and a real HTTP poll on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from speaker.adapters import dnsstats
from speaker.core import config
from speaker.core.errors import ConfigError


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
        poller.poll()
        assert poller.snapshot().queries_total == 100 and poller.snapshot().rate is None
        count["n"], now["t"] = 150, 5.0
        poller.poll()
        snap = poller.snapshot()
        assert (snap.rate, snap.client_rate, snap.error) == (10.0, 10.0, "")
    finally:
        server.shutdown()
        server.server_close()
    poller.poll()
    assert "cannot read" in poller.snapshot().error and poller.snapshot().queries_total == 150


def test_config_refuses_a_non_http_url() -> None:
    base = ("services:\n  - name: dns\n    prefixes: ['2001:db8::1/128']\n"
            "    checks: [{type: dns, server: '::1', qname: a.}]\n")
    assert config.parse(base + "dns_statistics: {}\n").dns_statistics == config.DnsStatistics()
    with pytest.raises(ConfigError) as info:
        config.parse(base + "dns_statistics: {url: 'file:///etc/passwd'}\n", "t.yaml")
    assert "t.yaml: /dns_statistics/url: must be an http:// URL" in str(info.value)
