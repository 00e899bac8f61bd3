"""speakerctl finding the control socket, and when no process answers on it: which
path, where it came from, what to do (exit 69).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from speaker.cli import client
from tests.unit.cli.served import Run, cli, write_config


def test_missing_socket_says_which_path_where_from_and_what_to_do(
        folder: Path, run: Run) -> None:
    write_config(folder)
    code, _, err = run(*cli(folder, "status"))
    assert code == 69
    assert f"{folder}/s.sock does not exist" in err
    assert f"control.socket in {folder}/speaker.yaml" in err
    assert "systemctl status anycast-speaker" in err and "Traceback" not in err


def test_socket_flag_is_named_as_the_origin(folder: Path, run: Run) -> None:
    code, _, err = run("--config", str(folder / "none.yaml"), "--socket",
                       str(folder / "x.sock"), "status")
    assert code == 69 and "from the --socket option" in err


def test_default_socket_is_named_as_the_origin() -> None:
    target = client.locate(None, Path("/nonexistent/speaker.yaml"))
    assert target.socket == Path("/run/speaker/speaker.sock")
    assert target.origin == "the default (/nonexistent/speaker.yaml does not exist)"


def test_an_invalid_config_still_gives_its_socket(folder: Path) -> None:
    path = write_config(folder, f"control: {{socket: {folder}/odd.sock}}\nservices: 7\n")
    target = client.locate(None, path)
    assert target.socket == folder / "odd.sock" and target.config is None
    assert "which has problems" in target.origin


def test_socket_is_found_even_in_a_yaml_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("control:\n  socket: /run/x/speaker.sock\nservices: [\n")
    target = client.locate(None, path)
    assert target.socket == Path("/run/x/speaker.sock")
    assert "control.socket in" in target.origin and "not valid" in target.origin


def test_socket_is_found_in_a_broken_json_style_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('{"control": {\n  "socket": "/run/y/speaker.sock"},\n "services": [\n')
    assert client.locate(None, path).socket == Path("/run/y/speaker.sock")


def test_stale_socket_counts_as_not_running(folder: Path, run: Run) -> None:
    write_config(folder)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(folder / "s.sock"))
    sock.close()  # the file stays, nobody listens
    code, _, err = run(*cli(folder, "status"))
    assert code == 69 and "stale socket" in err


def test_permission_denied_names_the_group(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(folder)

    class Denied(socket.socket):
        def connect(self, address: Any) -> None:
            raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(client.socket, "socket", Denied)
    code, _, err = run(*cli(folder, "withdraw"))
    assert code == 69 and "permission denied" in err and "group speaker" in err
    assert not (folder / "state").exists()  # not "not running": nothing recorded
