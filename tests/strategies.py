"""Hypothesis strategies shared by tests: valid configs built from a small pool of prefixes."""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import strategies as st

from speaker.core import config

BASE = config.parse("""
services:
  - name: template
    prefixes: ["2001:db8::1/128"]
    checks: [{type: dns, server: "2001:db8::1", qname: example.com.}]
""")
TEMPLATE = BASE.services[0]
NAMES = ["a", "b", "c", "d"]
POOL = [ipaddress.ip_network(f"2001:db8::{i:x}/128") for i in range(1, 9)]
OTHER_CHECKS = (dataclasses.replace(TEMPLATE.checks[0], qname="example.org."),)


def cfg(*services: tuple[str, list[int]], recheck: frozenset[str] = frozenset()) -> config.Config:
    """A config of (name, indexes into POOL) services; those in `recheck` get other checks."""
    return dataclasses.replace(BASE, services=tuple(
        dataclasses.replace(TEMPLATE, name=name, prefixes=tuple(POOL[i] for i in prefixes),
                            checks=OTHER_CHECKS if name in recheck else TEMPLATE.checks)
        for name, prefixes in services))


@st.composite
def configs(draw: st.DrawFn) -> config.Config:
    """A valid config: up to four services in any order, each prefix in at most one."""
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=4))
    owner = draw(st.lists(st.sampled_from([*names, None]) if names else st.none(),
                          min_size=len(POOL), max_size=len(POOL)))
    services = [(n, [i for i, o in enumerate(owner) if o == n]) for n in names]
    services = [(n, p) for n, p in services if p]  # a service has at least one prefix
    order = draw(st.permutations(services)) if services else []
    recheck = frozenset(draw(st.lists(st.sampled_from(NAMES), unique=True)))
    return cfg(*order, recheck=recheck)
