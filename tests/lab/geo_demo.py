"""`tests/demo.sh --geo`: the seed's geographic anycast, London and Sofia, end to end.

Runs tests/lab/geo.py's two zones and walks what the seed wants: each zone's
client served by its own zone (NSID), a backup node (AS-path prepend) taking
London's traffic only when the primaries are drained, Sofia serving London's
client when London has no node left, and London back when its nodes return.
Prints what an operator looks at and exits non-zero if a step did not behave.
With `routers=2` (`--geo --routers 2`) each zone has two routers: the same steps,
every route shown on both of the zone's routers.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.lab.demo import Demo
from tests.lab.geo import LONDON, PREPEND, SOFIA, Geo
from tests.lab.lab import Lab
from tests.lab.routers import all_routers
from tests.lab.system import LabError


def _served(geo: Geo, demo: Demo, lab: Lab, zone: str, want: set[str], what: str) -> None:
    try:
        seen = geo.wait_answered(lab, lambda s: s <= want, what)
        demo.check(True, f"{zone}'s client answered by {', '.join(sorted(seen))} ({what})")
    except LabError as exc:
        demo.check(False, str(exc))


def _route(demo: Demo, lab: Lab, zone: str) -> None:
    routers = all_routers(lab)
    for i, router in enumerate(routers, start=1):
        which = f"{zone}'s router" + (f" {i}" if len(routers) > 1 else "")
        demo.shell(f"ip -6 route show {lab.anycast}    # on {which}", router.route_text())


def steps(geo: Geo, demo: Demo) -> None:
    lon, sof = geo.london, geo.sofia
    demo.step(f"Step 1: each zone serves its own client (London AS {LONDON.asn}: lon1, lon2 "
              f"primaries, lon3 backup prepending its AS {PREPEND}x; Sofia AS {SOFIA.asn})")
    demo.shell("vtysh -c 'show bgp ipv6 unicast fd00:10:1::100/128'    # on London's router",
               lon.router.vtysh(f"show bgp ipv6 unicast {lon.anycast}/128"))
    _route(demo, lon, "London")
    _served(geo, demo, lon, "London", {"lon1", "lon2"}, "the primaries")
    _served(geo, demo, sof, "Sofia", {"sof1", "sof2"}, "Sofia's own nodes")

    demo.step("Step 2: drain London's primaries: the backup lon3 takes London's traffic")
    for i in (1, 2):
        done = lon.node(i).ctl("withdraw", "--drain-delay", "0", "--reason", "geo demo")
        demo.check(done.returncode == 0, f"speakerctl withdraw on lon{i} exited "
                                         f"{done.returncode}")
    try:
        geo.wait_zone(lon, {str(lon.node(3).address)})
    except LabError as exc:
        demo.check(False, str(exc))
    _route(demo, lon, "London")
    _served(geo, demo, lon, "London", {"lon3"}, "the backup")
    _served(geo, demo, sof, "Sofia", {"sof1", "sof2"}, "unchanged")

    demo.step("Step 3: London's last node goes down (named killed on lon3): Sofia serves London")
    t0 = time.monotonic()
    lon.node(3).kill_named()
    _served(geo, demo, lon, "London", {"sof1", "sof2"}, "across the zones")
    demo.out(f"  London's client served by Sofia {time.monotonic() - t0:.1f} s after the kill")
    _route(demo, lon, "London")

    demo.step("Step 4: London's nodes return")
    lon.node(3).restart_named()
    for i in (1, 2):
        back = lon.node(i).ctl("announce")
        demo.check(back.returncode == 0, f"speakerctl announce on lon{i} exited "
                                         f"{back.returncode}")
    _served(geo, demo, lon, "London", {"lon1", "lon2"}, "the primaries again")
    _route(demo, lon, "London")


def run(exabgp_version: str = "4.2", routers: int = 1) -> int:
    started = time.monotonic()
    geo = Geo(exabgp_version, routers=routers)
    demo = Demo(geo.london)
    each = "its router (FRR)" if routers == 1 else f"{routers} routers (FRR)"
    print("anycast-speaker geographic demo: London (3 nodes, one a backup) and Sofia "
          f"(2 nodes, ExaBGP {exabgp_version}), each with {each} and client, "
          "routers joined by eBGP")
    try:
        geo.up(backup=3)
        print(f"both zones up in {time.monotonic() - started:.1f} s")
        steps(geo, demo)
    except (LabError, OSError) as exc:
        demo.failures.append(f"lab error: {exc}")
        print(f"\nFAIL lab error: {exc}")
    except KeyboardInterrupt:
        demo.failures.append("interrupted")
    finally:
        demo.step("Step 5: teardown")
        if demo.failures:
            for lab in (geo.london, geo.sofia):
                if lab.root.exists():
                    print(f"  logs kept in {lab.archive_logs(Path(f'/tmp/spklab-{lab.lab_id}-logs'))}")
        left = geo.down()
        demo.check(not left, "no namespace, process or run directory left"
                   + (f" (left: {', '.join(left)})" if left else ""))
    return demo.verdict("GEO DEMO", started)
