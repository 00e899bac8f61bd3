"""The doctor's DNS-server checks: which server, its listen addresses, its statistics."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from speaker.cli import doctor, doctor_dns
from speaker.cli.doctor_dns import Server
from speaker.cli.findings import Verdict
from speaker.core import config
from speaker.core.verdicts import Outcome
from tests.unit import http_stub

BASE = """\
services:
  - name: dns
    prefixes: ["2001:db8::53/128"]
    checks:
      - {type: dns, server: "2001:db8::53", qname: example.com.}
"""
PLAIN = config.parse(BASE)
PDNS = config.parse(BASE + "dns_statistics: {kind: powerdns, api_key_file: /k}\n")
BIND = config.parse(BASE + "dns_statistics: {kind: bind}\n")
ANYCAST = ipaddress.ip_address("2001:db8::53")
BIND_SERVER = Server("bind", "test", Path("/etc/bind/named.conf"))
PDNS_SERVER = Server("powerdns", "test", Path("/etc/powerdns/pdns.conf"))


def only(findings: list[doctor.Finding]) -> doctor.Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_server_comes_from_dns_statistics_kind_else_the_config_file_present() -> None:
    assert doctor_dns.which(PDNS, None, exists=lambda p: False).kind == "powerdns"
    assert doctor_dns.which(BIND, None, exists=lambda p: False).kind == "bind"
    pdns_only = doctor_dns.which(PLAIN, None, exists=lambda p: "powerdns" in str(p))
    assert (pdns_only.kind, pdns_only.config) == ("powerdns", Path("/etc/powerdns/pdns.conf"))
    both = doctor_dns.which(PLAIN, None, exists=lambda p: True)
    assert both.kind is None and doctor_dns.judge_server(both).verdict is Verdict.WARN
    flag = doctor_dns.which(PLAIN, Path("/srv/pdns.conf"), exists=lambda p: False)
    assert (flag.kind, flag.config) == ("powerdns", Path("/srv/pdns.conf"))


def test_bind_listen_on_v6_with_the_anycast_address_or_any_is_ok() -> None:
    for text in ('options { listen-on-v6 { any; }; };',
                 'options { listen-on-v6 port 53 { ::1; 2001:db8::53; }; };',
                 'options { listen-on-v6 { 2001:db8::/64; }; };',
                 'options { directory "/var/cache/bind"; };'):  # unset: BIND's default, any
        assert only(doctor_dns.judge_listen(BIND, BIND_SERVER, text)).verdict is Verdict.OK


def test_bind_listen_on_v6_without_the_anycast_address_fails_with_the_fix() -> None:
    text = ('// comment { any; }\noptions {\n  listen-on-v6 { ::1; /* any; */ };\n};\n')
    f = only(doctor_dns.judge_listen(BIND, BIND_SERVER, text))
    assert f.verdict is Verdict.FAIL and "leaves out 2001:db8::53" in f.detail
    assert "listen-on-v6" in f.fix and "rndc reconfig" in f.fix
    negated = 'options { listen-on-v6 { !2001:db8::53; any; }; };'
    assert only(doctor_dns.judge_listen(BIND, BIND_SERVER, negated)).verdict is Verdict.FAIL
    assert only(doctor_dns.judge_listen(BIND, BIND_SERVER,
                                        'options { listen-on-v6 { none; }; };')).verdict \
        is Verdict.FAIL


def test_bind_listen_follows_includes_and_warns_on_an_acl_name() -> None:
    files = {"/etc/bind/named.conf.options": 'options { listen-on-v6 { mynets; }; };'}
    text = 'include "/etc/bind/named.conf.options";\n'
    f = only(doctor_dns.judge_listen(BIND, BIND_SERVER, text, read=files.__getitem__))
    assert f.verdict is Verdict.WARN and "ACL mynets" in f.detail


def test_pdns_local_address_with_the_anycast_address_or_wildcard_is_ok() -> None:
    for text in ("local-address=::\n", "local-address=127.0.0.1, [2001:db8::53]:53\n",
                 "local-address = 127.0.0.1 2001:db8::53\n", "launch=bind\n"):  # unset: all
        assert only(doctor_dns.judge_listen(PDNS, PDNS_SERVER, text)).verdict is Verdict.OK


def test_pdns_local_address_without_it_fails_with_the_fix() -> None:
    text = "local-address=::\ninclude-dir=/etc/powerdns/pdns.d\n"
    extra = ["# later wins\nlocal-address=127.0.0.1, ::1\n"]
    f = only(doctor_dns.judge_listen(PDNS, PDNS_SERVER, text, read_dir=lambda _d: extra))
    assert f.verdict is Verdict.FAIL and "local-address=127.0.0.1, ::1 leaves out" in f.detail
    assert "local-address=127.0.0.1, ::1, 2001:db8::53" in f.fix
    assert "systemctl restart pdns" in f.fix


def test_unreadable_server_config_is_skipped_with_the_reason() -> None:
    f = only(doctor_dns.judge_listen(PDNS, PDNS_SERVER, None, "Permission denied"))
    assert f.verdict is Verdict.SKIP and "Permission denied" in f.detail


def test_statistics_not_configured_warns_with_that_servers_set_up() -> None:
    f = doctor_dns.judge_statistics(PLAIN, PDNS_SERVER, None, "not configured")
    assert f.verdict is Verdict.WARN and "api=yes" in f.fix and "kind: powerdns" in f.fix
    f = doctor_dns.judge_statistics(PLAIN, BIND_SERVER, None, "not configured")
    assert f.verdict is Verdict.WARN and "statistics-channels" in f.fix


def test_statistics_failing_gives_the_fix_of_the_server() -> None:
    f = doctor_dns.judge_statistics(PDNS, PDNS_SERVER, None, "PowerDNS statistics at u: HTTP "
                                                             "404 Not Found")
    assert f.verdict is Verdict.FAIL and "api=yes" in f.fix
    f = doctor_dns.judge_statistics(PDNS, PDNS_SERVER, None,
                                    "the API key file /k has mode 0644: ...")
    assert "chmod 0600 /k" in f.fix
    f = doctor_dns.judge_statistics(BIND, BIND_SERVER, None, "BIND statistics at u: cannot "
                                                             "connect: refused")
    assert f.verdict is Verdict.FAIL and "statistics-channels" in f.fix


def test_statistics_endpoint_is_asked_on_this_node_only(folder: Path) -> None:
    key = folder / "k"
    key.write_text("s3cret\n")
    key.chmod(0o600)
    body = json.dumps([{"name": "udp-queries", "value": "9"},
                       {"name": "tcp-queries", "value": "1"}]).encode()
    with http_stub.serve(lambda _p, h: (200, body) if h.get("x-api-key") == "s3cret"
                         else (401, b"")) as base:
        cfg = config.parse(BASE + f"dns_statistics: {{kind: powerdns, api_key_file: {key}, "
                                  f"url: '{base}/api/v1/servers/localhost/statistics'}}\n")
        assert doctor_dns.fetch_statistics(cfg, None) == (10, "")
        f = doctor_dns.judge_statistics(cfg, PDNS_SERVER, 10, "")
        assert f.verdict is Verdict.OK and "10 queries" in f.detail
    remote = config.parse(BASE + "dns_statistics: {url: 'http://192.0.2.1:8053/json/v1/server'}\n")
    total, why = doctor_dns.fetch_statistics(remote, {ANYCAST})
    assert total is None and why.startswith("not queried")
    assert doctor_dns.judge_statistics(remote, BIND_SERVER, None, why).verdict is Verdict.SKIP


def test_a_refused_check_gets_the_fix_of_the_server_that_runs() -> None:
    outcome = Outcome(False, "connection refused", 0.001, code="refused")
    local = frozenset({("lo", ANYCAST)})
    pdns = doctor.judge_dns(PDNS, {("dns", 0): outcome}, local, "powerdns")
    bind = doctor.judge_dns(PDNS, {("dns", 0): outcome}, local, "bind")
    assert "local-address" in pdns[0].fix and "systemctl restart pdns" in pdns[0].fix
    assert "listen-on-v6" in bind[0].fix
