"""Metrics: names, types and values as Prometheus parses them; failures stay contained."""

import asyncio
import ipaddress
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from speaker.adapters import metrics
from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.exabgp_api import Ack, Garbage, NeighborState
from speaker.core.verdicts import Outcome
from speaker.engine import Speaker
from tests.fakes import Addresses, Clock, Probes, Sink

YAML = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    timing: {{rise: 1, fall: 1}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    out["__types__"] = {((k, v),): 0 for k, v in types.items()}
    return out


def value(data: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return data[name][tuple(sorted(labels.items()))]


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    cfg = config.parse(YAML.format(state=tmp_path))
    probes = Probes()
    sink = Sink()
    speaker = Speaker(cfg, sink, Addresses(), MaintenanceStore(tmp_path), clock=Clock(),
                      probe_factory=probes)
    prom = metrics.Prometheus(speaker.status)
    speaker.recorder = metrics.Guard(prom)
    port = free_port()
    metrics.serve("::1", port, prom.registry)
    return speaker, probes, sink, f"http://[::1]:{port}/metrics", port


def step(speaker: Speaker) -> None:
    run = speaker.runs["dns"]
    speaker.observe(run, asyncio.run(speaker.probe_round(run)))
    while speaker.book.waiting:
        speaker.on_message(Ack(True))


def test_metrics_follow_announce_withdraw_and_sessions(served) -> None:  # type: ignore[no-untyped-def]
    speaker, probes, _, url, _ = served
    speaker.start()
    speaker.on_message(Ack(True))
    step(speaker)
    speaker.on_message(NeighborState("fd00::1", "up", "fd00::2", 65101))
    speaker.on_message(Ack(True))
    speaker.on_message(Garbage("unexpected line", "x"))
    data = scrape(url)
    types = {k[0][0]: k[0][1] for k in data["__types__"]}
    assert types["speaker_check_latency_seconds"] == "histogram"
    assert types["speaker_check_results"] == "counter"
    assert types["speaker_service_state"] == "gauge"
    assert value(data, "speaker_service_state", service="dns", state="up") == 1
    assert value(data, "speaker_service_state", service="dns", state="down") == 0
    assert value(data, "speaker_prefix_announced", service="dns", prefix="2001:db8::100/128") == 1
    assert value(data, "speaker_bgp_neighbor_up", peer="fd00::1") == 1
    assert value(data, "speaker_exabgp_acks_total", result="done") >= 2
    assert value(data, "speaker_exabgp_ignored_lines_total") == 1
    assert value(data, "speaker_check_results_total", service="dns", outcome="ok",
                 check="dns check [2001:db8::100]:53 SOA example.com.") == 1
    assert value(data, "speaker_build_info", version=__import__("speaker").__version__) == 1

    asyncio.run(speaker.set_maintenance(["dns"], "test", "pytest"))
    speaker.on_message(Ack(True))
    data = scrape(url)
    assert value(data, "speaker_service_state", service="dns", state="maintenance") == 1
    assert value(data, "speaker_prefix_announced", service="dns", prefix="2001:db8::100/128") == 0
    assert value(data, "speaker_service_transitions_total", service="dns", from_state="up",
                 to_state="maintenance") == 1

    asyncio.run(speaker.clear_maintenance(["dns"]))
    probes.built[0].default = Outcome(True, "ok", 0.002)
    step(speaker)
    data = scrape(url)
    assert value(data, "speaker_prefix_announced", service="dns", prefix="2001:db8::100/128") == 1


def test_endpoint_binds_only_the_configured_address(served) -> None:  # type: ignore[no-untyped-def]
    *_, port = served
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_wildcard_listen_address_is_refused() -> None:
    with pytest.raises(config.ConfigError) as info:
        config.parse(YAML.format(state="/tmp") + "metrics: {listen: '::'}\n")
    assert "/metrics/listen: must be one address" in str(info.value)


def test_a_failing_recorder_never_reaches_the_speaker(tmp_path: Path) -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            def fail(*args: object) -> None:
                raise RuntimeError("boom")
            return fail

    cfg = config.parse(YAML.format(state=tmp_path))
    sink = Sink()
    speaker = Speaker(cfg, sink, Addresses(), MaintenanceStore(tmp_path), clock=Clock(),
                      probe_factory=Probes(), recorder=metrics.Guard(Broken()))  # as the daemon wires it
    speaker.start()
    speaker.on_message(Ack(True))
    step(speaker)
    assert sink.lines[-1] == "announce route 2001:db8::100/128 next-hop self"
    assert isinstance(speaker.recorder, metrics.Guard) and speaker.recorder.failed
    assert ipaddress.ip_network("2001:db8::100/128") in speaker.book.prefixes()


def test_a_scrape_reads_the_state_on_the_event_loop_in_one_go() -> None:
    """The HTTP thread never reads the engine's state itself: the loop does, in one callback."""
    readers: list[int] = []

    def status() -> dict[str, Any]:
        readers.append(threading.get_ident())
        return {"started": 1.0, "services": [], "neighbors": [], "dns_server": None,
                "exabgp": {"waiting": 0}}

    async def main() -> bytes:
        prom = metrics.Prometheus(metrics.on_loop(asyncio.get_running_loop(), status))
        return await asyncio.to_thread(generate_latest, prom.registry)  # a scrape, elsewhere

    text = asyncio.run(main()).decode()
    assert readers == [threading.main_thread().ident]  # the loop's thread, once
    assert "speaker_exabgp_commands_waiting 0.0" in text


def test_a_stuck_loop_gives_a_scrape_without_the_state_gauges(
        caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()  # never runs: a stuck loop
    try:
        prom = metrics.Prometheus(metrics.on_loop(loop, lambda: {}, timeout=0.01))
        text = generate_latest(prom.registry).decode()
        generate_latest(prom.registry)
    finally:
        loop.close()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "speaker_build_info" in names and "speaker_service_state" not in names
    unreadable = [r for r in caplog.records if "state is unreadable" in r.getMessage()]
    assert len(unreadable) == 1  # once, not at every scrape
    assert "did not answer within 0.01 s" in str(unreadable[0].__dict__["fields"]["error"])


def test_hook_runs_are_counted_by_service_and_result(served) -> None:  # type: ignore[no-untyped-def]
    speaker, _, _, url, _ = served
    speaker.recorder.hook("dns", "failed")
    speaker.recorder.hook("dns", "failed")
    speaker.recorder.hook("dns", "timeout")
    data = scrape(url)
    assert value(data, "speaker_hook_runs_total", service="dns", result="failed") == 2
    assert value(data, "speaker_hook_runs_total", service="dns", result="timeout") == 1
