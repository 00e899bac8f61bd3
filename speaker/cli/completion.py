"""Shell completion for speakerctl, generated from its parser so the two cannot drift.

Owns `bash`, the bash completion script written from `build_parser()`'s
subcommands, aliases, flags and positional arguments. SERVICE arguments are
completed with the services of the config, which the script asks speakerctl's
hidden `--complete-services` for. The shipped file
(packaging/completion/speakerctl) is this module's output:
`python3 -m speaker.cli.completion > packaging/completion/speakerctl`; a test
checks that it is. Must not read a file or talk to the control socket.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from speaker.cli.parser import build_parser

FILE_METAVARS = ("PATH", "CONF")  # values completed with file names
SERVICE_METAVAR = "SERVICE"


def _flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The flags shown in --help (hidden ones are for scripts, not for people)."""
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every name a subcommand answers to (aliases included), in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _words(actions: Iterable[argparse.Action]) -> str:
    return " ".join(o for a in actions for o in a.option_strings)


def _valued(actions: Iterable[argparse.Action], files: bool | None = None,
            skip: tuple[str, ...] = ()) -> list[str]:
    """The flags that take a value: of file names (`files`), of anything else (not
    `files`), or all of them (None)."""
    return [o for a in actions if a.nargs != 0 for o in a.option_strings
            if (files is None or (a.metavar in FILE_METAVARS) == files) and o not in skip]


def _value_cases(actions: list[argparse.Action], indent: str, prog: str) -> str:
    """A `case $prev` completing the value of a flag: file names, or nothing."""
    arms = []
    if files := _valued(actions, True):
        arms.append(f"{indent}    {'|'.join(files)}) _{prog}_files; return ;;")
    if others := _valued(actions, False):
        arms.append(f"{indent}    {'|'.join(others)}) return ;;")
    if not arms:
        return ""
    return "\n".join([f"{indent}case $prev in", *arms, f"{indent}esac"]) + "\n"


def _positional_kind(parser: argparse.ArgumentParser) -> str:
    for action in _positionals(parser):
        if action.metavar == SERVICE_METAVAR:
            return "services"
        if action.metavar in FILE_METAVARS:
            return "files"
    return "none"


def bash(parser: argparse.ArgumentParser) -> str:
    """The bash completion script of `parser` (speakerctl's)."""
    prog = parser.prog
    fn = f"_{prog}"
    top = _flags(parser)
    subs = subcommands(parser)
    names: dict[int, list[str]] = {}  # aliases share their command's parser
    for name, sub in subs.items():
        names.setdefault(id(sub), []).append(name)
    cases = []
    for sub in {id(sub): sub for sub in subs.values()}.values():
        flags = _flags(sub)
        cases.append(f"        {'|'.join(names[id(sub)])})\n"
                     f"            flags=\"{_words(flags)}\"; positional={_positional_kind(sub)}\n"
                     f"{_value_cases(flags, ' ' * 12, prog)}"
                     f"            ;;")
    body = "\n".join(cases)
    skip = "|".join(_valued(top, skip=("--config",))) or "--no-such-flag"
    return f"""\
# bash completion for {prog}                                    -*- shell-script -*-
# Generated from {prog}'s parser by `python3 -m speaker.cli.completion`; do not edit.

_{prog}_files() {{
    local IFS=$'\\n'
    COMPREPLY=($(compgen -f -- "$cur"))
}}

{fn}() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local command="" config=() i word
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${{COMP_WORDS[i]}}
        case $word in
            --config) config=(--config "${{COMP_WORDS[i+1]}}"); ((i++)) ;;
            {skip}) ((i++)) ;;
            -*) ;;
            *) command=$word; break ;;
        esac
    done
    if [[ -z $command ]]; then
{_value_cases(top, " " * 8, prog)}        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "{_words(top)}" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{" ".join(subs)}" -- "$cur"))
        fi
        return
    fi
    local flags="" positional=none
    case $command in
{body}
        *) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    elif [[ $positional == services ]]; then
        COMPREPLY=($(compgen -W "$({prog} "${{config[@]}}" --complete-services 2>/dev/null)" \\
                     -- "$cur"))
    elif [[ $positional == files ]]; then
        _{prog}_files
    fi
}}
complete -F {fn} {prog}
"""


def main() -> int:
    sys.stdout.write(bash(build_parser()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
