"""The failover timeline pictures: lanes from FIB samples, query buckets, the PNG itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.pictures import BUCKET, Timeline, render, render_side_by_side

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


def test_side_by_side_draws_a_row_per_speaker_on_one_time_axis(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import image

    other = timeline(speaker="FRR static", fib=[(T0 - 1.0, BOTH)], marks={}, span=(-2.0, 5.0))
    path = render_side_by_side([("this project", timeline()), ("FRR static", other),
                                ("ExaBGP healthcheck", "no drain in the bench")],
                               tmp_path / "deep" / "crash-speakers.png", "unit test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = image.imread(path).shape[:2]
    alone = image.imread(render(timeline(), tmp_path / "alone.png")).shape[0]
    assert width > 0 and height > alone  # two rows of lanes and bars, and the note


def test_side_by_side_shares_the_x_range_of_every_stream_and_every_close_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    figures: list[object] = []
    real_close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig: figures.append(fig))
    other = timeline(fib=[(T0 - 1.0, BOTH)], marks={"FIB change": 1.5}, span=(-2.0, 5.0))
    render_side_by_side([("this project", timeline()), ("FRR static", other)],
                        tmp_path / "crash.png", "unit test")
    fig = figures[0]
    real_close(fig)
    ranges = {tuple(round(x, 3) for x in ax.get_xlim()) for ax in fig.axes  # type: ignore[attr-defined]
              if ax.axison}
    assert ranges == {(-2.0, 5.0), (-0.05, 1.6)}  # the streams' union; the close-ups' union


def test_side_by_side_needs_at_least_one_picture(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no picture"):
        render_side_by_side([("FRR static", "no drain")], tmp_path / "x.png", "unit test")


def test_the_bench_draws_side_by_side_only_with_several_speakers(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tests.bench.__main__ import side_by_side

    drawn = {"crash": {"speaker": timeline(), "frr": timeline(speaker="FRR")},
             "drain": {"speaker": timeline()}}
    assert side_by_side(drawn, ["speaker"], tmp_path, "unit test") == []
    written = side_by_side(drawn, ["speaker", "frr"], tmp_path, "unit test")
    assert [p.name for p in written] == ["crash-speakers.png", "drain-speakers.png"]
    assert not (tmp_path / "pictures" / "hang-speakers.png").exists()


def test_the_bench_copies_the_readme_pictures(tmp_path: Path) -> None:
    from tests.bench.__main__ import copy_pictures

    shown = tmp_path / "out" / "pictures"
    shown.mkdir(parents=True)
    for name in ("crash-speakers.png", "crash-speaker.png", "crash-frr.png", "hang-speaker.png"):
        (shown / name).write_bytes(name.encode())
    copied = copy_pictures(tmp_path / "out", tmp_path / "docs")
    assert sorted(p.name for p in copied) == ["bench-crash-speaker.png", "bench-crash.png",
                                              "bench-hang-speaker.png"]
    assert (tmp_path / "docs" / "bench-crash.png").read_bytes() == b"crash-speakers.png"
