"""Statistics, targets and the markdown table of a benchmark run (pure functions)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

from tests.lab.speakers import KINDS, LABELS


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def stats(values: Sequence[float | None]) -> dict[str, Any]:
    """min / median / p95 / max of the values that came; `never` counts the Nones."""
    got = [v for v in values if v is not None]
    out: dict[str, Any] = {"n": len(values), "never": len(values) - len(got)}
    if got:
        out.update(min=min(got), median=statistics.median(got), p95=percentile(got, 0.95),
                   max=max(got))
    return out


def fmt_stats(s: dict[str, Any] | None, unit: str = "s", scale: float = 1.0,
              digits: int = 2) -> str:
    if not s or not s.get("n"):
        return "n/a"
    if "median" not in s:
        return f"never ({s['never']}/{s['n']})"
    parts = " / ".join(f"{s[k] * scale:.{digits}f}" for k in ("min", "median", "p95", "max"))
    text = f"{parts} {unit}".strip()
    if s["never"]:
        text += f"; never in {s['never']}/{s['n']}"
    return text


# -- targets (issue 7), for this project only -----------------------------------------


def _get(d: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def check_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """[{target, value, ok}] for this project's speaker, from the summary of a run."""
    ours = summary.get("speakers", {}).get("speaker", {})
    scale = summary.get("scale", {})
    rows: list[dict[str, Any]] = []

    def add(target: str, value: Any, ok: bool | None, shown: str) -> None:
        rows.append({"target": target, "value": value, "ok": ok, "shown": shown})

    def le(value: float | None, bound: float) -> bool | None:
        return None if value is None else value <= bound

    crash = ours.get("crash_gone")
    if crash and crash.get("n"):
        never = crash["never"] > 0
        med, mx = crash.get("median"), crash.get("max")
        add("crash failover: median <= 0.4 s", med, False if never else le(med, 0.4),
            "never" if med is None else f"{med:.3f} s")
        add("crash failover: max <= 0.8 s", mx, False if never else le(mx, 0.8),
            "never" if mx is None else f"{mx:.3f} s")
    share = ours.get("crash_failed_share")
    if share and share.get("n"):
        add("crash: failed queries in 5 s <= 2 % (median of repetitions)", share["median"],
            share["median"] <= 0.02,
            f"{100 * share['median']:.1f} % (max {100 * share['max']:.1f} %)")
    hang = ours.get("hang_gone")
    if hang and hang.get("n"):
        mx = hang.get("max")
        add("hang failover: max <= 1.6 s", mx, False if hang["never"] else le(mx, 1.6),
            "never" if mx is None else f"{mx:.3f} s")
    failed = ours.get("drain_failed_total")
    if failed is not None:
        add("drain: 0 failed queries", failed, failed == 0, f"{failed} failed in all repetitions")
    drain = ours.get("drain_gone")
    if drain and drain.get("n"):
        mx = drain.get("max")
        add("drain: withdraw -> FIB <= 0.3 s (max)", mx, False if drain["never"] else le(mx, 0.3),
            "never" if mx is None else f"{mx:.3f} s")
    cold = ours.get("cold_start")
    if cold and cold.get("n"):
        mx = cold.get("max")
        add("cold start: all next hops <= 5 s (max)", mx,
            False if cold["never"] else le(mx, 5.0), "never" if mx is None else f"{mx:.2f} s")
    cpu = ours.get("cpu_share")
    if cpu and cpu.get("n"):
        add("CPU per node <= 2 % of one core (max over nodes)", cpu["max"], cpu["max"] <= 0.02,
            f"{100 * cpu['max']:.2f} %")
    rss = ours.get("rss_core_mb") or ours.get("rss_mb")
    total = ours.get("rss_mb")
    if rss and rss.get("n"):
        with_dog = (f" ({total['max']:.1f} MB with the watchdog process)"
                    if total and total.get("n") and total["max"] != rss["max"] else "")
        add("ExaBGP + process RSS <= 60 MB (max over nodes)", rss["max"], rss["max"] <= 60,
            f"{rss['max']:.1f} MB{with_dog}")
    rows += _issue14_targets(ours)
    many = scale.get("services")
    if many:
        ann = _get(many, "announce", "all_in_fib")
        add(f"{many['services']} services: all announced <= 10 s", ann, le(ann, 10.0),
            "not all" if ann is None else f"{ann:.2f} s")
        gone = _get(many, "withdraw", "all_gone")
        if _get(many, "withdraw") is not None:
            add(f"{many['services']} services: all withdrawn <= 3 s", gone, le(gone, 3.0),
                "not all" if gone is None else f"{gone:.2f} s")
        cpu_rest = _get(many, "rest", "cpu_share")
        if cpu_rest is not None:
            add(f"{many['services']} services: CPU <= 50 % of one core", cpu_rest,
                cpu_rest <= 0.5, f"{100 * cpu_rest:.1f} %")
        rows += _issue14_scale(many)
    return rows


def _issue14_scale(many: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14's rows for many services: CPU at rest <= 15 %, all withdrawn <= 0.3 s."""
    rows: list[dict[str, Any]] = []
    n = many["services"]
    cpu = _get(many, "rest", "cpu_share")
    if cpu is not None:
        rows.append({"target": f"{n} services: CPU at rest <= 15 % of one core", "value": cpu,
                     "ok": cpu <= 0.15, "shown": f"{100 * cpu:.1f} %"})
    if _get(many, "withdraw") is not None:
        gone = _get(many, "withdraw", "all_gone")
        rows.append({"target": f"{n} services: all withdrawn <= 0.3 s after named dies",
                     "value": gone, "ok": gone is not None and gone <= 0.3,
                     "shown": "not all" if gone is None else f"{gone:.3f} s"})
    return rows


def _issue14_targets(ours: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of issue 14 (cold start, hang, memory, CPU at rest), at default settings."""
    rows: list[dict[str, Any]] = []

    def add(target: str, value: float | None, never: bool, bound: float, shown: str) -> None:
        ok = False if never else (None if value is None else value <= bound)
        rows.append({"target": target, "value": value, "ok": ok, "shown": shown})

    cold = ours.get("cold_start")
    if cold and cold.get("n"):
        med = cold.get("median")
        add("cold start -> all next hops: median <= 1.0 s", med, cold["never"] > 0, 1.0,
            "never" if med is None else f"{med:.2f} s")
    hang = ours.get("hang_gone")
    if hang and hang.get("n"):
        mx = hang.get("max")
        add("hang (SIGSTOP) -> next hop gone: max <= 0.40 s", mx, hang["never"] > 0, 0.40,
            "never" if mx is None else f"{mx:.3f} s")
    pss = ours.get("pss_mb")
    if pss and pss.get("n"):
        add("memory: exabgp + speaker + watchdog <= 32 MB PSS (max over nodes)", pss["max"],
            False, 32.0, f"{pss['max']:.1f} MB")
    cpu = ours.get("cpu_share")
    if cpu and cpu.get("n"):
        add("CPU <= 0.5 % of one core per node at rest (max over nodes)", cpu["max"], False,
            0.005, f"{100 * cpu['max']:.2f} %")
    return rows


# -- markdown ---------------------------------------------------------------------------


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown(summary: dict[str, Any]) -> str:
    kinds = [k for k in KINDS if k in summary.get("speakers", {})]
    sp = summary["speakers"]
    meta = summary["meta"]
    out = [
        f"# Benchmark: {meta['started']} ({meta['host']})",
        "",
        f"Command: `{meta['command']}`  ",
        f"{meta['reps']} repetitions per timing; values are min / median / p95 / max. "
        f"Client: {meta['rate']:g} queries/s over {meta['nodes']} nodes, failures counted "
        f"over the {meta['window']:g} s after the fault. Load average (1 min) at start "
        f"{meta['load_start'][0]:.2f}, at end {meta.get('load_end', [0])[0]:.2f} "
        f"({meta['cpus']} CPUs, shared machine: compare only within one run). "
        f"ExaBGP {meta['exabgp']}, run time {meta.get('elapsed', 0) / 60:.1f} min.",
        "",
    ]
    if kinds:
        out += [_row(["scenario", *(LABELS[k] for k in kinds)]),
                _row(["---"] * (len(kinds) + 1))]

    def line(title: str, cell: Callable[[dict[str, Any]], str]) -> None:
        if kinds:
            out.append(_row([title, *(cell(sp[k]) for k in kinds)]))

    def queries(key: str) -> Callable[[dict[str, Any]], str]:
        def cell(d: dict[str, Any]) -> str:
            share = d.get(f"{key}_failed_share")
            count = d.get(f"{key}_failed") or {}
            if not share or not share.get("n") or "median" not in share:
                return "n/a"
            return (f"{count['median']:.0f} ({100 * share['median']:.1f} %); "
                    f"max {count['max']:.0f} ({100 * share['max']:.1f} %)")
        return cell

    line("crash: named SIGKILL -> next hop gone from router FIB",
         lambda d: fmt_stats(d.get("crash_gone")))
    line(f"crash: failed queries in {meta['window']:g} s (median; max)", queries("crash"))
    line("hang: named SIGSTOP -> next hop gone", lambda d: fmt_stats(d.get("hang_gone")))
    line(f"hang: failed queries in {meta['window']:g} s (median; max)", queries("hang"))
    line("recovery: named answers again -> next hop back",
         lambda d: fmt_stats(d.get("recovery")) if d.get("recovery", {}).get("median") is not None
         else "n/a (never left)" if d.get("crash_gone") else "n/a")
    line("cold start: speakers started -> all next hops",
         lambda d: fmt_stats(d.get("cold_start")))
    line("drain: `speakerctl withdraw` -> next hop gone",
         lambda d: fmt_stats(d.get("drain_gone")) if d.get("drain_gone") else "n/a")
    line("drain: failed queries (all repetitions)",
         lambda d: "n/a" if d.get("drain_failed_total") is None
         else f"{d['drain_failed_total']} of {d['drain_sent_total']}")
    line("memory per node: RSS / PSS (max over nodes)",
         lambda d: "n/a" if not d.get("rss_mb", {}).get("n") else
         f"{d['rss_mb']['max']:.1f} / {d['pss_mb']['max']:.1f} MB ({d.get('processes', '')})")
    line(f"CPU per node, % of one core over {meta['cpu_seconds']:g} s (min / max over nodes)",
         lambda d: "n/a" if not d.get("cpu_share", {}).get("n") else
         f"{100 * d['cpu_share']['min']:.2f} / {100 * d['cpu_share']['max']:.2f} %")
    line("load average (1 min) during the runs: min / max",
         lambda d: "n/a" if not d.get("load1") else
         f"{d['load1']['min']:.2f} / {d['load1']['max']:.2f}")
    out.append("")

    scale = summary.get("scale", {})
    if scale:
        out += ["## Scale (this project, default timings)", "",
                _row(["scenario", "result"]), _row(["---", "---"])]
        many = scale.get("services")
        if many:
            n = many["services"]
            a = many.get("announce", {})
            r = many.get("rest", {})
            w = many.get("withdraw", {})
            out.append(_row([f"{n} services (one /128 and one DNS check each): all announced "
                             "at the router (from ExaBGP start)", _opt(a.get("all_in_fib"))]))
            if r:
                roles = ", ".join(f"{k} {100 * v:.1f} %"
                                  for k, v in sorted(r.get("cpu_by_role", {}).items()))
                out.append(_row([f"{n} services: CPU at rest, % of one core",
                                 f"{100 * r['cpu_share']:.1f} % ({roles}); RSS "
                                 f"{r['rss_mb']:.0f} MB, PSS {r['pss_mb']:.0f} MB"]))
            if w:
                out.append(_row([f"{n} services: named SIGKILL -> all withdrawn at the router",
                                 _opt(w.get("all_gone"))]))
            if many.get("error"):
                out.append(_row([f"{n} services: error", str(many["error"])]))
        nodes = scale.get("nodes")
        if nodes:
            out.append(_row([f"{nodes['nodes']} nodes behind one router: ECMP width reached, "
                             "time to form (from the first ExaBGP start)",
                             f"{nodes.get('width')} next hops, {_opt(nodes.get('formed'))}"
                             + (f" (error: {nodes['error']})" if nodes.get("error") else "")]))
        out.append("")

    targets = summary.get("targets", [])
    if targets:
        out += ["## Targets (issue 7, this project at default settings)", "",
                _row(["target", "measured", "result"]), _row(["---", "---", "---"])]
        for t in targets:
            verdict = "n/a" if t["ok"] is None else "PASS" if t["ok"] else "**FAIL**"
            out.append(_row([t["target"], t["shown"], verdict]))
        out.append("")

    bd = summary.get("breakdown", {})
    if bd:
        out += ["## Where the time goes (this project; median offsets from the fault, s)", "",
                "verdict = the speaker logs the state change and writes the command to "
                "ExaBGP in the same loop pass; ack = ExaBGP's `done` for it; UPDATE = arrival at "
                "the router (bgpd debug log); FIB = next hop gone from the router's kernel "
                "FIB (polled every 10 ms).", "",
                _row(["scenario", "verdict", "ack", "UPDATE at router", "FIB"]),
                _row(["---"] * 5)]
        for name, hops in bd.items():
            out.append(_row([name, *(_opt(hops.get(k))
                                     for k in ("verdict", "ack", "update_at_router", "fib"))]))
        many = scale.get("services", {})
        if many.get("announce"):
            a = many["announce"]
            out += ["", f"{many['services']} services, announce (s from ExaBGP start): "
                    f"speaker logs `starting` {_opt(a.get('speaker_started'))}, first service up "
                    f"{_opt(a.get('first_up'))}, last service up {_opt(a.get('last_up'))}, last "
                    f"ack {_opt(a.get('last_ack'))}, all in FIB {_opt(a.get('all_in_fib'))}."]
        if many.get("withdraw"):
            w = many["withdraw"]
            out += ["", f"{many['services']} services, withdraw (s from named SIGKILL): first "
                    f"service down {_opt(w.get('first_down'))}, last {_opt(w.get('last_down'))}, "
                    f"last ack {_opt(w.get('last_ack'))}, UPDATEs at the router "
                    f"{_opt(w.get('first_update_at_router'))} .. "
                    f"{_opt(w.get('last_update_at_router'))} ({w.get('updates_at_router')}), "
                    f"all gone from FIB {_opt(w.get('all_gone'))}."]
        out.append("")
    prof = summary.get("profile")
    if prof:
        out += ["## Profile of the speaker process during the services scale (py-spy "
                "samples of the main thread; functions by inclusive share of them)", ""]
        for phase, top in prof.items():
            if isinstance(top, dict) and top.get("top"):
                out.append(f"- {phase} (main thread on CPU in {top['busy_share'] * 100:.0f} % "
                           "of the samples): "
                           + "; ".join(f"{f} {100 * s:.0f} %" for f, s in top["top"]))
        out.append("")
    errors = summary.get("errors", [])
    if errors:
        out += ["## Errors", ""] + [f"- {e}" for e in errors] + [""]
    return "\n".join(out)


def _opt(value: float | None, unit: str = "s") -> str:
    return "never" if value is None else f"{value:.3f} {unit}"
