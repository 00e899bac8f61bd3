"""`python3 -m tests.lab up|down|status|demo`: the anycast lab from a shell (as root)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.lab import demo, state
from tests.lab.lab import EXABGP, ROUTERS, Lab, missing_requirements
from tests.lab.lanes import DEFAULT_EXABGP
from tests.lab.resolver import RESOLVER
from tests.lab.servers import SERVERS
from tests.lab.system import LabError, alive, run
from tests.lab.topology import ANYCAST
from tests.lab.web import WEB_ANYCAST


def _up(args: argparse.Namespace) -> int:
    lab = Lab(nodes=args.nodes, exabgp_version=args.exabgp, process=args.process,
              dns=args.dns, hidden_master=args.hidden_master, router=args.router,
              routers=args.routers, http=args.http, recursive=args.recursive)
    try:
        lab.up(timeout=args.timeout)
    except LabError as exc:
        print(f"lab up failed: {exc}", file=sys.stderr)
        for note in getattr(exc, "__notes__", []):
            print(note, file=sys.stderr)
        return 1
    lab.detach()
    topo = lab.topo
    print(f"lab {lab.lab_id} is up ({lab.server.label}): {len(lab.nodes)} next hops for "
          f"{topo.anycast}/128")
    print(f"  run dir   {lab.root}")
    print(f"  router    ip netns exec {topo.router_ns} ip -6 route show {topo.anycast}")
    if args.router == "bird":
        print(f"            ip netns exec {topo.router_ns} birdc -s {lab.bird_socket} "
              "show protocols")
    elif args.router == "gobgp":
        print(f"            ip netns exec {topo.router_ns} gobgp global rib -a ipv6   "
              "(GoBGP: RIB only, no FIB)")
    else:
        print(f"            vtysh -N {topo.frr_name} -c 'show bgp ipv6 unicast summary'")
    for more in lab.more_routers.topos:
        print(f"  router2   ip netns exec {more.router_ns} ip -6 route show {topo.anycast}")
        print(f"            vtysh -N {more.frr_name} -c 'show bgp ipv6 unicast summary'")
    print(f"  client    ip netns exec {topo.client_ns} dig @{topo.anycast} example.com AAAA +nsid")
    for node in lab.nodes:
        print(f"  {node.name}      ip netns exec {node.ns} ...   (config {node.config})")
    if lab.web is not None:
        print(f"  web       ip netns exec {topo.client_ns} curl -s http://[{WEB_ANYCAST}]/   "
              "(service web: nginx on every node)")
    if lab.master is not None:
        print(f"  master    ip netns exec {lab.master.ns} dig @{lab.master.address} "
              "example.com SOA   (hidden: not in the NS set, never announced)")
    if lab.resolvers is not None:
        print(f"  resolver  ip netns exec {topo.client_ns} dig @{RESOLVER} www.example.com AAAA "
              "+nsid   (unbound on every node, service 'resolver')")
    print(f"  stop it:  python3 -m tests.lab down --id {lab.lab_id}")
    return 0


def _down(args: argparse.Namespace) -> int:
    result = state.down_all(force=args.all, only=args.id)
    if not result:
        print("no lab to tear down" + (f" with id {args.id}" if args.id else
                                       " (labs owned by a running process are kept; --all)"))
    status = 0
    for lab_id, left in result.items():
        if left:
            status = 1
            print(f"lab {lab_id}: left behind: {', '.join(left)}")
        else:
            print(f"lab {lab_id}: torn down, nothing left")
    return status


def _status(_args: argparse.Namespace) -> int:
    roots = state.roots()
    if not roots:
        print("no lab")
    for root in roots:
        data = state.load(root) or {}
        owner = data.get("owner")
        owner_text = (f"owned by PID {owner}" + ("" if state.owner_alive(data) else " (gone)")
                      if owner else "detached")
        print(f"lab {data.get('id', root.name)}: {owner_text}, {data.get('dns', 'bind')}, "
              f"ExaBGP {data.get('exabgp')}, "
              f"process {data.get('process')}, run dir {root}")
        for proc in data.get("procs", []):
            up = alive(int(proc["pid"]), int(proc["start"]))
            print(f"  {proc['key']:<14} PID {proc['pid']:<8} {'running' if up else 'gone'}")
        netns = data.get("netns", [])
        if netns:
            route = run(["ip", "-n", netns[0], "-6", "route", "show", str(ANYCAST)],
                        check=False).stdout.strip()
            print("  router FIB: " + (route.replace("\n", "\n              ") or "no route"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    if args.router == "gobgp" or (args.routers != 1 and not args.geo):
        print("the demo runs with one router that has a FIB: drop --routers (or add --geo), "
              "use --router frr or bird (GoBGP: `up --router gobgp`)", file=sys.stderr)
        return 2
    if args.geo:
        from tests.lab import geo_demo

        problems = missing_requirements(args.exabgp, args.dns, args.router)
        if problems or args.router != "frr" or args.dns != "bind":
            print("the geo demo runs with FRR and BIND: "
                  + ("; ".join(problems) or "drop --router/--dns"), file=sys.stderr)
            return 2
        return geo_demo.run(args.exabgp, routers=args.routers)
    problems = missing_requirements(args.exabgp, args.dns, args.router)
    if problems:
        print("the demo cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    return demo.run(exabgp_version=args.exabgp, nodes=args.nodes, dns=args.dns,
                    hidden_master=args.hidden_master,
                    pictures_dir=None if args.no_pictures else args.pictures,
                    router=args.router)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m tests.lab",
                                description="The anycast lab: FRR or BIRD router, DNS "
                                            "(BIND or PowerDNS)+ExaBGP nodes and a client in "
                                            "network namespaces (run as root).")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--nodes", type=int, default=3, help="DNS nodes (default 3)")
        sp.add_argument("--exabgp", choices=sorted(EXABGP), default=DEFAULT_EXABGP,
                        help="ExaBGP: 4.2 (Debian) or 5.0 (.venv-exabgp5); SPEAKER_PYTHON's venv "
                             "may bring its own (tests/lab/lanes.py)")
        sp.add_argument("--dns", choices=sorted(SERVERS), default="bind",
                        help="the nodes' DNS server: bind (BIND 9, default) or pdns "
                             "(PowerDNS Authoritative, bind backend)")
        sp.add_argument("--hidden-master", action="store_true",
                        help="a hidden master (BIND primary, own netns) and the nodes its "
                             "secondaries, each with a soa check (needs --dns bind)")
        sp.add_argument("--router", choices=ROUTERS, default="frr",
                        help="the router: FRR (default), BIRD 2 (merge paths on) or GoBGP "
                             "(RIB only, no FIB)")
        sp.add_argument("--routers", type=int, choices=(1, 2), default=1,
                        help="FRR routers on the guest link, each node peering with all "
                             "(default 1; tests/lab/routers.py)")

    up = sub.add_parser("up", help="start a lab and leave it running")
    common(up)
    up.add_argument("--process", choices=("speaker", "standin"), default="speaker",
                    help="what ExaBGP runs (standin: lab self-test only)")
    up.add_argument("--http", action="store_true",
                    help="nginx on every node and a second service, web, announcing "
                         f"{WEB_ANYCAST}/128 with http checks (tests/lab/web.py)")
    up.add_argument("--timeout", type=float, default=30.0)
    up.add_argument("--recursive", action="store_true",
                    help="an unbound per node on a second anycast address, announced by the "
                         "speaker's service 'resolver' (a recursive check; needs --dns bind)")
    up.set_defaults(func=_up)
    down = sub.add_parser("down", help="tear down labs left running or crashed")
    down.add_argument("--id", help="only this lab")
    down.add_argument("--all", action="store_true",
                      help="also labs whose owning process still runs")
    down.set_defaults(func=_down)
    sub.add_parser("status", help="list labs and their processes").set_defaults(func=_status)
    dm = sub.add_parser("demo", help="the seed's walkthrough, end to end (< 2 min)")
    common(dm)
    dm.add_argument("--pictures", type=Path, default=Path("out/demo"), metavar="DIR",
                    help="where the failover and drain steps write their timeline PNGs "
                         "(default out/demo; the README's are docs/)")
    dm.add_argument("--no-pictures", action="store_true", help="write no pictures")
    dm.add_argument("--geo", action="store_true",
                    help="geographic anycast: London and Sofia, their routers joined by eBGP "
                         "(--routers 2: two per zone)")
    dm.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
