"""engine.gone: one 'server gone' line per dead server and pass, naming its services."""

from __future__ import annotations

import asyncio
import logging

import pytest

from speaker.engine.gone import GONE, NAMED, GoneLog

SOCKET = "udp [2001:db8::53]:53: its last listening socket closed"


def gone_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == GONE]


def test_many_services_of_one_dead_server_get_one_line_naming_how_many_and_which(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="speaker")
    gone = GoneLog()

    async def body() -> None:
        for i in range(1000):
            gone.add(f"s{i:04d}", SOCKET)
        assert gone_lines(caplog) == []  # at the end of the pass
        await asyncio.sleep(0)
    asyncio.run(body())
    first = ",".join(f"s{i:04d}" for i in range(NAMED))
    assert gone_lines(caplog) == [{"services": 1000, "names": f"{first} and {1000 - NAMED} more",
                                   "reason": SOCKET}]


def test_one_service_gets_the_line_it_always_had(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="speaker")
    gone = GoneLog()

    async def body() -> None:
        gone.add("dns", SOCKET)
        await asyncio.sleep(0)
    asyncio.run(body())
    assert gone_lines(caplog) == [{"service": "dns", "reason": SOCKET}]


def test_two_reasons_in_one_pass_get_a_line_each_and_a_later_pass_its_own(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="speaker")
    gone = GoneLog()

    async def body() -> None:
        gone.add("a", SOCKET)
        gone.add("b", "process 42 exited")
        gone.add("c", SOCKET)
        await asyncio.sleep(0)
        gone.add("d", SOCKET)
        await asyncio.sleep(0)
    asyncio.run(body())
    assert gone_lines(caplog) == [{"services": 2, "names": "a,c", "reason": SOCKET},
                                  {"service": "b", "reason": "process 42 exited"},
                                  {"service": "d", "reason": SOCKET}]


def test_outside_an_event_loop_the_line_is_logged_at_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="speaker")
    GoneLog().add("dns", SOCKET)
    assert gone_lines(caplog) == [{"service": "dns", "reason": SOCKET}]
