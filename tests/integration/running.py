"""A real `python3 -m speaker` for the monitoring test, with everything it talks to faked locally.

Owns the loopback stand-ins: a DNS server (answers SOA on 127.0.0.1), BIND's
statistics channel (an HTTP server whose query counter grows), and ExaBGP (the
test reads the process's commands, answers `done`, and can write neighbour
events on its stdin). Everything stays on loopback; `Running.close` stops the
process and every server it started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dns.flags
import dns.message
import dns.rrset

from tests.lab.lanes import SPEAKER_PYTHON

REPO = Path(__file__).resolve().parents[2]
NEIGHBOR_UP = (
    '{ "exabgp": "4.0.1", "time": 1795680109.6, "host" : "vm", "pid" : 1, "ppid" : 1, '
    '"counter": 1, "type": "state", "neighbor": { "address": { "local": "fd00:99::2", '
    '"peer": "fd00:99::1" }, "asn": { "local": 65201, "peer": 65101 } , "state": "up" } }')


class DnsServer:
    """Answers SOA example.com authoritatively on 127.0.0.1, in a thread."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            response.answer.append(dns.rrset.from_text(
                query.question[0].name, 300, "IN", "SOA", "ns1. admin. 1 3600 1800 604800 300"))
            self.sock.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


class StatsChannel:
    """BIND's `/json/v1/server` on 127.0.0.1: the QUERY counter grows by 100 a request."""

    def __init__(self) -> None:
        count = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                count[0] += 100
                body = json.dumps({"opcodes": {"QUERY": count[0]}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/json/v1/server"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Running:
    """The speaker process with metrics on [::1]; the test plays ExaBGP on its pipes."""

    def __init__(self, tmp: Path, extra: dict[str, object] | None = None) -> None:
        """`extra`: more top-level keys of the config (hooks, say)."""
        self.dns = DnsServer()
        self.stats = StatsChannel()
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
            port = int(s.getsockname()[1])
        self.url = f"http://[::1]:{port}/metrics"
        self.config = tmp / "speaker.yaml"
        self.config.write_text(json.dumps({
            "control": {"socket": str(tmp / "s.sock")},
            "state_dir": str(tmp / "state"),
            "drain_delay": 0,
            "metrics": {"listen": "::1", "port": port},
            "dns_statistics": {"url": self.stats.url, "interval": 0.5},
            "services": [{"name": "dns", "prefixes": ["2001:db8::53/128"],
                          "checks": [{"type": "dns", "server": "127.0.0.1",
                                      "port": self.dns.port, "qname": "example.com.",
                                      "qtype": "SOA"}]}],
            **(extra or {}),
        }))
        self.env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            [SPEAKER_PYTHON, "-m", "speaker", "--config", str(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=self.env, cwd="/")
        self.commands: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._play_exabgp, daemon=True).start()

    def _play_exabgp(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.commands.append(raw.decode().strip())
            try:
                if self.commands[-1] == "show neighbor summary":  # as ExaBGP: the header
                    self.send("Peer  AS  up/down state  |  #sent  #recvd")
                self.send("done")
            except (OSError, ValueError):  # stdin closed: the process is stopping
                return

    def send(self, line: str) -> None:
        """Write one line on the process's stdin, as ExaBGP would."""
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SPEAKER_PYTHON, "-m", "speaker.cli", "--config", str(self.config), *args],
            capture_output=True, text=True, timeout=30, env=self.env, check=False)

    def exposition(self) -> str:
        return str(urllib.request.urlopen(self.url, timeout=5).read().decode())

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except OSError:  # the endpoint is not up yet
                pass
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s; last commands {self.commands[-5:]}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.dns.close()
        self.stats.close()
