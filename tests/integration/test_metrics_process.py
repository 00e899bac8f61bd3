"""Metrics of a real `python3 -m speaker`: a local DNS server, ExaBGP played by the test.

The test answers every command on the process's stdout with `done` (as ExaBGP
does), scrapes the endpoint with Prometheus's own text parser after an
announce, a maintenance withdraw and an announce again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.running import DnsServer
from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def free_port(family: int, kind: int, host: str) -> int:
    with socket.socket(family, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Exabgp:
    """Plays ExaBGP: reads the process's commands, answers each with `done` (and the
    summary's header, the answer of an ExaBGP with no session, before its `done`)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.commands: list[str] = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        assert self.proc.stdout is not None and self.proc.stdin is not None
        for raw in self.proc.stdout:
            self.commands.append(raw.decode().strip())
            try:
                if self.commands[-1] == "show neighbor summary":
                    self.proc.stdin.write(b"Peer  AS  up/down state  |  #sent  #recvd\n")
                self.proc.stdin.write(b"done\n")
                self.proc.stdin.flush()
            except (OSError, ValueError):  # the test closed stdin: the process is stopping
                return


@pytest.fixture
def speaker(tmp_path: Path, request: pytest.FixtureRequest
            ) -> Iterator[tuple[Exabgp, str, Path]]:
    dns_server = DnsServer()
    busy = None
    if getattr(request, "param", None) == "port in use":
        busy = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        busy.bind(("::1", 0))
        busy.listen()
        port = busy.getsockname()[1]
    else:
        port = free_port(socket.AF_INET6, socket.SOCK_STREAM, "::1")
    cfg = tmp_path / "speaker.yaml"
    cfg.write_text(json.dumps({
        "control": {"socket": str(tmp_path / "s.sock")},
        "state_dir": str(tmp_path / "state"),
        "drain_delay": 0,
        "metrics": {"listen": "::1", "port": port},
        "services": [{"name": "dns", "prefixes": ["2001:db8::53/128"],
                      "checks": [{"type": "dns", "server": "127.0.0.1", "port": dns_server.port,
                                  "qname": "example.com.", "qtype": "SOA"}]}],
    }))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([SPEAKER_PYTHON, "-m", "speaker", "--config", str(cfg)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd="/")
    exabgp = Exabgp(proc)
    try:
        yield exabgp, f"http://[::1]:{port}/metrics", cfg
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        dns_server.close()
        if busy is not None:
            busy.close()


def scrape(url: str) -> tuple[dict[str, str], dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    types: dict[str, str] = {}
    values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return types, values


def value(values: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return values[(name, frozenset(labels.items()))]


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def ctl(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([SPEAKER_PYTHON, "-m", "speaker.cli", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=30, env=env, check=False)


def announced(url: str) -> float:
    try:
        _, values = scrape(url)
    except OSError:
        return -1
    return value(values, "speaker_prefix_announced", service="dns", prefix="2001:db8::53/128")


def test_metrics_of_a_running_process_follow_withdraw_and_announce(
        speaker: tuple[Exabgp, str, Path]) -> None:
    exabgp, url, cfg = speaker
    wait_until(lambda: announced(url) == 1)
    types, values = scrape(url)
    assert types["speaker_service_state"] == "gauge"
    assert types["speaker_check_results"] == "counter"
    assert types["speaker_check_latency_seconds"] == "histogram"
    assert types["speaker_exabgp_acks"] == "counter"
    assert types["speaker_start_time_seconds"] == "gauge"
    assert value(values, "speaker_service_state", service="dns", state="up") == 1
    check = "dns check 127.0.0.1:{} SOA example.com.".format(
        json.loads(cfg.read_text())["services"][0]["checks"][0]["port"])
    assert value(values, "speaker_check_results_total", service="dns", check=check,
                 outcome="ok") >= 3
    assert value(values, "speaker_check_latency_seconds_count", service="dns", check=check) >= 3
    assert value(values, "speaker_exabgp_acks_total", result="done") >= 2
    assert exabgp.commands[:3] == ["clear adj-rib out", "show neighbor summary",
                                   "announce route 2001:db8::53/128 next-hop self"]

    drained = ctl(cfg, "withdraw", "--reason", "metrics test")
    assert drained.returncode == 0, drained.stderr
    _, values = scrape(url)
    assert value(values, "speaker_service_state", service="dns", state="maintenance") == 1
    assert value(values, "speaker_prefix_announced", service="dns",
                 prefix="2001:db8::53/128") == 0
    assert value(values, "speaker_service_transitions_total", service="dns", from_state="up",
                 to_state="maintenance") == 1

    resumed = ctl(cfg, "announce")
    assert resumed.returncode == 0, resumed.stderr
    wait_until(lambda: announced(url) == 1)
    _, values = scrape(url)
    assert value(values, "speaker_service_transitions_total", service="dns",
                 from_state="maintenance", to_state="starting") == 1


@pytest.mark.parametrize("speaker", ["port in use"], indirect=True)
def test_a_metrics_port_in_use_costs_only_the_metrics(
        speaker: tuple[Exabgp, str, Path]) -> None:
    exabgp, _, cfg = speaker
    wait_until(lambda: "announce route 2001:db8::53/128 next-hop self" in exabgp.commands)
    status = json.loads(ctl(cfg, "status", "--json").stdout)
    assert status["services"][0]["prefixes"][0]["confirmed"] == "announced"
