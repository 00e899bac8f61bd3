"""The ExaBGP configuration as `speakerctl check-config` sees it: model and cross-check.

Pure: text in, findings out; it reads no file and runs nothing. It knows just
enough of ExaBGP 4.2/5.0 (the syntax is speaker.core.exabgp_syntax; templates
with `inherit`) to check what the speaker relies on: a process block runs the
speaker with the checked YAML and `encoder json`; every neighbour's `api`
names that process and has `neighbor-changes`; the prefixes' families are
configured and their next hops fit the session (nexthops); `local-as` is
inside `router_limits.asn_range`; no graceful-restart; `local-address` and
`router-id` set; a short hold time (ExaBGP has no BFD); adj-rib-out on and no
static routes (the speaker's start-up clear of the adj-rib-out relies on the
one and would withdraw the others); MD5 and GTSM settings (exabgp_security).
It is no substitute for `exabgp --test` (4.2) or `exabgp validate` (5.0).
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath

from speaker.core import exabgp_security, nexthops
from speaker.core.config import DEFAULT_PATH, Config
from speaker.core.exabgp_syntax import Statement, SyntaxProblem, listed, parse

HOLD_TIME_WARN = 9  # above: a node cut off without a FIN keeps its route that long
HOLD_TIME_ADVISED = 3
HOLD_TIME_DEFAULT = 180
ROUTE_BLOCKS = ("static", "announce", "flow", "l2vpn")  # blocks of a neighbour that hold routes
OFF = ("false", "disable", "disabled")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    where: str  # "FILE:LINE"
    message: str

    def __str__(self) -> str:
        tag = "warning: " if self.level == "warning" else ""
        return f"{self.where}: {tag}{self.message}"


# -- model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    name: str
    line: int
    run: tuple[str, ...] = ()
    encoder: str | None = None


@dataclass
class Neighbor:
    address: str
    line: int
    settings: dict[str, tuple[tuple[str, ...], int]] = field(default_factory=dict)
    families: dict[str, int] | None = None  # "ipv6 unicast" -> line; None: no family block
    processes: dict[str, int] = field(default_factory=dict)  # api processes -> line
    matches: list[str] = field(default_factory=list)  # api processes-match regexes
    neighbor_changes: bool = False
    graceful_restart: tuple[str, int] | None = None  # (value, line)
    routes: list[tuple[str, int]] = field(default_factory=list)  # static routes: (kind, line)

    def value(self, key: str) -> tuple[str, int] | None:
        found = self.settings.get(key)
        if found is None or len(found[0]) < 2:
            return None
        return found[0][1], found[1]


def _fold(neighbor: Neighbor, body: tuple[Statement, ...],
          templates: dict[str, tuple[Statement, ...]], seen: frozenset[str]) -> None:
    for st in body:
        key = st.keyword
        if st.body is None:
            if key == "inherit":
                for name in listed(st.words):
                    if name in templates and name not in seen:
                        _fold(neighbor, templates[name], templates, seen | {name})
            elif key == "graceful-restart":
                neighbor.graceful_restart = (" ".join(st.words[1:]) or "enable", st.line)
            elif key == "route":
                neighbor.routes.append(("route", st.line))
            else:
                neighbor.settings[key] = (st.words, st.line)
        elif key == "family":
            fams = neighbor.families if neighbor.families is not None else {}
            for item in st.body:
                fams[" ".join(item.words[:2])] = item.line
            neighbor.families = fams
        elif key == "api":
            for item in st.body:
                if item.keyword == "processes":
                    for name in listed(item.words):
                        neighbor.processes.setdefault(name, item.line)
                elif item.keyword == "processes-match":
                    neighbor.matches.extend(listed(item.words))
                elif item.keyword == "neighbor-changes":
                    neighbor.neighbor_changes = True
        elif key in ROUTE_BLOCKS:
            if st.body:
                neighbor.routes.append((f"{key} block", st.line))
        elif key == "capability":
            for item in st.body:
                if item.keyword == "graceful-restart":
                    neighbor.graceful_restart = (" ".join(item.words[1:]) or "enable", item.line)


@dataclass(frozen=True)
class ExabgpConfig:
    processes: tuple[Process, ...]
    neighbors: tuple[Neighbor, ...]
    legacy: tuple[int, ...]  # lines of ExaBGP 3 `group` blocks


def model(tree: tuple[Statement, ...]) -> ExabgpConfig:
    templates: dict[str, tuple[Statement, ...]] = {}
    for st in tree:
        if st.keyword == "template" and st.body:
            for inner in st.body:
                if inner.keyword == "neighbor" and inner.body is not None and len(inner.words) > 1:
                    templates[inner.words[1]] = inner.body
    processes: list[Process] = []
    neighbors: list[Neighbor] = []
    legacy: list[int] = []
    for st in tree:
        if st.keyword == "process" and st.body is not None and len(st.words) > 1:
            run: tuple[str, ...] = ()
            encoder = None
            for item in st.body:
                if item.keyword == "run":
                    run = _argv(item.words[1:])
                elif item.keyword == "encoder" and len(item.words) > 1:
                    encoder = item.words[1]
            processes.append(Process(st.words[1], st.line, run, encoder))
        elif st.keyword == "neighbor" and st.body is not None and len(st.words) > 1:
            neighbor = Neighbor(st.words[1], st.line)
            _fold(neighbor, st.body, templates, frozenset())
            neighbors.append(neighbor)
        elif st.keyword == "group":
            legacy.append(st.line)
    return ExabgpConfig(tuple(processes), tuple(neighbors), tuple(legacy))


def _argv(words: tuple[str, ...]) -> tuple[str, ...]:
    """A run line as argv: one quoted word holding the whole command is split like a shell."""
    if len(words) == 1 and " " in words[0]:
        try:
            return tuple(shlex.split(words[0]))
        except ValueError:
            return words
    return words


# -- the speaker's process --------------------------------------------------------------


WRAPPER = "run-speaker"


def runs_speaker(run: tuple[str, ...]) -> bool:
    """Whether a run line starts the speaker (`python3 -m speaker ...` or the wrapper)."""
    if not run:
        return False
    if PurePath(run[0]).name == WRAPPER:
        return True
    return any(a == "-m" and b == "speaker" for a, b in itertools.pairwise(run))


def config_of(run: tuple[str, ...], conf_dir: str) -> tuple[str | None, str]:
    """The YAML a speaker run line uses (absolute, or None) and how that was found."""
    if PurePath(run[0]).name == WRAPPER:
        wrapper = os.path.normpath(os.path.join(conf_dir, run[0]))
        used = os.path.join(os.path.dirname(wrapper), "speaker.yaml")
        return used, "next to the run-speaker wrapper"
    for i, arg in enumerate(run):
        value = None
        if arg == "--config" and i + 1 < len(run):
            value = run[i + 1]
        elif arg.startswith("--config="):
            value = arg.split("=", 1)[1]
        if value is not None:
            if not os.path.isabs(value):
                return None, f"relative --config {value}"
            return os.path.normpath(value), "--config in the run line"
    return str(DEFAULT_PATH), "the default (no --config in the run line)"


def _same(a: str, b: str) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


# -- cross-check ------------------------------------------------------------------------


def cross_check(text: str, source: str, cfg: Config, yaml_path: str,
                same: Callable[[str, str], bool] = _same,
                host: exabgp_security.Host | None = None) -> list[Finding]:
    """Every problem of the ExaBGP config `text` (read from `source`) with `cfg`.

    `yaml_path` is the absolute path of the YAML `cfg` was read from; `same`
    says whether two paths name the same file (pure by default: normalised
    paths compared); `host`: the ExaBGP version and the file's mode, for the
    MD5/GTSM checks (speaker.core.exabgp_security).
    """
    conf_dir = os.path.dirname(os.path.abspath(source))
    out: list[Finding] = []

    def add(level: str, line: int, message: str) -> None:
        out.append(Finding(level, f"{source}:{line}", message))

    try:
        conf = model(parse(text))
    except SyntaxProblem as exc:
        return [Finding("error", f"{source}:{exc.line}", exc.message)]
    for line in conf.legacy:
        add("error", line, "'group' blocks are ExaBGP 3 syntax; ExaBGP 4 wants neighbor blocks")

    ours = [p for p in conf.processes if runs_speaker(p.run)]
    if not ours:
        add("error", 1, "no process block runs the speaker (expected: process speaker { run "
                        f"/usr/bin/python3 -m speaker --config {yaml_path}; encoder json; }})")
    for proc in ours:
        used, how = config_of(proc.run, conf_dir)
        if used is None:
            add("error", proc.line, f"process {proc.name}: {how} is looked up from ExaBGP's "
                                    "working directory: give an absolute path")
        elif not same(used, yaml_path):
            add("error", proc.line, f"process {proc.name} runs the speaker with {used} ({how}), "
                                    f"not with {yaml_path}")
        if proc.encoder != "json":
            got = f"encoder {proc.encoder}" if proc.encoder else "no encoder"
            add("error", proc.line, f"process {proc.name}: {got}; add 'encoder json;' (the "
                                    "speaker reads ExaBGP's JSON neighbour events)")

    if not conf.neighbors:
        add("error", 1, "no neighbor block: nothing would be announced")
    names = {p.name for p in ours}
    families = sorted({f"ipv{p.version} unicast" for p in cfg.prefixes})
    low, high = cfg.local_as_range
    for nb in conf.neighbors:
        _check_neighbor(nb, names, families, cfg, (low, high), yaml_path, add)
        for line, message in nexthops.problems(cfg, nb.value("local-address"), nb.address,
                                               nb.line, nb.families, yaml_path):
            add("error", line, message)
        for level, line, message in exabgp_security.problems(
                nb.address, nb.settings, host or exabgp_security.Host()):
            add(level, line, message)
    return out


def _check_neighbor(nb: Neighbor, names: set[str], families: list[str], cfg: Config,
                    as_range: tuple[int, int], yaml_path: str,
                    add: Callable[[str, int, str], None]) -> None:
    who = f"neighbor {nb.address}"
    named = [n for n in names if n in nb.processes]
    for pattern in nb.matches:
        try:
            named += [n for n in names if re.match(pattern, n)]
        except re.error:
            add("error", nb.line, f"{who}: api processes-match {pattern!r} is not a regex")
    if names and not named:
        proc = sorted(names)[0]
        add("error", nb.line, f"{who}: its api block does not name process {proc}, so ExaBGP "
                              f"refuses the speaker's routes for it (add: api {{ processes "
                              f"[ {proc} ]; neighbor-changes; }})")
    if not nb.neighbor_changes:
        add("error", nb.line, f"{who}: api block without 'neighbor-changes;' (speakerctl "
                              "status and the re-announce after a session reset need it)")
    if nb.families is not None:
        for family in families:
            if family not in nb.families:
                users = [f"{s.name} ({p})" for s in cfg.services for p in s.prefixes
                         if f"ipv{p.version} unicast" == family]
                add("error", nb.line, f"{who}: family {family} is not configured, but "
                                      f"{', '.join(users)} is announced through it")
    local_as = nb.value("local-as")
    low, high = as_range
    if local_as is None:
        add("error", nb.line, f"{who}: no local-as")
    elif not local_as[0].isdigit():
        add("error", local_as[1], f"{who}: local-as {local_as[0]} is not an AS number")
    elif not low <= int(local_as[0]) <= high:
        add("error", local_as[1], f"{who}: local-as {local_as[0]} is outside {low}-{high} "
                                  f"(router_limits/asn_range in {yaml_path})")
    for key, why in (("local-address", "ExaBGP 4.2 needs it and next-hop self uses it"),
                     ("router-id", "mandatory without an IPv4 address on the session")):
        if nb.value(key) is None:
            add("error", nb.line, f"{who}: no {key} ({why})")
    if nb.graceful_restart is not None:
        value, line = nb.graceful_restart
        if value not in (*OFF, "0"):
            add("error", line, f"{who}: graceful-restart must not be advertised (the router "
                               "would keep a dead node's route until the restart timer ends)")
    adj = nb.value("adj-rib-out")
    if adj is not None and adj[0].lower() in OFF:
        add("warning", adj[1], f"{who}: adj-rib-out {adj[0]}: the speaker clears ExaBGP's "
                               "adj-rib-out at start to withdraw routes an earlier process left "
                               "announced; with it off that clear does nothing (remove the line)")
    for kind, line in nb.routes:
        add("warning", line, f"{who}: static routes ({kind}): the speaker's start-up clear of "
                             "ExaBGP's adj-rib-out withdraws them; announce them from another "
                             "ExaBGP, or as a service of the speaker")
    _check_hold_time(nb, who, add)


def _check_hold_time(nb: Neighbor, who: str, add: Callable[[str, int, str], None]) -> None:
    hold = nb.value("hold-time")
    cut_off = "a node cut off without a FIN (link down, packets dropped) keeps its route"
    advice = (f"hold-time {HOLD_TIME_ADVISED}; is advised (ExaBGP has no BFD: the hold time "
              "is the only lever)")
    if hold is None:
        add("warning", nb.line, f"{who}: no hold-time: with the default {HOLD_TIME_DEFAULT} s "
                                f"{cut_off} that long; {advice}")
    elif not hold[0].isdigit():
        add("error", hold[1], f"{who}: hold-time {hold[0]} is not a number of seconds")
    elif int(hold[0]) == 0:
        add("warning", hold[1], f"{who}: hold-time 0 disables keepalives: a vanished node's "
                                "route is never removed")
    elif int(hold[0]) < 3:
        add("error", hold[1], f"{who}: hold-time {hold[0]} is invalid (0 or at least 3)")
    elif int(hold[0]) > HOLD_TIME_WARN:
        add("warning", hold[1], f"{who}: hold-time {hold[0]} s: {cut_off} up to that long; "
                                f"{HOLD_TIME_WARN} s or less, {advice}")
