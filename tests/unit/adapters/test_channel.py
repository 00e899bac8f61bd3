"""The stdin reader: bounded lines, every line delivered, EOF reported."""

import asyncio
import os

from speaker.adapters.channel import StdinReader, StdoutWriter, split_lines
from speaker.core import exabgp_api
from speaker.core.exabgp_api import Ack, Garbage, Message
from speaker.ports import ChannelClosed


def test_split_lines_keeps_partial_tail() -> None:
    buf = bytearray()
    lines, overflow = split_lines(buf, b"done\nerr", 100)
    assert lines == [b"done"] and bytes(buf) == b"err" and not overflow
    lines, _ = split_lines(buf, b"or\n", 100)
    assert lines == [b"error"]


def test_split_lines_reports_overflow() -> None:
    buf = bytearray()
    _, overflow = split_lines(buf, b"x" * 101, 100)
    assert overflow


def read_all(data: bytes) -> list[Message]:
    async def go() -> list[Message]:
        loop = asyncio.get_running_loop()
        got: list[Message] = []
        done = asyncio.Event()
        r, w = os.pipe()
        reader = StdinReader(r, loop, got.append, done.set)
        reader.start()

        def feed() -> None:
            for i in range(0, len(data), 7000):
                os.write(w, data[i:i + 7000])
            os.close(w)

        await loop.run_in_executor(None, feed)
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0)
        os.close(r)
        return got

    return asyncio.run(go())


def test_reader_delivers_acks_and_survives_garbage() -> None:
    data = b"done\n\xff\xfe garbage\n" + b"y" * (exabgp_api.MAX_LINE * 3) + b"\nerror\n"
    got = read_all(data)
    assert got[0] == Ack(True)
    assert isinstance(got[1], Garbage)
    assert isinstance(got[2], Garbage) and "longer than" in got[2].reason
    assert got[3] == Ack(False)
    assert len(got) == 4


def test_writer_reports_a_closed_pipe() -> None:
    r, w = os.pipe()
    os.close(r)
    writer = StdoutWriter(w)
    try:
        writer.write("withdraw route 2001:db8::1/128")
    except ChannelClosed as exc:
        assert "cannot write" in str(exc)
    else:
        raise AssertionError("no ChannelClosed")
    finally:
        os.close(w)
