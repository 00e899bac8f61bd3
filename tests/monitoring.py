"""Helpers of the monitoring tests: the shipped rules and dashboard, their PromQL, promtool.

Owns reading packaging/monitoring/ (the Prometheus alert rules and the Grafana
dashboard), pulling every PromQL expression out of them, finding the metric
names an expression selects, and finding promtool. It must not hold a list of
metric names: the tests take those from a running speaker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "packaging" / "monitoring"
RULES = MONITORING / "prometheus-alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RULE_TESTS = REPO / "tests" / "fixtures" / "monitoring" / "alerts_test.yml"
INSTALL = REPO / "packaging" / "debian" / "anycast-speaker.install"

# Words of PromQL that look like names but select nothing.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "offset", "bool", "inf", "nan", "atan2"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_TOKEN = re.compile(r"(?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
                    r"(?:ms|[smhdwy])*)|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)")
_LABEL_VALUES = re.compile(r"\s*label_values\((?P<expr>.*),\s*\w+\s*\)\s*", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    text = _VARIABLE.sub(" ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for token in _TOKEN.finditer(text):
        name = token.group("name")
        if name is None or name.lower() in KEYWORDS:
            continue
        if text[token.end():].lstrip().startswith("("):  # a function or an aggregation
            continue
        names.add(name)
    return names


def load_rules() -> dict[str, Any]:
    data = yaml.safe_load(RULES.read_text())
    assert isinstance(data, dict), f"{RULES}: not a mapping"
    return data


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"]]


def load_dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict), f"{DASHBOARD}: not a JSON object"
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable of the dashboard."""
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append((f"panel {panel.get('title')!r} target {target.get('refId')}",
                          target["expr"]))
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"] if isinstance(var["query"], str) else var["query"]["query"]
            inner = _LABEL_VALUES.fullmatch(query)
            found.append((f"variable {var['name']}", inner.group("expr") if inner else query))
    return found


def rule_exprs() -> list[tuple[str, str]]:
    return [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def for_promtool(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, so that promtool parses it."""
    return expr.replace("$__rate_interval", "1m").replace("$", "")


def promtool() -> str:
    """promtool's path; missing, it fails the test under CI=true and skips it elsewhere."""
    path = shutil.which("promtool")
    if path is None:
        message = ("promtool not found: it comes from Debian's prometheus package "
                   "(tests/bootstrap.sh installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
