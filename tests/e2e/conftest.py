"""Fixtures for the lab tests: a shared lab per module, reset before every test.

Every test here carries the `lab` marker and is skipped unless the machine can
run the lab (root, FRR, BIND, ExaBGP, iproute2). On a failure the lab's log
tails are printed and its logs are kept in /tmp/spklab-<id>-logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import Lab, missing_requirements
from tests.lab.geo import Geo


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:  # incl. fault_matrix/
            item.add_marker(pytest.mark.lab)
            version, dns = "4.2", "bind"
            callspec = getattr(item, "callspec", None)
            if callspec is not None:
                version = callspec.params.get("exabgp_version", "4.2")
                dns = callspec.params.get("server_lab", "bind")
            problems = missing_requirements(version, dns)
            if problems:
                item.add_marker(pytest.mark.skip(reason="lab: " + "; ".join(problems)))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)  # type: ignore[untyped-decorator]
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


def keep_logs(lab: Lab) -> None:
    if lab.root.exists():
        print(lab.logs(30))
        print(f"lab logs kept in {lab.archive_logs(Path(f'/tmp/spklab-{lab.lab_id}-logs'))}")


def running_lab(timeout: float = 30, **options: Any) -> Iterator[Lab]:
    """A lab up for a whole module, torn down after it, leaving nothing behind."""
    lab = Lab(**options)
    lab.up(timeout=timeout)
    try:
        yield lab
    finally:
        left = lab.down()
        assert not left, f"lab teardown left: {left}"


def running_geo(routers: int = 1, timeout: float = 30) -> Iterator[Geo]:
    """The geo lab (tests/lab/geo.py, lon3 a backup) up for a whole module, torn down
    after it, leaving nothing behind."""
    zones = Geo(routers=routers)
    zones.up(backup=3, timeout=timeout)
    try:
        yield zones
    except BaseException:
        keep_logs(zones.london)
        keep_logs(zones.sofia)
        raise
    finally:
        left = zones.down()
        assert not left, f"geo teardown left: {left}"


def healthy(lab: Lab, request: pytest.FixtureRequest, timeout: float = 30) -> Iterator[Lab]:
    """`lab` reset to healthy for one test; its logs kept if the test failed."""
    lab.reset(timeout=timeout)
    yield lab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        keep_logs(lab)


@pytest.fixture(scope="module")
def shared_lab() -> Iterator[Lab]:
    """One lab (3 nodes, ExaBGP 4.2, the real speaker) for a whole test module."""
    yield from running_lab()


@pytest.fixture
def lab(shared_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The module's lab, healthy (all next hops in the FIB) when the test starts."""
    yield from healthy(shared_lab, request)


@pytest.fixture(scope="module", params=["bind", "pdns"])
def server_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """One lab per DNS server (BIND, then PowerDNS) for a whole test module."""
    yield from running_lab(dns=request.param)


@pytest.fixture
def dns_lab(server_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The module's lab of one DNS server, healthy when the test starts."""
    yield from healthy(server_lab, request)


# -- the fault matrix's results table (filled by tests/e2e/fault_matrix/) ---------------

FAULT_RESULTS: list[dict[str, str]] = []
FAULT_COLUMNS = (("fault", "fault"), ("withdraw", "time to withdraw"),
                 ("recover", "time to recover"), ("failed", "failed queries"), ("note", "note"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int,
                            config: pytest.Config) -> None:
    """Print the fault matrix (one row per fault measured in this run)."""
    if not FAULT_RESULTS:
        return
    widths = {key: max(len(title), *(len(row.get(key, "")) for row in FAULT_RESULTS))
              for key, title in FAULT_COLUMNS}
    terminalreporter.section("fault matrix")
    terminalreporter.write_line(" | ".join(title.ljust(widths[key])
                                           for key, title in FAULT_COLUMNS))
    terminalreporter.write_line("-+-".join("-" * widths[key] for key, _ in FAULT_COLUMNS))
    for row in FAULT_RESULTS:
        terminalreporter.write_line(" | ".join(row.get(key, "").ljust(widths[key])
                                               for key, _ in FAULT_COLUMNS))
