"""Fuzzing the three parsers that take outside input: nothing escapes but their own errors.

Fixed seed and example counts (>= 10,000 each), bounded by a deadline per example.
"""

import dataclasses
import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from speaker.core import config, exabgp_api, protocol
from speaker.core.errors import ConfigError
from speaker.core.protocol import ProtocolError
from tests import yaml_documents

pytestmark = pytest.mark.fuzz

FUZZ = settings(max_examples=10_000, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

keys = st.sampled_from(["type", "neighbor", "state", "address", "peer", "local", "asn",
                        "notification", "reason", "services", "name", "prefixes", "checks",
                        "timing", "rise", "fall", "server", "qname", "v", "cmd", "args"])
structured = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12)
    | st.sampled_from(["up", "down", "state", "dns", "shutdown", "2001:db8::1/128", "::1"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=5),
    max_leaves=15,
)


@seed(20261126)
@FUZZ
@given(st.binary(max_size=300) | structured.map(lambda v: __import__("json").dumps(v).encode()))
def test_stdin_parser_never_raises(raw: bytes) -> None:
    message = exabgp_api.parse(raw)
    assert message is not None


def _numbers(value: object) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _numbers(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _numbers(getattr(value, f.name))


@seed(20261126)
@FUZZ
@given(st.text(max_size=300) | structured.map(lambda v: __import__("yaml").safe_dump(v))
       | yaml_documents.documents())
def test_config_loader_only_raises_config_error(text: str) -> None:
    """Random text, random structures, and a valid config edited with complex keys and NaNs."""
    try:
        cfg = config.parse(text, "fuzz.yaml")
    except ConfigError as exc:
        assert exc.problems and all(p.startswith("fuzz.yaml: ") for p in exc.problems)
    else:
        assert all(math.isfinite(n) for n in _numbers(cfg))


@seed(20261126)
@FUZZ
@given(st.binary(max_size=300) | structured.map(lambda v: __import__("json").dumps(v).encode()))
def test_control_protocol_only_raises_protocol_error(raw: bytes) -> None:
    try:
        request = protocol.decode_request(raw)
        protocol.services_arg(request.args)
    except ProtocolError as exc:
        assert exc.code and exc.message
