"""State-change hooks: which commands a transition runs, and when the engine asks for them."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from speaker.core import config
from speaker.core.hooks import Hooks, Transition, commands, effective
from speaker.core.verdicts import Outcome
from tests.fakes import HookRunner
from tests.unit.engine_rig import EngineRig

YAML = """
state_dir: {state}
services:
  - name: dns
    prefixes: ["2001:db8::100/128", "192.0.2.53/32"]
    timing: {{rise: 2, fall: 2}}
    checks:
      - {{type: dns, server: "2001:db8::100", qname: example.com.}}
"""
FAIL = Outcome(False, "dns check: timeout after 0.25 s", 0.001, "timeout")
ALL = Hooks(up=(("/bin/up",),), down=(("/bin/down", "-v"),), degraded=(("/bin/degraded",),),
            maintenance=(("/bin/maint",),), held_down=(("/bin/held",),),
            change=(("/bin/any",),), timeout=2.5)


class Rig(EngineRig):
    def __init__(self, tmp: Path, top: Hooks | None, own: Hooks | None = None) -> None:
        cfg = config.parse(YAML.format(state=tmp / "state"))
        cfg = dataclasses.replace(cfg, hooks=top, services=tuple(
            dataclasses.replace(s, hooks=own) for s in cfg.services))
        self.hooks = HookRunner()
        super().__init__(cfg, hook_runner=self.hooks)
        self.hooks.sink = self.sink

    def fail(self) -> None:
        self.probes.built[0].default = FAIL

    def news(self) -> list[str]:
        return [t.new for _, _, t, _ in self.hooks.runs]


@pytest.mark.parametrize(("new", "expected"), [
    ("up", [("/bin/up",), ("/bin/any",)]),
    ("down", [("/bin/down", "-v"), ("/bin/any",)]),
    ("degraded", [("/bin/degraded",), ("/bin/any",)]),
    ("maintenance", [("/bin/maint",), ("/bin/any",)]),
    ("held-down", [("/bin/held",), ("/bin/any",)]),
    ("starting", [("/bin/any",)]),
])
def test_a_transition_runs_the_list_of_its_new_state_then_change(new: str, expected: list[tuple[str, ...]]) -> None:
    assert list(commands(ALL, new)) == expected


def test_no_hooks_block_runs_nothing() -> None:
    assert commands(None, "down") == ()
    assert commands(Hooks(), "down") == ()


def test_a_service_block_replaces_the_top_level_one_whole() -> None:
    own = Hooks(up=(("/bin/mine",),))
    assert effective(own, ALL) is own
    assert effective(None, ALL) is ALL
    assert commands(effective(own, ALL), "down") == ()


def test_the_environment_names_service_states_reason_and_prefixes() -> None:
    env = Transition("dns", "up", "down", "dns check: timeout", ("2001:db8::100/128", "192.0.2.53/32")
                     ).environment()
    assert env == {"SPEAKER_SERVICE": "dns", "SPEAKER_OLD": "up", "SPEAKER_NEW": "down",
                   "SPEAKER_REASON": "dns check: timeout",
                   "SPEAKER_PREFIXES": "2001:db8::100/128 192.0.2.53/32"}


def test_the_engine_asks_for_the_hooks_of_each_transition_with_its_timeout(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ALL)
    rig.up()
    rig.fail()
    rig.round(2)
    assert rig.news() == ["up", "down"]
    argv, timeout, transition, _ = rig.hooks.runs[-1]
    assert argv == (("/bin/down", "-v"), ("/bin/any",))
    assert timeout == 2.5
    assert (transition.service, transition.old, transition.reason) == (
        "dns", "up", "dns check: timeout after 0.25 s")
    assert transition.prefixes == ("2001:db8::100/128", "192.0.2.53/32")


def test_the_withdraw_is_sent_before_the_down_hooks_are_asked_for(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ALL)
    rig.up()
    rig.fail()
    rig.round(2)
    *_, sent = rig.hooks.runs[-1]
    assert rig.sink.lines[:sent] == ["withdraw route 2001:db8::100/128 next-hop self",
                                     "withdraw route 192.0.2.53/32 next-hop self"]


def test_maintenance_runs_the_maintenance_hooks_after_the_withdraw(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ALL)
    rig.up()
    asyncio.run(rig.speaker.set_maintenance(["dns"], "kernel upgrade", "alice"))
    commands_run, _, transition, sent = rig.hooks.runs[-1]
    assert commands_run == (("/bin/maint",), ("/bin/any",))
    assert transition.reason == "speakerctl withdraw: kernel upgrade"
    assert any(line.startswith("withdraw") for line in rig.sink.lines[:sent])


def test_without_a_hooks_block_the_runner_is_never_asked(tmp_path: Path) -> None:
    rig = Rig(tmp_path, None)
    rig.up()
    rig.fail()
    rig.round(2)
    assert rig.hooks.runs == []


def test_a_service_block_wins_over_the_top_level_one_in_the_engine(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ALL, own=Hooks(down=(("/bin/own-down",),)))
    rig.up()
    rig.fail()
    rig.round(2)
    assert [argv for argv, *_ in rig.hooks.runs] == [(("/bin/own-down",),)]


def test_a_probe_round_that_changes_nothing_runs_no_hook(tmp_path: Path) -> None:
    rig = Rig(tmp_path, ALL)
    rig.up()
    before = len(rig.hooks.runs)
    rig.round(3)
    assert len(rig.hooks.runs) == before


HOOKS_YAML = """
hooks:
  down: [["/usr/local/bin/page", "--severity", "high"]]
  change: [["/usr/bin/logger", "-t", "speaker"], ["/bin/true"]]
  timeout: 2
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks: [{type: dns, server: "2001:db8::100", qname: example.com.}]
    hooks: {maintenance: [["/usr/local/bin/maint"]]}
  - name: ntp
    prefixes: ["2001:db8::123/128"]
    checks: [{type: dns, server: "2001:db8::123", qname: example.com.}]
"""


def test_the_config_reads_top_level_and_service_hooks_blocks() -> None:
    cfg = config.parse(HOOKS_YAML)
    assert cfg.hooks == Hooks(down=(("/usr/local/bin/page", "--severity", "high"),),
                              change=(("/usr/bin/logger", "-t", "speaker"), ("/bin/true",)),
                              timeout=2.0)
    dns, ntp = cfg.services
    assert dns.hooks == Hooks(maintenance=(("/usr/local/bin/maint",),))
    assert ntp.hooks is None


@pytest.mark.parametrize(("block", "problem"), [
    ('{down: ["/usr/local/bin/page"]}',
     "/hooks/down/0: must be a command as an argv list such as ['/usr/local/bin/notify', '--down'] (got a string): each hook list holds argv lists"),
    ("{down: [[page, x]]}",
     "/hooks/down/0/0: must be an absolute path to the command (got 'page'): hooks run without a shell and without a PATH lookup"),
    ("{down: [[]]}",
     "/hooks/down/0: must not be empty: an argv list such as ['/usr/local/bin/notify', '--down']"),
    ('{up: [["/bin/x", 3]]}', "/hooks/up/0/1: must be a non-empty string (got 3)"),
    ("{down: /bin/x}", "/hooks/down: must be a list (got a string)"),
    ("{timeout: 0}", "/hooks/timeout: must be >= 0.1 (got 0)"),
    ("{timeout: 301}", "/hooks/timeout: must be <= 300 (got 301)"),
    ("{on_down: []}", "/hooks/on_down: unknown key (known keys: up, down, degraded, maintenance, held_down, change, timeout)"),
])
def test_a_bad_hooks_block_is_refused_with_its_path(block: str, problem: str) -> None:
    text = f"hooks: {block}\n" + HOOKS_YAML.split("\n", 5)[5]
    with pytest.raises(config.ConfigError) as caught:
        config.parse(text, "speaker.yaml")
    assert caught.value.problems == [f"speaker.yaml: {problem}"]
