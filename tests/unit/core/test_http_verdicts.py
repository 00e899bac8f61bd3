"""HTTP/1.1 on the wire, pure: the request, the head, the body's framing, chunks, the verdict."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from speaker.core.config import HttpCheck
from speaker.core.http_verdicts import (
    Dechunker,
    Framing,
    Head,
    Malformed,
    framing,
    judge,
    parse_head,
    request,
)


def check(**kw: object) -> HttpCheck:
    base: dict[str, object] = {"url": "http://[2001:db8::80]/health",
                               "server": ipaddress.ip_address("2001:db8::80"), "port": 80,
                               "host": "2001:db8::80", "target": "/health"}
    return HttpCheck(**{**base, **kw})  # type: ignore[arg-type]


def test_request_is_one_get_with_host_and_connection_close() -> None:
    assert request(check(host="www.example.test", port=8080)) == (
        b"GET /health HTTP/1.1\r\nHost: www.example.test:8080\r\n"
        b"User-Agent: anycast-speaker\r\nAccept: */*\r\nConnection: close\r\n\r\n")


def test_request_brackets_an_ipv6_host() -> None:
    assert b"\r\nHost: [2001:db8::80]\r\n" in request(check())


def test_head_parsed_with_names_lower_cased() -> None:
    head = parse_head(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n"
                      b"X-A:  b \r\n\r\n")
    assert head == Head(503, "Service Unavailable", (("content-length", "3"), ("x-a", "b")))


def test_a_status_line_without_reason_is_read() -> None:
    assert parse_head(b"HTTP/1.0 200\r\n\r\n") == Head(200, "", (), minor=0)


@pytest.mark.parametrize(("data", "reason"), [
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP/1.x status line: 'SSH-2.0-OpenSSH_9.2'"),
    (b"HTTP/2 200\r\n\r\n", "not an HTTP/1.x status line: 'HTTP/2 200'"),
    (b"HTTP/1.1 20 OK\r\n\r\n", "not an HTTP/1.x status line: 'HTTP/1.1 20 OK'"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line: 'no colon here'"),
    (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "bad header line: 'Bad Name: x'"),
    (b"HTTP/1.1 200 OK\r\nA: b\r\n  folded\r\n\r\n", "obsolete line folding"),
])
def test_malformed_heads_give_precise_reasons(data: bytes, reason: str) -> None:
    with pytest.raises(Malformed) as info:
        parse_head(data)
    assert reason in str(info.value)


def test_a_long_bad_line_is_shown_cut() -> None:
    with pytest.raises(Malformed) as info:
        parse_head(b"X" * 500 + b"\r\n\r\n")
    assert str(info.value).endswith("...'") and len(str(info.value)) < 100


@pytest.mark.parametrize(("headers", "method", "status", "want"), [
    ((("content-length", "12"),), "GET", 200, Framing("length", 12)),
    ((("content-length", "12, 12"),), "GET", 200, Framing("length", 12)),
    ((("transfer-encoding", "gzip, chunked"), ("content-length", "5")), "GET", 200,
     Framing("chunked")),
    ((("transfer-encoding", "gzip"),), "GET", 200, Framing("close")),
    ((), "GET", 200, Framing("close")),
    ((("content-length", "12"),), "HEAD", 200, Framing("length", 0)),
    ((), "GET", 204, Framing("length", 0)),
    ((), "GET", 304, Framing("length", 0)),
])
def test_framing_follows_rfc_9112(headers: tuple[tuple[str, str], ...], method: str,
                                  status: int, want: Framing) -> None:
    assert framing(Head(status, "", headers), method) == want


@pytest.mark.parametrize(("value", "reason"), [
    ("1, 2", "conflicting Content-Length values: 1, 2"),
    ("-1", "bad Content-Length: '-1'"),
    ("x", "bad Content-Length: 'x'"),
])
def test_bad_content_length_is_malformed(value: str, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        framing(Head(200, "", (("content-length", value),)), "GET")


def test_dechunker_decodes_chunks_extensions_and_trailers() -> None:
    d = Dechunker()
    assert d.feed(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n") == b"hello world"
    assert d.done


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=6), st.integers(1, 7))
def test_dechunker_gives_the_same_body_however_the_bytes_arrive(pieces: list[bytes],
                                                                step: int) -> None:
    wire = b"".join(f"{len(p):X}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
    d = Dechunker()
    body = b"".join(d.feed(wire[i:i + step]) for i in range(0, len(wire), step))
    assert body == b"".join(pieces) and d.done


@pytest.mark.parametrize(("wire", "reason"), [
    (b"zz\r\n", "bad chunk size line: 'zz'"),
    (b"3\r\nabcX\r\n", "chunk data not followed by CRLF"),
    (b"1" * 2000, "chunk line longer than 1024 bytes"),
])
def test_bad_chunks_are_malformed(wire: bytes, reason: str) -> None:
    with pytest.raises(Malformed, match=reason):
        Dechunker().feed(wire)


def test_judge_passes_the_expected_status_and_body() -> None:
    assert judge(check(body="ok"), Head(200), b"all ok\n") == ("ok", "ok")


@pytest.mark.parametrize(("status", "reason"), [
    ((200,), "HTTP 503 (expected 200)"),
    ((200, 204), "HTTP 503 (expected 200 or 204)"),
    ((200, 204, 301), "HTTP 503 (expected one of 200, 204, 301)"),
])
def test_judge_names_a_wrong_status(status: tuple[int, ...], reason: str) -> None:
    assert judge(check(status=status), Head(503), b"") == ("status", reason)


def test_judge_names_a_missing_body_and_where_it_looked() -> None:
    assert judge(check(body="ok"), Head(200), b"fail") == ("body",
                                                          "body does not contain 'ok'")
    assert judge(check(body="ok"), Head(200), b"x" * 10, cut=True) == (
        "body", "body does not contain 'ok' in its first 10 bytes")
