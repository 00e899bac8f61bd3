"""The http check's config: its keys, defaults, and every bad value named at its path."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speaker.core import config
from speaker.core.errors import ConfigError
from speaker.core.http_verdicts import request

DOC = """
services:
  - name: web
    prefixes: ["2001:db8::80/128"]
    checks:
      - {{type: http, {keys}}}
"""
AT = "/services/0/checks/0"


def load(keys: str) -> config.HttpCheck:
    check = config.parse(DOC.format(keys=keys)).services[0].checks[0]
    assert isinstance(check, config.HttpCheck)
    return check


def problems(keys: str) -> str:
    with pytest.raises(ConfigError) as info:
        config.parse(DOC.format(keys=keys))
    return str(info.value)


def test_defaults_from_an_ipv6_url() -> None:
    check = load('url: "http://[2001:db8::80]/health"')
    assert check.server == ipaddress.ip_address("2001:db8::80")
    assert (check.scheme, check.port, check.host, check.target) == ("http", 80, "2001:db8::80",
                                                                    "/health")
    assert (check.status, check.body, check.verify, check.ca_file, check.method,
            check.timeout) == ((200,), None, True, None, "GET", None)
    assert check.host_header == "[2001:db8::80]"
    assert check.describe() == "http check http://[2001:db8::80]/health"


def test_every_key_read() -> None:
    check = load('url: "https://www.example.test:8443/a?b=1", address: "2001:db8::80", '
                 'host: web.example.test, status: [200, 204], body: ok, ca_file: /etc/ca.pem, '
                 'timeout: 0.2, method: GET')
    assert (check.port, check.host, check.target, check.status, check.body) == (
        8443, "web.example.test", "/a?b=1", (200, 204), "ok")
    assert check.ca_file == Path("/etc/ca.pem") and check.timeout == 0.2
    assert check.host_header == "web.example.test:8443"
    assert check.describe() == "http check https://www.example.test:8443/a?b=1 at 2001:db8::80"


def test_ipv4_url_and_its_default_https_port() -> None:
    check = load('url: "https://192.0.2.80/", verify: false')
    assert (str(check.server), check.port, check.verify) == ("192.0.2.80", 443, False)


def test_a_name_without_address_is_refused_names_are_never_resolved() -> None:
    found = problems('url: "http://www.example.test/"')
    assert (f"{AT}/address: is required: the URL's host 'www.example.test' is a name, and the "
            "speaker never resolves names") in found


@pytest.mark.parametrize(("keys", "path", "message"), [
    ('url: "ftp://[2001:db8::80]/"', "url", "must be an http:// or https:// URL"),
    ('url: "http:///x"', "url", "has no host"),
    ('url: "http://[2001:db8::80]:99999/"', "url", "is not a valid URL"),
    ('url: "http://u:p@[2001:db8::80]/"', "url", "must not carry a user or password"),
    ('url: "http://[2001:db8::80]/a b"', "url", "must not contain spaces"),
    ('url: "http://[2001:db8::80]/café"', "url", "must be ASCII: percent-encode"),
    ('url: "http://bad_name!/"', "url", "has a host that is neither an IP address nor a name"),
    ("url: 80", "url", "must be an http:// or https:// URL (got 80)"),
    ('url: "http://[::1]/", status: 99', "status", "must be >= 100 (got 99)"),
    ('url: "http://[::1]/", status: [200, 200]', "status/1", "is listed twice: 200"),
    ('url: "http://[::1]/", status: []', "status", "must list at least one status"),
    ('url: "http://[::1]/", status: "200"', "status", "must be an integer"),
    ('url: "http://[::1]/", host: "a b"', "host", "must be a host name or an IP address"),
    ('url: "http://[::1]/", address: nope', "address", "is not an IP address"),
    ('url: "http://[::1]/", verify: false', "verify", "is only for https:// URLs"),
    ('url: "http://[::1]/", ca_file: /ca.pem', "ca_file", "is only for https:// URLs"),
    ('url: "https://[::1]/", verify: false, ca_file: /ca.pem', "ca_file",
     "is not used with verify: false"),
    ('url: "https://[::1]/", ca_file: ca.pem', "ca_file", "must be an absolute path"),
    ('url: "http://[::1]/", method: POST', "method", "must be one of GET, HEAD"),
    ('url: "http://[::1]/", method: HEAD, body: ok', "body", "needs method GET"),
    ('url: "http://[::1]/", body: ""', "body", "must be a non-empty string"),
    ('url: "http://[::1]/", timeout: 0', "timeout", "must be >= 0.01"),
    ('url: "http://[::1]/", timeout: 1', "timeout", "must be <= the service's interval"),
    ('url: "http://[::1]/", port: 80', "port", "unknown key"),
])
def test_bad_values_are_named_at_their_path(keys: str, path: str, message: str) -> None:
    found = problems(keys)
    assert f"{AT}/{path}: {message}" in found, found


def test_url_is_required() -> None:
    assert f"{AT}/url: is required" in problems("status: 200")


def test_an_http_check_can_be_confirmed_at_once_by_its_codes() -> None:
    cfg = config.parse(DOC.format(keys='url: "http://[::1]/"') +
                       "    timing: {fail_at_once: [refused, tls, status]}\n")
    assert cfg.services[0].timing.fail_at_once == ("refused", "tls", "status")


def test_the_event_path_watches_the_web_servers_tcp_listener() -> None:
    from speaker.core import watch
    from speaker.core.sockdiag import Listener

    service = config.parse(DOC.format(keys='url: "http://[2001:db8::80]:8080/"')).services[0]
    assert watch.of_service(service) == (
        Listener("tcp", ipaddress.ip_address("2001:db8::80"), 8080),)


URLS = st.sampled_from(["http://[::1]/", "https://[2001:db8::80]:8443/x?y", "http://a.test/",
                        "http://[::1]/\u00e9", "http://[::1", "http://[::1]:0/", "https://1.2.3.4",
                        "http://[fe80::1%25lo]/", "http://:80/", "http://[::1]:/"])
VALUES = (st.none() | st.booleans() | st.integers(-1, 70000) | st.floats(allow_nan=True)
          | st.text(max_size=20) | URLS | st.lists(st.integers(0, 700), max_size=3))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["url", "host", "address", "status", "body", "verify",
                                        "ca_file", "timeout", "method", "other"]),
                       VALUES, max_size=6), URLS)
def test_any_http_check_is_a_config_error_or_a_check_whose_request_renders(
        keys: dict[str, object], url: str) -> None:
    keys.setdefault("url", url)
    doc = {"services": [{"name": "web", "prefixes": ["2001:db8::80/128"],
                         "checks": [{"type": "http", **keys}]}]}
    try:
        cfg = config.parse(json.dumps(doc), "f.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("f.yaml: ") for p in exc.problems)
        return
    check = cfg.services[0].checks[0]
    assert isinstance(check, config.HttpCheck)
    assert request(check).startswith(f"{check.method} {check.target} HTTP/1.1\r\n".encode())
    assert check.describe().startswith("http check ")
