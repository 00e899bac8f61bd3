"""A bounded DNS query stream: fixed rate, fixed duration, one JSON line per query.

Run inside the client netns by the lab (`python3 -m tests.lab.client ...`).
Every query goes out on a fresh UDP socket (a new source port, so the router's
L4 multipath hash spreads them over the next hops) with the EDNS NSID option;
the line records when it was sent (time.monotonic, comparable with the lab
process's clock), whether it got a NOERROR answer, and which node answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import dns.asyncquery
import dns.edns
import dns.exception
import dns.message
import dns.rcode


def _nsid(message: dns.message.Message) -> str | None:
    for option in message.options:
        if option.otype == dns.edns.NSID:
            data = getattr(option, "data", b"")
            return bytes(data).decode(errors="replace")
    return None


async def _one(i: int, server: str, qname: str, qtype: str, timeout: float) -> None:
    qname = qname.replace("{i}", str(i))  # a fresh name per query: "q{i}.probe.example.com."
    query = dns.message.make_query(qname, qtype, use_edns=0,
                                   options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    sent = time.monotonic()
    record: dict[str, object] = {"i": i, "t": sent}
    try:
        answer = await dns.asyncquery.udp(query, server, timeout=timeout)
    except dns.exception.Timeout:
        record.update(ok=False, error="timeout")
    except OSError as exc:
        record.update(ok=False, error=type(exc).__name__)
    else:
        rcode = dns.rcode.to_text(answer.rcode())
        record.update(ok=answer.rcode() == dns.rcode.NOERROR and bool(answer.answer),
                      node=_nsid(answer), rcode=rcode)
    record["rtt"] = round(time.monotonic() - sent, 4)
    print(json.dumps(record), flush=True)


async def stream(server: str, rate: float, duration: float, timeout: float,
                 qname: str, qtype: str) -> None:
    count = int(rate * duration)
    start = time.monotonic()
    print(json.dumps({"event": "start", "t": start, "count": count}), flush=True)
    tasks = []
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(i, server, qname, qtype, timeout)))
    await asyncio.gather(*tasks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.lab.client", description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="queries per second")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--timeout", type=float, default=0.5, help="seconds per query")
    parser.add_argument("--qname", default="www.example.com.")
    parser.add_argument("--qtype", default="AAAA")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 1000 or not 0 < args.duration <= 600:
        parser.error("rate must be in (0, 1000], duration in (0, 600]")
    asyncio.run(stream(args.server, args.rate, args.duration, args.timeout,
                       args.qname, args.qtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
