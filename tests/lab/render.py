"""Config files of the lab, as pure functions of the topology.

This module owns the text of every file the lab writes: FRR (zebra, bgpd) for
the router, BIND's named.conf and zone, ExaBGP's config, the speaker YAML and
the wrapper ExaBGP runs. It never writes files, starts processes or touches
the network.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.lab.lanes import DEBIAN_PYTHON, SPEAKER_PYTHON
from tests.lab.topology import Node, Topology


def zebra_conf(topo: Topology) -> str:
    return "\n".join([
        f"hostname {topo.router_ns}",
        "!",
        f"interface {topo.bridge}",
        "!",
        "",
    ])


def bgpd_conf(topo: Topology) -> str:
    """The Virtual Router: ECMP over all nodes, only anycast host routes accepted."""
    lines = [
        f"hostname {topo.router_ns}",
        "!",
        # Only host routes inside the anycast range are accepted from the nodes.
        f"ipv6 prefix-list ANYCAST-IN seq 10 permit {topo.anycast_range} ge 128",
        "ipv6 prefix-list ANYCAST-IN seq 20 deny any",
        "ipv6 prefix-list NOTHING seq 10 deny any",
        "!",
        f"router bgp {topo.router_asn}",
        f" bgp router-id {topo.router_id}",
        " no bgp ebgp-requires-policy",
        " no bgp default ipv4-unicast",
        " no bgp network import-check",
        " bgp bestpath as-path multipath-relax",
        " neighbor NODES peer-group",
        " neighbor NODES timers connect 1",
    ]
    for node in topo.nodes:
        lines += [
            f" neighbor {node.address} remote-as {node.asn}",
            f" neighbor {node.address} peer-group NODES",
            f" neighbor {node.address} description {node.name}",
        ]
    lines += [
        " !",
        " address-family ipv6 unicast",
        "  maximum-paths 64",
        "  neighbor NODES activate",
        "  neighbor NODES prefix-list ANYCAST-IN in",
        "  neighbor NODES prefix-list NOTHING out",
        " exit-address-family",
        "!",
        "",
    ]
    return "\n".join(lines)


def named_conf(node: Node, directory: Path, with_zone: bool = True) -> str:
    """One authoritative named per node: own directory, no control channel."""
    zone = (
        f'zone "{node.zone}" {{\n'
        f"    type primary;\n"
        f'    file "{directory / "db.example.com"}";\n'
        f"}};\n"
    )
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
        "    notify no;\n"
        f'    server-id "{node.name}";\n'
        "};\n"
        "controls { };\n"
        # the speaker reads the served-query rate here (dns_statistics in speaker.yaml)
        "statistics-channels { inet 127.0.0.1 port 8053 allow { 127.0.0.1; }; };\n"
        + (zone if with_zone else "")
    )


def zone_file(topo: Topology, broken: bool = False) -> str:
    """The seed's zone, plus the apex AAAA its `dig example.com AAAA` expects."""
    body = [
        "$TTL 300",
        "@       IN      SOA     ns1.example.com. admin.example.com. (",
        "                        2025112001 3600 1800 604800 300 )",
        "@       IN      NS      ns1.example.com.",
        "@       IN      NS      ns2.example.com.",
        "@       IN      NS      ns3.example.com.",
        f"ns1     IN      AAAA    {topo.anycast}",
        f"ns2     IN      AAAA    {topo.anycast}",
        f"ns3     IN      AAAA    {topo.anycast}",
        "@       IN      AAAA    2001:db8::1",
        "www     IN      AAAA    2001:db8::1",
        "mail    IN      AAAA    2001:db8::2",
    ]
    if broken:
        # Not an address: named refuses to load the zone (SERVFAIL for it).
        body.append("www     IN      AAAA    not-an-address")
    return "\n".join(body) + "\n"


HOLD_TIME = 3  # as shipped in conf/speaker.conf


def exabgp_conf(topo: Topology, node: Node, run: Path, hold_time: int = HOLD_TIME) -> str:
    """ExaBGP for one node: one neighbour (the router), the process block."""
    return (
        "process speaker {\n"
        f"    run {run};\n"
        "    encoder json;\n"
        "}\n"
        "\n"
        f"neighbor {topo.router_address} {{\n"
        '    description "lab virtual router";\n'
        f"    router-id {node.router_id};\n"
        f"    local-address {node.address};\n"
        f"    local-as {node.asn};\n"
        f"    peer-as {topo.router_asn};\n"
        f"    hold-time {hold_time};\n"
        "    group-updates false;\n"
        "\n"
        "    family {\n"
        "        ipv6 unicast;\n"
        "    }\n"
        "\n"
        "    api {\n"
        "        processes [ speaker ];\n"
        "        neighbor-changes;\n"
        "    }\n"
        "}\n"
    )


def speaker_yaml(topo: Topology, node: Node, socket: Path, state_dir: Path,
                 manage: bool = False, extra: dict[str, object] | None = None) -> str:
    """The speaker's config for one node (schema: speaker/config.py).

    JSON is valid YAML, so the document is rendered with json.dumps.
    """
    service: dict[str, object] = {
        "name": "dns",
        "prefixes": [f"{topo.anycast}/128"],
        "address": {"interface": "lo", "manage": manage},
        "checks": [
            {"type": "dns", "server": str(topo.anycast), "qname": "example.com.",
             "qtype": "SOA"},
            {"type": "dns", "server": str(node.address), "qname": "www.example.com.",
             "qtype": "AAAA", "expect": {"answers": ["2001:db8::1"]}},
        ],
    }
    doc: dict[str, object] = {
        "control": {"socket": str(socket)},
        "state_dir": str(state_dir),
        "drain_delay": 1.0,
        "dns_statistics": {"url": "http://127.0.0.1:8053/json/v1/server", "interval": 1.0},
        "services": [service],
    }
    for key, value in (extra or {}).items():
        if key == "service" and isinstance(value, dict):
            service.update(value)
        else:
            doc[key] = value
    header = f"# speaker config for lab node {node.name} (generated by tests.lab)\n"
    return header + json.dumps(doc, indent=2) + "\n"


def run_script(repo: Path, config: Path, standin: bool = False) -> str:
    """The `run` target of ExaBGP's process block: exec the speaker from the checkout
    with SPEAKER_PYTHON (the stand-in, a test tool, with Debian's python)."""
    module = "tests.lab.standin" if standin else "speaker"
    python = DEBIAN_PYTHON if standin else SPEAKER_PYTHON
    return (
        "#!/bin/sh\n"
        "# Started by ExaBGP (lab): runs the process from the checkout.\n"
        f"PYTHONPATH={repo}\n"
        "export PYTHONPATH\n"
        f"exec {python} -m {module} --config {config}\n"
    )
