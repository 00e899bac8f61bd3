"""What a `speakerctl doctor` check says: a verdict, what was seen, and the fix.

Shared by the doctor's modules (doctor, doctor_dns, doctor_http, doctor_recursive);
data and pure functions only, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from speaker.core.verdicts import Outcome


class Verdict(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    check: str  # what was checked, a short name
    verdict: Verdict
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "verdict": self.verdict.value, "detail": self.detail,
                "fix": self.fix}


def of_run(name: str, what: str, outcome: Outcome | None, away: str,
           fix: Callable[[str], str], not_run: str = "not run",
           passed: str = "answers") -> Finding:
    """The finding of a check doctor ran (`outcome`) or did not (None); `away` says why
    not when its address is not this node's (a failure), `fix` words the fix of a code."""
    if outcome is None:
        if away:
            return Finding(name, Verdict.FAIL, f"{what}: {not_run}: {away}", fix("no-address"))
        return Finding(name, Verdict.SKIP, f"{what}: {not_run}")
    if outcome.ok:
        return Finding(name, Verdict.OK, f"{what}: {passed} in {outcome.latency * 1000:.1f} ms")
    return Finding(name, Verdict.FAIL, outcome.reason, fix(outcome.code))
