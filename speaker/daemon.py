"""The composition root: builds the real adapters and drives the event loop.

`run` wires a `speaker.engine.Speaker` to ExaBGP's pipes, netlink, the DNS
probes, the control socket, the watchdog process, metrics, the DNS server's
statistics and the state-change hooks; `main` is `python3 -m speaker`. The
only module that knows both the engine and the concrete adapters.

No death goes unseen (`Supervisor`): a crashed service loop, a crashed
housekeeping task, or a dead thread the routes depend on (ExaBGP's stdin,
netlink) is logged with its error, then the process withdraws and exits 70,
and ExaBGP starts a fresh one; the statistics thread is restarted instead,
and any other thread (metrics) is logged and left, as health checking goes on
without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from speaker import __version__, logs
from speaker.adapters import checks, hooks, metrics, watchdog
from speaker.adapters.channel import StdinReader, StdoutWriter
from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.errors import ConfigError, ControlSocketError
from speaker.engine import Speaker
from speaker.ports import Addresses, StateError

if TYPE_CHECKING:
    from speaker.adapters.loopback import Netlink
    from speaker.adapters.watchers import ServerWatch

LOG = logs.get("daemon")
EX_SOFTWARE = os.EX_SOFTWARE  # 70: the process failed, not its input
ESSENTIAL_THREADS = ("exabgp-stdin", "netlink-addresses")  # routes cannot follow health without
HOOK_GRACE = 1.0  # seconds running hooks may still take when the speaker stops


def _allow_files(needed: int) -> None:
    """Each UDP check keeps a socket open: raise the soft file limit if it is too low.

    Best effort: the Debian unit sets LimitNOFILE; raising the soft limit works under
    its seccomp filter too (glibc calls prlimit64, which @system-service allows).
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logs.log(LOG, logging.WARNING, "open-file limit too low for the checks",
                     limit=soft, needed=needed, error=exc)


# -- supervision ---------------------------------------------------------------------------


class Supervisor:
    """Sees every death: logs it, then stops the process (withdraw, exit 70) or goes on.

    `crash` is for what the routes depend on; `thread_died` is installed as
    `threading.excepthook` and decides by the thread's name: ESSENTIAL_THREADS
    crash, others are logged only.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, stopping: asyncio.Event) -> None:
        self.loop = loop
        self.stopping = stopping
        self.crashed: list[str] = []

    def crash(self, message: str, **fields: object) -> None:
        """On the loop: something the routes depend on died. Withdraw and exit 70."""
        logs.log(LOG, logging.CRITICAL,
                 f"{message}: withdrawing and exiting (ExaBGP starts a fresh process)", **fields)
        self.crashed.append(message)
        self.stopping.set()

    def watch(self, name: str) -> Callable[[asyncio.Task[None]], None]:
        """A done-callback for a task that must run until the process stops."""
        def done(task: asyncio.Task[None]) -> None:
            if task.cancelled():
                return
            exc = task.exception()
            self.crash(f"{name} crashed", error=repr(exc) if exc else "it returned")
        return done

    def thread_died(self, args: threading.ExceptHookArgs) -> None:
        """`threading.excepthook`: runs in the dying thread; the loop decides what follows."""
        if issubclass(args.exc_type, SystemExit):
            return
        name = args.thread.name if args.thread is not None else "unknown"
        with contextlib.suppress(RuntimeError):  # the loop is closed: we are exiting anyway
            self.loop.call_soon_threadsafe(self._died, name, repr(args.exc_value))

    def _died(self, name: str, error: str) -> None:
        if name in ESSENTIAL_THREADS:
            self.crash("thread died", thread=name, error=error)
            return
        logs.log(LOG, logging.ERROR, "thread died; health checking goes on without it",
                 thread=name, error=error)


class Housekeeping:
    """The watchdog's heartbeat, ack deadlines, new service loops, SIGHUP, every `period`
    (`watchdog.beat_period`: a quarter of the watchdog timeout, 0.5 s at the defaults),
    and at once when woken (`wake`: a SIGHUP).

    It runs until the process stops; the daemon watches it (`Supervisor.watch`),
    so its death is logged and stops the process instead of being taken by the
    watchdog for a hang.
    """

    def __init__(self, speaker: Speaker, dog: watchdog.Handle, supervisor: Supervisor,
                 reload: Callable[[], object], period: float = watchdog.BEAT) -> None:
        self.speaker = speaker
        self.period = period
        self.woken = asyncio.Event()
        self.dog = dog
        self.supervisor = supervisor
        self.reload = reload
        self.reload_requested = asyncio.Event()
        self._watchdog_failed = False
        self._crashed: set[str] = set()  # service loops already reported

    def _keep_watchdog(self) -> None:
        dog = self.dog
        if not dog.alive():
            try:
                dog.start()
                self._watchdog_failed = False
                logs.log(LOG, logging.WARNING, "watchdog process restarted",
                         restarts=dog.restarts)
            except OSError as failure:
                if not self._watchdog_failed:  # once, not every heartbeat
                    logs.log(LOG, logging.ERROR, "cannot start the watchdog", error=failure)
                self._watchdog_failed = True
        dog.beat()

    def step(self) -> None:
        speaker = self.speaker
        if self.reload_requested.is_set():  # first: the new services' loops start below
            self.reload_requested.clear()
            with contextlib.suppress(ConfigError):  # logged; config NOT changed
                self.reload()
        self._keep_watchdog()
        speaker.check_acks()
        speaker.sync_watchdog()
        for svc in speaker.runs.values():
            if svc.task is None:
                svc.task = asyncio.create_task(speaker.service_loop(svc),
                                               name=svc.service.name)
            elif svc.task.done() and not svc.task.cancelled():
                exc = svc.task.exception()
                if svc.service.name not in self._crashed:
                    self._crashed.add(svc.service.name)
                    self.supervisor.crash("service loop crashed", service=svc.service.name,
                                          error=repr(exc))
        speaker.flush()

    def wake(self) -> None:
        """Run a step now (a reload was asked for), not at the next period."""
        self.woken.set()

    def request_reload(self) -> None:
        self.reload_requested.set()
        self.wake()

    async def run(self) -> None:
        while True:
            self.step()
            self.woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.woken.wait(), self.period)


# -- wiring -------------------------------------------------------------------------------


def _start_metrics(speaker: Speaker, cfg: config.Metrics,
                   loop: asyncio.AbstractEventLoop) -> None:
    """Serve metrics on exactly the configured address; a failure only costs the metrics."""
    try:
        prom = metrics.Prometheus(metrics.on_loop(loop, speaker.status))
        metrics.serve(str(cfg.listen), cfg.port, prom.registry)
    except Exception as exc:
        logs.log(LOG, logging.ERROR, "metrics endpoint unavailable; health checking goes on",
                 listen=cfg.listen, port=cfg.port, error=exc)
        return
    speaker.recorder = metrics.Guard(prom)
    logs.log(LOG, logging.INFO, "metrics endpoint ready", listen=cfg.listen, port=cfg.port)


def _log_detection(speaker: Speaker) -> None:
    """One line: how many event sources are active, and why the others are not.

    A socket nothing listens on yet (a server still starting, at boot) is no
    warning: its watch is armed by the first passing probe."""
    found = [d for name in speaker.runs for d in speaker.server_events.report(name)]
    idle = [d for d in found if not d.active and not d.pending]
    waiting = [d for d in found if d.pending]
    if waiting:
        logs.log(LOG, logging.INFO, "event detection waits for the server to listen: armed "
                 "at its first passing probe", waiting=len(waiting), first=waiting[0].target)
    if not idle:
        logs.log(LOG, logging.INFO, "event detection active",
                 watched=len(found) - len(waiting))
        return
    logs.log(LOG, logging.WARNING, "event detection partly inactive: probes alone detect "
             "those deaths", active=len(found) - len(idle) - len(waiting), inactive=len(idle),
             first=idle[0].target, reason=idle[0].detail)


async def run(cfg: config.Config, config_path: Path | None,
              early_watchdog: tuple[int, int] | None = None) -> int:
    from speaker.adapters.loopback import Netlink
    from speaker.adapters.watchers import ServerWatch

    loop = asyncio.get_running_loop()
    _allow_files(sum(len(s.checks) for s in cfg.services) + 256)
    # stdout belongs to ExaBGP: keep a private copy of it, point fd 1 at stderr
    out_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    writer = StdoutWriter(out_fd)
    try:
        netlink: Netlink | None = Netlink(start=False)
    except Exception as exc:  # netlink unavailable: the address checks report it
        logs.log(LOG, logging.ERROR, "netlink unavailable", error=exc)
        netlink = None
    addresses: Addresses | None = netlink
    store = MaintenanceStore(cfg.state_dir)
    hook_runner = hooks.Runner(lambda service, result: speaker.recorder.hook(service, result))
    events = ServerWatch(lambda name, reason: None)
    speaker = Speaker(cfg, writer, addresses, store, probe_factory=checks.build,
                      config_path=config_path, server_events=events, hook_runner=hook_runner)
    events.on_gone = speaker.server_gone
    supervisor = Supervisor(loop, speaker.stopping)
    previous_hook, threading.excepthook = threading.excepthook, supervisor.thread_died
    try:
        return await _serve(cfg, config_path, speaker, supervisor, out_fd, netlink, events,
                            hook_runner, early_watchdog)
    finally:
        threading.excepthook = previous_hook


async def _serve(cfg: config.Config, config_path: Path | None, speaker: Speaker,
                 supervisor: Supervisor, out_fd: int, netlink: Netlink | None,
                 events: ServerWatch, hook_runner: hooks.Runner,
                 early_watchdog: tuple[int, int] | None) -> int:
    from speaker.adapters.control import ControlServer

    loop = asyncio.get_running_loop()
    if netlink is not None:
        netlink.start()

    if cfg.metrics is not None:
        _start_metrics(speaker, cfg.metrics, loop)
    stats: dnsstats.Poller | None = None
    if cfg.dns_statistics is not None:
        from speaker.adapters import dnsstats  # only when asked

        poller = stats = dnsstats.Poller.from_config(cfg.dns_statistics,
                                                     lambda: speaker.probes_sent)
        speaker.dns_stats = lambda: poller.snapshot().as_dict()
        poller.start()
    dog = watchdog.Handle(out_fd, cfg.watchdog_timeout)
    try:
        if early_watchdog is not None:
            dog.adopt(early_watchdog)  # forked before the imports (python3 -m speaker)
        else:
            dog.start()
    except OSError as exc:
        logs.log(LOG, logging.ERROR, "cannot start the watchdog; will retry", error=exc)
    speaker.exabgp.on_prefixes_changed = dog.update

    reader = StdinReader(0, loop, speaker.on_message, speaker.stopping.set)
    reader.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, speaker.stopping.set)

    logs.log(LOG, logging.INFO, "starting", version=__version__, pid=os.getpid(),
             config=config_path, services=len(cfg.services), prefixes=len(cfg.prefixes))
    speaker.start()  # withdraws everything first
    _log_detection(speaker)
    control = ControlServer(speaker)
    refused: ControlSocketError | None = None
    try:
        await control.start()
    except ControlSocketError as exc:  # another speaker's, or not a socket: never take it
        logs.log(LOG, logging.CRITICAL, "control socket refused: exiting", error=exc)
        refused = exc
        speaker.stopping.set()
    except OSError as exc:
        logs.log(LOG, logging.ERROR, "control socket unavailable: speakerctl will not work",
                 socket=cfg.control.socket, error=exc)
    keeper = Housekeeping(speaker, dog, supervisor, control.reload_from_file,
                          watchdog.beat_period(cfg.watchdog_timeout))
    loop.add_signal_handler(signal.SIGHUP, keeper.request_reload)
    count = len(speaker.runs)
    for i, svc in enumerate(speaker.runs.values()):
        spread = svc.service.timing.interval * i / count  # no thundering herd at start
        svc.task = asyncio.create_task(speaker.service_loop(svc, spread), name=svc.service.name)

    task = asyncio.create_task(keeper.run(), name="housekeeping")
    task.add_done_callback(supervisor.watch("housekeeping"))
    await speaker.stopping.wait()
    logs.log(LOG, logging.INFO, "stopping: withdrawing announced prefixes")
    task.cancel()
    for svc in speaker.runs.values():
        if svc.task:
            svc.task.cancel()
    speaker.shutdown_commands()
    speaker.close()
    events.close()
    await control.stop()
    await hook_runner.stop(HOOK_GRACE)
    dog.bye()
    if stats is not None:
        stats.stop()
    if netlink is not None:
        netlink.close()
    if refused is not None:
        return refused.exit_code
    return EX_SOFTWARE if supervisor.crashed else 0


def _columns() -> int:
    """argparse's own width (COLUMNS, else the terminal's, less 2), without shutil."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 2:
        return int(columns) - 2
    try:
        return max(os.get_terminal_size(1).columns - 2, 20)
    except OSError:
        return 78


def main(argv: list[str] | None = None, early_watchdog: tuple[int, int] | None = None) -> int:
    """`python3 -m speaker`; `early_watchdog` is what `watchdog.fork_early` forked."""
    import argparse

    parser = argparse.ArgumentParser(
        # a width of its own: argparse's default asks shutil (and bz2, lzma), 0.3 MB
        formatter_class=lambda prog: argparse.HelpFormatter(prog, width=_columns()),
        prog="python3 -m speaker",
        description="ExaBGP API process: announces anycast prefixes while their service is "
                    "healthy.")
    parser.add_argument("--config", type=Path, default=config.DEFAULT_PATH,
                        help=f"YAML configuration (default {config.DEFAULT_PATH})")
    parser.add_argument("--check", action="store_true",
                        help="validate the configuration and exit")
    parser.add_argument("--log-level", default="info",
                        choices=("debug", "info", "warning", "error"))
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--version", action="version", version=f"anycast-speaker {__version__}")
    args = parser.parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    try:
        cfg = config.load(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"speaker: configuration invalid ({len(exc.problems)} problem(s)); "
              "nothing announced", file=sys.stderr)
        return exc.exit_code
    if args.check:
        print(f"{args.config}: ok ({len(cfg.services)} services, {len(cfg.prefixes)} prefixes)",
              file=sys.stderr)
        return 0
    try:
        return asyncio.run(run(cfg, args.config.resolve(), early_watchdog))
    except StateError as exc:
        logs.log(LOG, logging.CRITICAL, "state directory unusable", error=exc)
        return 73
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line; the watchdog withdraws (pipe EOF)
        logs.log_bug(LOG, "internal error: exiting; ExaBGP starts a fresh process",
                     error=repr(exc))
        return EX_SOFTWARE
