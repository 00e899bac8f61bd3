"""doctor's http entries: each local http check run once, its verdict and the fix."""

from __future__ import annotations

import ipaddress

from speaker.adapters.checks import Outcome
from speaker.cli import doctor
from speaker.cli.doctor import Verdict
from speaker.cli.doctor_http import judge_http
from speaker.core import config
from tests.fakes import Probe

YAML = """\
services:
  - name: web
    prefixes: ["2001:db8::80/128"]
    checks:
      - {type: http, url: "http://[2001:db8::80]/", body: ok}
      - {type: http, url: "https://www.example.test/", address: "2001:db8::50"}
      - {type: http, url: "http://[2001:db8::99]/"}
"""
CFG = config.parse(YAML, source="speaker.yaml")
ANYCAST = ipaddress.ip_address("2001:db8::80")
NODE = ipaddress.ip_address("2001:db8::50")
LOCAL = frozenset({("lo", ANYCAST), ("eth0", NODE)})


def test_doctor_runs_the_local_http_checks_once_and_never_another_host() -> None:
    built: list[config.Check] = []

    def build(check: config.Check, timeout: float) -> Probe:
        built.append(check)
        return Probe(check, timeout)

    outcomes = doctor.probe_local(CFG, LOCAL, build)
    assert sorted(outcomes) == [("web", 0), ("web", 1)]
    assert [c.server for c in built] == [ANYCAST, NODE]


def test_verdicts_with_the_fix_for_each_outcome() -> None:
    outcomes = {
        ("web", 0): Outcome(ok=True, reason="ok", latency=0.0012),
        ("web", 1): Outcome(ok=False, reason="http check ...: HTTP 503 (expected 200)",
                            latency=0.001, code="status"),
    }
    found = judge_http(CFG, outcomes, {a for _, a in LOCAL})
    assert [(f.check, f.verdict) for f in found] == [
        ("http web/0", Verdict.OK), ("http web/1", Verdict.FAIL), ("http web/2", Verdict.FAIL)]
    assert found[0].detail == "http check http://[2001:db8::80]/: answers in 1.2 ms"
    assert found[1].detail.endswith("HTTP 503 (expected 200)")
    assert "https://www.example.test/ with another status" in found[1].fix
    assert "2001:db8::99 is not an address of this node" in found[2].detail


def test_a_tls_failure_names_the_openssl_command() -> None:
    outcome = Outcome(ok=False, reason="TLS: certificate verify failed: x", latency=0.0,
                      code="tls")
    found = judge_http(CFG, {("web", 1): outcome}, {NODE})
    assert "openssl s_client -connect [2001:db8::50]:443 -servername www.example.test" in (
        found[1].fix)


def test_an_http_service_gets_no_dns_warnings() -> None:
    found = doctor.judge_dns(CFG, {}, LOCAL)
    assert found == []


def test_the_dns_listen_check_leaves_an_http_services_prefix_alone() -> None:
    from pathlib import Path

    from speaker.cli import doctor_dns

    both = config.parse(YAML + """\
  - name: dns
    prefixes: ["2001:db8::53/128"]
    checks:
      - {type: dns, server: "2001:db8::53", qname: example.com.}
""")
    server = doctor_dns.Server("bind", "test", Path("/etc/bind/named.conf"))
    found = doctor_dns.judge_listen(both, server, "options { listen-on-v6 { any; }; };")
    assert [f.check for f in found] == ["dns listen 2001:db8::53"]
