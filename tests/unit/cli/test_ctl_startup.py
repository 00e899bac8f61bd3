"""speakerctl's start-up on the drain path (issue 14): `withdraw` and `announce` send their
request without the config model, the offline edits, the checks or dnspython; the socket
is the one `locate` names; the config is validated only when something asks for it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from speaker.cli import client
from tests.unit.cli.served import Served, cli, write_config

REPO = Path(__file__).resolve().parents[3]
# what withdraw and announce must not import: the config model and what it pulls in
# (ipaddress, dnspython through the DNSSEC rules), the offline edits (the state file),
# the doctor's checks, ExaBGP config cross-checks, package metadata, the event loop
HEAVY = ("speaker.core.config", "speaker.adapters", "speaker.engine", "speaker.cli.offline",
         "speaker.cli.doctor", "speaker.core.exabgp_conf", "dns", "importlib.metadata",
         "asyncio")
# speakerctl, then the modules it imported, as the last line of stderr
SPEAKERCTL = ("import sys\nfrom speaker.cli import main\ncode = main(sys.argv[1:])\n"
              "print('MODULES', *sorted(sys.modules), file=sys.stderr)\nsys.exit(code)\n")


def _imported(*argv: str) -> set[str]:
    """The modules a `speakerctl ARGV` process imported (it must exit 0)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", SPEAKERCTL, *argv], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    last = done.stderr.splitlines()[-1].split()
    assert last[0] == "MODULES", done.stderr
    return set(last[1:])


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_withdraw_and_announce_import_nothing_heavy(served: Served) -> None:
    served.call(served.rig.bring_up)
    withdraw = _imported(*cli(served.folder, "withdraw", "dns", "--drain-delay", "0"))
    assert served.rig.store.load()["dns"]  # it did withdraw, through the process
    announce = _imported(*cli(served.folder, "announce", "dns"))
    assert not served.rig.store.load().get("dns")
    assert _heavy(withdraw) == [] and _heavy(announce) == []
    assert "yaml" in withdraw  # control.socket of the config, as written


def test_with_the_socket_given_no_yaml_either(served: Served) -> None:
    sock = str(served.rig.speaker.config.control.socket)
    imported = _imported("--config", "/nonexistent.yaml", "--socket", sock, "withdraw",
                         "--drain-delay", "0")
    assert _heavy(imported) == [] and "yaml" not in imported


CONFIGS = {
    "valid": None,  # the rig's
    "valid, no control block": "state_dir: {folder}/state\nservices: []\n",
    "invalid, with its socket": "control: {{socket: {folder}/odd.sock}}\nservices: 7\n",
    "not YAML": "control:\n  socket: {folder}/x.sock\nservices: [\n",
    "a scalar no constructor takes": "control: {{socket: 2020-13-01}}\n",
    "relative socket": "control: {{socket: run/s.sock}}\n",
}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("flag", [False, True])
def test_located_names_the_socket_and_origin_locate_does(
        folder: Path, name: str, flag: bool) -> None:
    text = CONFIGS[name]
    path = write_config(folder, text.format(folder=folder) if text else None)
    given = folder / "given.sock" if flag else None
    found, whole = client.Located(given, path), client.locate(given, path)
    assert (found.socket, found.origin, found.group) == (whole.socket, whole.origin,
                                                        whole.group)
    assert (found.config is None) == (whole.config is None)
    assert found.config_problem == whole.config_problem


def test_a_missing_config_gives_the_default_socket(folder: Path) -> None:
    found = client.Located(None, folder / "none.yaml")
    assert found.socket == Path("/run/speaker/speaker.sock")
    assert found.origin == f"the default ({folder}/none.yaml does not exist)"


def test_the_config_is_validated_only_when_asked(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(folder)
    asked: list[Path] = []
    validate = client._validate

    def counting(where: Path, text: str) -> tuple[object, str]:
        asked.append(where)
        return validate(where, text)

    monkeypatch.setattr(client, "_validate", counting)
    found = client.Located(None, path)
    assert found.socket == folder / "s.sock" and asked == []
    assert found.config is not None and found.origin == f"control.socket in {path}"
    assert asked == [path]  # once, for all of them


def test_a_scalar_no_constructor_takes_is_no_traceback(folder: Path) -> None:
    path = write_config(folder, "control: {socket: 2020-13-01}\n")
    target = client.locate(None, path)
    assert target.socket == Path("/run/speaker/speaker.sock") and target.config is None


# -- the reply's lines, and the drain delay asked only when one is late -------------------


def test_a_line_on_time_never_asks_for_longer() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b'{"a": 1}\n{"b"')
        asked: list[int] = []
        lines = client._Lines(ours, 5.0, lambda: asked.append(1) or 1.0)
        assert lines.next() == b'{"a": 1}\n'
        theirs.sendall(b": 2}\n")
        theirs.close()
        assert lines.next() == b'{"b": 2}\n' and lines.next() == b""
        assert asked == [] and lines.timeout == 5.0


def test_a_late_line_asks_once_and_the_bound_grows() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        asked: list[int] = []

        def longer() -> float:  # the answer comes while the config is read
            asked.append(1)
            theirs.sendall(b"late\n")
            return 30.0

        lines = client._Lines(ours, 0.0, longer)
        assert lines.next() == b"late\n" and asked == [1]
        assert lines.timeout == 30.0  # the bound of every later line too


def test_no_line_within_the_bound_times_out() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, pytest.raises(TimeoutError):
        client._Lines(ours, 0.0, None).next()
