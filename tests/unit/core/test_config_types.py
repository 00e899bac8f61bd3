"""The reusable validators of the config schema, each on its own."""

import ipaddress
import math
from pathlib import Path

import pytest

from speaker.core.config.types import (
    IP_ADDRESS,
    PREFIX,
    AbsolutePath,
    At,
    Boolean,
    ComplexKey,
    Describe,
    Fields,
    Integer,
    Invalid,
    ListOf,
    Number,
    OneOf,
    Parse,
    Pattern,
    Problems,
    Refine,
    Seconds,
    Text,
    Validator,
    ensure,
    host_route,
    num,
)


def here() -> At:
    return At(Problems("t.yaml"), "/x")


def refusal(validator: Validator[object], value: object, at: At | None = None) -> str:
    with pytest.raises(Invalid) as info:
        validator(value, at or here())
    return str(info.value)


@pytest.mark.parametrize("validator", [Number(0, 10), Seconds(0, 10)])
def test_a_number_takes_integers_and_floats_in_its_range(validator: Number) -> None:
    assert validator(3, here()) == 3 and validator(0.5, here()) == 0.5
    assert refusal(validator, -1) == "must be >= 0 (got -1)"
    assert refusal(validator, 10.5) == "must be <= 10 (got 10.5)"
    assert refusal(validator, "3") == "must be a number (got '3')"
    assert refusal(validator, True) == "must be a number (got True)"


@pytest.mark.parametrize(("value", "shown"), [(math.nan, "nan"), (math.inf, "inf"),
                                              (-math.inf, "-inf")])
def test_a_number_is_never_nan_or_infinite(value: float, shown: str) -> None:
    """NaN compares false with every bound, so a range alone lets it through."""
    assert refusal(Number(0, 10), value) == f"must be a finite number (got {shown})"
    assert refusal(Number(-math.inf, math.inf), value) == f"must be a finite number (got {shown})"


def test_an_integer_refuses_floats_and_booleans() -> None:
    assert Integer(1, 5)(5, here()) == 5
    assert refusal(Integer(1, 5), 1.5) == "must be an integer (got 1.5)"
    assert refusal(Integer(1, 5), math.nan) == "must be an integer (got nan)"
    assert refusal(Integer(1, 5), False) == "must be an integer (got False)"
    assert refusal(Integer(1, 5), 10**400) == f"must be <= 5 (got {10**400})"


def test_numbers_are_printed_as_short_as_they_are() -> None:
    assert [num(0.25), num(3600), num(4294967295), num(1e-05)] == [
        "0.25", "3600", "4294967295", "1e-05"]


def test_boolean_text_and_choices() -> None:
    assert Boolean()(False, here()) is False
    assert refusal(Boolean(), "yes") == "must be true or false (got 'yes')"
    assert Text()("a", here()) == "a"
    assert refusal(Text(), "") == "must be a non-empty string (got '')"
    assert refusal(Text("must be a name"), [1]) == "must be a name (got a list)"
    assert OneOf(("udp", "tcp"))("tcp", here()) == "tcp"
    assert refusal(OneOf(("udp", "tcp")), "quic") == "must be one of udp, tcp (got 'quic')"
    assert refusal(OneOf(("udp", "tcp")), {}) == "must be one of udp, tcp (got a mapping)"


def test_a_pattern_matches_the_whole_string() -> None:
    digits = Pattern(r"[0-9]+", "must be digits")
    assert digits("42", here()) == "42"
    for bad in ("42\n", "x42", "\uff14\uff12", 42):
        assert refusal(digits, bad).startswith("must be digits (got ")


def test_absolute_path() -> None:
    assert AbsolutePath()("/run/x", here()) == Path("/run/x")
    assert refusal(AbsolutePath(), "run/x") == "must be an absolute path (got 'run/x')"


def test_ip_addresses_and_prefixes() -> None:
    assert IP_ADDRESS("::1", here()) == ipaddress.IPv6Address("::1")
    assert refusal(IP_ADDRESS, "dns1") == "is not an IP address: 'dns1'"
    assert refusal(IP_ADDRESS, 5) == "must be an IP address as a string (got 5)"
    assert PREFIX("2001:db8::/64", here()) == ipaddress.ip_network("2001:db8::/64")
    assert refusal(PREFIX, "2001:db8::1/64").startswith("is not a valid prefix: '2001:db8::1/64' (")
    host = host_route("ask for it")
    assert host("192.0.2.1/32", here()) == ipaddress.ip_network("192.0.2.1/32")
    assert refusal(host, "2001:db8::/64") == "must be a host route (/128), got /64; ask for it"


def test_parse_and_refine_word_their_own_refusals() -> None:
    octal = Parse(Text(), lambda s: int(s, 8), "is not octal: {value!r} ({exc})")
    assert octal("17", here()) == 15
    assert refusal(octal, "9").startswith("is not octal: '9' (invalid literal")
    even = Refine(Integer(0, 100), lambda n: n % 2 == 0, "must be even (got {got})")
    assert even(4, here()) == 4
    assert refusal(even, 3) == "must be even (got 3)"
    assert refusal(even, 101) == "must be <= 100 (got 101)"


def test_describe_tells_every_inner_problem_as_one() -> None:
    pair = Describe(ListOf(Integer(0, 9), min_items=2, max_items=2), "must be two digits")
    assert pair([1, 2], here()) == (1, 2)
    at = here()
    for bad in ([1], [1, 2, 3], [1, "x"], "12"):
        assert refusal(pair, bad, at).startswith("must be two digits (got ")
    assert at.problems.items == []  # the inner problems are not recorded besides


def test_a_list_records_each_bad_item_at_its_index_and_keeps_the_good_ones() -> None:
    at = here()
    assert ListOf(Integer(0, 9), unique=True)([1, "x", 2, 1, 12], at) == (1, 2)
    assert at.problems.items == [
        "t.yaml: /x/1: must be an integer (got 'x')",
        "t.yaml: /x/3: is listed twice: 1",
        "t.yaml: /x/4: must be <= 9 (got 12)",
    ]
    assert refusal(ListOf(Integer(0, 9)), {}) == "must be a list (got a mapping)"
    assert refusal(ListOf(Text(), min_items=1, too_few="must list one"), []) == "must list one"
    assert refusal(ListOf(Text(), max_items=1), ["a", "b"]) == (
        "must have at most 1 entries (got 2)")
    located = ListOf(Text()).located([5, "a"], here())
    assert [(where.path, item) for where, item in located] == [("/x/1", "a")]


def test_fields_read_known_keys_with_defaults_and_record_the_rest() -> None:
    at = here()
    f = Fields({"a": 1, "b": None, "bad": 2, 7: 3, ComplexKey("a list", "line 4, column 1"): 4},
               at, ("a", "b", "c", "d"))
    assert f.get("a", Integer(0, 9), 5) == 1
    assert f.get("b", Integer(0, 9), 5, null=True) == 5
    assert f.get("c", Integer(0, 9), 5) == 5
    assert f.need("d", Integer(0, 9)) is None
    assert f.get("b", Integer(0, 9), 5) == 5
    assert at.problems.items == [
        "t.yaml: /x/bad: unknown key (known keys: a, b, c, d)",
        "t.yaml: /x/7: unknown key (known keys: a, b, c, d)",
        "t.yaml: /x: has a key that is a list, not a name (line 4, column 1)",
        "t.yaml: /x/d: is required",
        "t.yaml: /x/b: must be an integer (got nothing)",
    ]
    with pytest.raises(Invalid, match=r"must be a mapping \(got a list\)"):
        Fields([], here(), ())


def test_complex_keys_are_equal_only_to_themselves() -> None:
    one, two = ComplexKey("a list", "line 1"), ComplexKey("a list", "line 1")
    assert one == one and one != two and len({one, two}) == 2


def test_ensure_compares_with_another_field() -> None:
    at = here()
    ensure(at, 0.5, "<=", 1, "interval")
    ensure(at, 2, "<=", 1, "interval")
    ensure(at, 5, ">=", 10, "penalty")
    assert at.problems.items == ["t.yaml: /x: must be <= interval (1) (got 2)",
                                 "t.yaml: /x: must be >= penalty (10) (got 5)"]
