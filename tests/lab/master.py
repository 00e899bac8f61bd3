"""The lab's hidden master: BIND as primary in its own namespace, the nodes its secondaries.

Owns the `--hidden-master` topology: the master's namespace and address on the
guest segment (fd00:10:1::10, never in the NS set, never announced), the text of
the master's and the secondaries' named.conf (NOTIFY to the nodes only,
`also-notify` and `allow-transfer` limited to the lab's node addresses, AXFR and
IXFR requests answered with the whole zone), the zone with its serial, and the faults: bump the serial, block one
node's transfers (dropped from the master's allow-transfer, then a reload),
stop and start the master. Processes are started through `tests.lab.lab.Lab`,
which records them by PID; the master is signalled by that PID only.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.lab.system import LabError, run, wait_for

if TYPE_CHECKING:
    from tests.lab.lab import Lab, LabNode

NAMED = Path("/usr/sbin/named")
SERIAL = 2025112001
# Short timers, so that a secondary retries a refused transfer within seconds; the
# default max_lag of a soa check is then refresh + retry = 15 s.
REFRESH, RETRY = 10, 5


def namespace(lab_id: str) -> str:
    return f"spk{lab_id}-m"


def zone_text(anycast: ipaddress.IPv6Address, serial: int) -> str:
    """The lab zone as the master serves it (the nodes get it by transfer)."""
    return "\n".join([
        "$TTL 300",
        "@       IN      SOA     ns1.example.com. admin.example.com. (",
        f"                        {serial} {REFRESH} {RETRY} 604800 300 )",
        "@       IN      NS      ns1.example.com.",
        "@       IN      NS      ns2.example.com.",
        "@       IN      NS      ns3.example.com.",
        f"ns1     IN      AAAA    {anycast}",
        f"ns2     IN      AAAA    {anycast}",
        f"ns3     IN      AAAA    {anycast}",
        "@       IN      AAAA    2001:db8::1",
        "www     IN      AAAA    2001:db8::1",
        "mail    IN      AAAA    2001:db8::2",
    ]) + "\n"


def _options(directory: Path, server_id: str, extra: str) -> str:
    return (
        "options {\n"
        f'    directory "{directory}";\n'
        f'    pid-file "{directory / "named.pid"}";\n'
        f'    session-keyfile "{directory / "session.key"}";\n'
        f'    managed-keys-directory "{directory}";\n'
        f'    dump-file "{directory / "named_dump.db"}";\n'
        f'    statistics-file "{directory / "named.stats"}";\n'
        "    listen-on { none; };\n"
        "    listen-on-v6 { any; };\n"
        "    allow-query { any; };\n"
        "    recursion no;\n"
        "    dnssec-validation no;\n"
        f'    server-id "{server_id}";\n'
        + extra +
        "};\n"
        "controls { };\n"
    )


def master_conf(directory: Path, address: ipaddress.IPv6Address,
                nodes: list[ipaddress.IPv6Address], allowed: list[ipaddress.IPv6Address]) -> str:
    """The primary: NOTIFY only to the nodes (explicit), transfers only to `allowed`."""
    notify = " ".join(f"{a};" for a in nodes)
    transfer = " ".join(f"{a};" for a in allowed) or "none;"
    return _options(directory, "master", f"    notify-source-v6 {address};\n") + (
        'zone "example.com" {\n'
        "    type primary;\n"
        f'    file "{directory / "db.example.com"}";\n'
        "    notify explicit;\n"
        "    notify-delay 0;\n"
        f"    also-notify {{ {notify} }};\n"
        f"    allow-transfer {{ {transfer} }};\n"
        "};\n"
    )


def secondary_conf(directory: Path, name: str, master: ipaddress.IPv6Address) -> str:
    """A node: secondary for the zone, from the master only; the statistics channel as usual."""
    return _options(directory, name, "    notify no;\n") + (
        "statistics-channels { inet 127.0.0.1 port 8053 allow { 127.0.0.1; }; };\n"
        'zone "example.com" {\n'
        "    type secondary;\n"
        f"    primaries {{ {master}; }};\n"
        f"    allow-notify {{ {master}; }};\n"
        f'    file "{directory / "db.example.com"}";\n'
        "    min-refresh-time 1;\n"
        "    min-retry-time 1;\n"
        "    max-retry-time 5;\n"
        "};\n"
    )


def soa_check(node_address: ipaddress.IPv6Address, master: ipaddress.IPv6Address,
              **keys: object) -> dict[str, object]:
    """The speaker's soa check on a lab node (extra keys: max_lag, action, ...)."""
    return {"type": "soa", "server": str(node_address), "zone": "example.com.",
            "master": str(master), **keys}


class HiddenMaster:
    """The master of one lab run: its namespace, named, zone serial and who may transfer."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.ns = namespace(lab.lab_id)
        self.address = lab.topo.guest_net[0x10]
        self.dir = lab.root / "master"
        self.serial = SERIAL
        self.blocked: set[str] = set()  # node names refused transfers
        self._mtime = 0.0  # the zone file's last mtime

    # -- set-up ------------------------------------------------------------------

    def build_network(self) -> None:
        """A veth from the master's netns onto the guest bridge in the router's."""
        topo = self.lab.topo
        run(["ip", "-n", topo.router_ns, "-batch", "-"], input="\n".join([
            f"link add vm type veth peer name eth0 netns {self.ns}",
            f"link set vm master {topo.bridge}",
            "link set vm up",
        ]) + "\n")
        run(["ip", "-n", self.ns, "-batch", "-"], input="\n".join([
            "link set lo up",
            "link set eth0 up",
            f"addr add {self.address}/{topo.guest_net.prefixlen} dev eth0 nodad",
        ]) + "\n")

    def write_configs(self, zone: bool = True) -> None:
        """named.conf, and the zone file unless `zone` is False (a new serial only).

        No ixfr-from-differences: with it, BIND 9.18 journals each reload, and a zone
        reconfigured later (allow-transfer changed) failed to load with "journal out of
        sync with zone". The nodes still ask for IXFR; the master answers with the whole
        zone (AXFR-style IXFR, RFC 1995)."""
        self.dir.mkdir(mode=0o755, exist_ok=True)
        nodes = [n.address for n in self.lab.topo.nodes]
        allowed = [n.address for n in self.lab.topo.nodes if n.name not in self.blocked]
        (self.dir / "named.conf").write_text(master_conf(self.dir, self.address, nodes, allowed))
        if not zone:
            return
        path = self.dir / "db.example.com"
        path.write_text(zone_text(self.lab.topo.anycast, self.serial))
        # named reloads a zone only if its file's mtime moved on (whole seconds): two
        # writes within one second must still look newer
        self._mtime = max(time.time(), self._mtime + 1.0)
        os.utime(path, (self._mtime, self._mtime))

    def write_secondary(self, node: LabNode) -> None:
        (node.dir / "named.conf").write_text(secondary_conf(node.dir, node.name, self.address))
        zone = node.dir / "db.example.com"
        if zone.exists():
            zone.unlink()  # a secondary starts empty: its zone comes by transfer

    def start(self) -> None:
        self.lab.spawn("master/named", self.ns,
                       [str(NAMED), "-g", "-n", "1", "-c", str(self.dir / "named.conf")],
                       self.dir / "named.log")
        wait_for(lambda: self.served_serial() == self.serial, 15, interval=0.05,
                 what="the hidden master to serve the zone")

    def stop(self) -> None:
        """SIGTERM the master (by its PID) and wait until it is gone."""
        proc = self.lab.procs.get("master/named")
        if proc is None or not proc.alive:
            raise LabError("the hidden master is not running")
        proc.signal(signal.SIGTERM)
        if not proc.wait_gone(10):
            raise LabError(f"the hidden master (PID {proc.pid}) did not exit")

    @property
    def running(self) -> bool:
        proc = self.lab.procs.get("master/named")
        return proc is not None and proc.alive

    def _reload(self, zone: bool = False) -> None:
        proc = self.lab.procs.get("master/named")
        if proc is None or not proc.alive:
            raise LabError("the hidden master is not running")
        self.write_configs(zone)
        proc.signal(signal.SIGHUP)  # named: reload the config and changed zones

    # -- faults ------------------------------------------------------------------

    def bump_serial(self, by: int = 1) -> int:
        """A new serial on the master (RFC 1982 addition); NOTIFY goes to the nodes."""
        self.serial = (self.serial + by) % 2**32
        self._reload(zone=True)
        try:
            wait_for(lambda: self.served_serial() == self.serial, 3, interval=0.05,
                     what=f"the master to serve serial {self.serial}")
        except LabError:  # a SIGHUP during a reload in progress can be lost: once more
            self._reload()
            wait_for(lambda: self.served_serial() == self.serial, 10, interval=0.05,
                     what=f"the master to serve serial {self.serial}")
        return self.serial

    def block_transfers(self, node: str) -> None:
        """Refuse `node`'s transfers (dropped from allow-transfer, master reloaded)."""
        self.blocked.add(node)
        self._reload()

    def unblock_transfers(self, node: str | None = None) -> None:
        self.blocked.discard(node) if node else self.blocked.clear()
        self._reload()

    def heal(self) -> None:
        """Running, every node allowed to transfer."""
        if not self.running:
            self.blocked.clear()
            self.write_configs()
            self.start()
        elif self.blocked:
            self.unblock_transfers()

    # -- what is served ----------------------------------------------------------

    def served_serial(self) -> int | None:
        """The serial the master answers for the zone (None: no authoritative answer)."""
        return _serial(self.lab.node(1).query(str(self.address), "example.com.", "SOA",
                                              timeout=0.3))

    def node_serial(self, node: LabNode) -> int | None:
        return _serial(node.query(str(node.address), "example.com.", "SOA", timeout=0.3))

    def wait_in_sync(self, nodes: list[LabNode] | None = None, timeout: float = 20.0) -> None:
        for node in nodes or self.lab.nodes:
            wait_for(lambda n=node: self.node_serial(n) == self.serial, timeout, interval=0.05,
                     what=f"{node.name} to serve serial {self.serial} "
                          f"(serves {self.node_serial(node)})")


def _serial(message: object) -> int | None:
    import dns.flags
    import dns.message
    import dns.rdatatype

    if not isinstance(message, dns.message.Message) or not message.flags & dns.flags.AA:
        return None
    for rrset in message.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return int(next(iter(rrset)).serial)
    return None
