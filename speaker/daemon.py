"""The composition root: builds the real adapters and drives the event loop.

`run` wires a `speaker.engine.Speaker` to ExaBGP's pipes, netlink, the DNS
probes, the control socket, the watchdog process, metrics and BIND's
statistics; `main` is `python3 -m speaker`. The only module that knows both
the engine and the concrete adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from speaker import __version__, logs
from speaker.adapters import checks, dnsstats, metrics, watchdog
from speaker.adapters.channel import StdinReader, StdoutWriter
from speaker.adapters.state import MaintenanceStore
from speaker.core import config
from speaker.core.errors import ConfigError
from speaker.engine import Speaker
from speaker.ports import Addresses, StateError

LOG = logs.get("daemon")
EX_SOFTWARE = os.EX_SOFTWARE  # 70: the process failed, not its input


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


# -- wiring -------------------------------------------------------------------------------


def _start_metrics(speaker: Speaker, cfg: config.Metrics) -> None:
    """Serve metrics on exactly the configured address; a failure only costs the metrics."""
    try:
        prom = metrics.Prometheus(speaker.status)
        metrics.serve(str(cfg.listen), cfg.port, prom.registry)
    except Exception as exc:
        logs.log(LOG, logging.ERROR, "metrics endpoint unavailable; health checking goes on",
                 listen=cfg.listen, port=cfg.port, error=exc)
        return
    speaker.recorder = metrics.Guard(prom)
    logs.log(LOG, logging.INFO, "metrics endpoint ready", listen=cfg.listen, port=cfg.port)


def _log_detection(speaker: Speaker) -> None:
    """One line: how many event sources are active, and why the others are not."""
    found = [d for name in speaker.runs for d in speaker.server_events.report(name)]
    idle = [d for d in found if not d.active]
    if not idle:
        logs.log(LOG, logging.INFO, "event detection active", watched=len(found))
        return
    logs.log(LOG, logging.WARNING, "event detection partly inactive: probes alone detect "
             "those deaths", active=len(found) - len(idle), inactive=len(idle),
             first=idle[0].target, reason=idle[0].detail)


async def run(cfg: config.Config, config_path: Path | None) -> int:
    from speaker.adapters.control import ControlServer
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
        addresses: Addresses | None = Netlink()
    except Exception as exc:  # netlink unavailable: the address checks report it
        logs.log(LOG, logging.ERROR, "netlink unavailable", error=exc)
        addresses = None
    store = MaintenanceStore(cfg.state_dir)
    events = ServerWatch(lambda name, reason: None)
    speaker = Speaker(cfg, writer, addresses, store, probe_factory=checks.build,
                      config_path=config_path, server_events=events)
    events.on_gone = speaker.server_gone

    if cfg.metrics is not None:
        _start_metrics(speaker, cfg.metrics)
    stats = None
    if cfg.dns_statistics is not None:
        stats = dnsstats.Poller.from_config(cfg.dns_statistics, lambda: speaker.probes_sent)
        speaker.dns_stats = lambda: stats.snapshot().as_dict() if stats else None
        stats.start()
    dog = watchdog.Handle(out_fd, cfg.watchdog_timeout)
    try:
        dog.start()
    except OSError as exc:
        logs.log(LOG, logging.ERROR, "cannot start the watchdog; will retry", error=exc)
    speaker.exabgp.on_prefixes_changed = dog.update

    reader = StdinReader(0, loop, speaker.on_message, speaker.stopping.set)
    reader.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, speaker.stopping.set)
    reload_requested = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)

    logs.log(LOG, logging.INFO, "starting", version=__version__, pid=os.getpid(),
             config=config_path, services=len(cfg.services), prefixes=len(cfg.prefixes))
    speaker.start()  # withdraws everything first
    _log_detection(speaker)
    control = ControlServer(speaker)
    try:
        await control.start()
    except OSError as exc:
        logs.log(LOG, logging.ERROR, "control socket unavailable: speakerctl will not work",
                 socket=cfg.control.socket, error=exc)
    count = len(speaker.runs)
    for i, svc in enumerate(speaker.runs.values()):
        spread = svc.service.timing.interval * i / count  # no thundering herd at start
        svc.task = asyncio.create_task(speaker.service_loop(svc, spread), name=svc.service.name)

    crashed: list[str] = []

    async def housekeeping() -> None:
        watchdog_failed = False
        while True:
            if not dog.alive():
                try:
                    dog.start()
                    watchdog_failed = False
                    logs.log(LOG, logging.WARNING, "watchdog process restarted",
                             restarts=dog.restarts)
                except OSError as failure:
                    if not watchdog_failed:  # once, not every heartbeat
                        logs.log(LOG, logging.ERROR, "cannot start the watchdog",
                                 error=failure)
                    watchdog_failed = True
            dog.beat()
            speaker.check_acks()
            speaker.sync_watchdog()
            for svc in speaker.runs.values():
                if svc.task is None:
                    svc.task = asyncio.create_task(speaker.service_loop(svc),
                                                   name=svc.service.name)
                elif svc.task.done() and not svc.task.cancelled():
                    exc = svc.task.exception()
                    logs.log(LOG, logging.CRITICAL, "service loop crashed: withdrawing and "
                             "exiting (ExaBGP starts a fresh process)",
                             service=svc.service.name, error=repr(exc))
                    crashed.append(svc.service.name)
                    speaker.stopping.set()
            speaker.flush()
            if reload_requested.is_set():
                reload_requested.clear()
                with contextlib.suppress(ConfigError):  # logged; config NOT changed
                    control.reload_from_file()
            await asyncio.sleep(watchdog.BEAT)

    keeper = asyncio.create_task(housekeeping(), name="housekeeping")
    await speaker.stopping.wait()
    logs.log(LOG, logging.INFO, "stopping: withdrawing announced prefixes")
    keeper.cancel()
    for svc in speaker.runs.values():
        if svc.task:
            svc.task.cancel()
    speaker.shutdown_commands()
    speaker.close()
    events.close()
    await control.stop()
    dog.bye()
    if stats is not None:
        stats.stop()
    if addresses is not None:
        addresses.close()
    return EX_SOFTWARE if crashed else 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
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
        return asyncio.run(run(cfg, args.config.resolve()))
    except StateError as exc:
        logs.log(LOG, logging.CRITICAL, "state directory unusable", error=exc)
        return 73
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so in one line; the watchdog withdraws (pipe EOF)
        logs.log_bug(LOG, "internal error: exiting; ExaBGP starts a fresh process",
                     error=repr(exc))
        return EX_SOFTWARE
