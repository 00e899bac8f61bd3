"""The router's budget at run time: which wanted prefixes the RouteBook is told to announce.

Owns what each prefix's service wants (a route, or None), the share of the
router's `max_prefixes` slots over the config's prefixes in config order
(`speaker.core.budget`), and saying so loudly: a prefix left out is logged
once when it is left out and once when that ends, never per round; a config
with more prefixes than the router accepts is logged when it is started or
reloaded. Must not decide health (the speaker says what each service wants)
nor order the commands (the RouteBook writes withdraws before the announces
they make room for).
"""

from __future__ import annotations

import logging

from speaker import logs
from speaker.core import budget, config, limits
from speaker.core.config import IPNetwork, Route
from speaker.core.routes import RouteBook

LOG = logs.get("speaker")


class Slots:
    def __init__(self, book: RouteBook) -> None:
        self.book = book
        self.wanted: dict[IPNetwork, Route | None] = {}
        self.over: dict[IPNetwork, str] = {}  # prefix: why it is not announced
        self._shared: config.Config | None = None  # the config of the last full share
        self._granted: set[IPNetwork] = set()

    def update(self, cfg: config.Config, changes: dict[IPNetwork, Route | None]) -> None:
        """What one service's prefixes now want. Shares the slots again only when the
        config changed or, under a limit, a prefix became wanted or unwanted: a probe
        round of one service costs its own prefixes, not every prefix of the config."""
        moved = any((self.wanted.get(p) is None) != (r is None) for p, r in changes.items())
        self.wanted.update(changes)
        limit = cfg.router_limits.max_prefixes
        if cfg is not self._shared or (moved and limit is not None):
            self.share(cfg)
            return
        for prefix, route in changes.items():  # the same prefixes hold the same slots
            self.book.want(prefix, route if limit is None or prefix in self._granted else None)

    def share(self, cfg: config.Config) -> None:
        """Tell the book what to announce: the wanted prefixes within the limit."""
        limit = cfg.router_limits.max_prefixes
        self.book.limit = limit
        self.wanted = {p: self.wanted.get(p) for p in cfg.prefixes}
        result = budget.share((p for p, r in self.wanted.items() if r is not None), limit)
        granted = set(result.granted)
        self._shared, self._granted = cfg, granted
        for prefix, route in self.wanted.items():
            self.book.want(prefix, route if prefix in granted else None)
        over = {p: budget.over_reason(limit) for p in result.over if limit is not None}
        self._say(cfg, over, granted)
        self.over = over

    def _say(self, cfg: config.Config, over: dict[IPNetwork, str],
             granted: set[IPNetwork]) -> None:
        if over.keys() == self.over.keys():
            return
        owner = {p: s.name for s in cfg.services for p in s.prefixes}
        for prefix, reason in over.items():
            if prefix not in self.over:
                logs.log(LOG, logging.ERROR, "prefix not announced: over "
                         "router_limits.max_prefixes", service=owner.get(prefix, "-"),
                         prefix=prefix, reason=reason, announced=len(granted),
                         fix=limits.MAX_PREFIXES_FIX)
        for prefix in self.over:
            if prefix not in over:
                logs.log(LOG, logging.INFO, "prefix no longer over router_limits.max_prefixes",
                         service=owner.get(prefix, "-"), prefix=prefix,
                         now="announced" if prefix in granted else "not wanted")

    @staticmethod
    def check(cfg: config.Config, when: str) -> list[str]:
        """Log a config with more prefixes than max_prefixes (at start and reload); the
        prefixes beyond the limit, in config order."""
        found = limits.excess(cfg.router_limits, cfg.prefixes)
        if found is None:
            return []
        limit = cfg.router_limits.max_prefixes or 0
        beyond = [str(p) for p in cfg.prefixes[limit:]]
        logs.log(LOG, logging.ERROR, f"config over router_limits.max_prefixes at {when}: "
                 "only the first prefixes in config order are announced",
                 limit=limit, prefixes=len(cfg.prefixes), last=",".join(beyond),
                 problem=f"{found[0]}: {found[1]}")
        return beyond
