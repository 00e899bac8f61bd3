"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def folder() -> Iterator[Path]:
    """A short temporary folder: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="sctl-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
