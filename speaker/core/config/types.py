"""Reusable typed validators: each turns one plain value into a typed one, or says why not.

This module owns the building blocks of the configuration schema (numbers and
durations in a range, integers, booleans, strings, choices, patterns, IP
addresses and prefixes, absolute paths, lists of X, mappings with known keys)
and how a problem is worded and placed at its JSON-pointer path. It knows no
field of the speaker's schema (that is `schema`) and no YAML (values arrive as
plain Python data); it does no I/O.

A validator is called with the value and its place (`At`). A value that is
wrong as a whole raises `Invalid`, and whoever asked for it records the message
at the value's path and goes on with a default; a value with parts (a list, a
mapping) records the problems of its parts at their own paths itself.
"""

from __future__ import annotations

import ipaddress
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeGuard, TypeVar, cast

T = TypeVar("T")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Invalid(Exception):
    """A value is wrong as a whole; the message says how ("must be >= 1 (got 0)")."""


class Reported(Invalid):
    """A value cannot be used, and its problems are recorded already (at its parts' paths)."""


class Problems:
    """Collects problems, each prefixed with the file name and a JSON-pointer path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.source}: {path or '/'}: {message}")


@dataclass(frozen=True)
class At:
    """Where a value stands: its JSON-pointer path, and where its problems are recorded."""

    problems: Problems
    path: str = ""

    def __truediv__(self, key: object) -> At:
        return At(self.problems, f"{self.path}/{key}")

    def add(self, message: str) -> None:
        self.problems.add(self.path, message)

    def read(self, validator: Validator[T], value: object, default: U) -> T | U:
        """The validated value; else its problem is recorded here and `default` returned."""
        try:
            return validator(value, self)
        except Reported:
            return default
        except Invalid as exc:
            self.add(str(exc))
            return default


class Validator(Protocol[T_co]):
    """Anything that validates one value at its place: the classes below, or a function."""

    def __call__(self, value: object, at: At, /) -> T_co: ...


@dataclass(frozen=True, eq=False)  # equal only to itself: two complex keys never collide
class ComplexKey:
    """A mapping key that is a list or a mapping (YAML allows it, the schema never does)."""

    kind: str  # "a list", "a mapping"
    where: str  # "line 3, column 5"


# -- how values are shown in messages -----------------------------------------


def kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def show(value: object) -> str:
    """A value as a message quotes it: scalars as they are, containers by their kind."""
    if isinstance(value, dict | list) or value is None:
        return kind(value)
    return repr(value)


def num(value: float) -> str:
    """A number as messages print it: 0.25, 3600, 1e-05; an integer digit by digit."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def ensure(at: At, value: float, op: str, limit: float, name: str) -> None:
    """Record a problem unless `value op limit`, where the limit is another field's value."""
    ok = value <= limit if op == "<=" else value >= limit
    if not ok:
        at.add(f"must be {op} {name} ({num(limit)}) (got {num(value)})")


def _text(value: object) -> TypeGuard[str]:
    """A non-empty string that can be written out (no lone surrogate from a YAML escape)."""
    try:
        return isinstance(value, str) and len(value.encode()) > 0
    except UnicodeEncodeError:
        return False


def _fail(template: str, value: object, exc: BaseException | None = None) -> Invalid:
    return Invalid(template.format(value=value, got=show(value), exc=exc))


# -- scalars --------------------------------------------------------------------


class Scalar(ABC, Generic[T]):
    """A validator of one value without parts: its problem needs no path of its own."""

    def __call__(self, value: object, at: At, /) -> T:
        return self.convert(value)

    @abstractmethod
    def convert(self, value: object) -> T:
        """The typed value; raise Invalid if `value` does not fit."""


class _Bounded(Scalar[T]):
    accepts: tuple[type, ...]
    what: str

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def convert(self, value: object) -> T:
        if isinstance(value, bool) or not isinstance(value, self.accepts):
            raise _fail(f"must be {self.what} (got {{got}})", value)
        number = cast(float, value)
        if isinstance(number, float) and not math.isfinite(number):
            raise _fail("must be a finite number (got {got})", number)
        if number < self.low:
            raise Invalid(f"must be >= {num(self.low)} (got {num(number)})")
        if number > self.high:
            raise Invalid(f"must be <= {num(self.high)} (got {num(number)})")
        return cast(T, number)


class Number(_Bounded[float]):
    """A finite number (an integer or a float, never NaN or infinity) in [low, high]."""

    accepts = (int, float)
    what = "a number"


class Seconds(Number):
    """A duration in seconds, in [low, high]: a finite number."""


class Integer(_Bounded[int]):
    """An integer in [low, high]."""

    accepts = (int,)
    what = "an integer"


class Boolean(Scalar[bool]):
    def convert(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise _fail("must be true or false (got {got})", value)
        return value


class Text(Scalar[str]):
    """A non-empty string of characters (no lone surrogate); `must` words the problem otherwise."""

    def __init__(self, must: str = "must be a non-empty string") -> None:
        self.must = must

    def convert(self, value: object) -> str:
        if not _text(value):
            raise _fail(f"{self.must} (got {{got}})", value)
        return value


class OneOf(Scalar[str]):
    """One of a fixed list of strings."""

    def __init__(self, choices: Sequence[str]) -> None:
        self.choices = tuple(choices)

    def convert(self, value: object) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise _fail(f"must be one of {', '.join(self.choices)} (got {{got}})", value)
        return value


class Pattern(Scalar[str]):
    """A string that matches `regex` as a whole; `must` words the problem otherwise."""

    def __init__(self, regex: str, must: str) -> None:
        self.regex = re.compile(regex)
        self.must = must

    def convert(self, value: object) -> str:
        if not isinstance(value, str) or not self.regex.fullmatch(value):
            raise _fail(f"{self.must} (got {{got}})", value)
        return value


class AbsolutePath(Scalar[Path]):
    def convert(self, value: object) -> Path:
        if not _text(value) or not value.startswith("/"):
            raise _fail("must be an absolute path (got {got})", value)
        return Path(value)


# -- combinators ------------------------------------------------------------------


class Parse(Generic[T, U]):
    """What `base` accepts, turned into another type by `parse`.

    An error of one of `errors` from `parse` is a problem worded by `template`,
    which may name the value (``{value!r}``) and the error (``{exc}``).
    """

    def __init__(self, base: Validator[T], parse: Callable[[T], U], template: str = "",
                 errors: tuple[type[Exception], ...] = (ValueError,)) -> None:
        self.base = base
        self.parse = parse
        self.template = template
        self.errors = errors

    def __call__(self, value: object, at: At, /) -> U:
        checked = self.base(value, at)
        try:
            return self.parse(checked)
        except self.errors as exc:
            raise _fail(self.template, checked, exc) from None


class Refine(Generic[T]):
    """What `base` accepts and `test` approves; `template` words a refusal (``{value}``)."""

    def __init__(self, base: Validator[T], test: Callable[[T], bool], template: str) -> None:
        self.base = base
        self.test = test
        self.template = template

    def __call__(self, value: object, at: At, /) -> T:
        checked = self.base(value, at)
        if not self.test(checked):
            raise _fail(self.template, checked)
        return checked


class Describe(Generic[T]):
    """`inner`, with any of its problems (its parts' too) told as one: `must (got ...)`."""

    def __init__(self, inner: Validator[T], must: str) -> None:
        self.inner = inner
        self.must = must

    def __call__(self, value: object, at: At, /) -> T:
        scratch = At(Problems(at.problems.source), at.path)
        try:
            result = self.inner(value, scratch)
        except Invalid:
            scratch.add("refused")
        if scratch.problems.items:
            raise _fail(f"{self.must} (got {{got}})", value)
        return result


class ListOf(Generic[T]):
    """A list whose items each pass `item`; a bad item is recorded at its index and left out.

    `min_items` with `too_few` refuses a shorter list, `max_items` a longer one
    (counting the good items), `unique` an item equal to an earlier one.
    """

    def __init__(self, item: Validator[T], *, min_items: int = 0, too_few: str = "",
                 max_items: int | None = None, unique: bool = False) -> None:
        self.item = item
        self.min_items = min_items
        self.too_few = too_few
        self.max_items = max_items
        self.unique = unique

    def __call__(self, value: object, at: At, /) -> tuple[T, ...]:
        return tuple(item for _, item in self.located(value, at))

    def located(self, value: object, at: At) -> list[tuple[At, T]]:
        """The good items, each with its place in the list."""
        if not isinstance(value, list):
            raise Invalid(f"must be a list (got {kind(value)})")
        if len(value) < self.min_items:
            raise Invalid(self.too_few or f"must have at least {self.min_items} entries")
        good: list[tuple[At, T]] = []
        for i, raw in enumerate(value):
            here = at / i
            try:
                item = self.item(raw, here)
            except Reported:
                continue
            except Invalid as exc:
                here.add(str(exc))
                continue
            if self.unique and any(item == seen for _, seen in good):
                here.add(f"is listed twice: {item}")
                continue
            good.append((here, item))
        if self.max_items is not None and len(good) > self.max_items:
            raise Invalid(f"must have at most {self.max_items} entries (got {len(good)})")
        return good


def mapping(value: object) -> dict[Any, Any]:
    """`value` if it is a mapping."""
    if not isinstance(value, dict):
        raise Invalid(f"must be a mapping (got {kind(value)})")
    return value


class Fields:
    """The keys of one mapping, read one by one, each with its own validator.

    An unknown key, a key that is no name, a missing required key and a bad
    value are each recorded at their path; reading goes on with defaults.
    """

    def __init__(self, value: object, at: At, known: Sequence[str]) -> None:
        self.at = at
        self.data = mapping(value)
        for key in self.data:
            if isinstance(key, ComplexKey):
                at.add(f"has a key that is {key.kind}, not a name ({key.where})")
            elif key not in known:
                (at / key).add(f"unknown key (known keys: {', '.join(known)})")

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, validator: Validator[T], default: U, *,
            null: bool = False) -> T | U:
        """The key's value, or `default` if it is absent (or null, with `null`) or bad."""
        value = self.data.get(key)
        if key not in self.data or (null and value is None):
            return default
        return (self.at / key).read(validator, value, default)

    def need(self, key: str, validator: Validator[T]) -> T | None:
        """The key's value; None (and a problem) if it is absent or bad."""
        if key not in self.data:
            (self.at / key).add("is required")
            return None
        return (self.at / key).read(validator, self.data[key], None)


# -- addresses ---------------------------------------------------------------------


def _network(text: str) -> IPNetwork:
    return ipaddress.ip_network(text, strict=True)


IP_ADDRESS: Validator[IPAddress] = Parse(
    Text("must be an IP address as a string"), ipaddress.ip_address,
    "is not an IP address: {value!r}")
PREFIX: Validator[IPNetwork] = Parse(
    Text("must be a prefix as a string"), _network, "is not a valid prefix: {value!r} ({exc})")


def host_route(hint: str) -> Validator[IPNetwork]:
    """A prefix of one address (/32, /128); `hint` says how to allow a shorter one."""
    return Refine(PREFIX, lambda net: net.prefixlen == net.max_prefixlen,
                  "must be a host route (/{value.max_prefixlen}), got /{value.prefixlen}; "
                  + hint)
