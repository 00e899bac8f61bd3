"""The README's demo, as the quick start runs it: every step of the seed's walkthrough behaves.

Runs `python3 -m tests.lab demo` (what `tests/demo.sh` runs after the
bootstrap) with BIND, with PowerDNS, with BIRD 2 as the router (as
`tests/demo.sh --router bird` runs it) and with the hidden master, pictures
off, and asserts that it exits 0 and says so, with no namespace left behind;
the hidden master's run also says, in words, each thing it shows.
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


def _demo(*options: str) -> str:
    """Run the demo with `options`; its output, once it passed and left nothing behind."""
    done = subprocess.run(
        ["/usr/bin/python3", "-m", "tests.lab", "demo", *options, "--no-pictures"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    assert "DEMO OK: every step behaved" in done.stdout, tail
    lab_id = re.search(r"lab id (\w+)", done.stdout)
    assert lab_id is not None, tail
    # its own namespaces only: other labs on the machine come and go meanwhile
    left = {ns for ns in _namespaces() if ns.startswith(f"spk{lab_id[1]}-")}
    assert not left, f"the demo left namespaces behind: {sorted(left)}"
    return done.stdout


@pytest.mark.parametrize(("dns", "router"), [("bind", "frr"), ("pdns", "frr"), ("bind", "bird")])
def test_the_readme_demo_passes_every_step(dns: str, router: str) -> None:
    _demo("--dns", dns, "--router", router)


def test_the_hidden_master_demo_shows_a_transfer_a_stale_withdraw_and_the_masters_loss(
        ) -> None:
    out = _demo("--hidden-master")
    assert "hidden master: BIND primary at" in out
    assert "every node was notified, transferred the zone and serves it" in out
    assert "dns2 withdrawn" in out and "(others stay)" in out
    assert "behind master" in out and "caught up and announced" in out
    assert "no node withdrawn over 9 s" in out and "master unreachable" in out
