"""`python3 -m tests.bench`: the benchmark suite (issue 7). Run as root, from the repository root.

Runs the namespace lab (tests/lab) with each speaker in turn, same topology and
client stream, and writes a markdown table and a JSON file into --out
(default ./out/bench/): bench-<time>.md/.json and latest.md/.json; and the
timeline pictures into <out>/pictures/: <scenario>-<speaker>[-repN].png and,
with more than one speaker, <scenario>-speakers.png (side by side, first
repetition). --pictures docs copies the crash, hang and drain ones to docs/.

    sudo /usr/bin/python3 -m tests.bench                     # the default run, 10 repetitions (~29 min)
    sudo /usr/bin/python3 -m tests.bench --reps 3            # a shorter run
    sudo /usr/bin/python3 -m tests.bench --quick             # 1 repetition, short CPU window
    sudo /usr/bin/python3 -m tests.bench --speakers speaker --scenarios crash,hang
    sudo /usr/bin/python3 -m tests.bench --reps 1 --speakers speaker,frr,healthcheck \
        --scenarios crash,hang,drain --pictures docs          # the README's pictures

Not part of the test suite (`tests/run.sh` never starts it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench import procs, report, scale, scenarios
from tests.bench.profile import PySpy
from tests.bench.timeline import enable_router_debug
from tests.lab import pictures
from tests.lab.lab import EXABGP, missing_requirements
from tests.lab.speakers import KINDS, LABELS, SpeakerLab
from tests.lab.system import LabError

SCENARIOS = ("crash", "hang", "drain", "coldstart", "resources", "services", "nodes")
PER_REP = ("crash", "hang", "drain", "coldstart")
PICTURED = ("crash", "hang", "drain")
NOT_RUN = {"drain": "no drain here: the bench drains with `speakerctl withdraw`, "
                    "this project's command"}
DEFAULT_REPS = 10


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m tests.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=DEFAULT_REPS,
                   help=f"repetitions of each timed scenario (default {DEFAULT_REPS}: the "
                        "default run fits in ~25 min; the issue asks for >= 10)")
    p.add_argument("--speakers", default=",".join(KINDS),
                   help=f"comma-separated, from: {', '.join(KINDS)} (default: all)")
    p.add_argument("--scenarios", default=",".join(SCENARIOS),
                   help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all; "
                        "'cpu' and 'memory' are aliases of 'resources'; 'scale' = services,nodes)")
    p.add_argument("--cpu-seconds", type=float, default=60.0,
                   help="CPU measurement window per speaker and for the services scale (60)")
    p.add_argument("--rate", type=float, default=50.0, help="client queries per second (50)")
    p.add_argument("--window", type=float, default=5.0,
                   help="seconds after a fault whose failed queries count (5)")
    p.add_argument("--gone-timeout", type=float, default=12.0,
                   help="seconds to wait for a next hop to leave before calling it 'never' (12)")
    p.add_argument("--services", type=int, default=1000, help="services on the scale node (1000)")
    p.add_argument("--scale-nodes", type=int, default=32, help="nodes of the ECMP scale (32)")
    p.add_argument("--exabgp", choices=sorted(EXABGP), default="4.2")
    p.add_argument("--py-spy", type=Path, default=None,
                   help="py-spy executable: profile the speaker during the services scale "
                        "(default: `py-spy` on PATH if there is one)")
    p.add_argument("--out", type=Path, default=Path("out/bench"),
                   help="output folder (default ./out/bench/)")
    p.add_argument("--pictures", type=Path, default=None, metavar="DIR",
                   help="also copy the crash, hang and drain pictures (side by side, and "
                        "this project's) to DIR as bench-<scenario>[-speaker].png: "
                        "--pictures docs regenerates the README's")
    p.add_argument("--quick", action="store_true",
                   help="1 repetition, 10 s CPU windows (a smoke run, not a result)")
    args = p.parse_args(argv)
    if args.quick:
        args.reps, args.cpu_seconds = 1, 10.0
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    bad = [s for s in speakers if s not in KINDS]
    if bad:
        p.error(f"unknown speaker(s) {', '.join(bad)}; choose from {', '.join(KINDS)}")
    chosen: list[str] = []
    for name in (s.strip() for s in args.scenarios.split(",") if s.strip()):
        names = {"cpu": ["resources"], "memory": ["resources"],
                 "scale": ["services", "nodes"]}.get(name, [name])
        for n in names:
            if n not in SCENARIOS:
                p.error(f"unknown scenario {name}; choose from {', '.join(SCENARIOS)}")
            if n not in chosen:
                chosen.append(n)
    if args.reps < 1 or args.cpu_seconds <= 0:
        p.error("--reps must be >= 1 and --cpu-seconds > 0")
    args.speaker_list, args.scenario_list = speakers, chosen
    return args


def run_speaker(kind: str, args: argparse.Namespace, settings: scenarios.Settings,
                errors: list[str], drawn: dict[str, dict[str, pictures.Timeline]]
                ) -> dict[str, Any]:
    """Every per-speaker scenario for one speaker kind, on a lab of its own; the first
    picture of each scenario goes into drawn[scenario][kind]."""
    raw: dict[str, Any] = {k: [] for k in PER_REP}
    lab = SpeakerLab(kind, nodes=3, exabgp_version=args.exabgp,
                     speaker_extra=scenarios.SPEAKER_DEFAULTS)
    log(f"{LABELS[kind]}: lab {lab.lab_id} up")
    try:
        lab.up(wait=False)
        assert lab.started_at is not None
        lab.wait_ecmp(timeout=60)
        raw["first_start"] = round(time.monotonic() - lab.started_at, 3)
        enable_router_debug(lab)
        if "resources" in args.scenario_list:
            log(f"  resources: {args.cpu_seconds:g} s at rest")
            raw["resources"] = scenarios.resources(lab, args.cpu_seconds)
        steps = [s for s in PER_REP if s in args.scenario_list
                 and (s != "drain" or kind == "speaker")]
        for rep in range(args.reps):
            for step in steps:
                try:
                    if step == "crash":
                        got = scenarios.crash(lab, settings)
                    elif step == "hang":
                        got = scenarios.hang(lab, settings)
                    elif step == "drain":
                        got = scenarios.drain(lab, settings)
                    else:
                        got = scenarios.cold_start(lab, settings)
                except LabError as exc:
                    errors.append(f"{kind} {step} rep {rep + 1}: {exc}")
                    log(f"  {step} rep {rep + 1}: ERROR {exc}")
                    lab.reset(timeout=60)
                    continue
                picture = got.pop("timeline", None)
                if picture is not None:
                    _draw(picture, args.out, f"{step}-{kind}", rep)
                    drawn.setdefault(step, {}).setdefault(kind, picture)
                raw[step].append(got)
                log(f"  {step} rep {rep + 1}/{args.reps}: " + _brief(step, got))
    except LabError as exc:
        errors.append(f"{kind}: {exc}")
        log(f"  ERROR {exc}")
        if lab.root.exists():
            log(f"  logs kept in {lab.archive_logs(Path(f'/tmp/spklab-{lab.lab_id}-logs'))}")
    finally:
        left = lab.down()
        if left:
            errors.append(f"{kind}: teardown left {left}")
    return raw


def _draw(picture: pictures.Timeline, out: Path, name: str, rep: int) -> None:
    """The repetition's timeline PNG: <scenario>-<speaker>-rep<N>.png, and the first
    repetition's also as <scenario>-<speaker>.png (the README's pictures)."""
    try:
        path = pictures.render(picture, out / "pictures" / f"{name}-rep{rep + 1}.png")
        pictures.save(picture, path.with_suffix(".json"))
        if rep == 0:
            shutil.copyfile(path, out / "pictures" / f"{name}.png")
    except ImportError as exc:
        log(f"  no picture: {exc} (apt-get install python3-matplotlib)")


def side_by_side(drawn: dict[str, dict[str, pictures.Timeline]], speakers: list[str],
                 out: Path, run: str) -> list[Path]:
    """<scenario>-speakers.png for each pictured scenario: every speaker of the run in
    the order given, a note for one that did not run it. None with a single speaker."""
    if len(speakers) < 2:
        return []
    written = []
    for step in PICTURED:
        got = drawn.get(step, {})
        if not got:
            continue
        panels: list[tuple[str, pictures.Timeline | str]] = [
            (LABELS[k], got.get(k) or NOT_RUN.get(step, "no picture: the scenario failed"))
            for k in speakers]
        try:
            written.append(pictures.render_side_by_side(
                panels, out / "pictures" / f"{step}-speakers.png", run))
        except ImportError as exc:
            log(f"  no picture: {exc} (apt-get install python3-matplotlib)")
            break
    return written


def copy_pictures(out: Path, into: Path) -> list[Path]:
    """The README's pictures: each pictured scenario side by side and this project's
    own, copied from out/pictures/ to `into` as bench-<scenario>[-speaker].png."""
    into.mkdir(parents=True, exist_ok=True)
    copied = []
    for step in PICTURED:
        for source, name in ((f"{step}-speakers.png", f"bench-{step}.png"),
                             (f"{step}-speaker.png", f"bench-{step}-speaker.png")):
            if (out / "pictures" / source).exists():
                copied.append(Path(shutil.copyfile(out / "pictures" / source, into / name)))
    return copied


def _brief(step: str, got: dict[str, Any]) -> str:
    def t(v: float | None) -> str:
        return "never" if v is None else f"{v:.3f} s"
    if step == "coldstart":
        return f"all next hops {t(got['all_next_hops'])} (load {got['load1']:.2f})"
    q = got["queries"]
    extra = f", back {t(got.get('recovery'))}" if step == "crash" else ""
    return (f"gone {t(got['gone'])}, failed {q['failed']}/{q['sent']}{extra} "
            f"(load {got['load1']:.2f})")


def summarize_speaker(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"raw": raw}
    loads = []
    for step in ("crash", "hang", "drain"):
        reps = raw.get(step, [])
        if not reps:
            continue
        out[f"{step}_gone"] = report.stats([r["gone"] for r in reps])
        out[f"{step}_failed"] = report.stats([r["queries"]["failed"] for r in reps])
        out[f"{step}_failed_share"] = report.stats([r["queries"]["failed_share"] for r in reps])
        loads += [r["load1"] for r in reps]
    if raw.get("drain"):
        out["drain_failed_total"] = sum(r["queries"]["failed"] for r in raw["drain"])
        out["drain_sent_total"] = sum(r["queries"]["sent"] for r in raw["drain"])
    crash = raw.get("crash", [])
    if crash and any(r["gone"] is not None for r in crash):
        out["recovery"] = report.stats([r.get("recovery") for r in crash
                                        if r["gone"] is not None])
    if raw.get("coldstart"):
        out["cold_start"] = report.stats([r["all_next_hops"] for r in raw["coldstart"]])
        loads += [r["load1"] for r in raw["coldstart"]]
    res = raw.get("resources")
    if res:
        nodes = res["nodes"].values()
        out["cpu_share"] = report.stats([n["cpu_share"] for n in nodes])
        out["rss_mb"] = report.stats([n["rss_mb"] for n in nodes])
        out["pss_mb"] = report.stats([n["pss_mb"] for n in nodes])
        # the target is "ExaBGP + process": everything but the watchdog process
        out["rss_core_mb"] = report.stats([
            n["rss_mb"] - n["memory_by_role"].get("watchdog", {}).get("rss_mb", 0.0)
            for n in nodes])
        roles: list[str] = []
        for n in nodes:
            roles += [r for r in n["processes"] if r not in roles]
        out["processes"] = " + ".join(roles)
        loads.append(res["load1"])
    if loads:
        out["load1"] = {"min": min(loads), "max": max(loads)}
    return out


def breakdown(raw: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out = {}
    for step, title in (("crash", "crash (named SIGKILL)"), ("hang", "hang (named SIGSTOP)"),
                        ("drain", "drain (speakerctl withdraw)")):
        reps = [r.get("breakdown") or {} for r in raw.get(step, [])]
        if not reps:
            continue
        hops: dict[str, float | None] = {}
        for key in ("verdict", "ack", "update_at_router", "fib"):
            got = [r[key] for r in reps if r.get(key) is not None]
            hops[key] = round(statistics.median(got), 3) if got else None
        out[title] = hops
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    problems = missing_requirements(args.exabgp)
    if problems:
        print("the benchmark cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    t_start = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    command = "python3 -m tests.bench" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    settings = scenarios.Settings(rate=args.rate, window=args.window,
                                  gone_timeout=args.gone_timeout)
    summary: dict[str, Any] = {
        "meta": {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
                 "host": platform.node(), "cpus": os.cpu_count(), "command": command,
                 "reps": args.reps, "rate": args.rate, "window": args.window, "nodes": 3,
                 "cpu_seconds": args.cpu_seconds, "exabgp": args.exabgp,
                 "speakers": args.speaker_list, "scenarios": args.scenario_list,
                 "load_start": procs.loadavg()},
        "speakers": {}, "scale": {}, "errors": [],
    }
    errors: list[str] = summary["errors"]
    per_speaker = [s for s in args.scenario_list if s in (*PER_REP, "resources")]
    drawn: dict[str, dict[str, pictures.Timeline]] = {}
    try:
        if per_speaker:
            for kind in args.speaker_list:
                raw = run_speaker(kind, args, settings, errors, drawn)
                summary["speakers"][kind] = summarize_speaker(raw)
                if kind == "speaker":
                    summary["breakdown"] = breakdown(raw)
        spy_exe = args.py_spy or (Path(w) if (w := shutil.which("py-spy")) else None)
        if "services" in args.scenario_list:
            log(f"scale: 1 node, {args.services} services")
            spy = PySpy(spy_exe, args.out) if spy_exe else None
            try:
                summary["scale"]["services"] = scale.many_services(
                    args.services, args.cpu_seconds, args.exabgp, profile=spy, log=log)
            except LabError as exc:
                errors.append(f"scale services: {exc}")
                summary["scale"]["services"] = {"services": args.services, "error": str(exc)}
            if spy is not None:
                summary["profile"] = spy.results
        if "nodes" in args.scenario_list:
            log(f"scale: {args.scale_nodes} nodes")
            try:
                summary["scale"]["nodes"] = scale.many_nodes(args.scale_nodes, args.exabgp,
                                                             log=log)
            except LabError as exc:
                errors.append(f"scale nodes: {exc}")
                summary["scale"]["nodes"] = {"nodes": args.scale_nodes, "error": str(exc)}
    except KeyboardInterrupt:
        errors.append("interrupted")
    run = (f"bench {summary['meta']['started']}, ExaBGP {args.exabgp}, repetition 1 of "
           f"{args.reps}, {os.cpu_count()} CPUs (shared)")
    for path in side_by_side(drawn, args.speaker_list, args.out, run):
        log(f"wrote {path}")
    if args.pictures is not None:
        for path in copy_pictures(args.out, args.pictures):
            log(f"copied {path}")
    summary["meta"]["load_end"] = procs.loadavg()
    summary["meta"]["elapsed"] = round(time.monotonic() - t_start, 1)
    summary["targets"] = report.check_targets(summary)
    text = report.markdown(summary)
    for name in (f"bench-{stamp}", "latest"):
        (args.out / f"{name}.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
        (args.out / f"{name}.md").write_text(text + "\n")
    print(text)
    log(f"wrote {args.out / f'bench-{stamp}.md'} and .json "
        f"({summary['meta']['elapsed'] / 60:.1f} min)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
