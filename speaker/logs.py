"""Log lines for operators: a fixed message plus key=value context, on stderr.

stdout belongs to ExaBGP; nothing here ever writes to it. `--log-format json`
gives one JSON object per line for log shippers. Lines logged in one pass of
the event loop beyond its first AT_ONCE go out as one write at its end
(`PassHandler`: 1,000 services withdrawn by one event log 2,000 lines with
about 9 writes, not 2,000), formatted then (their fields are values: names,
counts, reasons, prefixes). The first lines of a pass are written at once, so
a loop that hangs in the middle of an ordinary pass has shown what led to it;
a line from another thread, a critical one (a bug) and every line at exit go
out at once, the waiting ones first, in order.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import asyncio

LOGGER = "speaker"
AT_ONCE = 8  # lines of one loop pass written as they come; the rest wait for its end


def _value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\\\n\t'):
        return json.dumps(text)
    return text


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        head = f"{stamp}.{int(record.msecs):03d}Z {record.levelname.lower()} {record.getMessage()}"
        tail = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        line = f"speaker: {head}" + (f" {tail}" if tail else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class PassHandler(logging.Handler):
    """Writes to `stream` once per pass of the running event loop (see the module)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.waiting: list[logging.LogRecord] = []
        self._due: asyncio.Handle | None = None
        self._due_in: asyncio.AbstractEventLoop | None = None  # the loop `_due` runs in
        self._mutex = threading.Lock()  # the loop's thread and the others share `waiting`
        self._in_pass = 0  # lines of the loop's current pass

    def emit(self, record: logging.LogRecord) -> None:
        loop = _running_loop()
        with self._mutex:
            self.waiting.append(record)  # formatted when written: after the pass's work
            if loop is not None and record.levelno < logging.CRITICAL:
                if self._due is None or self._due_in is not loop:  # a closed loop's never runs
                    self._due, self._due_in = loop.call_soon(self.flush), loop
                    self._in_pass = 0
                self._in_pass += 1
                if self._in_pass > AT_ONCE:
                    return
                records, self.waiting = self.waiting, []
                self._write(records)
                return
        self.flush()

    def flush(self) -> None:
        """Write the waiting lines (also at exit: `logging.shutdown` calls it)."""
        with self._mutex:
            records, self.waiting = self.waiting, []
            text = "".join(map(self._line, records))
            if self._due is not None:
                self._due.cancel()  # a no-op when it is the one running
                self._due = None
            self._write_text(text)

    def _write(self, records: list[logging.LogRecord]) -> None:
        self._write_text("".join(map(self._line, records)))

    def _write_text(self, text: str) -> None:
        if not text:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed: nothing left to tell
            pass

    def _line(self, record: logging.LogRecord) -> str:
        try:
            return self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return ""


def _running_loop() -> asyncio.AbstractEventLoop | None:
    """This thread's running event loop, if any (asyncio itself is never imported here:
    speakerctl's start-up does without it)."""
    aio = sys.modules.get("asyncio")
    if aio is None:
        return None
    try:
        loop: asyncio.AbstractEventLoop = aio.get_running_loop()
    except RuntimeError:  # no loop in this thread
        return None
    return loop


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = PassHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger(LOGGER)
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"{LOGGER}.{name}")


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message` with key=value `fields`."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={"fields": fields})


def log_bug(logger: logging.Logger, message: str, **fields: Any) -> None:
    """Log a bug at CRITICAL, with the traceback of the exception being handled."""
    logger.critical(message, extra={"fields": fields}, exc_info=True)
