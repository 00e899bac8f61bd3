"""What the event path watches for a service, and what it says about it.

Pure: from a service's checks and its `watch` settings, `targets` derives
the listeners (address, port, transport of each check) whose sockets the
kernel reports closing, and the pid file of the server's process. A
`Detection` is one line of `status`: which detection is active, and why
not when it is not. Opening sockets and pidfds is the adapters' business
(speaker.adapters.sockdiag, speaker.adapters.pidfd); deciding about routes
is the engine's: an event is only a hard failure, probes judge the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speaker.core.config import Check, DnssecCheck, RecursiveCheck, Service, SoaCheck
from speaker.core.sockdiag import Listener


@dataclass(frozen=True)
class Process:
    """The server's process, found by the PID in its pid file."""

    pid_file: Path

    def describe(self) -> str:
        return f"pid file {self.pid_file}"


Target = Listener | Process


@dataclass(frozen=True)
class Detection:
    """One event source of one service: active, or why not."""

    kind: str  # "socket" or "process"
    target: str  # what is watched, in words
    active: bool
    detail: str  # what is known ("2 sockets", "pid 123"), or why it is not active
    pending: bool = False  # not active only until the server listens: armed by a passing probe

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "active": self.active,
                "detail": self.detail}


def of_service(service: Service) -> tuple[Target, ...]:
    """The targets of `service` by its `watch` settings."""
    return targets(service.checks, service.watch.sockets, service.watch.pid_file)


def targets(checks: Iterable[Check], sockets: bool, pid_file: Path | None) -> tuple[Target, ...]:
    """The listeners of `checks` (each once) when `sockets`, then the pid file if any."""
    found: list[Target] = []
    if sockets:
        for check in checks:
            # dns: its transport; http: tcp; soa, dnssec, recursive: udp (tcp only if truncated)
            transport = ("udp" if isinstance(check, SoaCheck | DnssecCheck | RecursiveCheck)
                         else check.transport)
            listener = Listener(transport, check.server, check.port)
            if listener not in found:
                found.append(listener)
    if pid_file is not None:
        found.append(Process(pid_file))
    return tuple(found)


def parse_pid(text: str) -> int | None:
    """The PID in a pid file's text (a decimal number, surrounded by blanks), else None."""
    stripped = text.strip()
    if not stripped.isdigit() or not stripped.isascii():
        return None
    pid = int(stripped)
    return pid if 1 < pid < 2**22 else None
