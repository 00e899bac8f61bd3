"""speaker.logs: the lines of one pass of the event loop go out as one write, none lost."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import weakref

import pytest

from speaker import logs


class Stream(io.StringIO):
    """A stderr that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def logger(stream: Stream) -> tuple[logging.Logger, logs.PassHandler]:
    handler = logs.PassHandler(stream)
    handler.setFormatter(logs.KeyValueFormatter())
    log = logging.getLogger(f"speaker-test-{id(stream)}")
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG)
    log.propagate = False
    return log, handler


def written(stream: Stream) -> list[str]:
    """The last word of each line written: the message of these tests' lines."""
    return [line.split()[-1] for line in stream.getvalue().splitlines()]


def test_the_lines_of_one_loop_pass_beyond_the_first_go_out_in_one_write_at_its_end() -> None:
    stream = Stream()
    log, _ = logger(stream)

    async def body() -> None:
        for i in range(1000):
            logs.log(log, logging.WARNING, "service down", service=f"s{i:04d}")
        assert stream.writes == logs.AT_ONCE  # the rest wait for the end of the pass
        await asyncio.sleep(0)
        assert stream.writes == logs.AT_ONCE + 1
    asyncio.run(body())
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1000 and lines[0].endswith("service=s0000")
    assert lines[-1].endswith("service=s0999")


def test_without_a_running_loop_each_line_is_written_at_once() -> None:
    stream = Stream()
    log, _ = logger(stream)
    logs.log(log, logging.INFO, "starting")
    assert stream.getvalue().endswith("info starting\n") and stream.writes == 1


def test_a_critical_line_goes_out_at_once_after_the_waiting_ones() -> None:
    stream = Stream()
    log, _ = logger(stream)

    async def body() -> None:
        logs.log(log, logging.INFO, "first")
        logs.log(log, logging.CRITICAL, "bug")
        assert written(stream) == ["first", "bug"]
    asyncio.run(body())


def test_a_line_from_another_thread_goes_out_at_once_in_order() -> None:
    stream = Stream()
    log, _ = logger(stream)

    async def body() -> None:
        logs.log(log, logging.INFO, "loop")
        thread = threading.Thread(target=logs.log, args=(log, logging.INFO, "thread"))
        thread.start()
        thread.join()
        assert written(stream) == ["loop", "thread"]
    asyncio.run(body())


def test_the_first_lines_of_a_pass_are_written_as_they_come() -> None:
    """A loop that hangs later in an ordinary pass has shown the lines that led to it."""
    stream = Stream()
    log, _ = logger(stream)

    async def body() -> None:
        logs.log(log, logging.INFO, "one")
        assert written(stream) == ["one"]
        logs.log(log, logging.INFO, "two")
        assert written(stream) == ["one", "two"] and stream.writes == 2
        await asyncio.sleep(0)
        for i in range(logs.AT_ONCE):  # a new pass: as many at once again
            logs.log(log, logging.INFO, f"p{i}")
        assert stream.writes == 2 + logs.AT_ONCE
    asyncio.run(body())


def test_lines_still_waiting_are_written_by_logging_shutdown_at_exit() -> None:
    stream = Stream()
    log, handler = logger(stream)

    async def body() -> None:
        for i in range(logs.AT_ONCE):
            logs.log(log, logging.INFO, f"line{i}")
        logs.log(log, logging.INFO, "last words")
        assert not stream.getvalue().endswith("last words\n")
        logging.shutdown([weakref.ref(handler)])  # what atexit runs
        assert stream.getvalue().endswith("info last words\n")
    asyncio.run(body())


def test_the_loop_ending_writes_the_lines_of_its_last_pass() -> None:
    stream = Stream()
    log, _ = logger(stream)

    async def line(text: str) -> None:
        logs.log(log, logging.INFO, text)
    asyncio.run(line("one"))
    assert stream.getvalue().endswith("info one\n")

    async def second() -> None:  # a second loop schedules its own write
        await line("two")
        await asyncio.sleep(0)
        assert written(stream) == ["one", "two"]
    asyncio.run(second())


def test_a_closed_stderr_loses_nothing_else_and_raises_nothing() -> None:
    stream = Stream()
    log, handler = logger(stream)
    stream.close()
    logs.log(log, logging.INFO, "nobody listens")
    assert handler.waiting == []


def test_a_line_that_cannot_be_formatted_loses_only_itself(
        capsys: pytest.CaptureFixture[str]) -> None:
    stream = Stream()
    log, _ = logger(stream)

    class Unprintable:
        def __str__(self) -> str:
            raise ValueError("no words")

    async def body() -> None:
        logs.log(log, logging.INFO, "before")
        logs.log(log, logging.INFO, "broken", value=Unprintable())
        logs.log(log, logging.INFO, "after")
        await asyncio.sleep(0)
    asyncio.run(body())
    assert written(stream) == ["before", "after"]
    assert "no words" in capsys.readouterr().err  # logging's own report of the bad record
