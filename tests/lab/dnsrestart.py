"""A DNS-server restart in the lab, as systemd runs it with and without the drain unit.

With the drain unit enabled, `systemctl restart named` (or pdns) stops
anycast-speaker-drain@named first (its ExecStop), then the server; it starts
the server, then the drain unit (its ExecStart). `restart` runs the same
commands in the same order: the ExecStop and ExecStart lines are read from the
shipped unit (packaging/debian/...drain@.service), with %i the server's unit
name and /usr/bin/speakerctl the node's speakerctl. A helper module of
tests/e2e/test_lab_dns_restart.py; it kills only the node's own server.
"""

from __future__ import annotations

import configparser
import shlex
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab.lab import LabNode
from tests.lab.system import LabError

UNIT = (Path(__file__).resolve().parents[2]
        / "packaging/debian/anycast-speaker.anycast-speaker-drain@.service")
SPEAKERCTL = "/usr/bin/speakerctl"
SYSTEMD_UNITS = {"bind": "named", "pdns": "pdns"}  # the lab's --dns: Debian's unit names


@dataclass(frozen=True)
class Steps:
    """The speakerctl arguments of the unit's ExecStop and ExecStart for one server."""

    stop: list[str]
    start: list[str]


def steps(server: str) -> Steps:
    """ExecStop and ExecStart of anycast-speaker-drain@<unit of `server`>."""
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.read_string(UNIT.read_text())
    instance = SYSTEMD_UNITS[server]

    def argv(key: str) -> list[str]:
        words = shlex.split(cp["Service"][key].lstrip("-").replace("%i", instance))
        if words[0] != SPEAKERCTL:
            raise LabError(f"{UNIT.name}: {key} does not run {SPEAKERCTL}: {words}")
        return words[1:]

    return Steps(stop=argv("ExecStop"), start=argv("ExecStart"))


def restart(node: LabNode, drain: Steps | None) -> dict[str, float]:
    """Restart the node's DNS server as systemd does, through the drain unit's commands if
    `drain` is given; returns how long each step took. Raises LabError if a command fails."""
    took: dict[str, float] = {}
    t0 = time.monotonic()
    if drain is not None:
        _ctl(node, drain.stop, "ExecStop")
        took["drain"] = time.monotonic() - t0
    t1 = time.monotonic()
    node.kill_named(signal.SIGTERM)  # returns once the server exited
    node.start_named()
    node.wait_named()
    took["server"] = time.monotonic() - t1
    if drain is not None:
        t2 = time.monotonic()
        _ctl(node, drain.start, "ExecStart")
        took["resume"] = time.monotonic() - t2
    return took


def _ctl(node: LabNode, args: list[str], what: str) -> None:
    result = node.ctl(*args, timeout=120)
    if result.returncode != 0:
        raise LabError(f"{node.name}: {what} `speakerctl {' '.join(args)}` exited "
                       f"{result.returncode}: {result.stdout}{result.stderr}")
