"""check-config refuses a config with more prefixes than router_limits.max_prefixes.

The speaker itself starts with such a config (it announces only the first
max_prefixes); check-config and doctor's config finding report it as broken.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speaker.cli import parser
from tests.unit.rig import PREFIX, YAML


def check(folder: Path, capsys: pytest.CaptureFixture[str], limit: int,
          *flags: str) -> tuple[int, str, str]:
    path = folder / "speaker.yaml"
    path.write_text(YAML.format(folder=folder, prefix=PREFIX)
                    + f"router_limits: {{max_prefixes: {limit}}}\n")
    code = parser.main([*flags, "check-config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_config_refuses_more_prefixes_than_max_prefixes(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(folder, capsys, 1)
    assert code == 78
    assert f"{folder}/speaker.yaml: /router_limits/max_prefixes: the services announce 2 " \
           "prefixes to every neighbour but the router accepts 1" in err
    assert "keeps 1 (2001:db8::54/128) withdrawn" in err
    assert "NOT valid" in err


def test_check_config_json_lists_the_excess_as_a_problem(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(folder, capsys, 1, "--json")
    doc = json.loads(out)
    assert code == 78 and doc["ok"] is False
    [problem] = doc["problems"]
    assert "/router_limits/max_prefixes" in problem


def test_check_config_takes_a_config_within_max_prefixes(
        folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(folder, capsys, 2)
    assert code == 0 and out.startswith("ok: ")
