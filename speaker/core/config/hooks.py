"""The schema of a `hooks:` block (top level or in a service): argv lists and a timeout.

Owns `hooks`, the validator that turns a hooks block into a
`speaker.core.hooks.Hooks`. Each list under a state key holds commands, each
command an argv list whose first item is an absolute path (hooks run without
a shell and without a PATH lookup). Must not check that the commands exist:
that is the running speaker's business, which logs a command it cannot start.
"""

from __future__ import annotations

from speaker.core.config.types import (
    At,
    Fields,
    Invalid,
    ListOf,
    Reported,
    Seconds,
    Text,
    kind,
)
from speaker.core.hooks import DEFAULT_TIMEOUT, KEYS, MAX_TIMEOUT, STATE_KEYS, Argv, Hooks

EXAMPLE = "['/usr/local/bin/notify', '--down']"
ARG = Text("must be a non-empty string")


def command(value: object, at: At) -> Argv:
    """One command: an argv list, run without a shell."""
    if not isinstance(value, list):
        raise Invalid(f"must be a command as an argv list such as {EXAMPLE} "
                      f"(got {kind(value)}): each hook list holds argv lists")
    argv = ListOf(ARG, min_items=1, too_few=f"must not be empty: an argv list such as "
                                            f"{EXAMPLE}")(value, at)
    if len(argv) != len(value):
        raise Reported  # recorded already, at its index
    if not argv[0].startswith("/"):
        (at / 0).add(f"must be an absolute path to the command (got {argv[0]!r}): hooks run "
                     "without a shell and without a PATH lookup")
    return argv


COMMANDS = ListOf(command)


def hooks(value: object, at: At) -> Hooks:
    f = Fields(value, at, KEYS)
    lists = {key: f.get(key, COMMANDS, (), null=True) for key in (*STATE_KEYS, "change")}
    timeout = f.get("timeout", Seconds(0.1, MAX_TIMEOUT), DEFAULT_TIMEOUT)
    return Hooks(**lists, timeout=timeout)
