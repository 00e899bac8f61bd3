"""Batched routes: many prefixes that change at once go to ExaBGP as few lines, one ack each."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.exabgp_api import MAX_BATCH, WAKE, Ack
from speaker.core.routes import RETRY_FIRST, Confirmed
from speaker.engine.speaker import Speaker
from tests.exabgp_answers import ack_everything
from tests.fakes import Clock, Probes, ServerEvents, Sink


def yaml(state: Path, count: int) -> str:
    services = "".join(f"""
  - name: s{i}
    prefixes: ["2001:db8::{i + 1:x}/128"]
    timing: {{rise: 1, fall: 2}}
    checks: [{{type: dns, server: "2001:db8::53", qname: example.com.}}]""" for i in range(count))
    return f"state_dir: {state}\nservices:{services}\n"


def nlri(first: int, last: int) -> str:
    return " ".join(f"2001:db8::{i:x}/128" for i in range(first, last + 1))


def make(tmp: Path, count: int) -> Speaker:
    cfg = config.parse(yaml(tmp / "state", count))
    speaker = Speaker(cfg, Sink(), None, MaintenanceStore(cfg.state_dir), clock=Clock(),
                      probe_factory=Probes(), server_events=ServerEvents())
    speaker.start()
    ack_everything(speaker)
    lines(speaker)  # the clear and the summary
    return speaker


def lines(speaker: Speaker) -> list[str]:
    sink = speaker.exabgp.sink
    assert isinstance(sink, Sink)
    out, sink.lines = sink.lines, []
    return out


async def all_up(speaker: Speaker) -> None:
    """One passing round of every service (rise 1), folded in one turn of the loop."""
    runs = list(speaker.runs.values())
    results = await asyncio.gather(*(speaker.probe_round(r) for r in runs))
    speaker.exabgp.defer()
    for run, result in zip(runs, results, strict=True):
        speaker.observe(run, result)
    await asyncio.sleep(0)


def test_one_ack_per_line_confirms_every_prefix_of_it(tmp_path: Path) -> None:
    async def body() -> None:
        speaker = make(tmp_path, 3)
        await all_up(speaker)
        assert lines(speaker) == [f"announce attributes next-hop self nlri {nlri(1, 3)}"]
        done = speaker.exabgp.acks["done"]
        speaker.on_message(Ack(True))
        assert speaker.exabgp.acks["done"] == done + 1 and speaker.book.waiting == 0
        assert all(speaker.book.confirmed(p) is Confirmed.ANNOUNCED
                   for p in speaker.book.prefixes())
        speaker.on_message(Ack(True))  # nothing left in flight
        assert speaker.exabgp.acks["unexpected"] == 1
    asyncio.run(body())


def test_one_event_for_many_services_writes_their_withdraws_together(tmp_path: Path) -> None:
    async def body() -> None:
        count = MAX_BATCH + 20
        speaker = make(tmp_path, count)
        await all_up(speaker)
        ack_everything(speaker)
        lines(speaker)
        for name in speaker.runs:
            speaker.server_gone(name, "udp [2001:db8::53]:53: its last listening socket closed")
        # the first MAX_BATCH go out while the rest are still folded (ExaBGP starts on them)
        assert lines(speaker) == [f"withdraw attributes next-hop self nlri {nlri(1, MAX_BATCH)}"]
        await asyncio.sleep(0)
        assert lines(speaker) == [
            f"withdraw attributes next-hop self nlri {nlri(MAX_BATCH + 1, count)}"]
        assert speaker.book.waiting == count
        speaker.on_message(Ack(True))
        speaker.on_message(Ack(True))
        assert speaker.book.waiting == 0
        assert all(speaker.book.confirmed(p) is Confirmed.WITHDRAWN
                   for p in speaker.book.prefixes())
    asyncio.run(body())


def test_a_change_outside_a_deferred_turn_is_written_at_once(tmp_path: Path) -> None:
    speaker = make(tmp_path, 1)
    run = speaker.runs["s0"]
    speaker.observe(run, asyncio.run(speaker.probe_round(run)))
    assert lines(speaker) == ["announce route 2001:db8::1/128 next-hop self"]
    assert ipaddress.ip_network("2001:db8::1/128") in speaker.book.maybe_announced()


def test_a_refused_batch_is_retried_one_prefix_a_line(tmp_path: Path) -> None:
    async def body() -> None:
        count = 3
        speaker = make(tmp_path, count)
        await all_up(speaker)
        assert lines(speaker) == [f"announce attributes next-hop self nlri {nlri(1, count)}"]
        speaker.on_message(Ack(False))  # one bad prefix, say: ExaBGP refuses the whole line
        assert speaker.exabgp.acks["error"] == 1
        assert all(speaker.book.confirmed(p) is Confirmed.WITHDRAWN
                   for p in speaker.book.prefixes())
        clock = speaker.clock
        assert isinstance(clock, Clock)
        clock.advance(RETRY_FIRST)
        speaker.exabgp.flush()
        assert lines(speaker) == [f"announce route 2001:db8::{i:x}/128 next-hop self"
                                  for i in range(1, count + 1)]
        speaker.on_message(Ack(True))
        speaker.on_message(Ack(False))  # the bad one, alone
        speaker.on_message(Ack(True))
        confirmed = [speaker.book.confirmed(p) for p in speaker.book.prefixes()]
        assert confirmed.count(Confirmed.ANNOUNCED) == 2
        # those that got through share lines again; the bad one stays alone
        assert [speaker.book.line_limit(p) for p in speaker.book.prefixes()] == [0, 1, 0]
    asyncio.run(body())


def test_a_refused_line_of_many_is_retried_in_halves(tmp_path: Path) -> None:
    async def body() -> None:
        count = MAX_BATCH
        speaker = make(tmp_path, count)
        await all_up(speaker)
        assert len(lines(speaker)) == 1
        speaker.on_message(Ack(False))
        clock = speaker.clock
        assert isinstance(clock, Clock)
        clock.advance(RETRY_FIRST)
        speaker.exabgp.flush()
        assert [line for line in lines(speaker) if line != WAKE] == [  # (the burst's wake)
            f"announce attributes next-hop self nlri {nlri(1, count // 2)}",
            f"announce attributes next-hop self nlri {nlri(count // 2 + 1, count)}"]
    asyncio.run(body())
