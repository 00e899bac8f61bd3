"""State-change hooks: which commands a transition runs, and what they are told.

Owns the `Hooks` settings (a `hooks:` block, at the top level or in a
service), `Transition` (what changed, as the hook's environment sees it) and
`commands`, the argv lists a transition runs. Pure: it never starts a
process, reads a clock or logs; `speaker.adapters.hooks` runs the commands,
the engine calls it through `speaker.ports.HookRunner`.

A hook list is chosen by the state shown to operators after the change
(`up`, `down`, `degraded`, `maintenance`, `held_down` for "held-down"); the
`change` list runs on every transition, after the list of the new state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Argv = tuple[str, ...]

# the keys of a hooks block that name the state entered, and the state each names
STATE_KEYS = {"up": "up", "down": "down", "degraded": "degraded", "maintenance": "maintenance",
              "held_down": "held-down"}
KEYS = (*STATE_KEYS, "change", "timeout")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 300.0


@dataclass(frozen=True)
class Hooks:
    """The commands to run on transitions; each an argv list, run without a shell."""

    up: tuple[Argv, ...] = ()
    down: tuple[Argv, ...] = ()
    degraded: tuple[Argv, ...] = ()
    maintenance: tuple[Argv, ...] = ()
    held_down: tuple[Argv, ...] = ()
    change: tuple[Argv, ...] = ()  # every transition
    timeout: float = DEFAULT_TIMEOUT  # seconds each command may run before it is killed


@dataclass(frozen=True)
class Transition:
    """A change of the state shown to operators, as a hook learns of it."""

    service: str
    old: str
    new: str
    reason: str
    prefixes: tuple[str, ...]

    def environment(self) -> dict[str, str]:
        """The variables added to a hook's environment."""
        return {"SPEAKER_SERVICE": self.service, "SPEAKER_OLD": self.old,
                "SPEAKER_NEW": self.new, "SPEAKER_REASON": self.reason,
                "SPEAKER_PREFIXES": " ".join(self.prefixes)}


def commands(hooks: Hooks | None, new: str) -> tuple[Argv, ...]:
    """The commands entering state `new` runs, in order: its own list, then `change`."""
    if hooks is None:
        return ()
    own: Sequence[Argv] = ()
    for key, state in STATE_KEYS.items():
        if state == new:
            own = getattr(hooks, key)
    return (*own, *hooks.change)


def effective(service_hooks: Hooks | None, top_hooks: Hooks | None) -> Hooks | None:
    """A service's own hooks block replaces the top-level one as a whole."""
    return service_hooks if service_hooks is not None else top_hooks


def plan(service_hooks: Hooks | None, top_hooks: Hooks | None, transition: Transition
         ) -> tuple[tuple[Argv, ...], float, Transition]:
    """What `speaker.ports.HookRunner.run` is given for `transition`: commands (maybe
    none), their timeout and the transition."""
    chosen = effective(service_hooks, top_hooks)
    timeout = chosen.timeout if chosen is not None else DEFAULT_TIMEOUT
    return commands(chosen, transition.new), timeout, transition
