"""A slow but alive DNS server for the lab (`python3 -m tests.lab.slowdns`).

Owns one stand-in authoritative server: it reads every query at once and answers
it (SOA, AA set, for any name) after a delay drawn uniformly from
[--min, --max] seconds, on --address and --port. SIGUSR1 switches it between
that delay and answering at once (`fast`: it starts fast with --fast), so a
test can make a server slow while the speaker watches it. It never drops a
query: a probe that times out on it has met a slow server, not a hung one.
Started by the lab tests in a node's netns (`Lab.spawn`), stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal

import dns.flags
import dns.message
import dns.rrset

SOA = "ns1.example.com. hostmaster.example.com. 1 3600 600 86400 300"


class Slow(asyncio.DatagramProtocol):
    def __init__(self, low: float, high: float, fast: bool) -> None:
        self.low, self.high, self.fast = low, high, fast
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except Exception:  # not DNS: nothing to answer
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "SOA",
                                                   SOA))
        delay = 0.0 if self.fast else random.uniform(self.low, self.high)
        assert self.transport is not None
        asyncio.get_running_loop().call_later(delay, self.transport.sendto,
                                              response.to_wire(), addr)

    def toggle(self) -> None:
        self.fast = not self.fast
        print(f"now {'fast' if self.fast else 'slow'}", flush=True)


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    server = Slow(args.min, args.max, args.fast)
    await loop.create_datagram_endpoint(lambda: server, local_addr=(args.address, args.port))
    loop.add_signal_handler(signal.SIGUSR1, server.toggle)
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    print(f"serving on [{args.address}]:{args.port}, {'fast' if args.fast else 'slow'}",
          flush=True)
    await stop


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m tests.lab.slowdns")
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--min", type=float, default=0.03)
    parser.add_argument("--max", type=float, default=0.2)
    parser.add_argument("--fast", action="store_true", help="start answering at once")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
