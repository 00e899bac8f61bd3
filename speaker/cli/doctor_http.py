"""`speakerctl doctor`'s entry for the `http` checks: each run once, its verdict and the fix.

Owns `judge_http`, a pure judge of the outcome of each http check that doctor
ran (only those whose address is on this node: doctor never connects to
another host; `speaker.cli.doctor.probe_local` runs them), and the fix for
each outcome code, worded for a web server such as nginx.
"""

from __future__ import annotations

from functools import partial

from speaker.adapters.checks import Outcome
from speaker.cli.findings import Finding, of_run
from speaker.core.config import Config, HttpCheck, IPAddress

FIXES = {
    "refused": "is the web server running (systemctl status nginx)? Does it listen on "
               "{server} port {port} (nginx: listen [::]:{port}; or the address itself)?",
    "no-address": "{server} is not usable on this node: add the address (see the address "
                  "check) or fix the check's address",
    "timeout": "the web server does not answer in time: is it hung or overloaded, or does a "
               "firewall drop port {port}?",
    "status": "the web server answers {url} with another status: see its error log "
              "(nginx: /var/log/nginx/error.log) and the site's configuration, or the "
              "check's status",
    "body": "the page does not carry the expected text: fix the page or the check's body",
    "tls": "the certificate or the handshake fails: does the certificate name {host} and is "
           "it signed by a CA in ca_file (or the system's CAs)? openssl s_client -connect "
           "{hostport} -servername {host}",
    "malformed": "what answers on {server} port {port} is not HTTP/1.1 as expected: is it "
                 "the right port (https on 443)?",
}


def _fix(check: HttpCheck, code: str) -> str:
    host = f"[{check.server}]" if check.server.version == 6 else str(check.server)
    return FIXES.get(code, "see the reason; the speaker runs the same check").format(
        server=check.server, port=check.port, url=check.url, host=check.host,
        hostport=f"{host}:{check.port}")


def judge_http(cfg: Config, outcomes: dict[tuple[str, int], Outcome],
               mine: set[IPAddress] | None) -> list[Finding]:
    """One finding per http check: its verdict when doctor ran it, else why it did not."""
    out = []
    for service in cfg.services:
        for i, check in enumerate(service.checks):
            if not isinstance(check, HttpCheck):
                continue
            away = (f"{check.server} is not an address of this node"
                    if mine is not None and check.server not in mine else "")
            out.append(of_run(f"http {service.name}/{i}", check.describe(),
                              outcomes.get((service.name, i)), away,
                              partial(_fix, check)))
    return out
