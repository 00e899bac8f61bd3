"""Health checks: the adapters that talk to the service being watched.

Each check is a `speaker.ports.Probe`, an object with `async run() -> Outcome`;
it never raises, never logs and never decides about routes: it says whether
the service answered as expected, how fast, and if not, why, in words an
operator can act on. The verdict on a response is pure and lives in
`speaker.core.verdicts` (`classify`, `plainly_ok`), testable without a network.
With a `min_timeout` a probe times out after its server's measured latency
(`speaker.core.rtt`); a run that confirms a failure waits longer
(`run(confirm=Run.CONFIRM or Run.FULL)`), and an answer to a timed-out query of
the probe still counts while it waits (`UdpSocket`).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype

from speaker.adapters import loopsock, sockdiag
from speaker.adapters.adaptive import Adaptive
from speaker.adapters.dnsquery import FAILURES, failed
from speaker.adapters.dnssec import DnssecProbe
from speaker.adapters.http import HttpProbe
from speaker.adapters.recursive import RecursiveProbe
from speaker.adapters.soa import SoaProbe
from speaker.core import config
from speaker.core.sockdiag import Listener, Queues
from speaker.core.verdicts import Outcome, classify, plainly_ok
from speaker.ports import Probe

__all__ = ["PROBES", "DnsProbe", "Outcome", "Probe", "UdpSocket", "build"]

# How many passing responses a probe remembers (see DnsProbe._passed): BIND returns the
# three NS records of the lab's zone in random order in the authority section, six orders.
PASSED = 8
# Query ids: what dns.entropy.random_16 draws from (the system's random source), without
# its randrange on top.
_IDS = random.SystemRandom()


class DnsProbe(Adaptive):
    """Sends the check's query and judges the response."""

    def __init__(self, check: config.DnsCheck, timeout: float, min_timeout: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(check.describe(), check.timeout or timeout, min_timeout, clock)
        self.check = check
        self._query = dns.message.make_query(
            dns.name.from_text(check.qname), dns.rdatatype.from_text(check.qtype),
            use_edns=0, options=[dns.edns.GenericOption(dns.edns.NSID, b"")],
        )
        self._query.flags &= ~dns.flags.RD
        self._wire = self._query.to_wire()
        self._question_end = 12 + len(self._query.question[0].name.to_wire() or b"") + 4
        self._rcode = dns.rcode.from_text(check.expect.rcode)
        # no answer data to compare: a well-formed "yes" can be read from the header alone
        self._plain = not check.expect.answers and self._rcode < 16
        # Responses (all but their id) that dnspython and `classify` passed, for a check
        # with answers to compare: the verdict is a function of the bytes alone (the query
        # is fixed but for its id, and the socket hands over only answers with our id), so
        # the same bytes again pass without a parse. A few, for a server that rotates the
        # order of its records; anything else goes the full way.
        self._passed: deque[bytes] = deque(maxlen=0 if self._plain else PASSED)
        family = socket.AF_INET6 if check.server.version == 6 else socket.AF_INET
        self._udp = UdpSocket(family, (str(check.server), check.port))
        self.late_answers = check.transport != "tcp"  # the UDP socket takes them

    def close(self) -> None:
        self._udp.close()

    def _queues(self) -> Queues | None:
        if not self.late_answers:
            return None
        return sockdiag.queues(Listener("udp", self.check.server, self.check.port))

    async def _ask(self, timeout: float) -> tuple[str, str]:
        check = self.check
        qid = _IDS.getrandbits(16)
        data: bytes | None = None  # the UDP response
        try:
            if check.transport == "tcp":
                from dns import asyncquery  # 0.2 s of imports (httpx): only when needed

                query = self._query
                query.id = qid  # a probe never overlaps itself: reuse the message
                response = await asyncquery.tcp(query, str(check.server),
                                                    timeout=timeout, port=check.port)
            else:
                wire = qid.to_bytes(2, "big") + self._wire[2:]
                data = await self._udp.exchange(wire, timeout)
                if data[2:] in self._passed or (
                        self._plain and plainly_ok(data, wire, self._question_end, self._rcode,
                                                   check.expect.aa)):
                    return "ok", "ok"
                response = dns.message.from_wire(data, ignore_trailing=False)
                self._query.id = qid
                if not self._query.is_response(response):
                    return "malformed", "the response does not answer our query (id, question)"
        except (dns.exception.Timeout, TimeoutError):
            return "timeout", self.timed_out(timeout)
        except FAILURES as exc:  # refused, truncated, malformed, socket errors
            return failed(exc)
        verdict = classify(check, response)
        if data is not None and verdict[0] == "ok":
            self._passed.append(data[2:])
        return verdict


class UdpSocket:
    """One connect()ed UDP socket per check, kept open, read by one reader callback.

    Connected, because a dead local server answers ICMP port-unreachable, which
    only a connected socket reports (ECONNREFUSED at once instead of a
    timeout), and because it takes datagrams from the server's address only.
    Kept open, because a node with 1,000 services probes thousands of times a
    second: a socket, an epoll registration and a close per probe cost more
    than the probe. An answer is matched to its query by id; a late answer to
    one of the last LATE timed-out queries answers the query that waits then
    (or, if none waits, the next one sent within EARLY: a confirming round
    starts as soon as the failing one ends): the server is slow, not hung
    (`speaker.core.rtt`). Any answer forgets the timed-out ids, and
    LATE timeouts in a row close the socket.
    """

    LATE = 8
    EARLY = 0.02  # s: how old a late answer that came between queries may be to count

    def __init__(self, family: int, where: tuple[str, int]) -> None:
        self._family = family
        self._where = where
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: tuple[bytes, asyncio.Future[bytes]] | None = None
        self._late: list[bytes] = []  # ids of the last timed-out queries
        self._early: tuple[bytes, float] | None = None  # a late answer, and its loop time

    def _open(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect(self._where)
            loop.add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self._sock, self._loop = sock, loop
        return sock

    def _readable(self) -> None:
        """One datagram a call: the loop's poll is level-triggered, so it calls again while
        more wait (reading on to EAGAIN cost a failing recv and an exception per answer)."""
        sock = self._sock
        if sock is None:
            return
        waiting = self._waiting
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        except OSError as exc:  # ECONNREFUSED and friends: for the query in flight
            if waiting and not waiting[1].done():
                waiting[1].set_exception(exc)
            return
        if waiting and data[:2] == waiting[0] and not waiting[1].done():
            self._late.clear()
            waiting[1].set_result(data)
        elif data[:2] in self._late:  # the same question: it answers the one that waits
            self._late.clear()
            if waiting and not waiting[1].done():
                waiting[1].set_result(waiting[0] + data[2:])
            elif self._loop is not None:
                self._early = (data, self._loop.time())

    async def exchange(self, wire: bytes, timeout: float) -> bytes:
        """Send `wire`, return the answer with its id; TimeoutError after `timeout`."""
        sock = self._sock or self._open()
        loop = asyncio.get_running_loop()
        early, self._early = self._early, None
        if early is not None and loop.time() - early[1] <= min(timeout, self.EARLY):
            return wire[:2] + early[0][2:]
        done: asyncio.Future[bytes] = loop.create_future()
        self._waiting = (wire[:2], done)
        timer = loop.call_later(timeout, _expire, done)
        try:
            sock.send(wire)
            return await done
        except TimeoutError:  # kept open for a late answer, up to LATE timeouts in a row
            self._late.append(wire[:2])
            if len(self._late) >= self.LATE:  # silent for long: connect afresh (see OSError)
                self.close()
            raise
        except OSError:
            # The next probe opens a fresh socket: a connect() made while the address was
            # somewhere else (not yet on lo, another route) must not outlive a failure.
            self.close()
            raise
        finally:
            timer.cancel()
            self._waiting = None

    def close(self) -> None:
        loopsock.close(self._sock, self._loop)
        self._sock = None
        self._late.clear()
        self._early = None  # an answer that came on the old socket serves no new query


def _expire(done: asyncio.Future[bytes]) -> None:
    if not done.done():
        done.set_exception(TimeoutError())


# One entry per check type (see speaker.core.config.CHECK_TYPES).
PROBES: dict[type, Callable[[Any, float, float | None], Probe]] = {
    config.DnsCheck: DnsProbe,
    config.SoaCheck: SoaProbe,
    config.DnssecCheck: DnssecProbe,
    config.HttpCheck: HttpProbe,
    config.RecursiveCheck: RecursiveProbe,
}


def build(check: config.Check, timeout: float, min_timeout: float | None = None) -> Probe:
    """The probe for `check`, with the service's timeout unless the check sets its own;
    adaptive down to `min_timeout` if one is given."""
    return PROBES[type(check)](check, timeout, min_timeout)
