"""Fixtures of the speakerctl tests (tests/unit/cli/test_ctl_*.py): `served`, `run`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from speaker.cli import parser
from tests.unit.cli.served import Run, Served


@pytest.fixture
def served(folder: Path) -> Iterator[Served]:
    s = Served(folder)
    yield s
    s.stop()


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(*argv: str) -> tuple[int, str, str]:
        code = parser.main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return go
