"""Fixtures of the fault matrix: one lab for all its modules, and dns1 put back.

Overrides tests/e2e/conftest.py's module-scoped `shared_lab` with one lab for the
whole package (the fault matrix was one module, with one lab; its `lab` fixture
resets it to healthy before every test), and owns `node`: dns1 with its
speaker.yaml rewritten after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab import Lab, LabNode

from ..conftest import running_lab


@pytest.fixture(scope="package")
def shared_lab() -> Iterator[Lab]:
    """One lab (3 nodes, ExaBGP 4.2, the real speaker) for every module of the matrix."""
    yield from running_lab()


@pytest.fixture
def node(lab: Lab) -> Iterator[LabNode]:
    """dns1, with its speaker.yaml put back after the test (heal() restarts it)."""
    dns1 = lab.node(1)
    try:
        yield dns1
    finally:
        dns1.write_speaker_yaml()
