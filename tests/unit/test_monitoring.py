"""The shipped alert rules and Grafana dashboard: promtool's checks, the dashboard's shape, the .deb.

The metric names are cross-checked against a running speaker in
tests/integration/test_monitoring_names.py.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests import monitoring
from tests.monitoring import metric_names


def run_promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([monitoring.promtool(), *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False, cwd=monitoring.REPO)


def test_promtool_checks_the_rules() -> None:
    done = run_promtool("check", "rules", monitoring.RULES)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = run_promtool("test", "rules", monitoring.RULE_TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_that_fires_it_and_one_that_does_not() -> None:
    tests = yaml.safe_load(monitoring.RULE_TESTS.read_text())
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = {rule["alert"] for rule in monitoring.alert_rules()}
    assert fired == alerts
    assert quiet == alerts


def test_every_readme_alert_is_a_rule() -> None:
    readme = (monitoring.REPO / "README.md").read_text()
    block = readme.split("Alerts an operator wants (PromQL):", 1)[1].split("```promql", 1)[1]
    readme_names = [metric_names(line) for line in block.split("```", 1)[0].splitlines()
                    if line.strip() and not line.startswith("#")]
    rule_names = [metric_names(rule["expr"]) for rule in monitoring.alert_rules()]
    assert len(readme_names) == 8
    for names in readme_names:
        assert names in rule_names, f"no rule selects {sorted(names)}"


def test_every_alert_says_what_to_do() -> None:
    for rule in monitoring.alert_rules():
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule["alert"]
        assert len(annotations["description"]) > 200, rule["alert"]
        assert "speakerctl" in annotations["description"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]


def test_promtool_parses_every_dashboard_expression(tmp_path: Path) -> None:
    exprs = monitoring.dashboard_exprs(monitoring.load_dashboard())
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{i}", "expr": monitoring.for_promtool(expr)}
        for i, (_, expr) in enumerate(exprs)]}]}
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump(rules))
    done = run_promtool("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_panel_has_the_datasource_variable_a_title_and_a_unit() -> None:
    dashboard = monitoring.load_dashboard()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = list(monitoring.panels(dashboard))
    assert len(panels) >= 10
    for panel in panels:
        title = panel.get("title", "")
        assert title.strip(), panel
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["fieldConfig"]["defaults"]["unit"], title
        assert panel["targets"], title
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], title
            assert target["expr"].strip(), title
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))


def test_dashboard_shows_state_prefixes_latency_transitions_dns_rate_and_bgp() -> None:
    exprs = " ".join(e for _, e in monitoring.dashboard_exprs(monitoring.load_dashboard()))
    for name in ("speaker_service_state", "speaker_prefix_announced",
                 "speaker_check_latency_seconds_bucket", "speaker_service_transitions_total",
                 "speaker_dns_server_query_rate", "speaker_bgp_neighbor_up"):
        assert name in metric_names(exprs), name
    assert 'source="clients"' in exprs


def test_dashboard_filters_every_query_by_node() -> None:
    for where, expr in monitoring.dashboard_exprs(monitoring.load_dashboard()):
        if where.startswith("panel"):
            for selector in re.findall(r"speaker_\w+\{[^}]*\}", expr):
                assert 'instance=~"$instance"' in selector, where


def test_metric_names_leaves_out_functions_labels_and_keywords() -> None:
    expr = ('histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{x="y", z=~"$v"}'
            '[$__rate_interval]))) > 1e3 or on (service) b offset 5m unless count(c:d) > bool 2')
    assert metric_names(expr) == {"a_bucket", "b", "c:d"}
    assert metric_names('sum without (from_state) (increase(t_total[10m])) > 4') == {"t_total"}


def test_the_deb_installs_the_rules_and_the_dashboard() -> None:
    lines = [line.split() for line in monitoring.INSTALL.read_text().splitlines()]
    for path in (monitoring.RULES, monitoring.DASHBOARD):
        rel = str(path.relative_to(monitoring.REPO))
        assert [rel, "usr/share/anycast-speaker/"] in lines, rel
