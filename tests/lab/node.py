"""One DNS node of a lab: its configs, its processes, its anycast address, its faults.

Owns `LabNode`: the node's run directory and configs (DNS server, ExaBGP,
speaker.yaml, rendered by tests.lab.render and the lab's options), its DNS
server (BIND or PowerDNS, tests.lab.servers) and ExaBGP running the speaker
(started through `Lab.spawn`, so recorded by PID), the faults tests inject on
it (signals by PID, the anycast address removed, the zone broken), commands
and queries inside its netns, and `heal()` back to healthy. It never touches
the router, the client or another node.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dns.message
import dns.rcode

from tests.lab import dnssec, master, render, resolver
from tests.lab.host import base_env, exabgp_env
from tests.lab.lanes import EXABGP, REPO, SPEAKER_PYTHON
from tests.lab.procs import Proc
from tests.lab.queries import udp
from tests.lab.system import (
    LabError,
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
from tests.lab.topology import Node

if TYPE_CHECKING:
    from tests.lab.lab import Lab


def python_child(parent: int, module: str) -> tuple[int, int] | None:
    """(PID, start time) of a child of `parent` running `python3 -m <module>`, if any."""
    for pid in children(parent):
        argv = cmdline(pid)
        if "-m" in argv and module in argv:
            started = start_time(pid)
            if started is not None:
                return pid, started
    return None


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
        """Wait until the DNS server answers on the node address (any rcode); LabError at
        once, with the end of its log, if the server exited instead."""
        program = self.lab.server.program

        def answers() -> bool:
            if self.query(str(self.address), "www.example.com.", "AAAA",
                          timeout=0.3) is not None:
                return True
            if not self.named.alive:
                log = (self.dir / f"{program}.log").read_text(errors="replace")
                tail = "".join(log.splitlines(keepends=True)[-8:])
                raise LabError(f"{self.name}: {program} exited before it answered:\n{tail}")
            return False

        wait_for(answers, timeout, interval=0.05, what=f"{program} on {self.name} to answer")

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
        return self.start_exabgp_version(self.lab.exabgp_version)

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
        return python_child(proc.pid, module)

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
        return in_netns(self.ns, lambda: udp(server, qname, qtype, timeout))

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

    # -- more fault helpers (used by the fault matrix, tests/e2e/faults.py) ------

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
            if is_watchdog(pid):  # forked early (speaker-watchd) or its module started
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

