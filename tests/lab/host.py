"""What a lab needs from this machine, and the environment its processes run in.

Owns the host paths the lab uses (/run for run directories, FRR's binaries and
pathspaces), the binaries a lab cannot run without (`missing_requirements`),
the clean environment every lab process starts with (`base_env`: Debian's
tools first, no pyenv or PYTHON* leakage) and ExaBGP's settings from
exabgp/exabgp.env (`exabgp_env`). It starts nothing and creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.lab import bird, gobgp
from tests.lab.lanes import DEFAULT_EXABGP, EXABGP, REPO
from tests.lab.servers import server

ENV_FILE = REPO / "exabgp" / "exabgp.env"
RUN_BASE = Path("/run")
FRR_RUN = Path("/run/frr")
FRR_BIN = Path("/usr/lib/frr")
BINARIES = (FRR_BIN / "zebra", FRR_BIN / "bgpd", Path("/usr/bin/vtysh"),
            Path("/usr/bin/dig"), Path("/usr/sbin/ip"))
SAFE_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


ROUTERS = ("frr", "bird", "gobgp")


def missing_requirements(exabgp_version: str = DEFAULT_EXABGP, dns: str = "bind",
                         router: str = "frr") -> list[str]:
    """What keeps a lab from running here (empty list: it can run)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces)")
    extra = {"bird": bird.BINARIES, "gobgp": gobgp.BINARIES}.get(router, ())
    for path in (*BINARIES, *extra, server(dns).binary,
                 EXABGP.get(exabgp_version, Path("/nonexistent"))):
        if not path.exists():
            problems.append(f"missing {path}")
    return problems


def exabgp_env() -> dict[str, str]:
    """The settings of exabgp/exabgp.env as environment variables."""
    env: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def base_env() -> dict[str, str]:
    """A clean environment: Debian's tools first, no pyenv or PYTHON* leakage."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PYENV", "VIRTUAL_ENV", "EXABGP", "exabgp"))}
    env["PATH"] = SAFE_PATH
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
