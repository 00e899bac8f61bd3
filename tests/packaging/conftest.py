"""Shared fixtures of the package tests: every .deb is built once per session.

test_deb.py (install, upgrade, checks, purge) and test_deb_lab.py (the installed
package running a lab node) each install and purge the package themselves; only
the builds are shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.debs import BUILD_DEB, REPO, run


class DebBuilder:
    """Builds the tree's .deb (optionally with another version) once per session."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._built: dict[str, Path] = {}

    def build(self, version: str | None = None) -> Path:
        key = version or ""
        if key not in self._built:
            out = self.out / (version or "current")
            argv: list[str | Path] = [BUILD_DEB, *(["--version", version] if version else []), out]
            deb = Path(run(*argv, cwd=REPO).stdout.strip().splitlines()[-1])
            assert deb.is_file(), deb
            self._built[key] = deb
        return self._built[key]


@pytest.fixture(scope="session")
def deb_builder(tmp_path_factory: pytest.TempPathFactory) -> DebBuilder:
    return DebBuilder(tmp_path_factory.mktemp("debs"))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # type: ignore[untyped-decorator]
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item (item.rep_call): fixtures print logs on failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
