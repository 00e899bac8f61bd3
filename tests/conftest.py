"""Suite-wide rule: under CI (CI=true, as `.ci/run` runs) nothing that needs the
machine may be skipped.

A skipped lab, integration or package test there means a missing install step
in tests/bootstrap.sh, not an optional test: the skip is turned into a failure
that names the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

STRICT_MARKERS = ("lab", "package", "integration")


def strict() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)  # type: ignore[untyped-decorator]
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not (report.skipped and strict() and not hasattr(report, "wasxfail")):
        return
    if any(item.get_closest_marker(name) for name in STRICT_MARKERS):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true, which means a missing install step "
                           f"in tests/bootstrap.sh: {reason}")
