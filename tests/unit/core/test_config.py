"""Config validation: every problem reported with its path, nothing half-loaded."""

from pathlib import Path

import pytest

from speaker.core import config
from speaker.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]

GOOD = """
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks:
      - {type: dns, server: "2001:db8::100", qname: example.com.}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config.parse(text, "t.yaml")
    return info.value.problems


def service(extra: str = "", check: str = "", prefixes: str = '["2001:db8::100/128"]') -> str:
    return f"""
services:
  - name: dns
    prefixes: {prefixes}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.{check}}}
{extra}"""


def test_the_issue_example_and_shipped_configs_load() -> None:
    for path in [REPO / "conf/speaker.yaml", *REPO.glob("conf/*/speaker.yaml")]:
        cfg = config.load(path)
        assert cfg.services[0].name == "dns"
        assert str(cfg.services[0].prefixes[0]) == "2a01:b000:1046:10:1::100/128"


ISSUE_EXAMPLE = """
control:
  socket: /run/speaker/speaker.sock
state_dir: /var/lib/speaker
services:
  - name: dns
    prefixes: ["2a01:b000:1046:10:1::100/128"]
    address: {interface: lo, manage: true}
    timing: {interval: 0.5, timeout: 0.25, rise: 3, fall: 2}
    checks:
      - type: dns
        server: "2a01:b000:1046:10:1::100"
        qname: example.com.
        qtype: SOA
      - type: dns
        server: "2a01:b000:1046:10:1::50"
        qname: www.example.com.
        qtype: AAAA
        expect: {answers: ["2001:db8::1"]}
"""


def test_the_example_of_the_speaker_issue_loads_as_it_is() -> None:
    cfg = config.parse(ISSUE_EXAMPLE)
    service = cfg.services[0]
    assert service.timing.interval == 0.5 and service.address == config.Address("lo", True)
    assert [c.qtype for c in service.checks] == ["SOA", "AAAA"]


def test_defaults() -> None:
    cfg = config.parse(GOOD)
    s = cfg.services[0]
    assert (s.timing.interval, s.timing.fast_interval, s.timing.timeout) == (0.25, 0.1, 0.25)
    assert (s.timing.rise, s.timing.fall) == (3, 2)
    assert s.checks[0].expect.rcode == "NOERROR" and s.checks[0].expect.aa
    assert cfg.control.socket == Path("/run/speaker/speaker.sock") and cfg.metrics is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (service("    timing: {rise: 0}"), "/services/0/timing/rise: must be >= 1 (got 0)"),
        (service("    timing: {fall: 1.5}"), "/services/0/timing/fall: must be an integer (got 1.5)"),
        (service("    timing: {interval: fast}"), "/services/0/timing/interval: must be a number"),
        (service("    timing: {interval: 0.5, timeout: 2}"), "/services/0/timing/timeout: must be <= interval"),
        (service("    timing: {interval: 0.5, fast_interval: 1}"), "/services/0/timing/fast_interval: must be <= interval"),
        (service("    bogus: 1"), "/services/0/bogus: unknown key"),
        (service("    timing: {fail_at_once: [refused, gone]}"), "/services/0/timing/fail_at_once/1: must be one of refused, timeout"),
        (service(prefixes='["2001:db8::/64"]'), "/services/0/prefixes/0: must be a host route (/128)"),
        (service(prefixes='["2001:db8::1/64"]'), "/services/0/prefixes/0: is not a valid prefix"),
        (service(prefixes='["nope"]'), "/services/0/prefixes/0: is not a valid prefix: 'nope'"),
        (service(prefixes="[]"), "/services/0/prefixes: must list at least one prefix"),
        (service(prefixes='["2001:db8::100/128", "2001:db8::100/128"]'), "/services/0/prefixes/1: is listed twice"),
        (service(check=", qtype: BOGUS"), "/services/0/checks/0/qtype: is not a DNS record type: 'BOGUS'"),
        (service(check=", port: 70000"), "/services/0/checks/0/port: must be <= 65535 (got 70000)"),
        (service(check=", transport: quic"), "/services/0/checks/0/transport: must be one of udp, tcp"),
        (service(check=", expect: {rcode: MAYBE}"), "/services/0/checks/0/expect/rcode: must be one of"),
        (service(check=", expect: {aa: yes please}"), "/services/0/checks/0/expect/aa: must be true or false"),
        (service(check=", timeout: 5"), "/services/0/checks/0/timeout: must be <= the service's interval"),
        (service().replace('server: "2001:db8::100"', "server: dns1"), "/services/0/checks/0/server: is not an IP address: 'dns1'"),
        (service().replace("type: dns,", "type: smtp,"), "/services/0/checks/0/type: must be one of dns, soa, dnssec, http, recursive (got 'smtp')"),
        (service().replace("qname: example.com.", "qname: a..b"), "/services/0/checks/0/qname: is not a DNS name"),
        (service("    address: {interface: lo, manage: maybe}"), "/services/0/address/manage: must be true or false"),
        (service("    route: {communities: ['65535:99999']}"), "/services/0/route/communities/0: must be a community"),
        (service("    route: {med: -1}"), "/services/0/route/med: must be >= 0"),
        (service() + "control: {mode: '0666'}\n", "/control/mode: must not give access to other users"),
        (service() + "control: {socket: relative.sock}\n", "/control/socket: must be an absolute path"),
        (service() + "state_dir: 5\n", "/state_dir: must be an absolute path (got 5)"),
        (service() + "metrics: {listen: localhost}\n", "/metrics/listen: is not an IP address: 'localhost'"),
        (service() + "local_as_range: [65300, 65200]\n", "/local_as_range: must be [low, high]"),
        (service() + "surprise: true\n", "/surprise: unknown key"),
        ("services: []\n", "/services: must list at least one service"),
        ("services: {name: dns}\n", "/services: must be a list (got a mapping)"),
        ("control: {}\n", "/services: is required"),
        ("- just\n- a list\n", "t.yaml: /: must be a mapping (got a list)"),
        ("services:\n  - 42\n", "/services/0: must be a mapping (got an integer)"),
        ("services:\n  - {name: 'bad name!', prefixes: ['2001:db8::1/128'], checks: []}\n",
         "/services/0/name: must be letters"),
        (GOOD + GOOD.replace("services:\n", ""), "/services/1/name: duplicate service name 'dns'"),
    ],
)
def test_bad_input_is_reported_with_its_path(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found
    assert all(p.startswith("t.yaml: ") for p in found)


def test_duplicate_yaml_keys_are_refused() -> None:
    [problem] = problems("services: []\nservices: []\n")
    assert "duplicate key 'services'" in problem and "line 2" in problem


def test_invalid_yaml_names_the_line() -> None:
    [problem] = problems("services: [\n")
    assert problem.startswith("t.yaml: line ") and "invalid YAML" in problem


def test_every_problem_is_reported_together() -> None:
    found = problems(service("    timing: {rise: 0, fall: 0}", check=", port: 0"))
    assert len(found) == 3


def test_prefix_owned_by_two_services_is_refused() -> None:
    text = GOOD + GOOD.replace("services:\n", "").replace("name: dns", "name: other")
    assert any("also announced by service 'dns'" in p for p in problems(text))


def test_shorter_prefix_allowed_when_asked() -> None:
    cfg = config.parse(service("    allow_shorter_prefixes: true", prefixes='["2001:db8::/64"]'))
    assert cfg.services[0].prefixes[0].prefixlen == 64


def test_ipv4_host_routes_are_accepted() -> None:
    cfg = config.parse(service(prefixes='["192.0.2.53/32"]'))
    assert cfg.services[0].prefixes[0].version == 4


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value)


def test_outcome_codes_are_the_ones_checks_produce() -> None:
    import re

    modules = ("adapters/checks", "adapters/adaptive", "core/verdicts", "adapters/http",
               "core/http_verdicts", "adapters/recursive", "core/recursion",
               "adapters/dnssec", "core/signatures", "adapters/dnsquery")
    source = "".join((REPO / f"speaker/{m}.py").read_text() for m in modules)
    produced = set(re.findall(r'return "([a-z-]+)", ', source))
    produced |= set(re.findall(r'Judgement\((?:False|True), "([a-z-]+)", ', source))
    produced |= set(re.findall(r'return None, "([a-z-]+)", ', source))
    # the soa check fails with "stale" only (speaker.core.freshness; its other codes pass)
    freshness = (REPO / "speaker/core/freshness.py").read_text()
    assert '"stale" if stale else "behind"' in freshness
    produced.add("stale")
    assert produced - {"ok"} == set(config.OUTCOME_CODES)


def test_the_soa_check_s_stale_may_fail_at_once() -> None:
    cfg = config.parse(service("    timing: {fail_at_once: [refused, stale]}"))
    assert cfg.services[0].timing.fail_at_once == ("refused", "stale")


def test_the_dnssec_check_s_codes_may_fail_at_once() -> None:
    cfg = config.parse(service("    timing: {fail_at_once: [refused, expired, bogus]}"))
    assert cfg.services[0].timing.fail_at_once == ("refused", "expired", "bogus")
    with pytest.raises(ConfigError) as info:
        config.parse(service("    timing: {fail_at_once: [expird]}"))
    assert "/services/0/timing/fail_at_once/0" in str(info.value)
    assert "expiring" in str(info.value)  # the accepted values are listed


# -- issue 12: numbers that are not numbers, keys that are not names ------------

FLOAT_FIELDS = [
    ("    timing: {interval: VALUE}", "/services/0/timing/interval"),
    ("    timing: {fast_interval: VALUE}", "/services/0/timing/fast_interval"),
    ("    timing: {timeout: VALUE}", "/services/0/timing/timeout"),
    ("    flap: {window: VALUE}", "/services/0/flap/window"),
    ("    flap: {penalty: VALUE}", "/services/0/flap/penalty"),
    ("    flap: {max_penalty: VALUE}", "/services/0/flap/max_penalty"),
    ("drain_delay: VALUE", "/drain_delay"),
    ("watchdog_timeout: VALUE", "/watchdog_timeout"),
    ("dns_statistics: {interval: VALUE}", "/dns_statistics/interval"),
]


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf", "+.inf"])
@pytest.mark.parametrize(("line", "path"), FLOAT_FIELDS)
def test_nan_and_infinity_are_refused_for_every_number(line: str, path: str, value: str) -> None:
    found = problems(service(line.replace("VALUE", value)) if line.startswith(" ")
                     else service() + line.replace("VALUE", value) + "\n")
    shown = {".nan": "nan", ".NaN": "nan", ".inf": "inf", "-.inf": "-inf", "+.inf": "inf"}[value]
    assert f"t.yaml: {path}: must be a finite number (got {shown})" in found, found


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_refused_for_a_check_timeout(value: str) -> None:
    found = problems(service(check=f", timeout: {value}"))
    assert any(p.startswith("t.yaml: /services/0/checks/0/timeout: must be a finite number")
               for p in found), found


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("    timing: {rise: .nan}", "/services/0/timing/rise"),
        ("    flap: {max_transitions: .inf}", "/services/0/flap/max_transitions"),
        ("    route: {med: .nan}", "/services/0/route/med"),
        ("    route: {as_path: [.inf]}", "/services/0/route/as_path/0"),
    ],
)
def test_nan_and_infinity_are_refused_where_an_integer_is_taken(text: str, path: str) -> None:
    assert any(p.startswith(f"t.yaml: {path}: ") for p in problems(service(text)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("? [a, b]\n: 1\n" + GOOD, "t.yaml: /: has a key that is a list, not a name (line 1, column 3)"),
        ("? {a: 1}\n: 1\n" + GOOD, "t.yaml: /: has a key that is a mapping, not a name (line 1, column 3)"),
        (service("    timing: {[a, b]: 1}"), "t.yaml: /services/0/timing: has a key that is a list"),
        (service(check=", ? [x] : 1"), "t.yaml: /services/0/checks/0: has a key that is a list"),
        (service() + "control: {? [a] : 1, ? [a] : 2}\n", "t.yaml: /control: has a key that is a list"),
    ],
)
def test_a_complex_key_is_a_problem_at_its_path(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize("kind", ["[dns]", "{dns: 1}"])
def test_a_check_type_that_is_a_list_or_a_mapping_is_a_problem(kind: str) -> None:
    found = problems(service().replace("type: dns,", f"type: {kind},"))
    assert any(p.startswith("t.yaml: /services/0/checks/0/type: must be one of dns, soa, dnssec, http, recursive (got a ")
               for p in found), found


def test_yaml_nested_too_deeply_is_a_config_error() -> None:
    [problem] = problems("[" * 5000 + "]" * 5000)
    assert problem == "t.yaml: invalid YAML: nested too deeply"


def test_a_huge_integer_is_reported_digit_by_digit() -> None:
    huge = "1" + "0" * 400
    assert f"t.yaml: /services/0/timing/rise: must be <= 1000 (got {huge})" in problems(
        service(f"    timing: {{rise: {huge}}}"))


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (service('    route: {communities: ["65535:0\\n"]}'), "/services/0/route/communities/0"),
        (service('    route: {communities: ["\\uff16\\uff15:0"]}'), "/services/0/route/communities/0"),
        (service().replace("name: dns", 'name: "dns\\n"'), "/services/0/name"),
        (service('    address: {interface: "lo\\n"}'), "/services/0/address/interface"),
    ],
)
def test_a_pattern_must_match_the_whole_value(text: str, path: str) -> None:
    """A trailing newline or a non-ASCII digit would end up in an ExaBGP command or a log line."""
    assert any(p.startswith(f"t.yaml: {path}: ") for p in problems(text))


def test_cross_service_problems_name_the_index_in_the_file() -> None:
    text = "services:\n  - 42\n" + (GOOD + GOOD).replace("services:\n", "")
    assert "t.yaml: /services/2/name: duplicate service name 'dns' (also /services/1)" in problems(
        text)


def test_a_check_timeout_problem_names_the_index_in_the_file() -> None:
    text = service(check=", timeout: 5").replace(
        "    checks:\n", "    checks:\n      - 42\n")
    assert any(p.startswith("t.yaml: /services/0/checks/1/timeout: must be <= the service's")
               for p in problems(text))


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (service() + 'control: {socket: "/run/\\ud800.sock"}\n', "/control/socket"),
        (service() + 'control: {group: "\\udc80"}\n', "/control/group"),
        (service() + 'state_dir: "/var/\\ud800"\n', "/state_dir"),
    ],
)
def test_a_string_with_a_lone_surrogate_is_a_problem(text: str, path: str) -> None:
    """A YAML escape can make a string that cannot be encoded for a path or a group name."""
    assert any(p.startswith(f"t.yaml: {path}: ") for p in problems(text))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("drain_delay: 2020-13-01\n", "not a valid timestamp (ValueError: month must be in 1..12)"),
        ("drain_delay: !!int x\n", "not a valid int (ValueError: invalid literal"),
        ("drain_delay: !!bool x\n", "not a valid bool (KeyError: 'x')"),
        ("drain_delay: !!float ''\n", "not a valid float (IndexError: "),
        ("drain_delay: 1" + "0" * 5000 + "\n", "not a valid int (ValueError: Exceeds the limit"),
        ("drain_delay: !!set [a, b]\n", "expected a mapping, but found sequence"),
    ],
)
def test_a_scalar_its_tag_cannot_make_is_invalid_yaml_at_its_line(text: str, reason: str) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"t.yaml: line 1, column 14: invalid YAML: {reason}"), problem
