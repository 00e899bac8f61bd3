"""What a `speakerctl doctor` check says: a verdict, what was seen, and the fix.

Shared by the doctor's modules (doctor, doctor_dns); data only, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
