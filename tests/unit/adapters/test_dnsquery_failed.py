"""speaker.adapters.dnsquery.failed: what a DNS exchange raised, in the one wording that the
dns probe (checks.DnsProbe) and the soa, dnssec and recursive probes (dnsquery.exchange) use."""

from __future__ import annotations

import errno

import dns.exception
import dns.message
import pytest

from speaker.adapters.dnsquery import FAILURES, failed


@pytest.mark.parametrize(("exc", "code", "reason"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "refused",
     "connection refused (nothing listening on the port)"),
    (EOFError(), "refused", "connection closed by the server"),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), "no-address",
     "cannot send: address not available (EADDRNOTAVAIL)"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "os-error",
     "cannot send: Network is unreachable (ENETUNREACH)"),
    (dns.message.Truncated(), "truncated", "truncated response (TC set); use transport: tcp"),
    (dns.message.ShortHeader(), "malformed", "malformed response (ShortHeader: "),
    (dns.message.TrailingJunk(), "malformed", "malformed response (TrailingJunk: "),
    (dns.exception.DNSException("odd"), "malformed", "bad response (DNSException: odd)"),
])
def test_each_failure_is_worded_with_its_code(exc: Exception, code: str, reason: str) -> None:
    assert isinstance(exc, FAILURES)
    got_code, got_reason = failed(exc)
    assert got_code == code and got_reason.startswith(reason)
