"""The anycast lab: the seed's topology in network namespaces, with real software.

Owns one lab run (`Lab`): its namespaces, links and addresses (tests.lab.network),
the processes it starts (the router's daemons, tests.lab.router; a DNS server --
BIND's named or PowerDNS, see tests.lab.servers -- and ExaBGP on every node,
tests.lab.node), its run directory and its state file. Everything started is
recorded by PID and start time in `<root>/state.json` before anything else can go
wrong, so `down` (here or from another process, see `tests.lab.state`) can clean
up a crashed run. Faults are injected by PID; nothing is ever looked up by process
name. The lab's other names (LabNode, Router, Proc, QueryStream, summarize, nsid,
base_env, ...) live in the modules named above and are importable from here too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.lab import master, network, resolver, state, web
from tests.lab import router as router_
from tests.lab import routers as routers_
from tests.lab.host import (
    FRR_BIN,
    FRR_RUN,
    ROUTERS,
    RUN_BASE,
    base_env,
    exabgp_env,
    missing_requirements,
)
from tests.lab.lanes import DEFAULT_EXABGP, EXABGP, REPO
from tests.lab.node import LabNode
from tests.lab.procs import ExternalExabgp, Proc, launch
from tests.lab.queries import Client, QueryStream, nsid, summarize
from tests.lab.router import Router
from tests.lab.servers import DnsServer, server
from tests.lab.system import NETNS_DIR, LabError, start_time
from tests.lab.topology import Topology, build

__all__ = [  # what other modules import from here (their homes are imported above)
    "EXABGP", "FRR_BIN", "REPO", "ROUTERS", "ExternalExabgp", "Lab", "LabNode", "Proc",
    "QueryStream", "Router", "base_env", "exabgp_env", "missing_requirements", "nsid",
    "summarize",
]


class Lab:
    """One lab run. Use as a context manager (`with Lab() as lab:`), or `up()`/`down()`."""

    def __init__(self, nodes: int = 3, exabgp_version: str = DEFAULT_EXABGP, process: str = "speaker",
                 manage_address: bool = False, speaker_extra: dict[str, Any] | None = None,
                 lab_id: str | None = None, run_base: Path = RUN_BASE,
                 log: Callable[[str], None] | None = None,
                 external_exabgp: dict[str, ExternalExabgp] | None = None,
                 dns: str = "bind", hidden_master: bool = False,
                 soa: dict[str, object] | None = None, router: str = "frr",
                 topology: Topology | None = None, routers: int = 1,
                 dnssec: dict[str, object] | None = None, http: bool = False,
                 recursive: bool = False) -> None:
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {', '.join(ROUTERS)}")
        self.router_kind = router
        if exabgp_version not in EXABGP:
            raise ValueError(f"exabgp_version must be one of {', '.join(EXABGP)}")
        if process not in ("speaker", "standin"):
            raise ValueError("process must be 'speaker' or 'standin'")
        self.lab_id = (topology.lab_id if topology else lab_id) or secrets.token_hex(3)[:5]
        self.topo: Topology = topology or build(self.lab_id, nodes)  # topology: its own id
        if hidden_master:  # the master's netns is the lab's too (created, recorded, deleted)
            if dns != "bind":
                raise ValueError("hidden_master needs dns='bind' (BIND secondaries)")
            self.topo = dataclasses.replace(
                self.topo, namespaces=(*self.topo.namespaces, master.namespace(self.lab_id)))
        self.topo = routers_.topology(self.topo, routers)  # routers=2: a second router
        self.soa = dict(soa or {})  # the soa check's extra keys (max_lag, action, ...)
        # a signed zone on every node and its dnssec check's extra keys (tests/lab/dnssec.py)
        self.dnssec = None if dnssec is None else dict(dnssec)
        self.exabgp_version = exabgp_version
        self.process = process
        self.server: DnsServer = server(dns)  # the nodes' DNS server: bind or pdns
        self.manage_address = manage_address
        self.speaker_extra = speaker_extra
        self.root = run_base / f"spklab-{self.lab_id}"
        self.frr_dir = FRR_RUN / self.topo.frr_name
        self.procs: dict[str, Proc] = {}
        self.owner: int | None = os.getpid()
        self.log = log or (lambda _msg: None)
        self.router = Router(self)
        self.more_routers = routers_.Redundant(self, routers)
        self.client = Client(self)
        self.nodes = [LabNode(self, n) for n in self.topo.nodes]
        self.master = master.HiddenMaster(self) if hidden_master else None
        self.web = web.Web(self) if http else None  # nginx and the web service (tests.lab.web)
        self.resolvers = resolver.Resolvers(self) if recursive else None  # tests.lab.resolver
        # Nodes (by name) that run an external command instead of the checkout's ExaBGP.
        self.external_exabgp = dict(external_exabgp or {})
        unknown = set(self.external_exabgp) - {n.name for n in self.topo.nodes}
        if unknown:
            raise ValueError(f"external_exabgp: no such node(s): {', '.join(sorted(unknown))}")
        self.started_at: float | None = None
        self.is_up = False
        self._lock = threading.Lock()

    # -- context manager ---------------------------------------------------------

    def __enter__(self) -> Lab:
        self.up()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()

    def node(self, which: int | str) -> LabNode:
        return self.nodes[self.topo.node(which).index - 1]

    @property
    def anycast(self) -> ipaddress.IPv6Address:
        return self.topo.anycast

    # -- state file --------------------------------------------------------------

    def _save(self) -> None:
        with self._lock:
            state.save(self.root, {
                "id": self.lab_id,
                "owner": self.owner,
                "owner_start": start_time(self.owner) if self.owner else None,
                "netns": list(self.topo.namespaces),
                "dirs": [str(self.root), str(self.frr_dir), *self.more_routers.dirs],
                "procs": [p.record() for p in self.procs.values()],
                "exabgp": self.exabgp_version,
                "process": self.process,
                "dns": self.server.name,
                "nodes": len(self.nodes),
                "router": self.router_kind,
            })

    def detach(self) -> None:
        """Leave the lab running after this process exits (`python3 -m tests.lab up`)."""
        self.owner = None
        self._save()

    # -- processes ---------------------------------------------------------------

    def spawn(self, key: str, ns: str, argv: Sequence[str], logfile: Path,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> Proc:
        old = self.procs.get(key)
        if old is not None and old.alive:
            raise LabError(f"{key} is already running (PID {old.pid})")
        proc = launch(key, ns, argv, logfile, env=env or base_env(), cwd=cwd or self.root)
        self.procs[key] = proc
        self._save()
        return proc

    # -- up ------------------------------------------------------------------------

    def up(self, wait: bool = True, timeout: float = 30.0) -> None:
        problems = missing_requirements(self.exabgp_version, self.server.name, self.router_kind)
        problems += self.web.missing() if self.web is not None else []
        if problems:
            raise LabError("lab cannot run here: " + "; ".join(problems))
        taken = [ns for ns in self.topo.namespaces if (NETNS_DIR / ns).exists()]
        if taken or self.frr_dir.exists():
            raise LabError(f"lab id {self.lab_id} is in use ({', '.join(taken) or self.frr_dir})")
        self.root.mkdir(mode=0o755, parents=False)  # fails if the id is taken: nothing recorded
        os.chmod(self.root, 0o755)
        self._save()
        try:
            network.build(self.topo)
            if self.web is not None:
                self.web.build_network()
            if self.resolvers is not None:
                self.resolvers.build_network()
            if self.master is not None:
                self.master.build_network()
                self.master.write_configs()
            router_.write_configs(self)
            for node in self.nodes:
                node.write_configs()
            router_.start(self)
            self.more_routers.start()
            if self.master is not None:
                self.master.start()
            for node in self.nodes:
                node.start_named()
            for node in self.nodes:
                node.wait_named()
            if self.web is not None:
                self.web.start_all()
            if self.master is not None:
                self.master.wait_in_sync()
            if self.resolvers is not None:
                self.resolvers.start()
            self.started_at = time.monotonic()
            for node in self.nodes:
                node.start_exabgp()
            self.is_up = True
            if wait:
                self.wait_ecmp(timeout=timeout)
        except BaseException as exc:
            if self.root.exists():
                dest = self.archive_logs(Path(f"/tmp/spklab-{self.lab_id}-logs"))
                exc.add_note(f"lab logs kept in {dest}")
            self.down()
            raise

    @property
    def bird_socket(self) -> Path:
        return self.root / "router" / "bird.ctl"

    def wait_ecmp(self, count: int | None = None, timeout: float = 30.0) -> float:
        """Wait until the anycast route has `count` (default: all) next hops; seconds taken."""
        return router_.wait_ecmp(self, count, timeout)

    # -- reset and down ------------------------------------------------------------

    def reset(self, timeout: float = 30.0) -> None:
        """Bring every node back to healthy (named up, zone good, address on lo, ExaBGP
        up, no persisted maintenance) and wait for full ECMP."""
        if self.master is not None:
            self.master.heal()
        if self.resolvers is not None:
            self.resolvers.heal()
        for node in self.nodes:
            node.heal()
        self.wait_ecmp(timeout=timeout)

    def down(self) -> list[str]:
        """Stop everything, delete namespaces and directories; return what is left (empty)."""
        self.router.close()
        self.more_routers.close()
        leftovers = state.teardown(self.root, live=self.procs)
        self.is_up = False
        for proc in self.procs.values():
            if proc.popen is not None:
                with contextlib.suppress(Exception):
                    proc.popen.wait(timeout=1)
        return leftovers

    def leftovers(self) -> list[str]:
        return state.leftovers({
            "netns": list(self.topo.namespaces),
            "dirs": [str(self.root), str(self.frr_dir), *self.more_routers.dirs],
            "procs": [p.record() for p in self.procs.values()],
        })

    def logs(self, lines: int = 40) -> str:
        """The tail of every log file of the lab (for failure reports)."""
        out = []
        for path in sorted(self.root.glob("*/*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"==> {path} <==\n" + "\n".join(text))
        return "\n".join(out)

    def archive_logs(self, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for path in self.root.glob("*/*"):
            if path.suffix in (".log", ".conf", ".yaml") and path.is_file():
                target = dest / f"{path.parent.name}-{path.name}"
                shutil.copyfile(path, target)
        return dest

