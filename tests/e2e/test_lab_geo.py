"""Geographic anycast (the seed's London and Sofia): each zone's client is served by its
own zone, London's by Sofia when London has no node left, and a prepending backup node
only when the primaries are gone. Two zone labs joined by eBGP (tests/lab/geo.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.geo import Geo

from .conftest import running_geo


@pytest.fixture(scope="module")
def geo() -> Iterator[Geo]:
    yield from running_geo()


def test_each_client_is_answered_by_its_own_zone(geo: Geo) -> None:
    """(a) London's client gets lon1/lon2 (the primaries), Sofia's client sof1/sof2."""
    assert geo.answered_by(geo.london) <= {"lon1", "lon2"}
    assert geo.answered_by(geo.sofia) <= {"sof1", "sof2"}


def test_backup_serves_only_without_primaries_and_sofia_only_without_london(geo: Geo) -> None:
    """(c) lon3 (AS path prepended) is not used while lon1/lon2 announce, and takes
    London's traffic once both are drained; (b) with lon3 down too, London's client is
    answered by Sofia; when London's nodes return, by London again."""
    lon = geo.london
    assert "lon3" not in geo.answered_by(lon, 30)
    for i in (1, 2):
        done = lon.node(i).ctl("withdraw", "--drain-delay", "0")
        assert done.returncode == 0, done.stdout + done.stderr
    geo.wait_zone(lon, {str(lon.node(3).address)})
    assert geo.wait_answered(lon, lambda s: s == {"lon3"}, "lon3 answering London") == {"lon3"}
    assert geo.answered_by(geo.sofia) <= {"sof1", "sof2"}

    lon.node(3).kill_named()
    local = {str(n.address) for n in lon.nodes}
    lon.router.wait_nexthops(lambda h: len(h) == 1 and not h & local, 15,
                             what="London's route pointing at Sofia (one hop, on the link)")
    assert "dev vz" in lon.router.route_text()
    geo.wait_answered(lon, lambda s: s <= {"sof1", "sof2"}, "Sofia answering London")
    assert geo.answered_by(geo.sofia) <= {"sof1", "sof2"}

    lon.node(3).restart_named()
    for i in (1, 2):
        back = lon.node(i).ctl("announce")
        assert back.returncode == 0, back.stdout + back.stderr
    geo.wait_zone(lon, geo.primaries(3))
    geo.wait_answered(lon, lambda s: s <= {"lon1", "lon2"}, "London answering London again")
