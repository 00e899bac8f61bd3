"""The control protocol: versioned JSON lines."""

import pytest

from speaker.core import protocol
from speaker.core.protocol import Progress, ProtocolError, Reply, Request


def test_request_round_trip() -> None:
    req = Request("withdraw", {"services": ["dns"], "reason": "patching"})
    assert protocol.decode_request(protocol.encode_request(req)) == req


def test_reply_round_trips() -> None:
    ok = Reply(ok=True, result={"safe": True})
    assert protocol.decode_reply(protocol.encode_reply(ok)) == ok
    err = protocol.error(protocol.UNKNOWN_SERVICE, "unknown service x")
    assert protocol.decode_reply(protocol.encode_reply(err)) == err
    assert protocol.decode_reply(protocol.encode_progress("draining")) == Progress("draining")


def test_lines_are_single_json_lines() -> None:
    line = protocol.encode_request(Request("status"))
    assert line.endswith(b"\n") and line.count(b"\n") == 1


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"not json\n", protocol.BAD_REQUEST),
        (b"[1]\n", protocol.BAD_REQUEST),
        (b'{"cmd": "status"}\n', protocol.UNSUPPORTED_VERSION),
        (b'{"v": 2, "cmd": "status"}\n', protocol.UNSUPPORTED_VERSION),
        (b'{"v": 1}\n', protocol.BAD_REQUEST),
        (b'{"v": 1, "cmd": "format-disk"}\n', protocol.UNKNOWN_COMMAND),
        (b'{"v": 1, "cmd": "status", "args": []}\n', protocol.BAD_REQUEST),
        (b"\xff\n", protocol.BAD_REQUEST),
        (b'{"v": 1, "cmd": "' + b"x" * protocol.MAX_LINE + b'"}', protocol.BAD_REQUEST),
    ],
)
def test_bad_requests_get_structured_errors(line: bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.decode_request(line)
    assert info.value.code == code and info.value.message


def test_argument_helpers_validate() -> None:
    assert protocol.services_arg({}) == []
    with pytest.raises(ProtocolError):
        protocol.services_arg({"services": "dns"})
    with pytest.raises(ProtocolError):
        protocol.text_arg({"reason": "x" * 501}, "reason")
