"""The tested version matrix, read from the lanes as installed: `python3 -m tests.matrix`.

Owns the table of README.md's "Supported platforms and versions": one row per
lane of tests/run.sh, each version read from what that lane really runs, never
typed in: Debian 12's python3 and packages (dpkg), the .venv-newest and
.venv-oldest venvs (importlib.metadata of their python), PyPI's ExaBGP 5.0 in
.venv-exabgp5, and Debian 13's packages in the trixie lane's cached root (its
dpkg status file, read from the host; the root is not started). A lane not
built yet says so. Prints a Markdown table on stdout; reads only.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.packaging import roots

REPO = Path(__file__).resolve().parents[1]
DISTS = ("exabgp", "dnspython", "pyroute2", "PyYAML", "prometheus_client")
DEBS = {"exabgp": "python3-exabgp", "dnspython": "python3-dnspython",
        "pyroute2": "python3-pyroute2", "PyYAML": "python3-yaml",
        "prometheus_client": "python3-prometheus-client"}
HEAD = ["lane", "how it is installed", "Python", "ExaBGP", "dnspython", "pyroute2", "PyYAML",
        "prometheus-client", "FRR", "BIND"]
PROBE = ("import importlib.metadata as m, platform\n"
         "print(platform.python_version())\n"
         "for d in {dists!r}:\n"
         "    try: print(m.version(d))\n"
         "    except m.PackageNotFoundError: print('-')\n")


def upstream(version: str) -> str:
    """A Debian version without epoch, revision and repack: 1:9.18.49-1~deb12u3 -> 9.18.49,
    0.21.1+ds1-1 -> 0.21.1."""
    plain = re.sub(r"^\d+:", "", version).rsplit("-", 1)[0]
    return re.sub(r"\+(ds|dfsg)\d*$", "", plain)


def python_versions(python: Path) -> list[str] | None:
    """[Python, *DISTS] as `python` sees them; None if it is not there."""
    if not python.exists():
        return None
    out = subprocess.run([str(python), "-I", "-c", PROBE.format(dists=DISTS)],
                         capture_output=True, text=True, timeout=60, check=False)
    lines = out.stdout.split()
    return lines if out.returncode == 0 and len(lines) == 1 + len(DISTS) else None


def dpkg_versions(status: Path) -> dict[str, str]:
    """Installed package -> upstream version, from a dpkg status file."""
    found: dict[str, str] = {}
    if not status.exists():
        return found
    for stanza in status.read_text(errors="replace").split("\n\n"):
        fields = dict(re.findall(r"^(Package|Status|Version): (.*)$", stanza, re.M))
        if fields.get("Status", "").endswith(" installed") and "Version" in fields:
            found[fields["Package"]] = upstream(fields["Version"])
    return found


def servers(debs: dict[str, str]) -> list[str]:
    return [debs.get("frr", "-"), debs.get("bind9", "-")]


def rows() -> list[list[str]]:
    host = dpkg_versions(Path("/var/lib/dpkg/status"))
    out: list[list[str]] = []
    debian = python_versions(Path("/usr/bin/python3"))
    if debian is not None:
        out.append(["Debian 12 (bookworm)", "the .deb, apt", *debian, *servers(host)])
        exabgp5 = python_versions(REPO / ".venv-exabgp5" / "bin" / "python")
        if exabgp5 is not None:
            out.append(["Debian 12 + ExaBGP 5.0", "a checkout; ExaBGP from PyPI", exabgp5[0],
                        exabgp5[1], *debian[2:], *servers(host)])
    for lane, how in (("newest", "pip install . in a venv: the newest releases"),
                      ("oldest", "pip install . in a venv: the oldest allowed")):
        found = python_versions(REPO / f".venv-{lane}" / "bin" / "python")
        if found is None:
            out.append([f"venv ({lane})", f"not built: bash tests/bootstrap.sh ({how})",
                        *["-"] * (len(HEAD) - 2)])
        else:
            out.append([f"venv ({lane})", how, *found, *servers(host)])
    built = sorted(roots.CACHE.glob("trixie-lane-*"))
    trixie = dpkg_versions(built[-1] / "var/lib/dpkg/status") if built else {}
    if trixie:
        out.append(["Debian 13 (trixie)", "the .deb, apt", trixie.get("python3", "-"),
                    *(trixie.get(DEBS[d], "-") for d in DISTS), *servers(trixie)])
    else:
        out.append(["Debian 13 (trixie)", "not built: tests/run.sh --lane trixie",
                    *["-"] * (len(HEAD) - 2)])
    return out


def markdown(table: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def main() -> int:
    print(markdown(rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
