"""check-config's rule for next hops: what each neighbour session can carry as NEXT_HOP.

Pure: values in, findings out. ExaBGP resolves `next-hop self` to the
session's local address when the route's family is the session's, and
otherwise to something the router cannot use: an IPv4 route over an IPv6
session gets the router-id. The router cannot use it: a router-id such as
0.0.0.50 is a martian next hop (FRR 8.4 in the lab drops the path; issue 17
saw FRR reset the session hundreds of times), one such as 10.1.0.50 is not
reachable (in BGP, never in the FIB; tests/e2e/test_lab_ipv4.py), while the
speaker's own view (the API acked the announce) stays "announced".
So a prefix whose family differs from the session's needs an explicit
`route.next_hop` of its own family. It never reads a file; exabgp_conf hands
it each neighbour's addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator

from speaker.core.config import Config


def session_version(local_address: str | None, peer_address: str) -> int | None:
    """The IP version of a session: that of its local-address, else of the peer's."""
    for text in (local_address, peer_address):
        if text is None:
            continue
        try:
            return ipaddress.ip_address(text).version
        except ValueError:
            continue
    return None


def problems(cfg: Config, local: tuple[str, int] | None, peer_address: str, line: int,
             families: Collection[str] | None, yaml_path: str) -> Iterator[tuple[int, str]]:
    """(line, message) per service whose `next-hop self` this session cannot carry.

    `local` is the neighbour's local-address and its line; `line` that of the
    neighbor block. `families` are its configured families ("ipv4 unicast", ...),
    None when it has no family block; a family it does not carry is reported
    elsewhere.
    """
    local_address = local[0] if local else None
    version = session_version(local_address, peer_address)
    if version is None:
        return
    where = local[1] if local else line
    who = f"neighbor {peer_address}"
    session = f"local-address {local_address}" if local_address else f"peer {peer_address}"
    for service in cfg.services:
        if service.route.next_hop != "self":
            continue
        wrong = [p for p in service.prefixes if p.version != version
                 and (families is None or f"ipv{p.version} unicast" in families)]
        if not wrong:
            continue
        other = wrong[0].version
        listed = ", ".join(str(p) for p in wrong)
        if other == 4:
            sent = ("ExaBGP sends its router-id as the next hop, which the router cannot "
                    "use (a martian or unreachable next hop: the route never reaches its "
                    "FIB, and a router may reset the session over it)")
        else:
            sent = "ExaBGP has no IPv6 address of this session to send as the next hop"
        yield where, (f"{who}: service {service.name} announces {listed} with next-hop self over "
               f"an IPv{version} session ({session}): {sent}. Fix: set route: {{next_hop: "
               f"<this node's IPv{other} address on the router's link>}} for service "
               f"{service.name} in {yaml_path}, or peer over IPv{other} (a neighbor block "
               f"with an IPv{other} local-address)")
