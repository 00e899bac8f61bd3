"""The adaptive timeout and the fast cold start, wired: config keys, probes, engine rounds."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable

import dns.flags
import dns.message
import dns.rrset
import pytest

from speaker.adapters.checks import DnsProbe
from speaker.core import config, rtt
from speaker.core.config import DnsCheck
from speaker.core.errors import ConfigError
from speaker.core.rtt import Run
from speaker.core.verdicts import Outcome
from tests.unit.engine_rig import EngineRig

YAML = """
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
    timing: {{{timing}}}
"""
TIMEOUT = Outcome(False, "dns check: timeout after 20 ms (adaptive)", 0.02, "timeout")


def timing(text: str) -> config.Timing:
    return config.parse(YAML.format(timing=text)).services[0].timing


def test_adaptive_timeout_is_on_by_default_with_a_20_ms_floor() -> None:
    t = timing("")
    assert t.adaptive_timeout and t.min_timeout == 0.02
    assert timing("adaptive_timeout: false, min_timeout: 0.005") == config.Timing(
        adaptive_timeout=False, min_timeout=0.005)
    assert timing("timeout: 0.01, interval: 0.05").min_timeout == 0.01  # the default, capped


@pytest.mark.parametrize(("text", "expected"), [
    ("min_timeout: 0.3", "/services/0/timing/min_timeout: must be <= timeout (0.25)"),
    ("min_timeout: 0", "/services/0/timing/min_timeout: must be >= 0.001"),
    ("adaptive_timeout: yes please", "/services/0/timing/adaptive_timeout: must be true or false"),
])
def test_bad_adaptive_settings_are_refused_with_their_path(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.parse(YAML.format(timing=text), "t.yaml")
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_the_engine_builds_adaptive_probes_and_confirms_a_failure_with_the_hang_window() -> None:
    rig = EngineRig(config.parse(YAML.format(timing="rise: 1, fall: 2")))
    rig.up()
    probe = rig.probes.built[0]
    assert probe.min_timeout == 0.02
    probe.default = TIMEOUT
    rig.round(2)
    assert probe.confirms[-2:] == [Run.FIRST, Run.CONFIRM]  # no overload policy: quiet
    assert rig.speaker.runs["dns"].health.state.value == "down"


def test_fall_one_and_adaptive_off_keep_the_fixed_timeout() -> None:
    for text in ("fall: 1", "adaptive_timeout: false"):
        rig = EngineRig(config.parse(YAML.format(timing=text)))
        assert rig.probes.built[0].min_timeout is None


def test_announce_starts_the_rise_rounds_at_once() -> None:
    rig = EngineRig(config.parse(YAML.format(timing="")))
    rig.up()
    run = rig.speaker.runs["dns"]
    asyncio.run(rig.speaker.set_maintenance(["dns"], "test", "test"))
    asyncio.run(rig.speaker.clear_maintenance(["dns"]))
    assert run.probe_now  # no pause before the first rise round


class Slow(asyncio.DatagramProtocol):
    """Answers every query after `delay` seconds."""

    def __init__(self) -> None:
        self.delay = 0.0
        self.mute = False  # drop every query (a hung server)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.mute:
            return
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "SOA",
                                                   "ns. host. 1 2 3 4 5"))
        assert self.transport is not None
        asyncio.get_running_loop().call_later(self.delay, self.transport.sendto,
                                              response.to_wire(), addr)


def _two_runs(change: Callable[[Slow], None], second: Run
              ) -> tuple[float, Outcome, Outcome, float]:
    """A probe with a 1 s ceiling learns a local `Slow` server; then `change(server)`, one
    first run and one `second` run. Returns the learned timeout, both outcomes and the
    hang window after them."""
    async def go() -> tuple[float, Outcome, Outcome, float]:
        loop = asyncio.get_running_loop()
        server = Slow()
        transport, _ = await loop.create_datagram_endpoint(lambda: server,
                                                           local_addr=("127.0.0.1", 0))
        port = transport.get_extra_info("sockname")[1]
        check = DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="example.com.",
                         port=port)
        probe = DnsProbe(check, 1.0, min_timeout=0.02)
        try:
            for _ in range(8):
                assert (await probe.run()).ok
            learned = probe.current_timeout()
            change(server)
            first, then = await probe.run(), await probe.run(second)
            return learned, first, then, probe.current_timeout(Run.CONFIRM)
        finally:
            probe.close()
            transport.close()

    return asyncio.run(go())


def test_a_late_answer_to_the_timed_out_query_passes_the_confirming_run() -> None:
    # slower than the first timeout (20 ms) and than each confirming query's share of the
    # window (10 ms): the first query's answer, 40 ms late, passes it within the window
    learned, early, confirmed, window = _two_runs(lambda s: setattr(s, "delay", 0.04),
                                                  Run.CONFIRM)
    assert learned < 0.25  # a local server: the timeout comes down towards the floor
    assert early.code == "timeout" and "adaptive" in early.reason
    assert confirmed.ok and confirmed.latency < 0.03, confirmed  # within the window
    assert window >= 0.07  # the stall is learned: the next window is about twice as long


def test_a_hung_server_is_confirmed_after_the_window_with_every_query_unread() -> None:
    async def go() -> tuple[Outcome, Outcome, Outcome]:
        hung = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never read
        hung.bind(("127.0.0.1", 0))
        check = DnsCheck(server=ipaddress.ip_address("127.0.0.1"), qname="example.com.",
                         port=hung.getsockname()[1])
        probe = DnsProbe(check, 1.0, min_timeout=0.02)
        probe.rtt = rtt.Rtt(srtt=0.0003, rttvar=0.0001, samples=20, peak=0.0004)  # local
        try:
            return await probe.run(), await probe.run(Run.CONFIRM), await probe.run(Run.FULL)
        finally:
            probe.close()
            hung.close()

    early, hung, full = asyncio.run(go())
    assert early.code == hung.code == "timeout"
    assert 0.025 <= hung.latency < 0.2, hung  # the window: 30 ms for a local server
    assert "hung, 4 queries unanswered for" in hung.reason, hung.reason
    assert full.latency >= 1.0  # maybe busy: the configured timeout


def test_a_server_that_reads_its_queries_gets_the_full_timeout_however_silent() -> None:
    _, _, silent, _ = _two_runs(lambda s: setattr(s, "mute", True), Run.CONFIRM)
    assert silent.code == "timeout" and silent.latency >= 0.99, silent
    assert "reads its queries but answers none" in silent.reason, silent.reason


def test_a_server_that_turns_slow_but_reads_passes_the_confirmation() -> None:
    # suddenly a thousand times slower: far beyond the window
    assert _two_runs(lambda s: setattr(s, "delay", 0.3), Run.CONFIRM)[2].ok


def test_a_suddenly_slowed_server_passes_a_full_confirmation() -> None:
    # slow, but well within the configured 1 s
    assert _two_runs(lambda s: setattr(s, "delay", 0.25), Run.FULL)[2].ok
