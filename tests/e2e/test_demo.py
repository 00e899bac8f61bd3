"""The README's demo, as the quick start runs it: every step of the seed's walkthrough behaves.

Runs `python3 -m tests.lab demo` (what `tests/demo.sh` runs after the
bootstrap) with BIND and with PowerDNS (and BIND with BIRD 2 as the router, as
`tests/demo.sh --router bird` runs it), pictures off, and asserts that it exits
0 and says so, with no namespace left behind.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize(("dns", "router"), [("bind", "frr"), ("pdns", "frr"), ("bind", "bird")])
def test_the_readme_demo_passes_every_step(dns: str, router: str) -> None:
    done = subprocess.run(
        ["/usr/bin/python3", "-m", "tests.lab", "demo", "--dns", dns, "--router", router,
         "--no-pictures"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    assert "DEMO OK: every step behaved" in done.stdout, tail
    found = re.search(r"lab id (\w+)", done.stdout)
    assert found, tail
    mine = {ns for ns in _namespaces() if ns.startswith(f"spk{found.group(1)}-")}
    assert not mine, f"the demo left namespaces behind: {mine}"  # (other labs may run)
