"""A first start: a refusal before the DNS server ever answered is no verdict yet.

At the first start after boot the speaker adds the anycast address to lo and
probes before named has bound it: `connection refused` for up to ~1 s. A
service that never passed stays `starting` (withdrawn, as at any start) through
such refusals, without a `service down` warning, for STARTUP_GRACE; after one
pass a refusal withdraws at once, as before. Engine on fakes, no sleeps.
"""

import ipaddress
import logging

import pytest

from speaker.core import config
from speaker.core.health import STARTUP_GRACE, Health, Result, State, observe, startup_rounds
from speaker.core.verdicts import Outcome
from tests.fakes import OK, Addresses
from tests.unit.engine_rig import EngineRig

YAML = """
state_dir: /nonexistent
services:
  - name: dns
    prefixes: ["2001:db8::100/128"]
    address: {interface: lo, manage: false}
    checks:
      - {type: dns, server: "2001:db8::100", qname: example.com.}
"""
REFUSED = Outcome(False, "dns check: connection refused", 0.001, "refused")
TIMEOUT = Outcome(False, "dns check: timeout after 0.25 s", 0.25, "timeout")
ANNOUNCE = "announce route 2001:db8::100/128 next-hop self"
WITHDRAW = "withdraw route 2001:db8::100/128 next-hop self"


def rig(first: Outcome) -> EngineRig:
    r = EngineRig(config.parse(YAML), Addresses([("lo", ipaddress.ip_address("2001:db8::100"))]))
    r.probes.built[0].default = first
    r.speaker.start()
    r.ack_all()
    r.take()
    return r


def state(r: EngineRig) -> str:
    return str(r.speaker.status()["services"][0]["state"])


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]


def test_refusals_before_named_binds_stay_starting_and_warn_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    r = rig(REFUSED)
    with caplog.at_level(logging.INFO):
        r.round(9)  # 0.9 s of refusals at fast_interval
        assert state(r) == "starting"
        assert r.speaker.status()["services"][0]["reason"] == "dns check: connection refused"
        r.probes.built[0].default = OK
        r.round(3)
    assert state(r) == "up" and r.take() == [ANNOUNCE]
    assert warnings(caplog) == []


def test_after_one_pass_a_refusal_withdraws_at_once() -> None:
    r = rig(OK)
    r.round(3)
    r.ack_all()
    r.take()
    r.probes.built[0].default = REFUSED
    r.round(1)
    assert state(r) == "down" and r.take() == [WITHDRAW]


def test_a_server_that_never_answers_is_down_after_the_grace(
        caplog: pytest.LogCaptureFixture) -> None:
    r = rig(REFUSED)
    rounds = startup_rounds(r.cfg.services[0].timing)
    with caplog.at_level(logging.WARNING):
        r.round(rounds - 1)
        assert state(r) == "starting" and warnings(caplog) == []
        r.round(1)
    assert state(r) == "down" and warnings(caplog) == ["service down"]
    assert r.take() == []  # never announced: nothing to withdraw


def test_timeouts_and_hard_failures_are_not_given_the_grace() -> None:
    timing = config.Timing()
    hung = Result(False, "dns check: timeout", codes=("timeout",))
    assert observe(observe(Health(), hung, timing), hung, timing).state is State.DOWN
    missing = Result(False, "anycast address missing", hard=True)
    assert observe(Health(), missing, timing).state is State.DOWN


def test_the_grace_is_in_rounds_of_fast_interval() -> None:
    timing = config.Timing()
    assert startup_rounds(timing) * timing.fast_interval >= STARTUP_GRACE
    assert startup_rounds(timing) >= timing.fall
    refused = Result(False, "refused", hard=True, codes=("refused",))
    h = Health()
    for _ in range(startup_rounds(timing) - 1):
        h = observe(h, refused, timing)
    assert h.state is State.STARTING
    assert observe(h, refused, timing).state is State.DOWN
