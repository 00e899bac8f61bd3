"""What a service's event path watches: its checks' listeners and its pid file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from speaker.core.config import DnsCheck
from speaker.core.sockdiag import Listener
from speaker.core.watch import Detection, Process, parse_pid, targets

SERVER = ipaddress.ip_address("2001:db8::53")


def test_each_listener_of_the_checks_is_watched_once() -> None:
    checks = [DnsCheck(SERVER, "example.com"), DnsCheck(SERVER, "example.org"),
              DnsCheck(SERVER, "example.com", transport="tcp", port=5300)]
    assert targets(checks, sockets=True, pid_file=None) == (
        Listener("udp", SERVER, 53), Listener("tcp", SERVER, 5300))


def test_the_pid_file_comes_last_and_sockets_can_be_left_out() -> None:
    checks = [DnsCheck(SERVER, "example.com")]
    found = targets(checks, sockets=False, pid_file=Path("/run/named/named.pid"))
    assert found == (Process(Path("/run/named/named.pid")),)


def test_a_listener_describes_itself_as_an_operator_writes_it() -> None:
    assert Listener("udp", SERVER, 53).describe() == "udp [2001:db8::53]:53"
    assert Listener("tcp", ipaddress.ip_address("192.0.2.1"), 53).describe() == "tcp 192.0.2.1:53"


def test_a_pid_file_holds_one_decimal_pid() -> None:
    assert parse_pid("1234\n") == 1234
    assert parse_pid(" 77 ") == 77
    for bad in ("", "abc", "12 13", "-5", "1", "٣٤"):
        assert parse_pid(bad) is None, bad


def test_a_detection_is_shown_as_a_mapping() -> None:
    shown = Detection("socket", "udp [::1]:53", False, "why").as_dict()
    assert shown == {"kind": "socket", "target": "udp [::1]:53", "active": False,
                     "detail": "why"}


def service_yaml(watch: str) -> str:
    return ("services:\n  - name: dns\n    prefixes: ['2001:db8::53/128']\n"
            "    checks: [{type: dns, server: '2001:db8::53', qname: example.com}]\n" + watch)


def test_the_socket_watch_is_on_by_default_and_no_pid_file_is_watched() -> None:
    from speaker.core import config

    (service,) = config.parse(service_yaml("")).services
    assert service.watch == config.Watch(sockets=True, pid_file=None)


def test_the_watch_block_sets_both() -> None:
    from speaker.core import config

    text = service_yaml("    watch: {sockets: false, pid_file: /run/named/named.pid}\n")
    (service,) = config.parse(text).services
    assert service.watch == config.Watch(sockets=False, pid_file=Path("/run/named/named.pid"))


def test_a_bad_watch_block_names_each_problem() -> None:
    import pytest

    from speaker.core import config
    from speaker.core.errors import ConfigError

    text = service_yaml("    watch: {sockets: 1, pid_file: named.pid, pidfile: x}\n")
    with pytest.raises(ConfigError) as caught:
        config.parse(text)
    problems = "\n".join(caught.value.problems)
    assert "/services/0/watch/sockets: must be true or false (got 1)" in problems
    assert "/services/0/watch/pid_file: must be an absolute path (got 'named.pid')" in problems
    assert "/services/0/watch/pidfile: unknown key" in problems
