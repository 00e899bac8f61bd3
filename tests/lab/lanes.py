"""Which Python runs the speaker, and which ExaBGP runs it: the switch of the version lanes.

Owns the one environment variable the lanes of tests/run.sh set, read here and
nowhere else: `SPEAKER_PYTHON`, the interpreter that runs the speaker process
and speakerctl (always with the checkout on PYTHONPATH, so the code under test
is the checkout's and the dependencies are that interpreter's). Unset, it is
Debian's /usr/bin/python3, with ExaBGP 4.2 from Debian and 5.0 from
.venv-exabgp5. Set to a venv's python whose venv holds an `exabgp`, that
ExaBGP replaces the one of its version and becomes the lab's default version.
Test tools (the lab itself, its client, ExaBGP's healthcheck) stay on Debian's.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PYTHON = "/usr/bin/python3"
# abspath, not resolve(): a venv's bin/python is a symlink, and the venv is the point
SPEAKER_PYTHON = os.path.abspath(os.environ.get("SPEAKER_PYTHON") or DEBIAN_PYTHON)
EXABGP: dict[str, Path] = {
    "4.2": Path("/usr/sbin/exabgp"),
    "5.0": REPO / ".venv-exabgp5" / "bin" / "exabgp",
}
DEFAULT_EXABGP = "4.2"


def venv_exabgp(python: str) -> tuple[str, Path] | None:
    """("4.2" or "5.0", path) of the ExaBGP installed beside `python`, if there is one."""
    exabgp = Path(python).parent / "exabgp"
    if not exabgp.exists():
        return None
    done = subprocess.run([python, "-c", "import importlib.metadata as m; "
                           "print(m.version('exabgp'))"],
                          capture_output=True, text=True, timeout=30, check=False)
    version = done.stdout.strip()
    for series in EXABGP:
        if version.startswith(series + "."):
            return series, exabgp
    return None


if SPEAKER_PYTHON != DEBIAN_PYTHON:
    found = venv_exabgp(SPEAKER_PYTHON)
    if found is not None:
        DEFAULT_EXABGP, EXABGP[found[0]] = found
