"""Log lines for operators: a fixed message plus key=value context, on stderr.

stdout belongs to ExaBGP; nothing here ever writes to it. `--log-format json`
gives one JSON object per line for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "speaker"


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


def setup(level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
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
