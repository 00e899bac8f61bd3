"""The reload plan on its own: pure, from two configs to ordered steps."""

from hypothesis import given, settings

from speaker.core import config, reload
from speaker.core.reload import Add, Change, Drop, Move, Start, Stop
from tests.strategies import POOL, cfg, configs


def apply(old: config.Config, steps: tuple[reload.Step, ...]) -> dict[str, set[config.IPNetwork]]:
    """Replay `steps` on the services of `old`: the prefixes of each service afterwards."""
    held = {s.name: set(s.prefixes) for s in old.services}
    for step in steps:
        if isinstance(step, Stop):
            del held[step.name]
        elif isinstance(step, Start):
            held[step.service.name] = set()
        elif isinstance(step, Drop | Move):
            owner = step.service if isinstance(step, Drop) else step.source
            if owner in held:
                held[owner].discard(step.prefix)
        if isinstance(step, Move):
            held[step.target].add(step.prefix)
        elif isinstance(step, Add):
            held[step.service].add(step.prefix)
    return held


def test_an_identical_config_plans_nothing() -> None:
    old = cfg(("a", [0, 1]), ("b", [2]))
    plan = reload.plan(old, old)
    assert plan.steps == () and plan.unchanged == ("a", "b")


def test_a_move_to_a_service_listed_first_is_one_move_step() -> None:
    old = cfg(("a", [0, 1]), ("b", [2]))
    new = cfg(("b", [2, 1]), ("a", [0]))
    plan = reload.plan(old, new)
    assert [s for s in plan.steps if not isinstance(s, Change)] == [Move(POOL[1], "a", "b")]
    assert plan.summary() == {"added": [], "removed": [], "changed": ["b", "a"],
                              "unchanged": []}


def test_removals_come_before_additions() -> None:
    old = cfg(("a", [0]), ("b", [1, 2]))
    new = cfg(("c", [3, 2]), ("b", [1]))
    kinds = [type(s).__name__ for s in reload.plan(old, new).steps]
    assert kinds == ["Stop", "Drop", "Change", "Start", "Move", "Add"]


def test_only_new_checks_rebuild_probes() -> None:
    old = cfg(("a", [0]), ("b", [1]))
    new = cfg(("a", [0, 2]), ("b", [1]), recheck=frozenset({"b"}))
    changes = {s.service.name: s.checks_changed for s in reload.plan(old, new).steps
               if isinstance(s, Change)}
    assert changes == {"a": False, "b": True}


@settings(max_examples=150, deadline=None)
@given(configs(), configs())
def test_replaying_the_plan_gives_the_new_config(old: config.Config, new: config.Config) -> None:
    plan = reload.plan(old, new)
    assert apply(old, plan.steps) == {s.name: set(s.prefixes) for s in new.services}


@settings(max_examples=150, deadline=None)
@given(configs(), configs())
def test_every_removal_precedes_every_addition(old: config.Config, new: config.Config) -> None:
    kinds = [type(s) for s in reload.plan(old, new).steps]
    order = [Stop, Drop, Change, Start, Move, Add]
    assert [order.index(k) for k in kinds] == sorted(order.index(k) for k in kinds)


@settings(max_examples=150, deadline=None)
@given(configs(), configs())
def test_a_prefix_that_keeps_its_service_gets_no_step_and_others_get_one(
        old: config.Config, new: config.Config) -> None:
    plan = reload.plan(old, new)
    touched = [s.prefix for s in plan.steps if isinstance(s, Drop | Move | Add)]
    before, after = reload.owners(old), reload.owners(new)
    assert sorted(touched) == sorted(p for p in {*before, *after}
                                     if before.get(p) != after.get(p))


@settings(max_examples=150, deadline=None)
@given(configs(), configs())
def test_every_service_is_in_exactly_one_summary_list(
        old: config.Config, new: config.Config) -> None:
    summary = reload.plan(old, new).summary()
    names = [n for kind in ("added", "changed", "unchanged") for n in summary[kind]]
    assert sorted(names) == sorted(s.name for s in new.services)
    assert sorted(summary["removed"]) == sorted(
        {s.name for s in old.services} - {s.name for s in new.services})
