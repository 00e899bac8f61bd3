"""The session-protection settings of an ExaBGP config: TCP MD5 and GTSM (TTL security).

Pure: the neighbour settings, the ExaBGP version and the file's mode come in,
findings (line, level, message) go out; it reads no file and runs nothing.
Owns what `speakerctl check-config` says about `md5-password` (a secret in a
file others can read) and `incoming-ttl` / `outgoing-ttl` (ExaBGP 4.2 accepts
`incoming-ttl` and does not enforce it; 5.0 does). Called by
speaker.core.exabgp_conf.cross_check; it must not know the rest of the model.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass

Settings = Mapping[str, tuple[tuple[str, ...], int]]  # keyword -> (words, line)
GTSM_TTL = 255


@dataclass(frozen=True)
class Host:
    """What check-config knows of the machine: the ExaBGP that runs the config."""

    version: str | None = None  # "4.2.21", "5.0.1"; None: unknown
    version_from: str = ""  # how it was found, for the message
    mode: int | None = None  # st_mode of the ExaBGP config; None: not known


def enforces_incoming_ttl(version: str) -> bool | None:
    """Whether this ExaBGP version refuses a session below `incoming-ttl` (None: unparsable)."""
    found = re.match(r"\s*(\d+)\.(\d+)", version)
    if found is None:
        return None
    return (int(found[1]), int(found[2])) >= (5, 0)


def problems(address: str, settings: Settings, host: Host) -> list[tuple[str, int, str]]:
    """The findings, as (level, line, message), for the neighbour `address`."""
    who = f"neighbor {address}"
    out: list[tuple[str, int, str]] = []
    md5 = settings.get("md5-password")
    if md5 is not None and host.mode is not None and host.mode & stat.S_IROTH:
        out.append(("warning", md5[1],
                    f"{who}: md5-password in a file every user can read (mode "
                    f"{stat.S_IMODE(host.mode):04o}); chmod o-r it (0640, group of the ExaBGP "
                    "user)"))
    for key in ("incoming-ttl", "outgoing-ttl"):
        found = settings.get(key)
        if found is None:
            continue
        words, line = found
        if len(words) < 2 or not words[1].isdigit() or not 1 <= int(words[1]) <= GTSM_TTL:
            got = words[1] if len(words) > 1 else "nothing"
            out.append(("error", line, f"{who}: {key} {got} is not a TTL (1-{GTSM_TTL})"))
    incoming = settings.get("incoming-ttl")
    if incoming is not None:
        out.extend(_incoming(who, incoming[1], host))
    return out


def _incoming(who: str, line: int, host: Host) -> list[tuple[str, int, str]]:
    ignored = ("ExaBGP 4.2 accepts incoming-ttl and does not enforce it: a router "
               "sending any hop limit gets a session (GTSM needs ExaBGP 5.0)")
    if host.version is None:
        return [("warning", line, f"{who}: {ignored}; the ExaBGP version is unknown here "
                                  "(--exabgp-version VERSION says which runs this config)")]
    enforced = enforces_incoming_ttl(host.version)
    if enforced is None:
        return [("warning", line, f"{who}: ExaBGP version {host.version!r} "
                                  f"({host.version_from}) is not X.Y; {ignored}")]
    if not enforced:
        return [("warning", line, f"{who}: ExaBGP {host.version} ({host.version_from}): "
                                  f"{ignored}")]
    return []
