"""speaker.core.recursion.combine: a fresh name's SERVFAIL (by its rcode, not its wording)
or timeout while the cached name resolves is `upstream`."""

from __future__ import annotations

import dns.rcode

from speaker.core.recursion import Asked, combine

CACHED = Asked("www.example.com.", False, "ok", "ok", dns.rcode.NOERROR)


def test_a_fresh_servfail_is_upstream_whatever_its_reason_says() -> None:
    fresh = Asked("x.probe.example.com.", True, "rcode", "server failure for x AAAA",
                  dns.rcode.SERVFAIL)
    code, reason = combine([CACHED, fresh])
    assert code == "upstream"
    assert reason.startswith("server failure for x AAAA (the cached name www.example.com. "
                             "still resolves")


def test_a_fresh_refused_that_mentions_servfail_is_not_upstream() -> None:
    fresh = Asked("x.probe.example.com.", True, "rcode", "REFUSED (not SERVFAIL) for x",
                  dns.rcode.REFUSED)
    assert combine([CACHED, fresh])[0] == "rcode"


def test_a_fresh_timeout_is_upstream_and_has_no_rcode() -> None:
    fresh = Asked("x.probe.example.com.", True, "timeout", "no answer within 1 s for x")
    assert fresh.rcode is None and combine([CACHED, fresh])[0] == "upstream"


def test_without_a_cached_name_a_servfail_stays_an_rcode_failure() -> None:
    fresh = Asked("x.probe.example.com.", True, "rcode", "SERVFAIL for x", dns.rcode.SERVFAIL)
    assert combine([fresh]) == ("rcode", "SERVFAIL for x")
