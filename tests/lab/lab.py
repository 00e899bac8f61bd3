"""The anycast lab: the seed's topology in network namespaces, with real software.

Owns one lab run: its namespaces, links and addresses, the processes it starts
(FRR zebra+bgpd on the router, a DNS server (BIND's named or PowerDNS, see
tests.lab.servers) and ExaBGP on every node), its run
directory and its state file. Everything started is recorded by PID and start
time in `<root>/state.json` before anything else can go wrong, so `down`
(here or from another process, see `tests.lab.state`) can clean up a crashed
run. Faults are injected by PID; nothing is ever looked up by process name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import dns.edns
import dns.message
import dns.query
import dns.rcode

from tests.lab import bird, dnssec, gobgp, master, render, resolver, state, web
from tests.lab import routers as routers_
from tests.lab.lanes import DEFAULT_EXABGP, EXABGP, SPEAKER_PYTHON
from tests.lab.servers import DnsServer, server
from tests.lab.system import (
    NETNS_DIR,
    LabError,
    alive,
    children,
    cmdline,
    in_netns,
    is_watchdog,
    ns_argv,
    run,
    signal_pid,
    start_time,
    wait_for,
    wait_gone,
)
from tests.lab.topology import Node, Topology, build

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = REPO / "exabgp" / "exabgp.env"
RUN_BASE = Path("/run")
FRR_RUN = Path("/run/frr")
FRR_BIN = Path("/usr/lib/frr")
BINARIES = (FRR_BIN / "zebra", FRR_BIN / "bgpd", Path("/usr/bin/vtysh"),
            Path("/usr/bin/dig"), Path("/usr/sbin/ip"))
SAFE_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


ROUTERS = ("frr", "bird", "gobgp")


def missing_requirements(exabgp_version: str = DEFAULT_EXABGP, dns: str = "bind",
                         router: str = "frr") -> list[str]:
    """What keeps a lab from running here (empty list: it can run)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (network namespaces)")
    extra = {"bird": bird.BINARIES, "gobgp": gobgp.BINARIES}.get(router, ())
    for path in (*BINARIES, *extra, server(dns).binary,
                 EXABGP.get(exabgp_version, Path("/nonexistent"))):
        if not path.exists():
            problems.append(f"missing {path}")
    return problems


def exabgp_env() -> dict[str, str]:
    """The settings of exabgp/exabgp.env as environment variables."""
    env: dict[str, str] = {}
    for line in ENV_FILE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    return env


def base_env() -> dict[str, str]:
    """A clean environment: Debian's tools first, no pyenv or PYTHON* leakage."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "PYENV", "VIRTUAL_ENV", "EXABGP", "exabgp"))}
    env["PATH"] = SAFE_PATH
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass(frozen=True)
class ExternalExabgp:
    """A command the lab runs for one node instead of the checkout's ExaBGP on the lab's
    generated config, e.g. an installed package's unit ExecStart under setpriv (see
    tests/packaging/test_deb_lab.py). It brings its own configuration, which must use the
    lab's addresses for that node. The lab starts it in the node's netns, records it by PID
    and stops it at teardown like any other process; `heal()`/`reset()` do not clear its
    state directory (only the lab's own one).
    """

    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = Path("/")


class Proc:
    """One process the lab started, identified by PID and start time."""

    def __init__(self, key: str, pid: int, started: int, argv: Sequence[str],
                 popen: subprocess.Popen[bytes] | None) -> None:
        self.key, self.pid, self.started, self.argv = key, pid, started, list(argv)
        self.popen = popen

    @property
    def alive(self) -> bool:
        if self.popen is not None:
            self.popen.poll()  # reap a dead child so it does not linger as a zombie
        return alive(self.pid, self.started)

    def signal(self, sig: int) -> bool:
        return signal_pid(self.pid, self.started, sig)

    def wait_gone(self, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                return True
            time.sleep(0.01)
        return not self.alive

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "pid": self.pid, "start": self.started, "argv": self.argv}


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
        with open(logfile, "ab") as out:
            out.write(f"--- {time.strftime('%H:%M:%S')} start {' '.join(argv)}\n".encode())
            out.flush()
            popen = subprocess.Popen(
                ns_argv(ns, argv), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=env or base_env(), cwd=cwd or self.root, start_new_session=True)
        started = start_time(popen.pid)
        if started is None:
            popen.wait()
            raise LabError(f"{key} exited at once ({popen.returncode}); see {logfile}")
        proc = Proc(key, popen.pid, started, argv, popen)
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
            self._build_network()
            if self.web is not None:
                self.web.build_network()
            if self.resolvers is not None:
                self.resolvers.build_network()
            if self.master is not None:
                self.master.build_network()
                self.master.write_configs()
            self._write_configs()
            self._start_router()
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

    def _build_network(self) -> None:
        topo = self.topo
        for ns in topo.namespaces:
            run(["ip", "netns", "add", ns])
            # New interfaces inherit `default`: no DAD, addresses usable at once.
            run(ns_argv(ns, ["sysctl", "-q", "-w",
                             "net.ipv6.conf.all.accept_dad=0",
                             "net.ipv6.conf.default.accept_dad=0",
                             "net.ipv6.conf.all.accept_ra=0",
                             "net.ipv6.conf.default.accept_ra=0"]))
        r = topo.router_ns
        run(ns_argv(r, ["sysctl", "-q", "-w",
                        "net.ipv6.conf.all.forwarding=1",
                        "net.ipv6.fib_multipath_hash_policy=1"]))
        batch = [
            "link set lo up",
            f"link add {topo.bridge} type bridge stp_state 0 mcast_snooping 0",
            f"link set {topo.bridge} up",
            f"addr add {topo.router_address}/{topo.guest_net.prefixlen} dev {topo.bridge} nodad",
        ]
        for node in topo.nodes:
            batch += [
                f"link add {node.port} type veth peer name eth0 netns {node.ns}",
                f"link set {node.port} master {topo.bridge}",
                f"link set {node.port} up",
            ]
        batch += [
            f"link add {topo.client_port} type veth peer name eth0 netns {topo.client_ns}",
            f"link set {topo.client_port} up",
            f"addr add {topo.router_client_address}/{topo.client_net.prefixlen} "
            f"dev {topo.client_port} nodad",
        ]
        run(["ip", "-n", r, "-batch", "-"], input="\n".join(batch) + "\n")
        for node in topo.nodes:
            run(["ip", "-n", node.ns, "-batch", "-"], input="\n".join([
                "link set lo up",
                "link set eth0 up",
                f"addr add {node.address}/{topo.guest_net.prefixlen} dev eth0 nodad",
                f"addr add {topo.anycast}/128 dev lo nodad",
                f"route add default via {topo.router_address} dev eth0",
            ]) + "\n")
        run(["ip", "-n", topo.client_ns, "-batch", "-"], input="\n".join([
            "link set lo up",
            "link set eth0 up",
            f"addr add {topo.client_address}/{topo.client_net.prefixlen} dev eth0 nodad",
            f"route add default via {topo.router_client_address} dev eth0",
        ]) + "\n")

    def _write_configs(self) -> None:
        rdir = self.root / "router"
        rdir.mkdir(mode=0o755)
        if self.router_kind == "bird":
            (rdir / "bird.conf").write_text(bird.conf(self.topo))
        elif self.router_kind == "gobgp":
            (rdir / "gobgpd.toml").write_text(gobgp.conf(self.topo))
        else:
            (rdir / "zebra.conf").write_text(render.zebra_conf(self.topo))
            (rdir / "bgpd.conf").write_text(render.bgpd_conf(self.topo))
        for f in rdir.iterdir():
            f.chmod(0o644)
        for node in self.nodes:
            node.write_configs()

    def _start_router(self) -> None:
        if self.router_kind == "gobgp":
            gobgp.start(self)
            return
        if self.router_kind == "bird":
            rdir = self.root / "router"
            sock = self.bird_socket
            self.spawn("router/bird", self.topo.router_ns, bird.argv(rdir / "bird.conf", sock),
                       rdir / "bird.log")
            wait_for(sock.exists, 10, what="BIRD's control socket")
            return
        routers_.start_frr(self, "router", self.topo, self.root / "router")

    @property
    def bird_socket(self) -> Path:
        return self.root / "router" / "bird.ctl"

    def wait_ecmp(self, count: int | None = None, timeout: float = 30.0) -> float:
        """Wait until the anycast route has `count` (default: all) next hops; seconds taken."""
        if self.router_kind == "gobgp":  # no FIB: the paths in GoBGP's RIB instead
            return gobgp.wait_paths(self, count, timeout)
        want = {str(n.address) for n in self.topo.nodes} if count is None else None
        t0 = time.monotonic()

        def ok() -> bool:
            hops = self.router.nexthops()
            return hops == want if want is not None else len(hops) == count

        wait_for(ok, timeout, interval=0.02,
                 what=f"{count or len(self.nodes)} next hops for {self.anycast} "
                      f"(now: {sorted(self.router.nexthops())})")
        if count is None:
            self.more_routers.wait_ecmp(timeout)
        return time.monotonic() - t0

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


class LabNode:
    """One DNS node: its DNS server (BIND or PowerDNS; `named` and the *_named methods mean
    whichever the lab runs), the anycast address on lo, ExaBGP running the speaker."""

    def __init__(self, lab: Lab, node: Node) -> None:
        self.lab, self.spec = lab, node
        self.name, self.ns, self.address = node.name, node.ns, node.address
        self.dir = lab.root / node.name
        self.zone_path = self.dir / "db.example.com"
        self.exabgp_conf = self.dir / "exabgp.conf"
        self.config = self.dir / "speaker.yaml"
        self.socket = self.dir / "speaker.sock"
        self.state_dir = self.dir / "state"
        self.zone_broken = False
        # Set by every fault or command: heal() then restarts ExaBGP (and so the speaker)
        # with an empty state_dir, so no test inherits another's history (e.g. flap damping).
        self.dirty = False

    def write_configs(self, zone_mode: str = "good") -> None:
        topo = self.lab.topo
        self.dir.mkdir(mode=0o755, exist_ok=True)
        self.state_dir.mkdir(mode=0o755, exist_ok=True)
        self.lab.server.write_configs(topo, self.spec, self.dir, zone_mode)
        if self.lab.resolvers is not None:
            self.lab.resolvers.write_configs(self)
        more = []
        if self.lab.master is not None:
            self.lab.master.write_secondary(self)
            more.append(master.soa_check(self.address, self.lab.master.address, **self.lab.soa))
        if self.lab.dnssec is not None:
            more.append(dnssec.prepare(self, **self.lab.dnssec))
        wrapper = self.dir / "run-speaker"
        wrapper.write_text(render.run_script(REPO, self.config,
                                             standin=self.lab.process == "standin"))
        wrapper.chmod(0o755)
        self.exabgp_conf.write_text(render.exabgp_conf(topo, self.spec, wrapper))
        self.config.write_text(render.speaker_yaml(topo, self.spec, self.socket, self.state_dir,
                                                   manage=self.lab.manage_address,
                                                   extra=self.lab.speaker_extra,
                                                   statistics=self.statistics,
                                                   more_checks=more,
                                                   more_services=[resolver.service()]
                                                   if self.lab.resolvers else None))
        if self.lab.web is not None:
            self.lab.web.write_configs(self)
        self.zone_broken = zone_mode != "good"

    # -- processes -------------------------------------------------------------

    def _proc(self, what: str) -> Proc:
        proc = self.lab.procs.get(f"{self.name}/{what}")
        if proc is None:
            raise LabError(f"{self.name}: {what} was never started")
        return proc

    @property
    def named(self) -> Proc:
        """The node's DNS server process (named or pdns_server)."""
        return self._proc(self.lab.server.program)

    @property
    def statistics(self) -> dict[str, object]:
        """This node's `dns_statistics` for the lab's DNS server."""
        return self.lab.server.statistics(self.dir)

    @property
    def exabgp(self) -> Proc:
        return self._proc("exabgp")

    def start_named(self) -> Proc:
        program = self.lab.server.program
        return self.lab.spawn(f"{self.name}/{program}", self.ns,
                              self.lab.server.argv(self.dir), self.dir / f"{program}.log")

    def wait_named(self, timeout: float = 15.0) -> None:
        """Wait until the DNS server answers on the node address (any rcode)."""
        wait_for(lambda: self.query(str(self.address), "www.example.com.", "AAAA",
                                    timeout=0.3) is not None,
                 timeout, interval=0.05,
                 what=f"{self.lab.server.program} on {self.name} to answer")

    def kill_named(self, sig: int = signal.SIGKILL) -> None:
        self.dirty = True
        proc = self.named
        if not proc.signal(sig):
            raise LabError(f"{self.name}: {self.lab.server.program} (PID {proc.pid}) is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM) and not proc.wait_gone(10):
            raise LabError(f"{self.name}: {self.lab.server.program} (PID {proc.pid}) did not "
                           f"exit after {sig}")

    def stop_named(self) -> None:
        self.kill_named(signal.SIGSTOP)

    def cont_named(self) -> None:
        self.kill_named(signal.SIGCONT)

    def restart_named(self) -> None:
        if self.named.alive:
            self.named.signal(signal.SIGCONT)
            self.kill_named(signal.SIGTERM)
        self.start_named()
        if not self.zone_broken:
            self.wait_named()

    def start_exabgp(self) -> Proc:
        external = self.lab.external_exabgp.get(self.name)
        if external is not None:
            return self.lab.spawn(f"{self.name}/exabgp", self.ns, list(external.argv),
                                  self.dir / "exabgp.log", env=dict(external.env),
                                  cwd=external.cwd)
        env = base_env()
        env.update(exabgp_env())
        argv = [str(EXABGP[self.lab.exabgp_version]), str(self.exabgp_conf)]
        return self.lab.spawn(f"{self.name}/exabgp", self.ns, argv, self.dir / "exabgp.log",
                              env=env, cwd=self.dir)

    def kill_exabgp(self, sig: int = signal.SIGKILL) -> None:
        self.dirty = True
        proc = self.exabgp
        child = self.speaker_pid()
        if not proc.signal(sig):
            raise LabError(f"{self.name}: ExaBGP (PID {proc.pid}) is not running")
        if sig in (signal.SIGKILL, signal.SIGTERM) and not proc.wait_gone(10):
            raise LabError(f"{self.name}: ExaBGP (PID {proc.pid}) did not exit after {sig}")
        if child is not None:
            # The speaker sees EOF on stdin and should exit; do not leave it behind.
            pid, started = child
            if not wait_gone(pid, started, 3.0):
                signal_pid(pid, started, signal.SIGKILL)

    def speaker_pid(self) -> tuple[int, int] | None:
        """(PID, start time) of the process ExaBGP runs for this node, if any."""
        proc = self.lab.procs.get(f"{self.name}/exabgp")
        if proc is None or not proc.alive:
            return None
        module = "tests.lab.standin" if self.lab.process == "standin" else "speaker"
        for pid in children(proc.pid):
            argv = cmdline(pid)
            if "-m" in argv and module in argv:
                started = start_time(pid)
                if started is not None:
                    return pid, started
        return None

    def wait_speaker(self, timeout: float = 10.0, other_than: int | None = None) -> int:
        def found() -> int | None:
            got = self.speaker_pid()
            return got[0] if got and got[0] != other_than else None
        pid = wait_for(found, timeout, interval=0.02, what=f"the speaker on {self.name}")
        assert pid is not None
        return pid

    def kill_speaker(self, sig: int = signal.SIGKILL) -> int:
        self.dirty = True
        got = self.speaker_pid()
        if got is None:
            raise LabError(f"{self.name}: no speaker process under ExaBGP")
        signal_pid(got[0], got[1], sig)
        return got[0]

    # -- address and zone ------------------------------------------------------

    def has_anycast(self) -> bool:
        out = run(["ip", "-n", self.ns, "-6", "-j", "addr", "show", "dev", "lo"]).stdout
        return any(a.get("local") == str(self.lab.anycast)
                   for link in json.loads(out or "[]") for a in link.get("addr_info", []))

    def remove_anycast(self) -> None:
        self.dirty = True
        run(["ip", "-n", self.ns, "-6", "addr", "del", f"{self.lab.anycast}/128", "dev", "lo"])

    def add_anycast(self) -> None:
        self.dirty = True
        run(["ip", "-n", self.ns, "-6", "addr", "add", f"{self.lab.anycast}/128", "dev", "lo",
             "nodad"])

    def break_zone(self, mode: str = "servfail") -> None:
        """Restart named so example.com fails: 'servfail' (zone file does not load) or
        'refused' (named.conf without the zone)."""
        self.dirty = True
        if mode not in ("servfail", "refused"):
            raise ValueError("mode must be 'servfail' or 'refused'")
        self.write_configs(zone_mode=mode)
        self.restart_named()
        want = dns.rcode.SERVFAIL if mode == "servfail" else dns.rcode.REFUSED
        wait_for(lambda: self.rcode() == want, 15, what=f"{self.name} to answer {mode}")

    def fix_zone(self) -> None:
        self.write_configs(zone_mode="good")
        self.restart_named()

    # -- commands and queries in the node --------------------------------------

    def run(self, argv: Sequence[str], check: bool = False,
            timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        env = base_env()
        self.dirty = True
        env["PYTHONPATH"] = str(REPO)
        try:
            return subprocess.run(ns_argv(self.ns, argv), capture_output=True, text=True,
                                  timeout=timeout, env=env, cwd=REPO, check=check)
        except subprocess.TimeoutExpired as exc:
            raise LabError(f"{self.name}: timed out after {timeout} s: {' '.join(argv)}") from exc

    def ctl(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """`speakerctl --config <node yaml> ARGS` inside the node."""
        return self.run([SPEAKER_PYTHON, "-m", "speaker.cli", "--config", str(self.config),
                         *args], timeout=timeout)

    def query(self, server: str, qname: str = "www.example.com.", qtype: str = "AAAA",
              timeout: float = 0.5) -> dns.message.Message | None:
        return in_netns(self.ns, lambda: _udp(server, qname, qtype, timeout))

    def rcode(self) -> int | None:
        answer = self.query(str(self.address), "example.com.", "SOA", timeout=0.3)
        return None if answer is None else answer.rcode()

    # -- back to healthy -------------------------------------------------------

    def heal_dns(self) -> None:
        """named answering the good zone, the anycast address on lo."""
        named = self.lab.procs.get(f"{self.name}/{self.lab.server.program}")
        if self.zone_broken:
            self.fix_zone()
        elif named is None or not named.alive:
            self.start_named()
            self.wait_named()
        else:
            named.signal(signal.SIGCONT)
        if not self.has_anycast():
            self.add_anycast()

    def heal(self) -> None:
        """Back to a healthy node. A node touched by a fault or command gets a fresh
        ExaBGP and speaker (empty state_dir); an untouched one is left alone."""
        self.heal_dns()
        exabgp = self.lab.procs.get(f"{self.name}/exabgp")
        if exabgp is not None and exabgp.alive and not self.dirty:
            return
        if exabgp is not None and exabgp.alive:
            exabgp.signal(signal.SIGCONT)
            got = self.speaker_pid()
            if got is not None:
                signal_pid(got[0], got[1], signal.SIGCONT)
            self.kill_exabgp(signal.SIGTERM)
        for entry in self.state_dir.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        self.start_exabgp()
        self.dirty = False

    # -- more fault helpers (used by tests/e2e/test_fault_matrix.py) -----------

    def start_exabgp_version(self, version: str) -> Proc:
        """Start this node's ExaBGP as `version` ("4.2" or "5.0"), whatever the lab's is.
        `heal()` later restarts it as the lab's version."""
        env = base_env()
        env.update(exabgp_env())
        argv = [str(EXABGP[version]), str(self.exabgp_conf)]
        return self.lab.spawn(f"{self.name}/exabgp", self.ns, argv, self.dir / "exabgp.log",
                              env=env, cwd=self.dir)

    def watchdog_pid(self) -> tuple[int, int] | None:
        """(PID, start time) of the speaker's watchdog process, if any."""
        got = self.speaker_pid()
        if got is None:
            return None
        for pid in children(got[0]):
            if is_watchdog(pid):
                started = start_time(pid)
                if started is not None:
                    return pid, started
        return None

    def write_speaker_yaml(self, text: str | None = None, manage: bool | None = None,
                           extra: dict[str, Any] | None = None) -> None:
        """Rewrite only speaker.yaml: `text` as given, else rendered like the lab's
        (with `manage`/`extra` overriding the lab's). No arguments: the lab's own."""
        self.dirty = True
        if text is None:
            text = render.speaker_yaml(
                self.lab.topo, self.spec, self.socket, self.state_dir,
                manage=self.lab.manage_address if manage is None else manage,
                extra=self.lab.speaker_extra if extra is None else extra,
                statistics=self.statistics)
        self.config.write_text(text)

    def sighup_speaker(self) -> int:
        """SIGHUP the speaker (reload its config file); returns its PID."""
        return self.kill_speaker(signal.SIGHUP)

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        """`speakerctl --json status` of this node (socket given: works with any YAML)."""
        result = self.ctl("--socket", str(self.socket), "--json", "status", timeout=timeout)
        if result.returncode != 0:
            raise LabError(f"{self.name}: speakerctl status failed ({result.returncode}): "
                           f"{result.stdout}{result.stderr}")
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def log_text(self, what: str = "exabgp") -> str:
        """The log of `what` (exabgp: ExaBGP with the speaker's and watchdog's stderr)."""
        path = self.dir / f"{what}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _udp(server: str, qname: str, qtype: str, timeout: float) -> dns.message.Message | None:
    query = dns.message.make_query(qname, qtype, use_edns=0,
                                   options=[dns.edns.GenericOption(dns.edns.NSID, b"")])
    try:
        return dns.query.udp(query, server, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None


def nsid(message: dns.message.Message) -> str | None:
    for option in message.options:
        if option.otype == dns.edns.NSID:
            data = getattr(option, "data", None)
            if data is None and hasattr(option, "to_wire"):
                data = option.to_wire()
            return bytes(data).decode(errors="replace") if data is not None else None
    return None


class Router:
    """The Virtual Router: FRR's view (vtysh) and the kernel FIB (netlink)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self._ipr: Any = None
        self._lock = threading.Lock()

    def _netlink(self) -> Any:
        if self._ipr is None:
            from pyroute2 import IPRoute

            self._ipr = in_netns(self.lab.topo.router_ns, IPRoute)
        return self._ipr

    def close(self) -> None:
        with self._lock:
            if self._ipr is not None:
                with contextlib.suppress(Exception):
                    self._ipr.close()
                self._ipr = None

    def nexthops(self, prefix: ipaddress.IPv6Address | None = None) -> frozenset[str]:
        """Gateways of the route to `prefix` (default: anycast /128) in the router's FIB."""
        dst = str(prefix or self.lab.anycast)
        with self._lock:
            routes = self._netlink().route("dump", family=10)
        hops: set[str] = set()
        for route in routes:
            if route.get("dst_len") != 128 or route.get_attr("RTA_DST") != dst:
                continue
            if route.get_attr("RTA_TABLE") not in (None, 254):
                continue
            gateway = route.get_attr("RTA_GATEWAY")
            if gateway:
                hops.add(gateway)
            for hop in route.get_attr("RTA_MULTIPATH") or []:
                gateway = hop.get_attr("RTA_GATEWAY")
                if gateway:
                    hops.add(gateway)
        return frozenset(hops)

    def wait_nexthops(self, predicate: Callable[[frozenset[str]], bool], timeout: float,
                      t0: float | None = None, what: str = "next hops") -> float:
        """Poll the FIB every 10 ms until predicate(hops); seconds since t0 (default now)."""
        start = time.monotonic() if t0 is None else t0
        deadline = time.monotonic() + timeout
        while True:
            hops = self.nexthops()
            now = time.monotonic()
            if predicate(hops):
                return now - start
            if now >= deadline:
                raise LabError(f"timed out after {timeout:g} s waiting for {what} "
                               f"(next hops now: {sorted(hops) or 'none'})")
            time.sleep(0.01)

    def time_until_gone(self, address: ipaddress.IPv6Address | str, timeout: float = 10.0,
                        t0: float | None = None) -> float:
        return self.wait_nexthops(lambda h: str(address) not in h, timeout, t0,
                                  what=f"next hop {address} to leave the FIB")

    def time_until_back(self, address: ipaddress.IPv6Address | str, timeout: float = 15.0,
                        t0: float | None = None) -> float:
        return self.wait_nexthops(lambda h: str(address) in h, timeout, t0,
                                  what=f"next hop {address} to be back in the FIB")

    def vtysh(self, command: str) -> str:
        return run(["vtysh", "-N", self.lab.topo.frr_name, "-c", command]).stdout

    def vtysh_config(self, lines: Sequence[str]) -> str:
        """Enter `lines` in FRR's configure mode, one command each."""
        argv = ["vtysh", "-N", self.lab.topo.frr_name, "-c", "configure terminal"]
        for line in lines:
            argv += ["-c", line]
        return run(argv).stdout

    def bgp_summary(self) -> str:
        if self.lab.router_kind == "bird":
            return self.birdc("show protocols")
        return self.vtysh("show bgp ipv6 unicast summary")

    def birdc(self, command: str) -> str:
        return bird.birdc(self.lab.topo.router_ns, self.lab.bird_socket, command)

    def bgp_summary_json(self) -> dict[str, Any]:
        return json.loads(self.vtysh("show bgp ipv6 unicast summary json"))  # type: ignore[no-any-return]

    def established(self) -> set[str]:
        if self.lab.router_kind == "bird":
            return bird.established(self.lab.topo, self.birdc("show protocols"))
        peers = self.bgp_summary_json().get("peers", {})
        return {addr for addr, peer in peers.items() if peer.get("state") == "Established"}

    def updates_received(self, address: ipaddress.IPv6Address | str) -> int:
        """UPDATE messages bgpd has received from the node at `address` (session counters
        restart with each session)."""
        data = json.loads(self.vtysh(f"show bgp neighbors {address} json"))
        stats = data.get(str(address), {}).get("messageStats", {})
        return int(stats.get("updatesRecv", 0))

    def route_text(self) -> str:
        """`ip -6 route show <anycast>` as the seed's operator runs it on the VR."""
        return run(["ip", "-n", self.lab.topo.router_ns, "-6", "route", "show",
                    str(self.lab.anycast)]).stdout


class Client:
    """The client namespace on the router's other link."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def dig(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ["dig", f"@{self.lab.anycast}", *args, "+time=1", "+tries=1"]
        return subprocess.run(ns_argv(self.lab.topo.client_ns, argv), capture_output=True,
                              text=True, timeout=10, check=False)

    def query(self, qname: str = "www.example.com.", qtype: str = "AAAA",
              timeout: float = 0.5) -> dns.message.Message | None:
        return in_netns(self.lab.topo.client_ns,
                        lambda: _udp(str(self.lab.anycast), qname, qtype, timeout))

    def stream(self, rate: float = 50.0, duration: float = 5.0, timeout: float = 0.5,
               qname: str = "www.example.com.", qtype: str = "AAAA",
               server: str | None = None) -> QueryStream:
        """Start a bounded query stream in the client netns (returns once it runs) to
        `server` (default: the anycast address)."""
        return QueryStream(self.lab, rate, duration, timeout, qname, qtype, server)


class QueryStream:
    """`python3 -m tests.lab.client` in the client netns; one JSON line per query."""

    def __init__(self, lab: Lab, rate: float, duration: float, timeout: float,
                 qname: str, qtype: str, server: str | None = None) -> None:
        env = base_env()
        env["PYTHONPATH"] = str(REPO)
        argv = ["/usr/bin/python3", "-m", "tests.lab.client", "--server", server or str(lab.anycast),
                "--rate", str(rate), "--duration", str(duration), "--timeout", str(timeout),
                "--qname", qname, "--qtype", qtype]
        self.popen = subprocess.Popen(ns_argv(lab.topo.client_ns, argv), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                                      start_new_session=True)
        self.lines: list[dict[str, Any]] = []
        self.started: float | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._ready.wait(15):
            self.popen.kill()
            raise LabError("query stream did not start: " + (self.popen.stderr.read()
                                                              if self.popen.stderr else ""))

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            record = json.loads(line)
            if record.get("event") == "start":
                self.started = record["t"]
                self._ready.set()
            elif "ok" in record:
                self.lines.append(record)
        self._ready.set()

    def wait(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise LabError("query stream did not finish") from None
        self._reader.join(5)
        if self.popen.returncode != 0:
            err = self.popen.stderr.read() if self.popen.stderr else ""
            raise LabError(f"query stream failed ({self.popen.returncode}): {err}")
        return sorted(self.lines, key=lambda r: r["t"])


def summarize(records: Sequence[dict[str, Any]], since: float | None = None,
              until: float | None = None) -> dict[str, Any]:
    """Counts of a query stream (optionally of queries sent in [since, until))."""
    chosen = [r for r in records
              if (since is None or r["t"] >= since) and (until is None or r["t"] < until)]
    per_node: dict[str, int] = {}
    for r in chosen:
        if r["ok"]:
            per_node[r.get("node") or "?"] = per_node.get(r.get("node") or "?", 0) + 1
    failed = sum(1 for r in chosen if not r["ok"])
    return {"sent": len(chosen), "failed": failed,
            "failed_share": failed / len(chosen) if chosen else 0.0,
            "per_node": dict(sorted(per_node.items()))}
