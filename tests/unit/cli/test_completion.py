"""speakerctl's bash completion: generated from the parser, shipped as generated, and working."""

from __future__ import annotations

import argparse
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from speaker.cli import completion, parser

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "packaging/completion/speakerctl"
INSTALL = REPO / "packaging/debian/anycast-speaker.install"
YAML = """
services:
  - name: {first}
    prefixes: ["2001:db8::53/128"]
    checks: [{{type: dns, server: "2001:db8::53", qname: example.com.}}]
  - name: {second}
    prefixes: ["2001:db8::54/128"]
    checks: [{{type: dns, server: "2001:db8::54", qname: example.com.}}]
"""


def visible_flags(p: argparse.ArgumentParser) -> set[str]:
    return {o for a in p._actions if a.help != argparse.SUPPRESS for o in a.option_strings}


def test_the_shipped_file_is_what_the_parser_generates() -> None:
    assert SHIPPED.read_text() == completion.bash(parser.build_parser()), (
        "regenerate: python3 -m speaker.cli.completion > packaging/completion/speakerctl")


def test_the_deb_installs_it_where_bash_completion_looks() -> None:
    assert "packaging/completion/speakerctl usr/share/bash-completion/completions/" in (
        INSTALL.read_text().splitlines())


def test_every_subcommand_alias_and_flag_of_the_parser_is_in_it() -> None:
    built = parser.build_parser()
    script = completion.bash(built)
    subs = completion.subcommands(built)
    assert {c.name for c in parser.COMMANDS} | {a for c in parser.COMMANDS for a in c.aliases} == set(subs)
    listed = re.search(r'compgen -W "(status[^"]*)"', script)
    assert listed is not None and set(listed.group(1).split()) == set(subs)
    top = re.search(r'compgen -W "(-h [^"]*)"', script)
    assert top is not None and set(top.group(1).split()) == visible_flags(built)
    for name, sub in subs.items():
        arm = re.search(rf'^        (?:[a-z-]+\|)*{re.escape(name)}(?:\|[a-z-]+)*\)\n'
                        r'            flags="([^"]*)"', script, re.M)
        assert arm is not None, name
        assert set(arm.group(1).split()) == visible_flags(sub), name


def test_complete_services_prints_the_services_of_the_config(tmp_path: Path) -> None:
    conf = tmp_path / "speaker.yaml"
    conf.write_text(YAML.format(first="dns", second="ntp"))
    out, err = io.StringIO(), io.StringIO()
    assert parser.main(["--config", str(conf), "--complete-services"], out=out, err=err) == 0
    assert out.getvalue() == "dns\nntp\n"


@pytest.mark.parametrize("text", [None, "services: [oops"])
def test_complete_services_prints_nothing_for_a_missing_or_bad_config(
        tmp_path: Path, text: str | None) -> None:
    conf = tmp_path / "speaker.yaml"
    if text is not None:
        conf.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    assert parser.main(["--config", str(conf), "--complete-services"], out=out, err=err) == 0
    assert (out.getvalue(), err.getvalue()) == ("", "")


def complete(words: list[str], tmp: Path) -> list[str]:
    """What bash offers for the last of `words` (speakerctl being this checkout's)."""
    script = (f'speakerctl() {{ PYTHONPATH={REPO} {sys.executable} -m speaker.cli "$@"; }}\n'
              f'source {SHIPPED}\n'
              'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
              '_speakerctl\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "-c", script, "bash", *words], capture_output=True,
                          text=True, timeout=30, cwd=tmp, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_commands_flags_services_and_files(tmp_path: Path) -> None:
    conf = tmp_path / "speaker.yaml"
    conf.write_text(YAML.format(first="dns-a", second="dns-b"))
    assert complete(["speakerctl", "wi"], tmp_path) == ["withdraw"]
    assert complete(["speakerctl", "--con"], tmp_path) == ["--config"]
    assert complete(["speakerctl", "--config", "spe"], tmp_path) == ["speaker.yaml"]
    assert complete(["speakerctl", "status", "--j"], tmp_path) == ["--json"]
    assert complete(["speakerctl", "--config", str(conf), "withdraw", "dns"], tmp_path) == [
        "dns-a", "dns-b"]
    assert complete(["speakerctl", "--config", str(conf), "resume", "dns-b"], tmp_path) == [
        "dns-b"]
    assert complete(["speakerctl", "withdraw", "--reason", ""], tmp_path) == []
    assert complete(["speakerctl", "check-config", "spe"], tmp_path) == ["speaker.yaml"]
