"""The one channel to ExaBGP: commands out on stdout, acks and events in on stdin.

A reader thread of its own drains stdin at all times, so ExaBGP can never
block on a full pipe, and hands each line to the event loop. Lines are
bounded: an over-long line is cut, reported once and skipped to its end.
Writing is one `os.write` per command (atomic below PIPE_BUF), so a watchdog
writing to the same pipe never interleaves with us.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable

from speaker.core import exabgp_api
from speaker.core.exabgp_api import Garbage, Message
from speaker.ports import ChannelClosed

READ_SIZE = 65536


def split_lines(buffer: bytearray, chunk: bytes, limit: int) -> tuple[list[bytes], bool]:
    """Append `chunk` to `buffer` and take the complete lines out of it.

    Returns the lines and whether `buffer` overflowed `limit` without a newline
    (its content is then dropped up to the next newline, reported as one
    over-long line).
    """
    buffer += chunk
    lines = []
    while True:
        end = buffer.find(b"\n")
        if end < 0:
            break
        lines.append(bytes(buffer[:end]))
        del buffer[: end + 1]
    overflow = len(buffer) > limit
    return lines, overflow


class StdinReader:
    """Reads `fd` in a thread and calls `on_message` / `on_eof` in the event loop."""

    def __init__(self, fd: int, loop: asyncio.AbstractEventLoop,
                 on_message: Callable[[Message], None], on_eof: Callable[[], None]) -> None:
        self._fd = fd
        self._loop = loop
        self._on_message = on_message
        self._on_eof = on_eof
        self._thread = threading.Thread(target=self._run, name="exabgp-stdin", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _deliver(self, message: Message) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting
            self._loop.call_soon_threadsafe(self._on_message, message)

    def _run(self) -> None:
        buffer = bytearray()
        skipping = False
        limit = exabgp_api.MAX_LINE
        while True:
            try:
                chunk = os.read(self._fd, READ_SIZE)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
            lines, overflow = split_lines(buffer, chunk, limit)
            for line in lines:
                if skipping:  # the tail of an over-long line
                    skipping = False
                    continue
                self._deliver(exabgp_api.parse(line))
            if overflow:
                if not skipping:
                    sample = bytes(buffer[:60]).decode("utf-8", "replace")
                    self._deliver(Garbage(f"line longer than {limit} bytes", sample))
                skipping = True
                buffer.clear()
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_eof)


class StdoutWriter:
    """Writes API lines to ExaBGP: a `speaker.ports.Sink`."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.closed = False

    def write(self, line: str) -> None:
        if self.closed:
            raise ChannelClosed("stdout to ExaBGP is closed")
        data = (line + "\n").encode()
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
        except (BrokenPipeError, OSError) as exc:
            self.closed = True
            raise ChannelClosed(f"cannot write to ExaBGP: {exc}") from None
