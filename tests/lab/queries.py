"""DNS queries into a lab: one UDP query, the client namespace, bounded query streams.

Owns `udp` (one query with the EDNS NSID option, None on timeout), `nsid` (which
node answered), `Client` (dig and queries from the client namespace to the
anycast address), `QueryStream` (`python3 -m tests.lab.client` there, one JSON
line per query) and `summarize` (a stream's counts). It changes nothing in the
lab: no fault, no config, no process other than the stream's own.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dns.edns
import dns.exception
import dns.message
import dns.query

from tests.lab.host import base_env
from tests.lab.lanes import REPO
from tests.lab.system import LabError, in_netns, ns_argv

if TYPE_CHECKING:
    from tests.lab.lab import Lab


def udp(server: str, qname: str, qtype: str, timeout: float) -> dns.message.Message | None:
    """The answer of `server` to one query over UDP with NSID, or None (timeout, no route)."""
    query = dns.message.make_query(qname, qtype, use_edns=0,
                                   options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    try:
        return dns.query.udp(query, server, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None


def nsid(message: dns.message.Message) -> str | None:
    for option in message.options:
        if option.otype == dns.edns.NSID:
            data = getattr(option, "data", None)
            if data is None and hasattr(option, "to_wire"):
                data = option.to_wire()
            return bytes(data).decode(errors="replace") if data is not None else None
    return None


class Client:
    """The client namespace on the router's other link."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def dig(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["dig", f"@{self.lab.anycast}", *args, "+time=1", "+tries=1"]
        return subprocess.run(ns_argv(self.lab.topo.client_ns, argv), capture_output=True,
                              text=True, timeout=10, check=False)

    def query(self, qname: str = "www.example.com.", qtype: str = "AAAA",
              timeout: float = 0.5) -> dns.message.Message | None:
        return in_netns(self.lab.topo.client_ns,
                        lambda: udp(str(self.lab.anycast), qname, qtype, timeout))

    def stream(self, rate: float = 50.0, duration: float = 5.0, timeout: float = 0.5,
               qname: str = "www.example.com.", qtype: str = "AAAA",
               server: str | None = None) -> QueryStream:
        """Start a bounded query stream in the client netns (returns once it runs) to
        `server` (default: the anycast address)."""
        return QueryStream(self.lab, rate, duration, timeout, qname, qtype, server)


class QueryStream:
    """`python3 -m tests.lab.client` in the client netns; one JSON line per query."""

    def __init__(self, lab: Lab, rate: float, duration: float, timeout: float,
                 qname: str, qtype: str, server: str | None = None) -> None:
        env = base_env()
        env["PYTHONPATH"] = str(REPO)
        argv = ["/usr/bin/python3", "-m", "tests.lab.client", "--server", server or str(lab.anycast),
                "--rate", str(rate), "--duration", str(duration), "--timeout", str(timeout),
                "--qname", qname, "--qtype", qtype]
        self.popen = subprocess.Popen(ns_argv(lab.topo.client_ns, argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                                      start_new_session=True)
        self.lines: list[dict[str, Any]] = []
        self.started: float | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(15):
            self.popen.kill()
            raise LabError("query stream did not start: " + (self.popen.stderr.read()
                                                              if self.popen.stderr else ""))

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            record = json.loads(line)
            if record.get("event") == "start":
                self.started = record["t"]
                self._ready.set()
            elif "ok" in record:
                self.lines.append(record)
        self._ready.set()

    def wait(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise LabError("query stream did not finish") from None
        self._reader.join(5)
        if self.popen.returncode != 0:
            err = self.popen.stderr.read() if self.popen.stderr else ""
            raise LabError(f"query stream failed ({self.popen.returncode}): {err}")
        return sorted(self.lines, key=lambda r: r["t"])


def summarize(records: Sequence[dict[str, Any]], since: float | None = None,
              until: float | None = None) -> dict[str, Any]:
    """Counts of a query stream (optionally of queries sent in [since, until))."""
    chosen = [r for r in records
              if (since is None or r["t"] >= since) and (until is None or r["t"] < until)]
    per_node: dict[str, int] = {}
    for r in chosen:
        if r["ok"]:
            per_node[r.get("node") or "?"] = per_node.get(r.get("node") or "?", 0) + 1
    failed = sum(1 for r in chosen if not r["ok"])
    return {"sent": len(chosen), "failed": failed,
            "failed_share": failed / len(chosen) if chosen else 0.0,
            "per_node": dict(sorted(per_node.items()))}
