"""Failover timeline pictures (PNG) of the demo's and the bench's fault scenarios.

Owns `FibTrace` (the router's next hops of the anycast route, sampled every
10 ms in a thread while a scenario runs), `Timeline` (what one picture shows:
the FIB samples, the client's queries, the marks of each hop) and `render`,
which draws it with matplotlib (Debian's python3-matplotlib: a demo and bench
dependency, never the speaker's):

- x: seconds from the fault;
- one lane per node: when its next hop is in the router's FIB;
- under it, answered queries per 50 ms bucket, stacked and coloured by the
  node that answered; failed queries in red;
- vertical lines at the speaker's verdict, ExaBGP's ack, the UPDATE at the
  router and the FIB change, where the run has them;
- a title naming the scenario, the speaker and the run.

`render_side_by_side` puts several speakers' pictures of the same fault in one
PNG (the bench's crash-, hang- and drain-speakers.png): one row per speaker,
every row on the same time axis and the same query scale.

All times are `time.monotonic()` seconds (the client stream's clock too).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUCKET = 0.05  # s per bar of the query histogram
SAMPLE = 0.01  # s between two FIB samples
FAILED = "#d62728"
NODE_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#e377c2")
MARK_STYLES = {  # label: (colour, line style)
    "fault": ("black", "-"),
    "speaker verdict": ("#9467bd", "--"),
    "ExaBGP ack": ("#8c564b", "--"),
    "UPDATE at router": ("#e377c2", "-."),
    "FIB change": ("black", ":"),
}


class FibTrace:
    """The router's next hops, sampled every `SAMPLE` s from start() to stop(), for at most
    `longest` seconds (a scenario that failed before stop() leaves no thread behind)."""

    def __init__(self, nexthops: Callable[[], frozenset[str]], longest: float = 60.0) -> None:
        self.nexthops = nexthops
        self.longest = longest
        self.samples: list[tuple[float, frozenset[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fib-trace")

    def _run(self) -> None:
        end = time.monotonic() + self.longest
        while not self._stop.is_set() and time.monotonic() < end:
            t = time.monotonic()
            try:
                hops = self.nexthops()
            except Exception:  # a failed dump: no sample, the lane shows the last one
                hops = None
            if hops is not None:
                self.samples.append((t, hops))
            self._stop.wait(SAMPLE)

    def start(self) -> FibTrace:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, frozenset[str]]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples


@dataclass
class Timeline:
    """One picture: a fault at `t0` (monotonic), what the router and the client saw."""

    scenario: str  # "crash: named killed (SIGKILL) on dns1"
    speaker: str  # "anycast-speaker (this project)"
    run: str  # "demo 2026-12-01 11:50, lab 1a2b"
    t0: float
    nodes: Sequence[tuple[str, frozenset[str]]]  # (name, the next-hop addresses that are it)
    fib: Sequence[tuple[float, frozenset[str]]]
    records: Sequence[Mapping[str, Any]]  # the client stream's query records
    marks: dict[str, float | None] = field(default_factory=dict)  # label: s from the fault
    span: tuple[float, float] = (-1.0, 5.0)  # x range, s from the fault
    fault: str = "fault"  # what happened at 0: the label of its line

    def lanes(self) -> dict[str, list[tuple[float, float]]]:
        """Per node, the (start, length) intervals (s from the fault) it was in the FIB."""
        out: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in self.nodes}
        end = self.t0 + self.span[1]
        for k, (t, hops) in enumerate(self.fib):
            until = self.fib[k + 1][0] if k + 1 < len(self.fib) else max(t, end)
            for name, addresses in self.nodes:
                if hops & addresses:
                    out[name].append((t - self.t0, until - t))
        return {name: _merge(spans) for name, spans in out.items()}

    def buckets(self) -> tuple[list[float], dict[str, list[int]], list[int]]:
        """Bucket starts (s from the fault), answered counts by node, failed counts."""
        low, high = self.span
        n = round((high - low) / BUCKET)
        starts = [low + i * BUCKET for i in range(n)]
        answered = {name: [0] * n for name, _ in self.nodes}
        failed = [0] * n
        for r in self.records:
            if "t" not in r or "ok" not in r:
                continue
            i = math.floor((r["t"] - self.t0 - low) / BUCKET + 1e-9)  # no float edge drift
            if not 0 <= i < n:
                continue
            if not r["ok"]:
                failed[i] += 1
            else:
                answered.setdefault(r.get("node") or "?", [0] * n)[i] += 1
        return starts, answered, failed

    def first_fib_change(self) -> float | None:
        """Seconds from the fault to the first FIB sample that differs from the one before."""
        before = None
        for t, hops in self.fib:
            if t >= self.t0 and before is not None and hops != before:
                return t - self.t0
            before = hops
        return None


def save(tl: Timeline, path: Path) -> Path:
    """The data of a picture as JSON (to look into it, or draw it again with `load`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**{k: getattr(tl, k) for k in ("scenario", "speaker", "run", "t0", "marks",
                                            "fault")},
            "span": list(tl.span), "nodes": [[n, sorted(a)] for n, a in tl.nodes],
            "fib": [[t, sorted(h)] for t, h in tl.fib], "records": list(tl.records)}
    path.write_text(json.dumps(data) + "\n")
    return path


def load(path: Path) -> Timeline:
    data = json.loads(path.read_text())
    return Timeline(scenario=data["scenario"], speaker=data["speaker"], run=data["run"],
                    t0=data["t0"], nodes=[(n, frozenset(a)) for n, a in data["nodes"]],
                    fib=[(t, frozenset(h)) for t, h in data["fib"]], records=data["records"],
                    marks=data["marks"], span=(data["span"][0], data["span"][1]),
                    fault=data.get("fault", "fault"))


def stream_span(records: Sequence[Mapping[str, Any]], t0: float) -> tuple[float, float]:
    """The x range that shows a whole query stream: its first to its last query, in
    seconds from the fault at `t0`, on half-second bounds."""
    sent = [r["t"] - t0 for r in records if "ok" in r]
    if not sent:
        return (-1.0, 5.0)
    return (math.floor(min(sent) * 2) / 2, math.ceil(max(sent) * 2) / 2)


def _merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, length in spans:
        if merged and abs(merged[-1][0] + merged[-1][1] - start) < 1e-6:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((start, length))
    return merged


def zoom_span(tl: Timeline) -> tuple[float, float]:
    """The x range of the close-up: the fault and every mark, with a margin, >= 0.3 s."""
    shown = [0.0, *(v for v in tl.marks.values() if v is not None and v <= tl.span[1])]
    low, high = min(shown) - 0.05, max(shown) + 0.1
    return low, max(high, low + 0.3)


def render(tl: Timeline, path: Path) -> Path:
    """Draw `tl` as a PNG at `path` (folders created); returns the path.

    Left, the whole stream; right, a close-up of the fault and the marks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name, _ in tl.nodes]
    colours = {name: NODE_COLOURS[i % len(NODE_COLOURS)] for i, name in enumerate(names)}
    fig, axes = plt.subplots(
        2, 2, sharex="col", sharey="row", figsize=(13, 3.4 + 0.45 * len(names) + 2.6),
        gridspec_kw={"height_ratios": [0.45 * len(names) + 0.3, 2.6],
                     "width_ratios": [3, 1.2]})
    for col, span in enumerate((tl.span, zoom_span(tl))):
        _draw(tl, axes[0][col], axes[1][col], span, colours, legend=col == 0)
    axes[0][0].set_yticks(range(len(names)), list(reversed([f"{n} in FIB" for n in names])))
    axes[0][0].set_ylim(-0.6, len(names) - 0.4)
    axes[0][1].set_title("close-up", fontsize=10)
    axes[1][0].set_ylabel(f"queries per {BUCKET * 1000:.0f} ms")
    fig.suptitle(f"{tl.scenario}\n{tl.speaker} · {tl.run}", fontsize=11)
    fig.legend(loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render_side_by_side(panels: Sequence[tuple[str, Timeline | str]], path: Path,
                        run: str) -> Path:
    """Several speakers' pictures of the same fault in one PNG at `path`; returns the path.

    One row per panel, in order: the speaker's FIB lanes over its query bars, left the
    whole stream, right a close-up, on one time axis (every stream, every close-up) and
    one query scale; a third column holds the row's legend (its marks with their offsets).
    A panel given as text instead of a Timeline (a speaker that did not run this fault)
    is a row that says so. The title is the first picture's scenario and `run`."""
    shown = [tl for _, tl in panels if isinstance(tl, Timeline)]
    if not shown:
        raise ValueError("side by side: no picture to draw, only notes")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names: list[str] = []
    for one in shown:
        names += [n for n, _ in one.nodes if n not in names]
    colours = {name: NODE_COLOURS[i % len(NODE_COLOURS)] for i, name in enumerate(names)}
    whole = (min(tl.span[0] for tl in shown), max(tl.span[1] for tl in shown))
    zooms = [zoom_span(tl) for tl in shown]
    close = (min(z[0] for z in zooms), max(z[1] for z in zooms))
    top = max(_peak(tl) for tl in shown)
    heights: list[float] = []
    for _, panel in panels:
        heights += ([0.45 * len(panel.nodes) + 0.5, 2.2] if isinstance(panel, Timeline)
                    else [0.5])
    tall = sum(heights) + 1.6
    fig = plt.figure(figsize=(15, tall))
    grid = fig.add_gridspec(len(heights), 3, height_ratios=heights, width_ratios=[3, 1.2, 1.1])
    first: list[Any] = [None, None]  # the axes every row shares its x with, per column
    row = 0
    last_bars: list[Any] = []
    for label, panel in panels:
        if not isinstance(panel, Timeline):
            note = fig.add_subplot(grid[row, :])
            note.axis("off")
            note.text(0.0, 0.5, f"{label}: {panel}", fontsize=10, va="center")
            row += 1
            continue
        tl = panel
        legend_ax = fig.add_subplot(grid[row:row + 2, 2])
        legend_ax.axis("off")
        for col, span in enumerate((whole, close)):
            lanes = fig.add_subplot(grid[row, col], sharex=first[col])
            bars = fig.add_subplot(grid[row + 1, col], sharex=lanes)
            first[col] = first[col] or lanes
            _draw(tl, lanes, bars, span, colours, legend=col == 0)
            lanes.set_ylim(-0.6, len(tl.nodes) - 0.4)
            lanes.tick_params(labelbottom=False)
            bars.set_ylim(0, max(top, 1) * 1.1)
            bars.set_xlabel("")
            if col == 0:
                lanes.set_yticks(range(len(tl.nodes)),
                                 list(reversed([f"{n} in FIB" for n, _ in tl.nodes])))
                lanes.set_title(f"{label} · {tl.run}", loc="left", fontsize=9)
                bars.set_ylabel(f"per {BUCKET * 1000:.0f} ms")
                handles, labels = bars.get_legend_handles_labels()
                legend_ax.legend(handles, labels, loc="center left", fontsize=7,
                                 frameon=False)
            else:
                lanes.set_yticks([])
                bars.tick_params(labelleft=False)
                if row == 0:
                    lanes.set_title("close-up", fontsize=10)
            last_bars.append(bars)
        row += 2
    for bars in last_bars[-2:]:
        bars.set_xlabel(f"seconds from the fault: {shown[0].fault}")
    fig.suptitle(f"{shown[0].scenario}\n{run}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.6 / tall), w_pad=2.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _peak(tl: Timeline) -> int:
    """The highest stacked bar of `tl`: answered and failed queries in one bucket."""
    _, answered, failed = tl.buckets()
    return max((sum(c) for c in zip(*answered.values(), failed, strict=True)), default=0)


def _draw(tl: Timeline, lanes: Any, bars: Any, span: tuple[float, float],
          colours: dict[str, str], legend: bool) -> None:
    """One column: the FIB lanes over the stacked query bars, with the marks, in `span`."""
    from matplotlib.ticker import MaxNLocator

    names = [name for name, _ in tl.nodes]
    for row, (name, spans) in enumerate(tl.lanes().items()):
        y = len(names) - 1 - row
        lanes.broken_barh([(max(s, tl.span[0]), w) for s, w in spans], (y - 0.35, 0.7),
                          facecolors=colours[name])
    lanes.grid(axis="x", alpha=0.3)
    starts, answered, failed = tl.buckets()
    bottom = [0] * len(starts)
    for name, counts in answered.items():
        bars.bar(starts, counts, width=BUCKET, bottom=bottom, align="edge",
                 color=colours.get(name, "#7f7f7f"),
                 label=f"answered by {name}" if legend else None)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if any(failed):
        bars.bar(starts, failed, width=BUCKET, bottom=bottom, align="edge", color=FAILED,
                 label=f"failed ({sum(failed)})" if legend else None)
    bars.yaxis.set_major_locator(MaxNLocator(integer=True))
    bars.set_xlabel(f"seconds from the fault: {tl.fault}")
    bars.set_xlim(*span)
    bars.grid(axis="y", alpha=0.3)
    for label, offset in {"fault": 0.0, **tl.marks}.items():
        if offset is None or not tl.span[0] <= offset <= tl.span[1]:
            continue
        colour, style = MARK_STYLES.get(label, ("#7f7f7f", "--"))
        for ax in (lanes, bars):
            ax.axvline(offset, color=colour, linestyle=style, linewidth=1.2)
        if legend:
            shown = tl.fault if label == "fault" else label
            bars.plot([], [], color=colour, linestyle=style, label=f"{shown} {offset:+.3f} s")


def node_addresses(lab: Any) -> list[tuple[str, frozenset[str]]]:
    """Each node of `lab` with the next-hop addresses that stand for it in the router's FIB
    (its unicast address and, where the lab knows them, its link-local ones)."""
    names: dict[str, str] = lab.gateway_names() if hasattr(lab, "gateway_names") else {}
    return [(n.name, frozenset({str(n.address), *(a for a, o in names.items() if o == n.name)}))
            for n in lab.nodes]


def hop_marks(lab: Any, node: Any, w0: float, verdict: str) -> dict[str, float | None]:
    """This project's speaker's verdict and ExaBGP's ack (the node's speaker log), and the
    UPDATE at the router (its bgpd log, with `enable_router_debug`), as seconds from the
    fault at wall time `w0`."""
    from tests.bench import timeline

    events = timeline.speaker_events(node.dir / "exabgp.log", w0)
    said = timeline.first(events, verdict)
    ack = timeline.first(events, "withdrawn", after=said or w0)
    updates = timeline.router_updates(lab, w0, str(node.address), f"{lab.anycast}/128")

    def off(t: float | None) -> float | None:
        return None if t is None else t - w0

    return {"speaker verdict": off(said), "ExaBGP ack": off(ack),
            "UPDATE at router": off(updates[0] if updates else None)}
