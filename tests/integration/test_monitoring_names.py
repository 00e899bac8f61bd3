"""Every metric the shipped dashboard and alert rules use is one a running speaker exposes.

The names come from a real `python3 -m speaker`'s /metrics (parsed with
Prometheus's own parser), after it has announced, drained, seen a BGP session
come up and read BIND's statistics channel: never from a hand-written list.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import monitoring
from tests.integration.running import NEIGHBOR_UP, Running

pytestmark = pytest.mark.integration


def sample_names(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """The sample names of a speaker that went through announce, drain, BGP up, DNS stats."""
    speaker = Running(tmp_path_factory.mktemp("speaker"))
    try:
        speaker.wait_until(lambda: "announce route 2001:db8::53/128 next-hop self"
                           in speaker.commands)
        speaker.send(NEIGHBOR_UP)
        speaker.send("not a line ExaBGP writes")
        drained = speaker.ctl("withdraw", "--reason", "monitoring test")
        assert drained.returncode == 0, drained.stderr
        wanted = {"speaker_bgp_neighbor_up", "speaker_dns_server_query_rate",
                  "speaker_service_transitions_total", "speaker_exabgp_ignored_lines_total"}
        speaker.wait_until(lambda: wanted <= sample_names(speaker.exposition()))
        yield sample_names(speaker.exposition())
    finally:
        speaker.close()


def test_the_running_speaker_exposes_what_the_test_drove(exposed: set[str]) -> None:
    assert {"speaker_check_latency_seconds_bucket", "speaker_check_results_total",
            "speaker_dns_server_queries_total", "speaker_prefix_announced",
            "speaker_bgp_neighbor_transitions_total"} <= exposed


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_metric_used_is_exposed_by_the_speaker(exposed: set[str], source: str) -> None:
    exprs = (monitoring.dashboard_exprs(monitoring.load_dashboard()) if source == "dashboard"
             else monitoring.rule_exprs())
    assert exprs
    unknown = {where: sorted(monitoring.metric_names(expr) - exposed) for where, expr in exprs
               if monitoring.metric_names(expr) - exposed}
    assert not unknown, f"metrics the speaker does not expose: {unknown}"
    for where, expr in exprs:
        assert monitoring.metric_names(expr), f"{where} selects no metric: {expr}"
