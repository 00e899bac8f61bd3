"""RFC 8326 graceful drain, the pure part: the community, SECONDS, when a drain announces."""

from __future__ import annotations

import math

import pytest

from speaker.core import gshut, protocol
from speaker.core.config import Route
from speaker.core.maintenance import ALL, OPERATOR, Maintenance

OPS = Maintenance("upgrade", 1.0, "ops")
OTHER = Maintenance("named restart", 2.0, "systemd", "dns-restart")


def test_draining_adds_the_graceful_shutdown_community_once_and_keeps_the_others() -> None:
    route = Route(communities=("65000:1",), med=10)
    drained = gshut.drained(route)
    assert drained == Route(communities=("65000:1", "65535:0"), med=10)
    assert gshut.drained(drained) == drained


@pytest.mark.parametrize(("value", "problem"), [
    (-1, "must be more than 0 and at most 3600 seconds (got -1)"),
    (0, "must be more than 0"),
    (3601, "at most 3600 seconds (got 3601)"),
    ("abc", "not a number of seconds: 'abc'"),
    (math.inf, "not a number of seconds"),
    (math.nan, "not a number of seconds"),
    (True, "not a number of seconds"),
])
def test_seconds_out_of_bounds_or_not_numbers_are_named(value: object, problem: str) -> None:
    assert problem in gshut.seconds_problem(value)


def test_seconds_within_bounds_pass_and_words_parse() -> None:
    assert gshut.seconds_problem(0.5) == gshut.seconds_problem(3600) == ""
    assert gshut.parse_seconds("30") == (30.0, "")
    assert gshut.parse_seconds("abc")[1] == "not a number of seconds: 'abc'"
    assert "got -1" in gshut.parse_seconds("-1")[1]


def test_a_drain_announces_only_until_its_end() -> None:
    drain = gshut.start(OPERATOR, 30, now=100.0)
    entries = {"dns": (OPS,)}
    assert gshut.announces(entries, "dns", drain, 129.9)
    assert drain.remaining(110.0) == 20.0
    assert not gshut.announces(entries, "dns", drain, 130.0)
    assert drain.remaining(200.0) == 0.0
    assert not gshut.announces(entries, "dns", None, 100.0)


def test_a_drain_never_announces_what_another_maintenance_or_an_unreadable_file_holds() -> None:
    drain = gshut.start(OPERATOR, 30, now=100.0)
    assert not gshut.announces({"dns": (OPS, OTHER)}, "dns", drain, 101.0)
    assert not gshut.announces({"dns": (OPS,), ALL: (OPS,)}, "dns", drain, 101.0)
    assert not gshut.announces({}, "dns", drain, 101.0)  # its own maintenance is not written


def test_graceful_round_trips_the_control_protocol_and_bad_values_are_refused() -> None:
    line = protocol.encode_request(protocol.Request("withdraw", {"graceful": 30}))
    request = protocol.decode_request(line)
    assert protocol.graceful_arg(request.args) == 30.0
    assert protocol.graceful_arg({}) == 0.0
    for bad in (-1, "abc", 3601, 0):
        with pytest.raises(protocol.ProtocolError) as caught:
            protocol.graceful_arg({"graceful": bad})
        assert caught.value.code == protocol.BAD_REQUEST
        assert caught.value.message.startswith("'graceful': ")


def test_a_cancelled_drain_round_trips_as_its_own_error_code() -> None:
    reply = protocol.decode_reply(protocol.encode_reply(
        protocol.error(protocol.CANCELLED, "graceful drain ended before the withdraw")))
    assert isinstance(reply, protocol.Reply)
    assert (reply.ok, reply.code) == (False, protocol.CANCELLED)


def test_an_ending_says_how_the_drain_really_ended() -> None:
    drain = gshut.start("operator", 60, now=100.0)
    assert gshut.over(drain) == gshut.Ending(gshut.WITHDRAWN,
                                             "graceful drain over (60 s): withdrawing")
    cut = gshut.cut_short(drain, 112.4, "a withdraw with tag 'dns-restart'")
    assert cut.code == gshut.CUT_SHORT and cut.code not in gshut.REFUSED
    assert cut.text == ("graceful drain cut short after 12 s of 60 s: withdrawn at once "
                        "(a withdraw with tag 'dns-restart')")
    assert {gshut.cancelled().code, gshut.replaced().code} == set(gshut.REFUSED)


def test_a_removed_service_names_the_prefixes_another_service_took() -> None:
    assert gshut.removed("dns").text == ("service dns was removed by a reload during the "
                                         "drain; its routes were withdrawn")
    moved = gshut.removed("dns", {"2001:db8::9/128": "other"})
    assert moved.code == gshut.REMOVED
    assert moved.text.endswith("its routes were withdrawn, except 2001:db8::9/128 "
                               "(now service other)")
