"""The failover timeline pictures: lanes from FIB samples, query buckets, the PNG itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.pictures import BUCKET, Timeline, render

T0 = 1000.0
NODES = [("dns1", frozenset({"fd00::1", "fe80::1"})), ("dns2", frozenset({"fd00::2"}))]
BOTH = frozenset({"fd00::1", "fd00::2"})
ONE = frozenset({"fd00::2"})


def timeline(**changes: object) -> Timeline:
    fib = [(T0 - 1.0, BOTH), (T0 + 0.4, ONE), (T0 + 2.0, frozenset({"fe80::1", "fd00::2"}))]
    records = [
        {"t": T0 - 0.5, "ok": True, "node": "dns1"},
        {"t": T0 - 0.49, "ok": True, "node": "dns2"},
        {"t": T0 + 0.01, "ok": False, "error": "timeout"},
        {"t": T0 + 0.02, "ok": False, "error": "timeout"},
        {"t": T0 + 1.0, "ok": True, "node": "dns2"},
        {"t": T0 + 9.0, "ok": True, "node": "dns2"},  # outside the span
        {"event": "start", "t": T0 - 1.0, "count": 5},  # the stream's header line
    ]
    fields: dict[str, object] = dict(scenario="crash: named killed on dns1", speaker="this project",
                                     run="unit test", t0=T0, nodes=NODES, fib=fib,
                                     records=records, marks={"FIB change": 0.4}, span=(-1.0, 3.0))
    fields.update(changes)
    return Timeline(**fields)  # type: ignore[arg-type]


def test_a_lane_shows_when_any_address_of_the_node_is_a_next_hop() -> None:
    lanes = timeline().lanes()
    assert [(round(s, 3), round(w, 3)) for s, w in lanes["dns1"]] == [(-1.0, 1.4), (2.0, 1.0)]
    assert [(round(s, 3), round(w, 3)) for s, w in lanes["dns2"]] == [(-1.0, 4.0)]


def test_queries_are_counted_per_bucket_by_the_node_that_answered_and_failed_apart() -> None:
    starts, answered, failed = timeline().buckets()
    assert len(starts) == round(4.0 / BUCKET)
    at = {round(s, 3): i for i, s in enumerate(starts)}
    assert answered["dns1"][at[-0.5]] == 1
    assert answered["dns2"][at[-0.5]] == 1
    assert failed[at[0.0]] == 2
    assert answered["dns2"][at[1.0]] == 1
    assert sum(failed) == 2 and sum(map(sum, answered.values())) == 3


def test_the_first_fib_change_after_the_fault_is_found() -> None:
    assert timeline().first_fib_change() == pytest.approx(0.4)


def test_render_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    path = render(timeline(), tmp_path / "deep" / "crash.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
