"""Hypothesis strategies for config documents that PyYAML's safe_dump cannot write.

A valid speaker.yaml with a few edits, written as flow-style YAML by `render`:
values may be NaN or infinite, and a mapping may have complex keys
(``? [a, b] : 1``), which a Python dict cannot hold and safe_dump cannot emit.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """A scalar written as it is: one that only YAML's own rules can make or break."""

    text: str


@dataclass(frozen=True, eq=False)
class Complex:
    """A key that is a list or a mapping, kept in a dict beside the plain keys."""

    value: Any


def render(value: Any) -> str:
    """`value` as flow-style YAML that PyYAML reads back as the same data."""
    if isinstance(value, dict):
        pairs = (f"? {render(k.value)} : {render(v)}" if isinstance(k, Complex)
                 else f"{render(k)}: {render(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)  # YAML 1.1 wants a dot before an exponent: 1.0e+20
        return text.replace("e", ".0e") if "e" in text and "." not in text else text
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)  # a JSON string is a YAML double-quoted string


VALID: dict[str, Any] = {
    "control": {"socket": "/run/speaker/speaker.sock", "mode": "0660", "group": "speaker"},
    "state_dir": "/var/lib/speaker", "drain_delay": 2.0, "watchdog_timeout": 2.0,
    "metrics": {"listen": "::1", "port": 9474},
    "dns_statistics": {"url": "http://127.0.0.1:8053/json/v1/server", "interval": 2.0},
    "local_as_range": [65200, 65299],
    "services": [{
        "name": "dns", "prefixes": ["2001:db8::100/128"], "allow_shorter_prefixes": False,
        "address": {"interface": "lo", "manage": True, "check": True},
        "timing": {"interval": 0.5, "fast_interval": 0.1, "timeout": 0.25, "rise": 3, "fall": 2,
                   "fail_at_once": ["refused"]},
        "flap": {"enabled": True, "window": 60.0, "max_transitions": 6, "penalty": 10.0,
                 "max_penalty": 300.0},
        "route": {"med": 10, "communities": ["65535:0"], "as_path": [65200]},
        "checks": [{"type": "dns", "server": "2001:db8::100", "qname": "example.com.",
                    "qtype": "SOA", "port": 53, "transport": "udp", "timeout": 0.2,
                    "expect": {"rcode": "NOERROR", "aa": True, "answers": ["2001:db8::1"]}}],
    }],
}


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) \
        if isinstance(value, list) else ()
    for key, child in items:
        yield from _paths(child, (*path, key))


PATHS = list(_paths(VALID))

leaves = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
          | st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1, "dns", "::1", "0660", "/\ud800"])
          | st.sampled_from(["2020-13-01", "!!int x", "!!bool x", "!!float ''", "1" + "0" * 5000,
                             "!!set [a]", "!!binary '@'", "0o9", "1:70", "~", "&a [*a]"]).map(Raw))
values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "type", "interval"]) | children.map(Complex), children,
        max_size=3),
    max_leaves=8,
)
# one edit: (where, what); what is a new value, None to delete the key, or a key to add
edits = st.tuples(st.sampled_from(PATHS), st.one_of(
    values.map(lambda v: ("set", v)), st.just(("delete", None)),
    st.tuples(values.map(Complex), values).map(lambda kv: ("add", kv))))


def _edit(document: Any, path: tuple[Any, ...], change: tuple[str, Any]) -> None:
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    target = parent[path[-1]] if path else document
    what, value = change
    if what == "add" and isinstance(target, dict):
        target[value[0]] = value[1]
    elif what == "delete" and path and isinstance(parent, dict):
        del parent[path[-1]]
    elif what == "set" and path:
        parent[path[-1]] = value


@st.composite
def documents(draw: st.DrawFn) -> str:
    """A valid config with one to three edits, as YAML text."""
    document = copy.deepcopy(VALID)
    for path, change in draw(st.lists(edits, min_size=1, max_size=3)):
        with contextlib.suppress(KeyError, IndexError, TypeError):  # path gone by an edit
            _edit(document, path, change)
    return render(document)
