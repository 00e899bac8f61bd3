"""What the router accepts from a node (`router_limits` in speaker.yaml), and the breaches.

Pure: values in, problems out. It owns the limits' model and the one rule
that spans them all: the prefixes a config announces (every service's
prefixes go to every neighbour) must fit the router's offering, such as the
seed's CloudStack network offering (`guestbgpmaxprefixes=5`, IPv6 prefix
length 128 to 128, node ASNs 65200-65299). A config that breaks one is
refused at load, and so a reload to it leaves the running config unchanged:
the speaker never sends the router more than it accepts. It never reads the
ExaBGP config (check-config compares its `local-as` with `asn_range`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_ASN_RANGE = (65200, 65299)
# The seed's CloudStack offering, as the shipped speaker.yaml writes it.
CLOUDSTACK_MAX_PREFIXES = 5

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RouterLimits:
    """None: no limit. Lengths bound IPv6 prefixes (the offering's are /128 only)."""

    max_prefixes: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    asn_range: tuple[int, int] = DEFAULT_ASN_RANGE

    @property
    def limited(self) -> bool:
        return (self.max_prefixes, self.min_length, self.max_length) != (None, None, None)


def breaches(limits: RouterLimits, prefixes: Sequence[tuple[str, Network]],
             where: str = "/router_limits") -> list[tuple[str, str]]:
    """(path, message) for every prefix (given with its path) the router would not accept."""
    out: list[tuple[str, str]] = []
    low = limits.min_length
    high = limits.max_length
    for path, prefix in prefixes:
        if prefix.version != 6:
            continue
        if low is not None and prefix.prefixlen < low:
            out.append((path, f"{prefix} is shorter than the router accepts "
                              f"(min_length {low} in {where})"))
        if high is not None and prefix.prefixlen > high:
            out.append((path, f"{prefix} is longer than the router accepts "
                              f"(max_length {high} in {where})"))
    most = limits.max_prefixes
    if most is not None and len(prefixes) > most:
        extra = ", ".join(str(p) for _, p in prefixes[most:])
        out.append((f"{where}/max_prefixes",
                    f"the services announce {len(prefixes)} prefixes to every neighbour but "
                    f"the router accepts {most} (beyond that, a router with maximum-prefix "
                    f"tears the session down and every route of this node goes with it): "
                    f"remove {len(prefixes) - most} ({extra}) or raise max_prefixes if the "
                    f"router's limit is higher"))
    return out
