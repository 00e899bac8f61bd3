"""The dnssec check: config keys and their errors, the probe against a fake signed server
(DO set, the wall clock passed in), status, metrics and doctor."""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from pathlib import Path

import dns.flags
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from speaker.adapters import checks, metrics
from speaker.adapters.dnssec import DnssecProbe
from speaker.adapters.state import MaintenanceStore
from speaker.cli.doctor_dnssec import judge_dnssec
from speaker.cli.render import render_status
from speaker.core import config, signatures
from speaker.core.errors import ConfigError
from speaker.core.verdicts import Outcome
from speaker.engine import Speaker
from tests.fakes import Addresses, Clock, Probes, Sink
from tests.unit.signed_zone import DAY, NOW, ZONE, SignedZone

NODE = "2001:db8::50"

DOC = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    timing: {{rise: 1, fall: 1}}
    checks:
      - {{type: dnssec, server: "{node}", zone: example.com{extra}}}
"""


def parse(extra: str = "", state: str = "/tmp") -> config.Config:
    return config.parse(DOC.format(node=NODE, extra=extra, state=state))


def load(extra: str = "") -> config.DnssecCheck:
    check = parse(extra).services[0].checks[0]
    assert isinstance(check, config.DnssecCheck)
    return check


def problems(extra: str = "") -> str:
    with pytest.raises(ConfigError) as info:
        parse(extra)
    return str(info.value)


# -- config ---------------------------------------------------------------------------


def test_defaults() -> None:
    check = load()
    assert (check.zone, check.names, check.port, check.min_validity, check.validate,
            check.action, check.timeout) == (ZONE, (), 53, 86400.0, False, "withdraw", None)
    assert check.describe() == "dnssec check example.com. at [2001:db8::50]:53"
    assert isinstance(checks.build(check, 0.25), DnssecProbe)


def test_keys_read() -> None:
    check = load(", names: ['www.example.com AAAA', mail.example.com.], port: 5353, "
                 "min_validity: 3600, validate: true, action: warn, timeout: 0.2")
    assert check.names == (("www.example.com.", "AAAA"), ("mail.example.com.", "A"))
    assert (check.port, check.min_validity, check.validate, check.action, check.timeout) == (
        5353, 3600, True, "warn", 0.2)


@pytest.mark.parametrize(("extra", "error"), [
    (", names: [www.example.org. AAAA]",
     "/services/0/checks/0/names/0: www.example.org. is not in zone example.com."),
    (", names: ['www.example.com. AAAA', 'www.example.com. aaaa']",
     "/services/0/checks/0/names/1: is listed twice: ('www.example.com.', 'AAAA')"),
    (", names: ['www.example.com. BOGUS']",
     "/services/0/checks/0/names/0: is not a name to check: 'www.example.com. BOGUS' "
     "('BOGUS' is not a DNS record type)"),
    (", names: ['a b c']", "/services/0/checks/0/names/0: is not a name to check: 'a b c' "
                           "(must be 'NAME' or 'NAME TYPE', e.g. 'www.example.com. AAAA')"),
    (", names: ['example.com. SOA']", "/services/0/checks/0/names/0: example.com. SOA is "
                                      "always checked"),
    (", names: ['www.example.com. RRSIG']", "RRSIG is not a type an answer is signed for"),
    (", names: www", "/services/0/checks/0/names: must be a list (got a string)"),
    (", min_validity: -1", "/services/0/checks/0/min_validity: must be >= 0 (got -1)"),
    (", validate: yes please", "/services/0/checks/0/validate: must be true or false"),
    (", action: drop", "/services/0/checks/0/action: must be one of withdraw, warn (got 'drop')"),
    (", action: degrade", "/services/0/checks/0/action: degrade is not available for a dnssec "
                          "check; use withdraw or warn"),
    (", master: 2001:db8::1", "/services/0/checks/0/master: unknown key"),
])
def test_bad_keys_are_named_at_their_path(extra: str, error: str) -> None:
    assert error in problems(extra)


def test_zone_and_server_required() -> None:
    text = DOC.format(node=NODE, extra="", state="/tmp").replace(", zone: example.com", "")
    with pytest.raises(ConfigError, match="checks/0/zone: is required"):
        config.parse(text)


def test_validate_without_the_cryptography_module_is_a_config_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, signatures.CRYPTO_MODULE, None)  # import now fails
    text = problems(", validate: true")
    assert "/services/0/checks/0/validate: needs the cryptography module" in text
    assert "install python3-cryptography" in text and "Traceback" not in text
    assert load(", validate: false").validate is False  # not needed without validation


def test_check_type_is_listed_in_the_type_error() -> None:
    text = DOC.format(node=NODE, extra="", state="/tmp").replace("type: dnssec", "type: dnsec")
    with pytest.raises(ConfigError, match="must be one of dns, soa, dnssec"):
        config.parse(text)


# -- the probe ------------------------------------------------------------------------


def probe(zone: SignedZone, extra: str = "", now: float = NOW) -> DnssecProbe:
    return DnssecProbe(load(extra), 1.0, wall=lambda: now, ask=zone.ask)


def run(p: DnssecProbe) -> Outcome:
    return asyncio.run(p.run())


def test_queries_carry_do_and_no_rd_for_the_apex_and_each_name() -> None:
    zone, seen = SignedZone(), []

    async def ask(query, server, port, timeout):  # type: ignore[no-untyped-def]
        seen.append((query.question[0].name.to_text(), query.question[0].rdtype, server, port,
                     bool(query.ednsflags & dns.flags.DO), bool(query.flags & dns.flags.RD)))
        return zone.answer(query)

    p = DnssecProbe(load(", names: ['www.example.com. AAAA'], port: 5353"), 1.0,
                    wall=lambda: NOW, ask=ask)
    assert run(p).ok
    assert sorted(seen) == sorted([(ZONE, 6, NODE, 5353, True, False),
                                   (ZONE, 48, NODE, 5353, True, False),
                                   ("www.example.com.", 28, NODE, 5353, True, False)])


def test_passes_with_the_remaining_time_in_reason_and_outcome() -> None:
    out = run(probe(SignedZone()))
    assert out.ok and out.code == "ok" and out.validity == 30 * DAY
    assert out.reason == ("dnssec check example.com. at [2001:db8::50]:53: RRSIG SOA expires "
                          "first of 2 RRsets, in 30d (min 1d)")


def test_a_signature_about_to_expire_fails_with_action_withdraw() -> None:
    zone = SignedZone()
    zone.expire("DNSKEY", NOW + 5 * 3600 + 120)
    out = run(probe(zone))
    assert not out.ok and out.code == "expiring" and out.validity == 5 * 3600 + 120
    assert out.reason.endswith(": RRSIG DNSKEY expires in 5h02m (min 1d)")


def test_the_wall_clock_is_what_counts() -> None:
    zone = SignedZone(expiration=NOW + 2 * DAY)
    assert run(probe(zone, now=NOW)).ok
    assert not run(probe(zone, now=NOW + DAY + 1)).ok


def test_action_warn_passes_with_the_reason_as_warning() -> None:
    zone = SignedZone()
    zone.expire("SOA", NOW + 3600)
    out = run(probe(zone, ", action: warn"))
    assert out.ok and out.code == "expiring" and out.warning == "RRSIG SOA expires in 1h (min 1d)"


def test_several_names_the_earliest_wins() -> None:
    zone = SignedZone()
    zone.expire("AAAA", NOW + 3 * 3600, name="www.example.com.")
    out = run(probe(zone, ", names: ['www.example.com. AAAA']"))
    assert not out.ok and out.reason.endswith("RRSIG AAAA www.example.com. expires in 3h "
                                              "(min 1d)")


def test_an_unsigned_answer_fails_and_says_so() -> None:
    zone = SignedZone()
    zone.unsign("DNSKEY")
    out = run(probe(zone))
    assert not out.ok and out.code == "unsigned" and "no RRSIG for DNSKEY" in out.reason


def test_validation_refuses_a_signature_by_an_unpublished_key() -> None:
    zone = SignedZone()
    zone.signing[(ZONE, "SOA")] = [(NOW - 60, NOW + 9 * DAY,
                                    ec.generate_private_key(ec.SECP256R1()))]
    assert run(probe(zone)).ok  # without validation only the times count
    out = run(probe(zone, ", validate: true"))
    assert not out.ok and out.code == "bogus"
    assert run(probe(SignedZone(), ", validate: true")).reason.endswith("; validated")


def test_a_server_that_does_not_answer_fails_whatever_the_action() -> None:
    zone = SignedZone()
    zone.errors["DNSKEY"] = ("timeout", "timeout after 1 s")
    out = run(probe(zone, ", action: warn"))
    assert not out.ok and out.code == "timeout" and out.validity is None
    assert out.reason == "dnssec check example.com. at [2001:db8::50]:53: timeout after 1 s"


def test_a_name_without_that_record_is_named() -> None:
    out = run(probe(SignedZone(), ", names: [mail.example.com.]"))
    assert not out.ok and out.code == "no-answer"
    assert out.reason.endswith("no A mail.example.com. in the answer")


# -- status, metrics, doctor ----------------------------------------------------------


def speaker_with(tmp_path: Path, outcome: Outcome) -> tuple[Speaker, metrics.Prometheus]:
    cfg = config.parse(DOC.format(node=NODE, extra="", state=tmp_path))
    speaker = Speaker(cfg, Sink(), Addresses(), MaintenanceStore(tmp_path), clock=Clock(),
                      probe_factory=Probes(outcome))
    prom = metrics.Prometheus(speaker.status)
    speaker.recorder = metrics.Guard(prom)
    speaker.start()
    run_ = speaker.runs["dns"]
    speaker.observe(run_, asyncio.run(speaker.probe_round(run_)))
    return speaker, prom


PASSING = Outcome(True, "dnssec check example.com. at [2001:db8::50]:53: RRSIG SOA expires "
                        "first of 2 RRsets, in 3d (min 1d)", 0.002, validity=3 * DAY + 0.04)


def test_status_shows_the_zone_and_the_time_left(tmp_path: Path) -> None:
    speaker, _ = speaker_with(tmp_path, PASSING)
    entry = speaker.status()["services"][0]["checks"][0]
    assert entry["zone"] == ZONE and entry["validity"] == 3 * DAY
    lines = "\n".join(render_status(speaker.status(), now=0.0))
    assert "ok  RRSIG SOA expires first of 2 RRsets, in 3d (min 1d)" in lines


def test_status_of_other_checks_has_no_validity(tmp_path: Path) -> None:
    speaker, _ = speaker_with(tmp_path, Outcome(False, "timeout", 0.25, code="timeout"))
    assert "validity" not in speaker.status()["services"][0]["checks"][0]


def test_metrics_export_the_validity_per_zone(tmp_path: Path) -> None:
    _, prom = speaker_with(tmp_path, PASSING)
    text = generate_latest(prom.registry).decode()
    samples = {(s.name, s.labels.get("zone")): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("speaker_dnssec_validity_seconds", ZONE)] == 3 * DAY


def test_doctor_fails_expiring_signatures_with_the_fix() -> None:
    cfg = parse()
    ip = ipaddress.ip_address(NODE)
    out = judge_dnssec(cfg, {("dns", 0): Outcome(False, "RRSIG SOA expires in 1h (min 1d)",
                                                 0.001, code="expiring")}, {ip})
    assert out[0].verdict.value == "fail" and "rndc reload example.com." in out[0].fix
    assert judge_dnssec(cfg, {("dns", 0): PASSING}, {ip})[0].verdict.value == "ok"
    warned = Outcome(True, "r", 0.001, code="expiring", warning="RRSIG SOA expires in 1h")
    assert judge_dnssec(cfg, {("dns", 0): warned}, {ip})[0].verdict.value == "warn"


def test_doctor_fails_a_check_whose_server_is_not_on_this_node_with_the_fix() -> None:
    """As for the dns, http and recursive checks: what doctor found, not a skip."""
    out = judge_dnssec(parse(), {}, {ipaddress.ip_address("2001:db8::99")})
    assert out[0].verdict.value == "fail"
    assert out[0].detail.endswith(f"not queried: {NODE} is not an address of this node")
    assert f"{NODE} is not usable on this node: add the address" in out[0].fix


def test_doctor_skips_a_check_only_when_this_node_s_addresses_are_unknown() -> None:
    out = judge_dnssec(parse(), {}, None)
    assert out[0].verdict.value == "skip" and out[0].detail.endswith("not queried")


def test_doctor_runs_a_local_dnssec_check_itself_and_reports_it() -> None:
    from speaker.cli import doctor

    zone = SignedZone()
    zone.expire("SOA", NOW + 3600)

    def build(check: config.Check, timeout: float) -> DnssecProbe:
        assert isinstance(check, config.DnssecCheck)
        return DnssecProbe(check, timeout, wall=lambda: NOW, ask=zone.ask)

    cfg = parse()
    local = frozenset({("eth0", ipaddress.ip_address(NODE))})
    outcomes = doctor.probe_local(cfg, local, build)
    assert list(outcomes) == [("dns", 0)]
    found = judge_dnssec(cfg, outcomes, {ipaddress.ip_address(NODE)})
    assert found[0].check == "dnssec dns/0" and found[0].verdict.value == "fail"
    assert found[0].detail.endswith("RRSIG SOA expires in 1h (min 1d)")
