"""Config validation: every problem reported with its path, nothing half-loaded."""

from pathlib import Path

import pytest

from speaker.core import config
from speaker.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

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
    assert (s.timing.interval, s.timing.fast_interval, s.timing.timeout) == (0.3, 0.1, 0.25)
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
        (service().replace("type: dns,", "type: http,"), "/services/0/checks/0/type: must be one of dns, soa (got 'http')"),
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

    source = "".join((REPO / f"speaker/{m}.py").read_text() for m in ("adapters/checks", "core/verdicts"))
    produced = set(re.findall(r'return "([a-z-]+)", ', source)) - {"ok"}
    assert produced == set(config.OUTCOME_CODES)
