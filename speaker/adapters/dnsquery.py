"""One DNS exchange for the checks that ask more than a header: UDP, TCP when truncated.

Owns `exchange`, which sends a query with dnspython's asyncquery and returns
the response, or (code, reason) in the words the checks use (timeout,
refused, no-address, os-error, malformed; socket errors worded by
`speaker.adapters.adaptive.os_error`, as every probe words them). Never raises for
what the network does, never logs, never judges the answer: the `soa`,
`dnssec` and `recursive` probes do.
"""

from __future__ import annotations

import asyncio

import dns.exception
import dns.flags
import dns.message

from speaker.adapters.adaptive import os_error

__all__ = ["exchange"]


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
    except ConnectionRefusedError:
        return "refused", "connection refused (nothing listening on the port)"
    except EOFError:
        return "refused", "connection closed by the server"
    except OSError as exc:
        return os_error(exc)
    except dns.exception.DNSException as exc:
        return "malformed", f"bad response ({exc.__class__.__name__}: {exc})"
    return response

