"""process_* metrics from /proc/self alone: a fake /proc tree without /proc/stat, as
ProcSubset=pid leaves it, and the real one compared with prometheus_client's."""

import logging
import math
import os
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import ProcessCollector as ClientCollector
from prometheus_client.parser import text_string_to_metric_families

from speaker.adapters import metrics, procstats

STAT = ("4242 (python3 -m speaker) (x) S 1 4242 4242 0 -1 4194560 9 0 0 0 "
        "250 130 0 0 20 0 3 0 123400 52428800 3000 18446744073709551615 1 1 0 0 0 0 0 "
        "16781312 16386 0 0 0 17 0 0 0 0 0 0\n")
LIMITS = """Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            65536                524288               files
Max locked memory         8388608              8388608              bytes
"""


def fake_proc(root: Path, fds: int = 5) -> Path:
    """A /proc/<pid> directory with stat, limits and fd/ (and no /proc/stat next to it)."""
    pid = root / "4242"
    (pid / "fd").mkdir(parents=True)
    (pid / "stat").write_text(STAT)
    (pid / "limits").write_text(LIMITS)
    for fd in range(fds):
        (pid / "fd" / str(fd)).write_text("")
    return pid


def samples(collector: object) -> dict[str, tuple[str, float]]:
    registry = CollectorRegistry()
    registry.register(collector)  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {s.name: (f.type, s.value) for f in text_string_to_metric_families(text)
            for s in f.samples if not s.name.endswith("_created")}


def test_every_metric_comes_from_the_pid_files_without_proc_stat(tmp_path: Path) -> None:
    """stat, limits and fd/ give the six process_* values, with the boot time from the
    clocks; /proc/stat is not there."""
    pid = fake_proc(tmp_path)
    assert not (tmp_path / "stat").exists()
    got = samples(procstats.ProcessCollector(str(pid), boot=lambda: 1.7e9, ticks=100.0,
                                             pagesize=4096))
    assert got == {
        "process_virtual_memory_bytes": ("gauge", 52428800.0),
        "process_resident_memory_bytes": ("gauge", 3000.0 * 4096),
        "process_start_time_seconds": ("gauge", 1.7e9 + 1234.0),
        "process_cpu_seconds_total": ("counter", 3.8),
        "process_open_fds": ("gauge", 5.0),
        "process_max_fds": ("gauge", 65536.0),
    }
    assert set(got) == set(procstats.NAMES)


def test_prometheus_client_own_collector_exports_nothing_there(tmp_path: Path) -> None:
    """Why this collector exists: without /proc/stat the client's exports no sample."""
    fake_proc(tmp_path)
    registry = CollectorRegistry()
    ClientCollector(pid=lambda: 4242, proc=str(tmp_path), registry=registry)
    assert "process_" not in generate_latest(registry).decode()


def test_unlimited_open_files_is_inf(tmp_path: Path) -> None:
    assert procstats.parse_max_fds("Max open files  unlimited  unlimited  files\n") == math.inf


def test_a_missing_file_leaves_out_its_metrics_and_is_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """No limits file: no process_max_fds, the rest still there; one warning naming it
    across two scrapes, and an info line once it is back."""
    pid = fake_proc(tmp_path)
    (pid / "limits").unlink()
    collector = procstats.ProcessCollector(str(pid), boot=lambda: 0.0, ticks=100.0,
                                           pagesize=4096)
    with caplog.at_level(logging.INFO):
        first, second = samples(collector), samples(collector)
        assert set(first) == set(second) == set(procstats.NAMES) - {"process_max_fds"}
        warnings = [getattr(r, "fields", {}) for r in caplog.records
                    if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and warnings[0]["path"] == str(pid / "limits"), warnings
        (pid / "limits").write_text(LIMITS)
        assert "process_max_fds" in samples(collector)
        assert any("readable again" in r.getMessage() for r in caplog.records)


def test_a_garbled_stat_leaves_out_its_four_metrics(tmp_path: Path) -> None:
    pid = fake_proc(tmp_path)
    (pid / "stat").write_text("4242 (python3) S 1 2 3\n")
    got = samples(procstats.ProcessCollector(str(pid), boot=lambda: 0.0))
    assert set(got) == {"process_open_fds", "process_max_fds"}


def test_the_real_process_agrees_with_prometheus_client() -> None:
    """On this host (with /proc/stat): same names, types and values as the client's,
    CPU and memory within what a scrape in between can change."""
    ours = samples(procstats.ProcessCollector())
    registry = CollectorRegistry()
    ClientCollector(registry=registry)
    theirs = {s.name: (f.type, s.value)
              for f in text_string_to_metric_families(generate_latest(registry).decode())
              for s in f.samples}
    assert {k: t for k, (t, _) in ours.items()} == {k: t for k, (t, _) in theirs.items()}
    # /proc/stat's btime is whole seconds; our boot time is exact
    assert abs(ours["process_start_time_seconds"][1]
               - theirs["process_start_time_seconds"][1]) < 1.5
    assert ours["process_start_time_seconds"][1] <= time.time()
    assert ours["process_max_fds"] == theirs["process_max_fds"]
    assert abs(ours["process_open_fds"][1] - theirs["process_open_fds"][1]) <= 2
    assert ours["process_resident_memory_bytes"][1] > 0
    assert abs(ours["process_cpu_seconds_total"][1] - sum(os.times()[:2])) < 0.5


def test_the_speaker_registry_has_the_process_metrics_once() -> None:
    """Prometheus(...) registers our collector, never prometheus_client's as well."""
    prom = metrics.Prometheus(lambda: {"started": 0.0, "services": [], "neighbors": [],
                                       "exabgp": {"waiting": 0}})
    text = generate_latest(prom.registry).decode()
    for name in procstats.NAMES:
        assert text.count(f"# TYPE {name} ") == 1, name
