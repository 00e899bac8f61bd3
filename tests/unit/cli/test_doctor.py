"""The doctor's judges: observations in, verdicts with fixes out."""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Any

import pytest

from speaker.adapters.checks import Outcome
from speaker.cli import doctor
from speaker.cli.doctor import Verdict
from speaker.core import config, exabgp_conf
from speaker.core.exabgp_conf import Finding as ConfFinding
from tests.fakes import Probe

YAML = """\
services:
  - name: dns
    prefixes: ["2001:db8::53/128"]
    checks:
      - {type: dns, server: "2001:db8::53", qname: example.com.}
      - {type: dns, server: "2001:db8::50", qname: example.com.}
"""
CFG = config.parse(YAML, source="speaker.yaml")
ANYCAST = ipaddress.ip_address("2001:db8::53")
NODE = ipaddress.ip_address("2001:db8::50")
HEALTHY = frozenset({("lo", ANYCAST), ("eth0", NODE)})


def status(**service: Any) -> dict[str, Any]:
    svc = {"name": "dns", "state": "up", "reason": "ok", "maintenance": None,
           "prefixes": [{"prefix": "2001:db8::53/128", "desired": "announced",
                         "confirmed": "announced"}]}
    svc.update(service)
    return {"pid": 7, "version": "0.1.0", "uptime": 12.0, "services": [svc],
            "neighbors": [{"peer": "2001:db8::1", "state": "up", "since": time.time(),
                           "reason": ""}]}


def verdicts(findings: list[doctor.Finding]) -> list[tuple[str, Verdict]]:
    return [(f.check, f.verdict) for f in findings]


def test_config_invalid_fails_with_check_config_as_fix() -> None:
    f = doctor.judge_config(Path("/etc/x.yaml"), None, "/etc/x.yaml is not valid")
    assert f.verdict is Verdict.FAIL and "speakerctl check-config /etc/x.yaml" in f.fix


def test_exabgp_config_problems_fail_and_warnings_warn() -> None:
    conf = Path("/etc/speaker/speaker.conf")
    assert doctor.judge_exabgp(None, []).verdict is Verdict.SKIP
    assert doctor.judge_exabgp(conf, []).verdict is Verdict.OK
    warn = ConfFinding("warning", "x:1", "hold-time 90 s")
    assert doctor.judge_exabgp(conf, [warn]).verdict is Verdict.WARN
    error = ConfFinding("error", "x:2", "no local-as")
    assert doctor.judge_exabgp(conf, [warn, error]).verdict is Verdict.FAIL


CONF = """\
process speaker {
    run /usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml;
    encoder json;
}
neighbor 2001:db8::1 {
    router-id 10.0.0.1;
    local-address 2001:db8::50;
    local-as 65201;
    peer-as 65101;
    hold-time 3;
    api {
        processes [ speaker ];
        neighbor-changes;
    }
}
"""


def judge_conf(old: str, new: str) -> doctor.Finding:
    text = CONF.replace(old, new)
    assert text != CONF
    found = exabgp_conf.cross_check(text, "/etc/speaker/speaker.conf", CFG,
                                    "/etc/speaker/speaker.yaml")
    return doctor.judge_exabgp(Path("/etc/speaker/speaker.conf"), found)


@pytest.mark.parametrize(("old", "new", "verdict", "words"), [
    ("hold-time 3", "hold-time 10", Verdict.WARN, "hold-time 10 s: a node cut off without a FIN"),
    ("    hold-time 3;\n", "", Verdict.WARN, "no hold-time"),
    ("    hold-time 3;\n", "    hold-time 3;\n    capability { graceful-restart 120; }\n",
     Verdict.FAIL, "graceful-restart must not be advertised"),
    ("    hold-time 3;\n", "    hold-time 3;\n    adj-rib-out false;\n", Verdict.WARN,
     "adj-rib-out false: the speaker clears ExaBGP's adj-rib-out at start"),
    ("    hold-time 3;\n", "    hold-time 3;\n    static { route 2001:db8::9/128 next-hop "
     "self; }\n", Verdict.WARN, "static routes (static block)"),
])
def test_exabgp_config_findings_reach_the_doctor(old: str, new: str, verdict: Verdict,
                                                 words: str) -> None:
    f = judge_conf(old, new)
    assert f.verdict is verdict and words in f.detail, f
    assert f.fix.startswith("edit /etc/speaker/speaker.conf")


def test_the_shipped_hold_time_is_fine_for_the_doctor() -> None:
    assert judge_conf("hold-time 3", "hold-time 9").verdict is Verdict.OK
    assert doctor.judge_exabgp(Path("/etc/speaker/speaker.conf"), exabgp_conf.cross_check(
        CONF, "x.conf", CFG, "/etc/speaker/speaker.yaml")).verdict is Verdict.OK


def test_unreachable_process_fails_with_the_hints_as_fix() -> None:
    f = doctor.judge_process(None, "cannot reach: x does not exist\n  is ExaBGP running?")
    assert f.verdict is Verdict.FAIL and f.detail == "cannot reach: x does not exist"
    assert f.fix == "is ExaBGP running?"
    assert doctor.judge_process(status(), "").verdict is Verdict.OK


def test_missing_anycast_address_fails_with_the_ip_command() -> None:
    [f] = doctor.judge_addresses(CFG, frozenset({("eth0", ANYCAST)}))
    assert f.verdict is Verdict.FAIL and "it is on eth0" in f.detail
    assert f.fix.startswith("ip -6 addr add 2001:db8::53/128 dev lo")
    assert "manage: true" in f.fix
    assert verdicts(doctor.judge_addresses(CFG, HEALTHY)) == [
        ("address 2001:db8::53", Verdict.OK)]


def test_unreadable_addresses_fail() -> None:
    [f] = doctor.judge_addresses(CFG, None, "netlink: EPERM")
    assert f.verdict is Verdict.FAIL and "EPERM" in f.detail


def test_dns_outcomes_become_verdicts_with_fixes_by_cause() -> None:
    refused = Outcome(False, "dns check ...: connection refused", 0.001, "refused")
    ok = Outcome(True, "ok", 0.002)
    found = doctor.judge_dns(CFG, {("dns", 0): refused, ("dns", 1): ok}, HEALTHY)
    assert verdicts(found) == [("dns dns/0", Verdict.FAIL), ("dns dns/1", Verdict.OK)]
    assert "listen-on-v6" in found[0].fix and "2001:db8::53" in found[0].fix
    assert "answers in 2.0 ms" in found[1].detail


def test_dns_checks_towards_other_hosts_are_not_queried() -> None:
    found = doctor.judge_dns(CFG, {}, frozenset({("eth0", NODE)}))
    assert found[0].verdict is Verdict.FAIL and "not an address of this node" in found[0].detail
    assert found[1].verdict is Verdict.SKIP


def test_probe_local_only_builds_probes_for_local_servers() -> None:
    built: list[str] = []

    def build(check: config.Check, timeout: float) -> Probe:
        built.append(str(check.server))
        return Probe(check, timeout)

    outcomes = doctor.probe_local(CFG, frozenset({("eth0", NODE)}), build)
    assert built == ["2001:db8::50"] and list(outcomes) == [("dns", 1)]


def test_missing_anycast_or_node_check_is_a_warning() -> None:
    only_node = config.parse(YAML.replace('server: "2001:db8::53"', 'server: "2001:db8::51"'))
    found = doctor.judge_dns(only_node, {}, frozenset())
    assert any(f.verdict is Verdict.WARN and "anycast address" in f.detail for f in found)


def test_bgp_sessions() -> None:
    assert verdicts(doctor.judge_bgp(status())) == [("bgp 2001:db8::1", Verdict.OK)]
    down = status()
    down["neighbors"][0].update(state="down", reason="hold timer expired")
    [f] = doctor.judge_bgp(down)
    assert f.verdict is Verdict.FAIL and "hold timer expired" in f.detail
    none = status()
    none["neighbors"] = []
    assert doctor.judge_bgp(none)[0].verdict is Verdict.FAIL
    assert doctor.judge_bgp(None)[0].verdict is Verdict.SKIP


def test_prefix_announced_maintenance_and_down() -> None:
    assert doctor.judge_prefixes(status())[0].verdict is Verdict.OK
    withdrawn = [{"prefix": "2001:db8::53/128", "desired": "withdrawn",
                  "confirmed": "withdrawn"}]
    [f] = doctor.judge_prefixes(status(state="maintenance", prefixes=withdrawn,
                                       maintenance={"reason": "upgrade", "by": "root"}))
    assert f.verdict is Verdict.WARN and f.fix == "speakerctl announce dns"
    [f] = doctor.judge_prefixes(status(state="down", reason="timeout", prefixes=withdrawn))
    assert f.verdict is Verdict.FAIL and "dns is down: timeout" in f.detail
    waiting = [{"prefix": "2001:db8::53/128", "desired": "announced", "confirmed": "unknown"}]
    [f] = doctor.judge_prefixes(status(prefixes=waiting))
    assert f.verdict is Verdict.FAIL and "not confirmed by ExaBGP" in f.detail


def test_render_shows_fixes_and_a_summary() -> None:
    findings = [doctor.Finding("config", Verdict.OK, "fine"),
                doctor.Finding("process", Verdict.FAIL, "down", "start it")]
    lines = doctor.render(findings)
    assert lines[0].startswith("ok    config") and lines[1].startswith("FAIL  process")
    assert lines[2].strip() == "fix: start it"
    assert lines[-1] == "doctor: 1 failed, 0 warning(s), 1 ok, 0 skipped"
    assert doctor.failed(findings) and not doctor.failed(findings[:1])


def test_examine_skips_node_checks_without_a_config() -> None:
    found = doctor.examine(config_path=Path("x.yaml"), cfg=None, config_problem="missing",
                           exabgp_path=None, exabgp=[], status=None, unreachable="gone",
                           addresses=lambda: HEALTHY)
    assert [f.check for f in found] == ["config", "process", "event-detection", "bgp", "prefix"]
