"""What the router accepts from a node (`router_limits` in speaker.yaml), and the breaches.

Pure: values in, problems out. It owns the limits' model and the rules that
span them: the prefixes a config announces (every service's prefixes go to
every neighbour) must fit the router's offering, such as the seed's
CloudStack network offering (`guestbgpmaxprefixes=5`, IPv6 prefix length 128
to 128, node ASNs 65200-65299). A prefix of a length the router refuses is
refused at load (`breaches`), and so a reload to it leaves the running config
unchanged. More prefixes than `max_prefixes` (`excess`) are not refused at
load: the speaker announces only the first `max_prefixes` at run time
(`speaker.core.budget`), and `speakerctl check-config` and doctor report the
config as broken. It never reads the ExaBGP config (check-config compares its
`local-as` with `asn_range`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_ASN_RANGE = (65200, 65299)
# The seed's CloudStack offering, as the shipped speaker.yaml writes it.
CLOUDSTACK_MAX_PREFIXES = 5
# the fix for more prefixes than max_prefixes, wherever it is named (check-config, the
# log, doctor's config and prefix findings)
MAX_PREFIXES_FIX = ("remove prefixes from speaker.yaml or raise router_limits.max_prefixes "
                    "(and the router's limit: FRR maximum-prefix, BIRD import limit)")

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
    """(path, message) for every prefix (given with its path) of a length the router refuses."""
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
    return out


def excess(limits: RouterLimits, prefixes: Sequence[Network],
           where: str = "/router_limits") -> tuple[str, str] | None:
    """(path, message) when the config has more prefixes than the router accepts."""
    most = limits.max_prefixes
    if most is None or len(prefixes) <= most:
        return None
    extra = ", ".join(str(p) for p in prefixes[most:])
    return (f"{where}/max_prefixes",
            f"the services announce {len(prefixes)} prefixes to every neighbour but the "
            f"router accepts {most} (beyond that, a router with maximum-prefix tears the "
            f"session down and every route of this node goes with it): the speaker "
            f"announces only the first {most} in config order and keeps "
            f"{len(prefixes) - most} ({extra}) withdrawn while the others are up: "
            f"{MAX_PREFIXES_FIX}")
