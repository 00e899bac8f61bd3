"""The DNS servers a lab node can run: BIND 9 (named) or PowerDNS Authoritative.

Owns, per server: the binary, its command line for one node, the config files
it needs in the node's directory, and the `dns_statistics` block the speaker
gets for it. Both serve the same zone (render.zone_file) on every address of
the node (`listen-on-v6 { any; }` / `local-address=::`) and answer NSID with
the node's name. One instance per netns: own config, pid and socket
directory, no control channel (BIND) or guardian (PowerDNS). It starts no
process itself (tests.lab.lab does, and records it).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tests.lab import render
from tests.lab.topology import Node, Topology


@dataclass(frozen=True)
class DnsServer:
    name: str       # the lab's and the demo's --dns: bind, pdns
    label: str      # for people: BIND 9, PowerDNS
    program: str    # the process, as `ps` shows it: named, pdns_server
    binary: Path
    kind: str       # dns_statistics.kind: bind, powerdns

    def argv(self, directory: Path) -> list[str]:
        if self.name == "pdns":
            return [str(self.binary), f"--config-dir={directory}"]
        return [str(self.binary), "-g", "-n", "1", "-c", str(directory / "named.conf")]

    def write_configs(self, topo: Topology, node: Node, directory: Path,
                      zone_mode: str = "good") -> None:
        """The server's config and zone for `zone_mode`: good, servfail (the zone does not
        load) or refused (no zone configured)."""
        with_zone = zone_mode != "refused"
        if self.name == "pdns":
            _private(directory / "pdns.conf",
                     render.pdns_conf(node, directory, api_key(directory)))
            (directory / "pdns-zones.conf").write_text(
                render.pdns_zones(node, directory, with_zone=with_zone))
        else:
            (directory / "named.conf").write_text(
                render.named_conf(node, directory, with_zone=with_zone))
        (directory / "db.example.com").write_text(
            render.zone_file(topo, broken=zone_mode == "servfail", server=self.name))

    def statistics(self, directory: Path) -> dict[str, object]:
        """The speaker's `dns_statistics` for this server on a node."""
        if self.name == "pdns":
            return {"kind": "powerdns", "url": render.PDNS_STATISTICS,
                    "api_key_file": str(directory / "pdns-api.key"), "interval": 1.0}
        return {"url": render.BIND_STATISTICS, "interval": 1.0}


SERVERS = {
    "bind": DnsServer("bind", "BIND 9", "named", Path("/usr/sbin/named"), "bind"),
    "pdns": DnsServer("pdns", "PowerDNS", "pdns_server", Path("/usr/sbin/pdns_server"),
                      "powerdns"),
}


def server(name: str) -> DnsServer:
    if name not in SERVERS:
        raise ValueError(f"dns must be one of {', '.join(SERVERS)} (got {name!r})")
    return SERVERS[name]


def _private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by root only (it holds the API key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, 0o600)


def api_key(directory: Path) -> str:
    """The node's PowerDNS API key: made once per lab run, kept in pdns-api.key (0600),
    the file the speaker's `api_key_file` names."""
    path = directory / "pdns-api.key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(16)
    _private(path, key + "\n")
    return key
