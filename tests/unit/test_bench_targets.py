"""The benchmark's targets table computes the rows of issue 14 from a run's summary."""

from __future__ import annotations

from tests.bench import report


def test_issue_14_rows_are_computed_and_judged() -> None:
    ours = {"cold_start": report.stats([0.6, 0.8, 1.4]),
            "hang_gone": report.stats([0.3, 0.45]),
            "pss_mb": report.stats([30.0, 31.5]),
            "cpu_share": report.stats([0.004, 0.006])}
    rows = {r["target"]: r for r in report.check_targets({"speakers": {"speaker": ours}})}
    assert rows["cold start -> all next hops: median <= 1.0 s"]["ok"] is True
    assert rows["hang (SIGSTOP) -> next hop gone: max <= 0.40 s"]["ok"] is False
    assert rows["memory: exabgp + speaker + watchdog <= 32 MB PSS (max over nodes)"]["ok"]
    assert rows["CPU <= 0.5 % of one core per node at rest (max over nodes)"]["ok"] is False


def test_a_never_is_a_failed_row() -> None:
    ours = {"hang_gone": report.stats([0.3, None])}
    rows = {r["target"]: r for r in report.check_targets({"speakers": {"speaker": ours}})}
    assert rows["hang (SIGSTOP) -> next hop gone: max <= 0.40 s"]["ok"] is False


def test_issue_14_rows_for_many_services() -> None:
    many = {"services": 1000, "rest": {"cpu_share": 0.12}, "withdraw": {"all_gone": 0.36}}
    rows = {r["target"]: r for r in report.check_targets({"speakers": {"speaker": {}},
                                                          "scale": {"services": many}})}
    assert rows["1000 services: CPU at rest <= 15 % of one core"]["ok"] is True
    assert rows["1000 services: all withdrawn <= 0.3 s after named dies"]["ok"] is False
    assert rows["1000 services: all withdrawn <= 0.3 s after named dies"]["shown"] == "0.360 s"


def test_many_services_not_all_withdrawn_is_a_failed_row() -> None:
    many = {"services": 1000, "withdraw": {"all_gone": None}}
    rows = {r["target"]: r for r in report.check_targets({"speakers": {"speaker": {}},
                                                          "scale": {"services": many}})}
    assert rows["1000 services: all withdrawn <= 0.3 s after named dies"]["ok"] is False
