"""The lab's signed zone: each node's BIND serves example.com signed by dnssec-signzone.

Owns the `dnssec` option of `tests.lab.lab.Lab`: per node, a KSK and a ZSK
(dnssec-keygen, ECDSAP256SHA256, in the node's directory), the zone signed
with a chosen validity (dnssec-signzone, inception an hour back, expiration
an absolute time this module picks, so a test knows it to the second), a
named.conf that serves the signed file and has a control channel on the
node's own 127.0.0.1 (an rndc key made per node), `rndc reload` of the zone,
and the speaker's dnssec check for the node. The faults: sign again with
another validity, serve the zone unsigned. It starts no long-lived process;
dnssec-keygen, dnssec-signzone and rndc run to completion.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.lab import render
from tests.lab.system import LabError, ns_argv, run

if TYPE_CHECKING:
    from tests.lab.lab import LabNode

KEYGEN = Path("/usr/bin/dnssec-keygen")
SIGNZONE = Path("/usr/bin/dnssec-signzone")
RNDC = Path("/usr/sbin/rndc")
TOOLS = (KEYGEN, SIGNZONE, RNDC)  # Debian's bind9-utils
ZONE = "example.com"
ALGORITHM = "ECDSAP256SHA256"
VALIDITY = 30 * 86400  # what a healthy lab node's signatures last
RNDC_PORT = 953
SIGNED = "db.example.com.signed"
_mtimes: dict[Path, float] = {}  # the signed file's last mtime, per file


def missing() -> list[str]:
    return [f"{tool} missing (Debian package bind9-utils)" for tool in TOOLS
            if not tool.exists()]


def _stamp(t: int) -> str:
    """An absolute time as dnssec-signzone takes it: YYYYMMDDHHMMSS in UTC."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def keys(directory: Path) -> Path:
    """The node's KSK and ZSK, made once per lab run."""
    where = directory / "keys"
    if not where.exists():
        where.mkdir(mode=0o755)
        for extra in (["-f", "KSK"], []):
            run([str(KEYGEN), "-q", "-K", str(where), "-a", ALGORITHM, "-n", "ZONE", *extra,
                 ZONE])
    return where


def sign(node: LabNode, validity: int = VALIDITY) -> int:
    """Sign the node's zone file so that every signature expires `validity` seconds from
    now; return that expiration (UNIX seconds). `reload` makes named serve it."""
    now = int(time.time())
    expiration = now + validity
    out = node.dir / SIGNED
    run([str(SIGNZONE), "-q", "-S", "-K", str(keys(node.dir)), "-o", ZONE,
         "-s", _stamp(now - 3600), "-e", _stamp(expiration), "-d", str(node.dir),
         "-f", str(out), str(node.zone_path)])
    _touch(out)
    return expiration


def unsign(node: LabNode) -> None:
    """Serve the zone unsigned (the plain file in the signed one's place); then `reload`."""
    out = node.dir / SIGNED
    out.write_text(render.zone_file(node.lab.topo))
    _touch(out)


def _touch(path: Path) -> None:
    """named reloads a zone only if its file's mtime moved on (whole seconds): two
    writes within one second must still look newer."""
    mtime = max(time.time(), _mtimes.get(path, 0.0) + 1.0)
    _mtimes[path] = mtime
    os.utime(path, (mtime, mtime))


def _rndc_key(directory: Path) -> Path:
    path = directory / "rndc.key"
    if not path.exists():
        secret = base64.b64encode(secrets.token_bytes(32)).decode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'key "rndc-key" {{\n    algorithm hmac-sha256;\n    secret "{secret}";\n}};\n')
    return path


def controls(directory: Path) -> str:
    """named's control channel on the node's 127.0.0.1, for rndc with the node's key."""
    return (f'include "{_rndc_key(directory)}";\n'
            f"controls {{ inet 127.0.0.1 port {RNDC_PORT} allow {{ 127.0.0.1; }} "
            'keys { "rndc-key"; }; };\n')


def reload(node: LabNode) -> None:
    """`rndc reload example.com` on the node (its named reads the zone file again)."""
    run(ns_argv(node.ns, [str(RNDC), "-k", str(_rndc_key(node.dir)), "-s", "127.0.0.1",
                          "-p", str(RNDC_PORT), "reload", ZONE]), timeout=10)


def prepare(node: LabNode, **check: object) -> dict[str, object]:
    """Write the node's signed zone and named.conf (BIND only); return its dnssec check
    (extra keys: min_validity, validate, names, action)."""
    if node.lab.server.name != "bind":
        raise LabError("the lab's signed zone needs dns='bind'")
    sign(node)
    (node.dir / "named.conf").write_text(render.named_conf(
        node.spec, node.dir, zone_file=SIGNED, controls=controls(node.dir)))
    return {"type": "dnssec", "server": str(node.address), "zone": f"{ZONE}.", **check}
