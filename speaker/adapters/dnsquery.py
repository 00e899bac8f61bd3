"""One DNS exchange for the checks that ask more than a header: UDP, TCP when truncated.

Owns `exchange`, which sends a query with dnspython's asyncquery and returns
the response, or (code, reason) in the words the checks use, and `failed`,
those words for what a DNS exchange raised (refused, no-address, os-error,
truncated, malformed; socket errors worded by `speaker.adapters.adaptive.os_error`,
as every probe words them), which the dns probe (`speaker.adapters.checks`) uses
too; each caller words its own timeout. Never raises for what the network
does, never logs, never judges the answer: the `soa`, `dnssec` and
`recursive` probes do.
"""

from __future__ import annotations

import asyncio

import dns.exception
import dns.flags
import dns.message

from speaker.adapters.adaptive import os_error

__all__ = ["FAILURES", "exchange", "failed"]

# what `failed` words (a timeout, dns.exception.Timeout or TimeoutError, is the caller's)
FAILURES = (OSError, EOFError, dns.exception.DNSException)
_MALFORMED = (dns.exception.FormError, dns.message.ShortHeader, dns.message.BadEDNS,
              dns.message.TrailingJunk, dns.exception.SyntaxError)


def failed(exc: OSError | EOFError | dns.exception.DNSException) -> tuple[str, str]:
    """(code, reason) for what a DNS exchange raised, other than a timeout."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused (nothing listening on the port)"
    if isinstance(exc, EOFError):
        return "refused", "connection closed by the server"
    if isinstance(exc, OSError):
        return os_error(exc)
    if isinstance(exc, dns.message.Truncated):
        return "truncated", "truncated response (TC set); use transport: tcp"
    if isinstance(exc, _MALFORMED):
        return "malformed", f"malformed response ({exc.__class__.__name__}: {exc})"
    return "malformed", f"bad response ({exc.__class__.__name__}: {exc})"


async def exchange(query: dns.message.Message, server: str, port: int, timeout: float
                   ) -> dns.message.Message | tuple[str, str]:
    """`query`'s response from `server` (over TCP if the UDP one is truncated), or
    (code, reason)."""
    from dns import asyncquery  # 0.2 s of imports (httpx): only when such a check runs

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        response = await asyncquery.udp(query, server, timeout=timeout, port=port,
                                         ignore_unexpected=True)
        if response.flags & dns.flags.TC:  # over TCP, within what is left of `timeout`
            left = max(0.001, deadline - loop.time())
            response = await asyncquery.tcp(query, server, timeout=left, port=port)
    except (dns.exception.Timeout, TimeoutError):
        return "timeout", f"timeout after {timeout:g} s"
    except FAILURES as exc:
        return failed(exc)
    return response

