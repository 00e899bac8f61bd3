"""The control protocol between `speakerctl` and the running process.

One JSON object per line, each carrying the protocol version. A request is
`{"v": 1, "cmd": NAME, "args": {...}}`; the server answers with zero or more
progress lines `{"v": 1, "progress": TEXT}` and then one final line,
`{"v": 1, "ok": true, "result": {...}}` or
`{"v": 1, "ok": false, "error": {"code": CODE, "message": TEXT}}`.
Pure: encoding and decoding only; both sides import it.

Maintenance requests may carry a `tag` (the origin of a maintenance:
`speaker.core.maintenance`): `withdraw` records it (default `operator`),
`announce` ends only it (without one, every maintenance of the services).
`announce` with `wait` (seconds) answers once ExaBGP confirmed the announce,
or with NOT_CONFIRMED at the end of the wait; a service another tag still
holds is not waited for (the reply's `held` names the tags that hold it).
`withdraw` with `graceful` (seconds, `speaker.core.gshut`) first announces the
services with GRACEFUL_SHUTDOWN for that long; an `announce` meanwhile ends
that request with CANCELLED (the service stays announced).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from speaker.core import gshut
from speaker.core.maintenance import tag_problem

VERSION = 1
MAX_LINE = 64 * 1024

COMMANDS = ("status", "withdraw", "announce", "events", "reload", "ping")

# error codes
BAD_REQUEST = "bad-request"
UNKNOWN_COMMAND = "unknown-command"
UNSUPPORTED_VERSION = "unsupported-version"
UNKNOWN_SERVICE = "unknown-service"
NOT_CONFIRMED = "not-confirmed"
CANCELLED = "cancelled"  # a graceful drain announced again before its withdraw
CONFIG_INVALID = "config-invalid"
INTERNAL = "internal"


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Request:
    cmd: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class Progress:
    text: str


def _dump(obj: dict[str, Any]) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), sort_keys=True) + "\n").encode()


def encode_request(request: Request) -> bytes:
    return _dump({"v": VERSION, "cmd": request.cmd, "args": request.args})


def encode_reply(reply: Reply) -> bytes:
    if reply.ok:
        return _dump({"v": VERSION, "ok": True, "result": reply.result})
    return _dump({"v": VERSION, "ok": False,
                  "error": {"code": reply.code, "message": reply.message}})


def encode_progress(text: str) -> bytes:
    return _dump({"v": VERSION, "progress": text})


def error(code: str, message: str) -> Reply:
    return Reply(ok=False, code=code, message=message)


def _load(line: bytes) -> dict[str, Any]:
    if len(line) > MAX_LINE:
        raise ProtocolError(BAD_REQUEST, f"line longer than {MAX_LINE} bytes")
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(BAD_REQUEST, f"not a JSON line: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise ProtocolError(BAD_REQUEST, "not a JSON object")
    version = data.get("v")
    if version != VERSION:
        raise ProtocolError(UNSUPPORTED_VERSION,
                            f"protocol version {version!r} not supported (this is {VERSION})")
    return data


def decode_request(line: bytes) -> Request:
    data = _load(line)
    cmd = data.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(BAD_REQUEST, "missing 'cmd'")
    if cmd not in COMMANDS:
        raise ProtocolError(UNKNOWN_COMMAND,
                            f"unknown command {cmd[:40]!r} (known: {', '.join(COMMANDS)})")
    args = data.get("args", {})
    if not isinstance(args, dict):
        raise ProtocolError(BAD_REQUEST, "'args' must be an object")
    return Request(cmd=cmd, args=args)


def decode_reply(line: bytes) -> Reply | Progress:
    data = _load(line)
    if "progress" in data:
        return Progress(str(data["progress"]))
    if data.get("ok") is True:
        result = data.get("result", {})
        if not isinstance(result, dict):
            raise ProtocolError(BAD_REQUEST, "'result' must be an object")
        return Reply(ok=True, result=result)
    err = data.get("error")
    if data.get("ok") is False and isinstance(err, dict):
        return Reply(ok=False, code=str(err.get("code", "")), message=str(err.get("message", "")))
    raise ProtocolError(BAD_REQUEST, "reply without 'ok'")


def services_arg(args: dict[str, Any]) -> list[str]:
    """The optional `services` argument: a list of names ([] means all)."""
    value = args.get("services", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProtocolError(BAD_REQUEST, "'services' must be a list of names")
    return value


def text_arg(args: dict[str, Any], key: str, default: str = "", limit: int = 500) -> str:
    value = args.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError(BAD_REQUEST, f"'{key}' must be a string")
    if len(value) > limit:
        raise ProtocolError(BAD_REQUEST, f"'{key}' is longer than {limit} characters")
    return value


def tag_arg(args: dict[str, Any]) -> str | None:
    """The optional `tag` argument: a valid maintenance tag, or None if absent."""
    value = args.get("tag")
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(BAD_REQUEST, "'tag' must be a string")
    problem = tag_problem(value)
    if problem:
        raise ProtocolError(BAD_REQUEST, problem)
    return value


def seconds_arg(args: dict[str, Any], key: str, default: float, limit: float = 3600) -> float:
    """An optional number of seconds, 0..limit."""
    value = args.get(key, default)
    if (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            or not 0 <= value <= limit):
        raise ProtocolError(BAD_REQUEST, f"'{key}' must be 0..{limit:g} seconds")
    return float(value)


def graceful_arg(args: dict[str, Any]) -> float:
    """The optional `graceful` argument: seconds of an RFC 8326 drain (0: none)."""
    value = args.get("graceful")
    if value is None:
        return 0.0
    problem = gshut.seconds_problem(value)
    if problem:
        raise ProtocolError(BAD_REQUEST, f"'graceful': {problem}")
    return float(value)
