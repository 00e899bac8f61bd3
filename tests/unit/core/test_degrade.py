"""A check's ask for the degraded state (speaker.core.overload): the soa check's
`action: degrade`. Pure: rounds in, (health, degraded) and the route out."""

from __future__ import annotations

import ipaddress

from speaker.core import config, overload
from speaker.core.health import Health, Result, State
from speaker.core.overload import Degraded, Kind, Load

STALE = Result(True, "soa check: zone example.com. serial 5 behind master 6 for 4m12s (max 3m)",
               degrade=True)
OK = Result(True, "ok")
REFUSED = Result(False, "dns check: refused", hard=True, codes=("refused",))
TIMEOUT = Result(False, "dns check: timeout after 0.25 s", codes=("timeout",))
TIMING = config.Timing(rise=2, fall=2)
PREPEND = config.Route(as_path=(65201, 65201, 65201))
PREFIX = ipaddress.ip_network("fd00::100/128")


def service(degraded_route: config.Route | None = PREPEND,
            policy: config.Overload | None = None) -> config.Service:
    return config.Service(name="dns", prefixes=(PREFIX,), checks=(), overload=policy,
                          degraded_route=degraded_route)


def fold(h: Health, d: Degraded, results: list[Result], now: float = 0.0,
         policy: config.Overload | None = None, load: Load | None = None
         ) -> tuple[Health, Degraded]:
    for i, result in enumerate(results):
        h, d = overload.observe(h, d, result, overload.judge(result, load, policy), now + i,
                                TIMING, policy)
    return h, d


def test_a_passing_round_that_asks_is_its_own_kind_with_or_without_a_policy() -> None:
    assert overload.judge(STALE, None, None) is Kind.DEGRADE
    assert overload.judge(STALE, Load(5000.0, 1.0), config.Overload()) is Kind.DEGRADE
    assert overload.judge(OK, None, None) is Kind.OK


def test_stale_from_the_start_comes_up_degraded_with_the_degraded_route() -> None:
    h, d = fold(Health(), Degraded(), [STALE, STALE])
    assert h.state is State.UP and overload.is_degraded(h, d)  # asking still passes: rise
    assert h.reason == STALE.reason and d.asked == 0.0 and not d.active
    assert overload.route(service(), h, d) == PREPEND


def test_it_never_withdraws_however_long() -> None:
    h, d = fold(Health(), Degraded(), [STALE] * 10_000)
    assert h.state is State.UP and overload.is_degraded(h, d) and d.asked == 0.0


def test_it_ends_after_rise_passes_that_do_not_ask() -> None:
    h, d = fold(Health(), Degraded(), [STALE, STALE, OK])
    assert overload.is_degraded(h, d) and overload.route(service(), h, d) == PREPEND
    h, d = fold(h, d, [STALE, OK])  # asked again: the count starts over
    assert overload.is_degraded(h, d)
    h, d = fold(h, d, [OK])
    assert not overload.is_degraded(h, d) and d == Degraded()
    assert overload.route(service(), h, d) == config.Route()


def test_a_hard_failure_withdraws_as_before_and_forgets_the_ask() -> None:
    h, d = fold(Health(state=State.UP, passes=3), Degraded(), [STALE, REFUSED])
    assert h.state is State.DOWN and d.asked is None
    h, d = fold(h, d, [STALE, STALE])  # back after rise passes, still stale: degraded
    assert h.state is State.UP and overload.is_degraded(h, d)


def test_a_failing_round_between_breaks_the_passes_in_a_row() -> None:
    h, d = fold(Health(), Degraded(), [STALE, STALE, OK, TIMEOUT, OK])
    assert h.state is State.UP and overload.is_degraded(h, d)  # fall 2: one timeout stays up
    h, d = fold(h, d, [OK])
    assert not overload.is_degraded(h, d)


def test_a_soft_failure_and_an_ask_keep_their_own_clocks() -> None:
    policy = config.Overload(max_degraded=30.0)
    busy = Load(5000.0, 1.0)
    h, d = fold(Health(), Degraded(), [STALE, STALE], policy=policy, load=busy)
    h, d = fold(h, d, [TIMEOUT], now=100.0, policy=policy, load=busy)
    assert d.since == 100.0 and d.asked == 0.0  # the soft clock starts at its own round
    h, d = fold(h, d, [TIMEOUT], now=120.0, policy=policy, load=busy)
    assert h.state is State.UP, "withdrawn by the stale time counted as soft"
    assert overload.hard_only(d) == Degraded(asked=0.0)  # the policy dropped by a reload


def test_the_degraded_route_is_overload_route_else_degraded_route_else_none() -> None:
    up = Health(state=State.UP, passes=3)
    asked = Degraded(asked=0.0)
    med = config.Route(med=500)
    assert overload.route(service(None, config.Overload(route=med)), up, asked) == med
    assert overload.route(service(PREPEND, config.Overload()), up, asked) == PREPEND
    assert overload.degraded_route(service(None)) is None
    assert overload.route(service(None), up, asked) == config.Route()
    assert overload.route(service(), Health(state=State.DOWN), asked) == config.Route()
