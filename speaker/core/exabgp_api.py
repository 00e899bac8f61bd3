"""ExaBGP's text API: render the commands we write, parse the lines we read.

Pure: strings in, strings or values out. Works with ExaBGP 4.2 and 5.0: both
accept `announce route P next-hop self` / `withdraw route P`, acknowledge each
command with a plain `done` or `error` line, and send neighbour state changes
as JSON objects (`"type": "state"`) when the API has `neighbor-changes`.

`clear adj-rib out` (measured on 4.2.21 and 5.0.15 against FRR, fixtures in
tests/fixtures/exabgp/): ExaBGP withdraws every route in its adj-rib-out, on
every neighbour, whoever announced it, and answers one `done` (nothing else,
with `encoder json` too). While a session is down it answers `done` as well and
nothing is re-advertised when the session comes back. Routes it never announced
are not withdrawn, so no UPDATE goes out for them (4.2 can send such a withdraw
with path attributes but no NEXT_HOP, which FRR logs as an error). Written
without a neighbour selector on purpose: a selector that matches no neighbour
kills 4.2 (a logging bug, "syslog has no attribute LOG_warning"), and so does
`flush adj-rib out` while the session is down.

`show neighbor summary` (measured on 4.2.21 and 5.0.15, fixtures
show-neighbor-summary*.txt): both answer on the process's stdin with a header
line (`Peer  AS  up/down state  |  #sent  #recvd`), one plain-text row per
neighbour, then `done`, in order with the other acks. A session that is not
established is a row `down idle` (5.0) or no row at all (4.2). It is how a
respawned process learns the sessions, since ExaBGP sends changes only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from speaker.core.config import Route
from speaker.core.routes import Action, Clear, Command

MAX_LINE = 64 * 1024  # longer stdin lines are cut and reported as garbage
MAX_BATCH = 100  # prefixes in one `... attributes ... nlri` command (4 KB of /128s)
CLEAR_ADJ_RIB_OUT = "clear adj-rib out"
SHOW_NEIGHBOR_SUMMARY = "show neighbor summary"
WAKE = "version"  # answered at once, "exabgp VERSION" then `done`, in 4.2 and 5.0 (engine.wake)
WAKE_ANSWER = "exabgp"  # its first word


def render(command: Command | Clear) -> str:
    """The API line (without newline) for `command`."""
    if isinstance(command, Clear):
        return CLEAR_ADJ_RIB_OUT
    if command.action is Action.WITHDRAW:
        # Both 4.2 and 5.0 withdraw the prefix with or without the next-hop. 4.2 can send
        # the withdraw of a prefix it never announced with path attributes but no NEXT_HOP
        # (seen for the first such withdraw of a session, in either form; FRR logs
        # "Missing well-known attribute NEXT_HOP" and treats it as the withdraw it is):
        # the start-up `clear adj-rib out` is what keeps such withdraws from being sent.
        return f"withdraw route {command.prefix} next-hop {command.route.next_hop}"
    return f"announce route {command.prefix} {_attributes(command.route)}"


def _attributes(route: Route) -> str:
    parts = [f"next-hop {route.next_hop}"]
    if route.med is not None:
        parts.append(f"med {route.med}")
    if route.communities:
        parts.append(f"community [{' '.join(route.communities)}]")
    if route.as_path:
        parts.append(f"as-path [{' '.join(str(a) for a in route.as_path)}]")
    return " ".join(parts)


def batches(commands: Sequence[Command],
            limit: Callable[[Command], int] = lambda c: 0) -> list[list[Command]]:
    """`commands` in order, cut into runs that one line can carry: the same action, the
    same attributes (for an announce) and the same address family, at most MAX_BATCH,
    and at most `limit(command)` for a command that sets one (not 0): the retry of a
    line ExaBGP refused goes on lines of half its size, so that one bad prefix cannot
    keep the others of its line out."""
    out: list[list[Command]] = []
    last: tuple[Action, Route | None, int] | None = None
    room = 0  # how many more the current run may take
    for command in commands:
        key = (command.action, command.route if command.action is Action.ANNOUNCE else None,
               command.prefix.version)
        own = limit(command) or MAX_BATCH
        if key != last or room <= 0 or len(out[-1]) >= own:
            out.append([])
            last = key
            room = MAX_BATCH
        out[-1].append(command)
        room = min(room, own) - 1
    return out


def render_batch(batch: Sequence[Command]) -> str:
    """One API line for a run of `batches`: one prefix as `render` writes it, more as
    `announce attributes <attributes> nlri P1 P2 ...` or `withdraw attributes next-hop
    <next-hop> nlri P1 P2 ...` (4.2 and 5.0 parse both alike, one family per line, and
    acknowledge the line with one `done`)."""
    if len(batch) == 1:
        return render(batch[0])
    first = batch[0]
    nlri = " ".join(str(c.prefix) for c in batch)
    if first.action is Action.WITHDRAW:
        return f"withdraw attributes next-hop {first.route.next_hop} nlri {nlri}"
    return f"announce attributes {_attributes(first.route)} nlri {nlri}"


# -- what ExaBGP writes to us -----------------------------------------------------


@dataclass(frozen=True)
class Ack:
    ok: bool


@dataclass(frozen=True)
class Shutdown:
    """ExaBGP is stopping: withdraw and exit."""


@dataclass(frozen=True)
class NeighborState:
    peer: str
    state: str  # connected, up, down
    local: str = ""
    peer_as: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Other:
    """A well-formed message we have no use for (updates, keepalives, ...)."""

    kind: str


@dataclass(frozen=True)
class Text:
    """A plain-text line: the answer to a `show` command, or garbage if none was asked."""

    line: str

    def garbage(self) -> Garbage:
        return Garbage("unexpected line", _sample(self.line))


@dataclass(frozen=True)
class Garbage:
    """A line that is not part of the API we speak; logged and ignored."""

    reason: str
    sample: str


Message = Ack | Shutdown | NeighborState | Other | Text | Garbage

NEIGHBOR_STATES = ("connected", "up", "down")


def _sample(line: str) -> str:
    text = line if len(line) <= 80 else line[:77] + "..."
    return text.encode("unicode_escape").decode("ascii")


def parse(raw: bytes) -> Message:
    """Classify one stdin line (without its newline)."""
    try:
        line = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Garbage("not UTF-8", _sample(raw.decode("utf-8", "replace")))
    if len(raw) > MAX_LINE:
        return Garbage(f"line longer than {MAX_LINE} bytes", _sample(line))
    if line == "done":
        return Ack(True)
    if line == "error":
        return Ack(False)
    if line == "shutdown":
        return Shutdown()
    if not line.startswith("{"):
        return Text(line)
    try:
        data = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return Garbage(f"invalid JSON ({exc.__class__.__name__})", _sample(line))
    if not isinstance(data, dict):
        return Garbage("JSON is not an object", _sample(line))
    return _message(data, line)


def _message(data: dict[str, Any], line: str) -> Message:
    kind = data.get("type")
    if not isinstance(kind, str):
        return Garbage("JSON without a type", _sample(line))
    if kind == "notification" and data.get("notification") == "shutdown":
        return Shutdown()
    if kind != "state":
        return Other(kind)
    neighbor = data.get("neighbor")
    if not isinstance(neighbor, dict):
        return Garbage("state message without a neighbor", _sample(line))
    state = neighbor.get("state")
    address = neighbor.get("address")
    if not isinstance(state, str) or not isinstance(address, dict):
        return Garbage("state message without state or address", _sample(line))
    peer = address.get("peer")
    local = address.get("local", "")
    if not isinstance(peer, str):
        return Garbage("state message without a peer address", _sample(line))
    if state not in NEIGHBOR_STATES:
        return Other(f"state {state}")
    asn = neighbor.get("asn")
    peer_as = asn.get("peer") if isinstance(asn, dict) else None
    reason = neighbor.get("reason", "")
    return NeighborState(
        peer=peer,
        state=state,
        local=local if isinstance(local, str) else "",
        peer_as=peer_as if isinstance(peer_as, int) and not isinstance(peer_as, bool) else None,
        reason=reason if isinstance(reason, str) else str(reason),
    )


# -- `show neighbor summary` ------------------------------------------------------

_SUMMARY_ROW = re.compile(r"(?P<peer>\S+)\s+(?P<asn>\d+)\s+(?P<updown>.+?)\s+"
                          r"(?P<state>[a-z]+)\s+\d+\s+\d+")
_DURATION = re.compile(r"(?:(?P<days>\d+) days?, )?(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)")


@dataclass(frozen=True)
class SummaryRow:
    peer: str
    peer_as: int
    state: str  # "up" (established) or "down"
    fsm: str  # ExaBGP's word: established, idle, active, connect, opensent, ...
    for_seconds: float | None  # how long it has been up, if established


def parse_summary(lines: list[str]) -> list[SummaryRow] | None:
    """The rows of a `show neighbor summary` answer; None if it is not one."""
    if not lines or lines[0].split()[:2] != ["Peer", "AS"]:
        return None
    rows = []
    for line in lines[1:]:
        match = _SUMMARY_ROW.fullmatch(line.strip())
        if match is None:
            return None
        fsm = match["state"]
        duration = _DURATION.fullmatch(match["updown"])
        seconds = None
        if duration is not None:
            seconds = (int(duration["days"] or 0) * 86400 + int(duration["h"]) * 3600
                       + int(duration["m"]) * 60 + int(duration["s"]))
        rows.append(SummaryRow(peer=match["peer"], peer_as=int(match["asn"]),
                               state="up" if fsm == "established" else "down", fsm=fsm,
                               for_seconds=seconds if fsm == "established" else None))
    return rows
