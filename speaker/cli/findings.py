"""What a `speakerctl doctor` check says: a verdict, what was seen, and the fix.

Shared by the doctor's modules (doctor, doctor_dns, doctor_recursive); data and
pure functions only, no I/O.
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


def of_run(name: str, what: str, outcome: Outcome | None, elsewhere: str | None,
           fix: Callable[[str], str], passed: str = "answers") -> Finding:
    """The finding of one check doctor ran once (`outcome`), or did not run: its server
    is `elsewhere` (an address of another host, never queried), or it could not tell."""
    if outcome is None:
        if elsewhere is not None:
            return Finding(name, Verdict.FAIL, f"{what}: not queried: {elsewhere} is not an "
                           "address of this node", fix("no-address"))
        return Finding(name, Verdict.SKIP, f"{what}: not queried")
    if outcome.ok:
        return Finding(name, Verdict.OK, f"{what}: {passed} in {outcome.latency * 1000:.1f} ms")
    return Finding(name, Verdict.FAIL, outcome.reason, fix(outcome.code))
