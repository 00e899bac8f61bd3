"""The lab inside a booted container: a DNS node, with FRR as its upstream router.

Owns the files written into the container and the questions asked of it:
- lab-net.service (at boot, before named and the unit): a veth pair between
  the container's network namespace (the node: fd00:a5b:6::50) and a second
  one, `rtr` (the router: fd00:a5b:6::1). ULA addresses only; nothing leaves
  the container.
- Debian's own frr.service, moved into `rtr` with a drop-in
  (NetworkNamespacePath=), bgpd peering with the node.
- Debian's own named.service on the node, serving example.com on any address
  (so also on the anycast address the speaker adds to lo); Restart=no, so
  that a killed named stays dead until the test starts it.
- the package's conffiles moved from the seed's addresses to the lab's.
All of it comes back on its own after a reboot, as on a real node.
"""

from __future__ import annotations

import json

from tests.packaging.nspawn import Container

SEED_PREFIX = "2a01:b000:1046:10:1::"
LAB_PREFIX = "fd00:a5b:6::"
NODE = f"{LAB_PREFIX}50"
ROUTER = f"{LAB_PREFIX}1"
ANYCAST = f"{LAB_PREFIX}100"
ANYCAST_NET = f"{ANYCAST}/128"
NETNS = "rtr"

LAB_NET = f"""#!/bin/sh
# The node's link to its router: a veth pair, the router in netns {NETNS}.
set -e
ip netns add {NETNS}
ip link add as-node type veth peer name as-rtr
ip link set as-rtr netns {NETNS}
ip addr add {NODE}/64 dev as-node nodad
ip link set as-node up
ip -n {NETNS} link set lo up
ip -n {NETNS} addr add {ROUTER}/64 dev as-rtr nodad
ip -n {NETNS} link set as-rtr up
"""

LAB_NET_UNIT = """[Unit]
Description=lab: veth link to the router namespace
DefaultDependencies=no
Before=network-online.target named.service frr.service anycast-speaker.service
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-net

[Install]
WantedBy=multi-user.target
"""

FRR_DROPIN = f"""[Unit]
Requires=lab-net.service
After=lab-net.service

[Service]
NetworkNamespacePath=/run/netns/{NETNS}
"""

FRR_CONF = f"""frr defaults traditional
hostname router
log syslog informational
service integrated-vtysh-config
!
ipv6 prefix-list ANYCAST-IN seq 10 permit {LAB_PREFIX}/64 ge 128
ipv6 prefix-list ANYCAST-IN seq 20 deny any
ipv6 prefix-list NOTHING seq 10 deny any
!
router bgp 65101
 bgp router-id 10.1.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 no bgp network import-check
 neighbor {NODE} remote-as 65201
 neighbor {NODE} timers connect 1
 !
 address-family ipv6 unicast
  neighbor {NODE} activate
  neighbor {NODE} prefix-list ANYCAST-IN in
  neighbor {NODE} prefix-list NOTHING out
 exit-address-family
!
"""

NAMED_OPTIONS = """options {
    directory "/var/cache/bind";
    listen-on { none; };
    listen-on-v6 { any; };
    recursion no;
    dnssec-validation no;
};
"""

NAMED_LOCAL = """zone "example.com" {
    type primary;
    file "/etc/bind/db.example.com";
};
"""

ZONE = f"""$TTL 60
@   IN SOA ns.example.com. hostmaster.example.com. 1 60 60 600 60
@   IN NS  ns.example.com.
ns  IN AAAA {NODE}
@   IN AAAA 2001:db8::1
www IN AAAA 2001:db8::1
"""

NAMED_DROPIN = """[Unit]
After=lab-net.service

[Service]
Restart=no
"""


def prepare(node: Container) -> None:
    """Write the lab's files and enable them (before the package is installed)."""
    node.write("/usr/local/sbin/lab-net", LAB_NET, 0o755)
    node.write("/etc/systemd/system/lab-net.service", LAB_NET_UNIT)
    node.write("/etc/systemd/system/frr.service.d/lab.conf", FRR_DROPIN)
    node.write("/etc/systemd/system/named.service.d/lab.conf", NAMED_DROPIN)
    node.write("/etc/frr/frr.conf", FRR_CONF)
    daemons = node.read("/etc/frr/daemons").replace("bgpd=no", "bgpd=yes")
    node.write("/etc/frr/daemons", daemons)
    node.write("/etc/bind/named.conf.options", NAMED_OPTIONS)
    node.write("/etc/bind/named.conf.local", NAMED_LOCAL)
    node.write("/etc/bind/db.example.com", ZONE)
    node.run("chown", "frr:frr", "/etc/frr/frr.conf")
    node.run("systemctl", "daemon-reload")
    node.run("systemctl", "enable", "--now", "lab-net.service")
    node.run("systemctl", "restart", "frr.service", "named.service")
    node.run("useradd", "--create-home", "ops")
    node.run("useradd", "--create-home", "other")


def localize(node: Container) -> None:
    """Move the installed conffiles from the seed's addresses to the lab's."""
    for path in ("/etc/speaker/speaker.conf", "/etc/speaker/speaker.yaml"):
        node.sh(f"sed -i 's/{SEED_PREFIX}/{LAB_PREFIX}/g' {path}")


def rib(node: Container) -> dict[str, object]:
    """FRR's RIB entry for the anycast prefix ({} when there is none)."""
    r = node.run("vtysh", "-c", f"show ipv6 route {ANYCAST_NET} json", check=False)
    if r.returncode != 0 or not r.stdout.strip():
        return {}
    data: dict[str, object] = json.loads(r.stdout)
    return data


def fib(node: Container) -> str:
    """The router's kernel route to the anycast prefix ('' when there is none)."""
    return node.run("ip", "-n", NETNS, "-6", "route", "show", ANYCAST_NET).stdout.strip()


def announced(node: Container) -> bool:
    """The route reached the peer: in FRR's RIB from bgp, selected, and in its kernel FIB."""
    entries = rib(node).get(ANYCAST_NET)
    if not isinstance(entries, list):
        return False
    bgp = [e for e in entries if isinstance(e, dict) and e.get("protocol") == "bgp"
           and e.get("selected")]
    return bool(bgp) and "proto bgp" in fib(node)


def withdrawn(node: Container) -> bool:
    return ANYCAST_NET not in rib(node) and fib(node) == ""
