"""The soa check: config keys, the probe against fake servers, status, metrics, doctor."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from speaker.adapters.soa import SoaProbe
from speaker.cli.freshness import judge_freshness
from speaker.core import config
from speaker.core.errors import ConfigError
from speaker.core.freshness import Soa

NODE, MASTER = "2001:db8::50", "2001:db8::10"

DOC = """
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    checks:
      - {{type: soa, server: "{node}", master: "{master}", zone: example.com{extra}}}
"""


def load(extra: str = "", node: str = NODE, master: str = MASTER) -> config.SoaCheck:
    cfg = config.parse(DOC.format(node=node, master=master, extra=extra))
    check = cfg.services[0].checks[0]
    assert isinstance(check, config.SoaCheck)
    return check


def problems(extra: str = "", node: str = NODE, master: str = MASTER) -> str:
    with pytest.raises(ConfigError) as info:
        config.parse(DOC.format(node=node, master=master, extra=extra))
    return str(info.value)


# -- config ---------------------------------------------------------------------------


def test_defaults() -> None:
    check = load()
    assert check.zone == "example.com."
    assert (check.port, check.master_port, check.max_lag, check.action) == (53, 53, None,
                                                                           "withdraw")
    assert check.describe() == ("soa check example.com. at [2001:db8::50]:53 vs master "
                                "[2001:db8::10]:53")


def test_keys_read() -> None:
    check = load(", max_lag: 30, action: warn, master_port: 5353, timeout: 0.25")
    assert (check.max_lag, check.action, check.master_port, check.timeout) == (30, "warn",
                                                                               5353, 0.25)


def test_degrade_needs_a_degraded_route() -> None:
    assert ("/services/0/checks/0/action: degrade needs a less preferred route: set the "
            "service's degraded_route") in problems(", action: degrade")


def test_degrade_with_the_services_degraded_route() -> None:
    text = DOC.format(node=NODE, master=MASTER, extra=", action: degrade").replace(
        "    checks:", "    degraded_route: {as_path: [65201, 65201]}\n    checks:")
    service = config.parse(text).services[0]
    assert service.degraded_route == config.Route(as_path=(65201, 65201))
    check = service.checks[0]
    assert isinstance(check, config.SoaCheck) and check.action == "degrade"


def test_a_service_has_one_degraded_route() -> None:
    text = ('dns_statistics: {url: "http://127.0.0.1:8053/json/v1/server"}\n' + DOC.format(
        node=NODE, master=MASTER, extra=", action: degrade").replace(
        "    checks:", "    degraded_route: {med: 10}\n    overload: {route: {med: 20}}\n"
                      "    checks:"))
    with pytest.raises(ConfigError) as info:
        config.parse(text)
    assert ("services/0/degraded_route: overload.route is set too: a service has one degraded "
            "route") in str(info.value)


def test_bad_action_named() -> None:
    assert "action: must be one of withdraw, degrade, warn (got 'drop')" in problems(
        ", action: drop")


def test_master_required_and_not_the_server_itself() -> None:
    text = DOC.format(node=NODE, master=MASTER, extra="").replace(f'master: "{MASTER}", ', "")
    with pytest.raises(ConfigError, match="checks/0/master: is required"):
        config.parse(text)
    assert "master: is the server itself" in problems(master=NODE)


def test_bad_max_lag_and_zone_named() -> None:
    assert "max_lag: must be >= 0.1 (got 0)" in problems(", max_lag: 0")
    bad = DOC.format(node=NODE, master=MASTER, extra="").replace("example.com", "a..b")
    with pytest.raises(ConfigError, match="checks/0/zone: is not a DNS name"):
        config.parse(bad)


# -- the probe ------------------------------------------------------------------------


class Servers:
    """What each fake server answers, changed by the test between rounds."""

    def __init__(self) -> None:
        self.answers: dict[str, Soa | tuple[str, str]] = {}

    async def ask(self, server: str, port: int, zone: str, timeout: float
                  ) -> Soa | tuple[str, str]:
        return self.answers[server]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def probe(action: str = "withdraw", max_lag: float | None = 60) -> tuple[SoaProbe, Servers,
                                                                           Clock]:
    check = config.SoaCheck(server=ipaddress.ip_address(NODE), zone="example.com.",
                            master=ipaddress.ip_address(MASTER), max_lag=max_lag,
                            action=action)
    servers, clock = Servers(), Clock()
    return SoaProbe(check, 1.0, clock=clock, ask=servers.ask), servers, clock


def run(p: SoaProbe):  # type: ignore[no-untyped-def]
    return asyncio.run(p.run())


def test_in_sync_passes_with_the_serial_in_the_reason() -> None:
    p, servers, _ = probe()
    servers.answers = {NODE: Soa(5, 60, 30), MASTER: Soa(5, 60, 30)}
    out = run(p)
    assert out.ok and out.code == "ok" and not out.warning
    assert out.reason.endswith("zone example.com. serial 5 as master")


def test_stale_withdraws_after_max_lag_and_recovers() -> None:
    p, servers, clock = probe(max_lag=60)
    servers.answers = {NODE: Soa(5), MASTER: Soa(6)}
    assert run(p).ok
    clock.now += 61
    out = run(p)
    assert not out.ok and out.code == "stale"
    assert "serial 5 behind master 6 for 1m01s (max 1m)" in out.reason
    servers.answers[NODE] = Soa(6)
    assert run(p).ok


def test_stale_asks_for_the_degraded_state_with_action_degrade() -> None:
    p, servers, clock = probe(action="degrade", max_lag=60)
    servers.answers = {NODE: Soa(5), MASTER: Soa(6)}
    out = run(p)
    assert out.ok and not out.degrade  # behind, not yet stale
    clock.now += 61
    out = run(p)
    assert out.ok and out.degrade and out.code == "stale" and "behind master 6" in out.warning
    servers.answers[MASTER] = ("timeout", "timeout after 1 s")  # stays stale meanwhile
    assert run(p).degrade
    servers.answers = {NODE: Soa(6), MASTER: Soa(6)}
    out = run(p)
    assert out.ok and not out.degrade and out.code == "ok"


def test_stale_only_warns_with_action_warn() -> None:
    p, servers, clock = probe(action="warn", max_lag=60)
    servers.answers = {NODE: Soa(5), MASTER: Soa(6)}
    run(p)
    clock.now += 61
    out = run(p)
    assert out.ok and out.code == "stale" and "behind master 6" in out.warning


def test_default_max_lag_from_the_masters_refresh_and_retry() -> None:
    p, servers, clock = probe(max_lag=None)
    servers.answers = {NODE: Soa(5, 10, 5), MASTER: Soa(6, 20, 10)}
    run(p)
    clock.now += 30
    assert run(p).ok
    clock.now += 1
    assert not run(p).ok


def test_unreachable_master_warns_and_never_withdraws() -> None:
    p, servers, clock = probe(max_lag=1)
    servers.answers = {NODE: Soa(5), MASTER: Soa(6)}
    run(p)
    servers.answers[MASTER] = ("timeout", "timeout after 1 s")
    for _ in range(5):
        clock.now += 100
        out = run(p)
        assert out.ok and out.code == "master-unreachable"
        assert "master unreachable (timeout after 1 s from 2001:db8::10)" in out.warning


def test_node_not_answering_fails() -> None:
    p, servers, _ = probe()
    servers.answers = {NODE: ("refused", "connection refused"), MASTER: Soa(6)}
    out = run(p)
    assert not out.ok and out.code == "refused" and "the node: connection refused" in out.reason


# -- doctor ---------------------------------------------------------------------------


def cfg_with(check: config.SoaCheck) -> config.Config:
    return config.parse(DOC.format(node=NODE, master=MASTER, extra=""))


def status(ok: bool, code: str, reason: str, warning: str = "") -> dict[str, object]:
    check = load()
    return {"services": [{"name": "dns", "checks": [
        {"check": check.describe(), "ok": ok, "code": code, "reason": reason,
         "warning": warning}]}]}


def test_doctor_warns_on_an_unreachable_master() -> None:
    cfg = cfg_with(load())
    rows = judge_freshness(cfg, status(True, "master-unreachable", "r", "master unreachable"))
    assert rows[0].verdict.value == "warn" and "stays announced" in rows[0].fix


def test_doctor_fails_a_stale_zone_and_passes_a_fresh_one() -> None:
    cfg = cfg_with(load())
    assert judge_freshness(cfg, status(False, "stale", "behind"))[0].verdict.value == "fail"
    assert judge_freshness(cfg, status(True, "ok", "as master"))[0].verdict.value == "ok"
    assert judge_freshness(cfg, None)[0].verdict.value == "skip"
