"""Helpers of the graceful-drain tests on a Rig (tests/unit/rig.py): a helper module, not a
test (tests/unit/adapters/test_control_graceful.py, test_control_drain_endings.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from speaker.core.gshut import GRACEFUL_SHUTDOWN
from speaker.core.verdicts import Outcome
from tests.fakes import scripted
from tests.unit.rig import Rig, ask

GSHUT = f"community [{GRACEFUL_SHUTDOWN}]"


def auto_ack(rig: Rig) -> None:
    loop = asyncio.get_running_loop()
    rig.sink.on_write = lambda _: loop.call_soon(rig.ack_all)


async def draining(rig: Rig, seconds: float = 60, **args: Any) -> asyncio.Future[Any]:
    """Start a graceful withdraw of dns; return once its GSHUT announce is acknowledged."""
    answer = asyncio.ensure_future(ask(rig, "withdraw", services=["dns"], graceful=seconds,
                                       **args))
    while GSHUT not in rig.sink.lines[-1] or rig.speaker.book.waiting:
        await asyncio.sleep(0.001)
    return answer


async def fail_until_down(rig: Rig, name: str = "dns") -> None:
    """`fall` failing probe rounds of service `name` (SERVFAIL): it is down."""
    run_ = rig.speaker.runs[name]
    probe = scripted(run_.probes[0])  # a shared probe sends through its group's
    fail = Outcome(ok=False, reason="dns check: rcode SERVFAIL", latency=0.001, code="rcode")
    for _ in range(run_.service.timing.fall):
        probe.outcomes.append(fail)
        rig.speaker.observe(run_, await rig.speaker.probe_round(run_))
