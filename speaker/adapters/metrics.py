"""Prometheus metrics: counters fed by the speaker's events, gauges read at scrape time.

Owns the metric names and the HTTP endpoint (prometheus_client, Debian's
python3-prometheus-client). The speaker calls a `speaker.ports.Recorder`; its
default one does nothing, so metrics stay optional. A failure in here is
logged once and never reaches health checking or announcements: the daemon
wraps the recorder it gives the speaker in `Guard`.

A scrape runs in the endpoint's thread, while the speaker's state changes on
its event loop: the gauges are read through `on_loop`, which has the loop
itself read the state, in one callback, so a scrape sees one consistent state
(never a service half-way through a change), or, if the loop does not answer
within READ_TIMEOUT, no state gauges (the counters and the build info still).

The registry also holds the process_* metrics of `speaker.adapters.procstats`
(prometheus_client's own process collector exports nothing under the unit's
ProcSubset=pid); the two never share a registry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from speaker import __version__, logs
from speaker.adapters import procstats
from speaker.ports import Recorder

LOG = logs.get("metrics")

STATES = ("starting", "up", "degraded", "down", "draining", "maintenance", "held-down")
FAILURES = ("soft", "hard")
NEIGHBOR_STATES = ("connected", "up", "down")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
READ_TIMEOUT = 1.0
T = TypeVar("T")


def on_loop(loop: asyncio.AbstractEventLoop, read: Callable[[], T],
            timeout: float = READ_TIMEOUT) -> Callable[[], T]:
    """`read`, callable from any thread, always run by `loop` in one callback.

    The loop changes the speaker's state only between callbacks, so what `read`
    returns is consistent. Raises TimeoutError if the loop does not run it
    within `timeout` seconds (it is stuck, or gone), and what `read` raised.
    """
    def call() -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return read()
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not done.set_running_or_notify_cancel():
                return  # the scrape gave up waiting
            try:
                done.set_result(read())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)  # RuntimeError once the loop is closed
        try:
            return done.result(timeout)
        except concurrent.futures.TimeoutError:
            done.cancel()
            raise TimeoutError(f"the event loop did not answer within {timeout:g} s") from None

    return call


# The gauges read from the speaker's status at scrape time: key -> (name, help, labels).
SERVICE_GAUGES: dict[str, tuple[str, str, list[str]]] = {
    "state": ("speaker_service_state",
              "1 for the state the service is in (starting, up, degraded, down, "
              "draining, maintenance, held-down).", ["service", "state"]),
    "since": ("speaker_service_state_since_timestamp_seconds",
              "When the service entered its current health state (unix time).", ["service"]),
    "held": ("speaker_service_held_down_seconds",
             "Seconds the service stays withdrawn for flapping (0 when not held).", ["service"]),
    "holds": ("speaker_service_flap_holds", "Flap hold-downs since the process started.",
              ["service"]),
    "announced": ("speaker_prefix_announced",
                  "1 when ExaBGP acknowledged the announce of the prefix, else 0.",
                  ["service", "prefix"]),
    "warning": ("speaker_check_warning",
                "1 while the check passes with a warning (a soa check's master unreachable, "
                "...), by its outcome code; else 0.", ["service", "check", "outcome"]),
    "desired": ("speaker_prefix_desired",
                "1 when health says the prefix should be announced, else 0.",
                ["service", "prefix"]),
    "dnssec": ("speaker_dnssec_validity_seconds",
               "Seconds left, at the dnssec check's last round, until the first of the zone's "
               "signatures expires (negative: expired); absent while the check gets no "
               "signed answer.", ["service", "check", "zone"]),
    "over": ("speaker_prefix_over_limit",
             "1 when the prefix's service wants it announced but router_limits.max_prefixes "
             "leaves it out (prefixes listed earlier take the slots), else 0.",
             ["service", "prefix"]),
    "failing": ("speaker_service_failure",
                "1 for the kind of the service's last failing round (soft: timeouts of a busy "
                "server, hard: the rest); 0 for both after a pass.", ["service", "kind"]),
}
NEIGHBOR_GAUGES = (
    ("speaker_bgp_neighbor_up", "1 when the BGP session with the neighbour is established.",
     ["peer"]),
    ("speaker_bgp_neighbor_resetting",
     "1 while the session keeps resetting: 3 or more downs in 60 s, each within 5 s of its up "
     "or of an UPDATE we sent.", ["peer"]),
)


class Guard(Recorder):
    """Wraps a Recorder so that none of its failures escapes (logged once).

    Every method of `speaker.ports.Recorder` is wrapped alike, so the Guard
    follows that Protocol as it grows.
    """

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner
        self.failed = False
        for name in _METHODS:
            setattr(self, name, self._guarded(getattr(inner, name)))

    def _guarded(self, method: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            try:
                method(*args)
            except Exception as exc:
                if not self.failed:
                    self.failed = True
                    logs.log(LOG, logging.ERROR, "metrics update failed; health checking "
                             "goes on", error=repr(exc))

        return call


_METHODS = [name for name, value in vars(Recorder).items()
            if callable(value) and not name.startswith("_")]


class Prometheus:
    """The Recorder behind the endpoint, plus a collector of the speaker's current state."""

    def __init__(self, status: Callable[[], dict[str, Any]], registry: Any = None,
                 process: procstats.ProcessCollector | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.core import GaugeMetricFamily

        self.registry = registry or CollectorRegistry()
        self._status = status
        self._unreadable = False  # the state could not be read at the last scrape
        self._gauge = GaugeMetricFamily
        r = self.registry
        self.checks = Counter("speaker_check_results_total",
                              "Check results by outcome (ok, timeout, refused, rcode, ...).",
                              ["service", "check", "outcome"], registry=r)
        self.latency = Histogram("speaker_check_latency_seconds",
                                 "Time from sending a check to its verdict.",
                                 ["service", "check"], buckets=LATENCY_BUCKETS, registry=r)
        self.transitions = Counter("speaker_service_transitions_total",
                                   "State transitions of a service.",
                                   ["service", "from_state", "to_state"], registry=r)
        self.acks = Counter("speaker_exabgp_acks_total",
                            "ExaBGP's answers to our commands (done, error, unexpected).",
                            ["result"], registry=r)
        self.neighbor_changes = Counter("speaker_bgp_neighbor_transitions_total",
                                        "BGP neighbour state changes reported by ExaBGP.",
                                        ["peer", "state"], registry=r)
        self.ignored = Counter("speaker_exabgp_ignored_lines_total",
                               "Lines from ExaBGP that were not understood and ignored.",
                               registry=r)
        self.hooks = Counter("speaker_hook_runs_total",
                             "State-change hook commands run, by result (ok, failed, timeout, "
                             "error: not started).", ["service", "result"], registry=r)
        r.register(self)  # type: ignore[arg-type]  # a collector by duck typing: collect()
        r.register(process or procstats.ProcessCollector())  # type: ignore[arg-type]  # likewise

    # -- Recorder --------------------------------------------------------------------

    def check(self, service: str, check: str, code: str, latency: float) -> None:
        self.checks.labels(service, check, code).inc()
        self.latency.labels(service, check).observe(latency)

    def transition(self, service: str, old: str, new: str) -> None:
        self.transitions.labels(service, old, new).inc()

    def ack(self, kind: str) -> None:
        self.acks.labels(kind).inc()

    def neighbor(self, peer: str, state: str) -> None:
        self.neighbor_changes.labels(peer, state).inc()

    def ignored_line(self) -> None:
        self.ignored.inc()

    def hook(self, service: str, result: str) -> None:
        self.hooks.labels(service, result).inc()

    # -- collector: the current state, read at scrape time -----------------------------

    def describe(self) -> list[Any]:
        return []  # no fixed description: keeps registration from collecting early

    def _read(self) -> dict[str, Any] | None:
        """The speaker's state, or None (logged once until it is readable again)."""
        try:
            status = self._status()
        except Exception as exc:
            if not self._unreadable:
                logs.log(LOG, logging.ERROR, "metrics: the speaker's state is unreadable; "
                         "scrapes get no state gauges", error=repr(exc))
            self._unreadable = True
            return None
        if self._unreadable:
            logs.log(LOG, logging.INFO, "metrics: the speaker's state is readable again")
        self._unreadable = False
        return status

    def collect(self) -> Iterator[Any]:
        g = self._gauge
        status = self._read()
        info = g("speaker_build_info", "The speaker's version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        if status is None:
            return
        start = g("speaker_start_time_seconds", "When the speaker process started (unix time).")
        start.add_metric([], status["started"])
        yield start
        gauge = {key: g(name, doc, labels=labels)
                 for key, (name, doc, labels) in SERVICE_GAUGES.items()}
        state, since, held, holds = (gauge[k] for k in ("state", "since", "held", "holds"))
        announced, warning, desired, failing = (
            gauge[k] for k in ("announced", "warning", "desired", "failing"))
        for svc in status["services"]:
            name = svc["name"]
            for kind in FAILURES:
                failing.add_metric([name, kind], 1 if svc.get("failure") == kind else 0)
            for s in STATES:
                state.add_metric([name, s], 1 if svc["state"] == s else 0)
            since.add_metric([name], svc["since"])
            held.add_metric([name], svc["held_down_for"])
            holds.add_metric([name], svc["flap_holds"])
            for c in svc["checks"]:
                if c.get("warning"):
                    warning.add_metric([name, c["check"], c["code"]], 1)
                if c.get("validity") is not None:
                    gauge["dnssec"].add_metric([name, c["check"], c["zone"]], c["validity"])
            for p in svc["prefixes"]:
                announced.add_metric([name, p["prefix"]],
                                     1 if p["confirmed"] == "announced" else 0)
                desired.add_metric([name, p["prefix"]], 1 if p["desired"] == "announced" else 0)
                gauge["over"].add_metric([name, p["prefix"]], 1 if p.get("over_limit") else 0)
        yield from gauge.values()
        session, resetting = (g(name, doc, labels=labels)
                              for name, doc, labels in NEIGHBOR_GAUGES)
        from prometheus_client.core import CounterMetricFamily

        resets = CounterMetricFamily("speaker_bgp_session_resets",
                                     "Downs of the session within 5 s of its up or of an "
                                     "UPDATE we sent.", labels=["peer"])
        for n in status["neighbors"]:
            session.add_metric([n["peer"]], 1 if n["state"] == "up" else 0)
            resetting.add_metric([n["peer"]], 1 if n.get("resetting") else 0)
            resets.add_metric([n["peer"]], n.get("resets", 0))
        yield from (session, resetting, resets)
        server = status.get("dns_server")
        if server and server.get("queries_total") is not None:
            from prometheus_client.core import CounterMetricFamily

            total = CounterMetricFamily("speaker_dns_server_queries",
                                        "Queries the DNS server received, from its statistics "
                                        "channel (the speaker's probes included).")
            total.add_metric([], server["queries_total"])
            yield total
        if server and server.get("rate") is not None:
            rate = g("speaker_dns_server_query_rate",
                     "Queries per second the DNS server received, by source (all, probes: "
                     "the speaker's own, clients: the rest).", labels=["source"])
            rate.add_metric(["all"], server["rate"])
            rate.add_metric(["probes"], server["probe_rate"])
            rate.add_metric(["clients"], server["client_rate"])
            yield rate
        waiting = g("speaker_exabgp_commands_waiting",
                    "Commands written to ExaBGP and not yet acknowledged.")
        waiting.add_metric([], status["exabgp"]["waiting"])
        yield waiting


def serve(address: str, port: int, registry: Any) -> Any:
    """Start the HTTP endpoint on exactly `address`:`port`, in a thread of its own."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=address, registry=registry)
