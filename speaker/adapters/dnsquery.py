"""One DNS exchange for the checks that ask more than a header: UDP, TCP when truncated.

Owns `exchange`, which sends a query with dnspython's asyncquery and returns
the response, or (code, reason) in the words the checks use (timeout,
refused, no-address, os-error, malformed), and `os_error`, those words for a
socket error (the `dns` probe's own exchange uses it too). Never raises for
what the network does, never logs, never judges the answer: the `soa`,
`dnssec` and `recursive` probes do.
"""

from __future__ import annotations

import errno

import dns.exception
import dns.flags
import dns.message

__all__ = ["exchange", "os_error"]


async def exchange(query: dns.message.Message, server: str, port: int, timeout: float
                   ) -> dns.message.Message | tuple[str, str]:
    """`query`'s response from `server` (over TCP if the UDP one is truncated), or
    (code, reason)."""
    from dns import asyncquery  # 0.2 s of imports (httpx): only when such a check runs

    try:
        response = await asyncquery.udp(query, server, timeout=timeout, port=port,
                                         ignore_unexpected=True)
        if response.flags & dns.flags.TC:
            response = await asyncquery.tcp(query, server, timeout=timeout, port=port)
    except (dns.exception.Timeout, TimeoutError):
        return "timeout", f"timeout after {timeout:g} s"
    except ConnectionRefusedError:
        return "refused", "connection refused (nothing listening on the port)"
    except EOFError:
        return "refused", "connection closed by the server"
    except OSError as exc:
        return os_error(exc)
    except dns.exception.DNSException as exc:
        return "malformed", f"bad response ({exc.__class__.__name__}: {exc})"
    return response


def os_error(exc: OSError) -> tuple[str, str]:
    """(code, reason) for a socket error: no-address when the source address is gone."""
    name = errno.errorcode.get(exc.errno or 0, "error")
    if exc.errno == errno.EADDRNOTAVAIL:
        return "no-address", f"cannot send: address not available ({name})"
    return "os-error", f"cannot send: {exc.strerror or exc} ({name})"
