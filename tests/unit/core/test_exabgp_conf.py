"""The ExaBGP config parser and its cross-check with the speaker's YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from speaker.core import config, exabgp_conf, exabgp_syntax
from speaker.core.exabgp_syntax import Statement, SyntaxProblem

ROOT = Path(__file__).resolve().parents[3]
YAML_PATH = "/etc/speaker/speaker.yaml"

YAML = """\
services:
  - name: dns
    prefixes: ["2001:db8::53/128"]
    checks: [{type: dns, server: "2001:db8::53", qname: example.com.}]
"""

GOOD = """\
process speaker {
    run /usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml;
    encoder json;
}
neighbor 2001:db8::1 {
    router-id 10.0.0.1;
    local-address 2001:db8::50;
    local-as 65201;
    peer-as 65101;
    hold-time 9;
    family {
        ipv6 unicast;
    }
    api {
        processes [ speaker ];
        neighbor-changes;
    }
}
"""


def check(conf: str, yaml: str = YAML, yaml_path: str = YAML_PATH,
          source: str = "/etc/speaker/speaker.conf") -> list[str]:
    cfg = config.parse(yaml, source=yaml_path)
    return [str(f) for f in exabgp_conf.cross_check(conf, source, cfg, yaml_path)]


def test_parse_builds_a_tree_of_blocks_and_statements_ignoring_comments() -> None:
    tree = exabgp_syntax.parse('# top\nprocess p {\n run "a b"; # note\n encoder json;\n}\n')
    assert tree == (Statement(("process", "p"), 2, (
        Statement(("run", "a b"), 3), Statement(("encoder", "json"), 4))),)


@pytest.mark.parametrize(("text", "line", "words"), [
    ("neighbor x {\n local-as 1;\n", 1, "never closed"),
    ("}\n", 1, "without a matching"),
    ("neighbor x {\n local-as 1\n}\n", 2, "missing ';'"),
    ("run 'open\n", 1, "unterminated"),
    ("{ x; }", 1, "without a keyword"),
])
def test_syntax_problems_carry_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(SyntaxProblem) as info:
        exabgp_syntax.parse(text)
    assert info.value.line == line and words in info.value.message


def test_a_syntax_problem_is_one_path_qualified_finding() -> None:
    assert check("neighbor x {\n") == ["/etc/speaker/speaker.conf:1: block 'neighbor x' is "
                                       "never closed"]


def test_a_good_config_has_no_findings() -> None:
    assert check(GOOD) == []


def test_the_repository_configs_agree_with_their_yaml() -> None:
    for folder in ("conf", "conf/dns-2", "conf/dns-3"):
        conf = ROOT / folder / "speaker.conf"
        if not conf.exists():
            continue
        yaml = ROOT / folder / "speaker.yaml"
        assert check(conf.read_text(), yaml.read_text(), str(yaml), str(conf)) == []


def test_the_wrapper_runs_the_yaml_next_to_it() -> None:
    conf = GOOD.replace("/usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml",
                        "./run-speaker")
    assert check(conf, source="/srv/x/speaker.conf", yaml_path="/srv/x/speaker.yaml") == []
    [finding] = check(conf, source="/srv/x/speaker.conf", yaml_path="/srv/y/speaker.yaml")
    assert "/srv/x/speaker.yaml (next to the run-speaker wrapper)" in finding


@pytest.mark.parametrize(("old", "new", "words"), [
    ("--config /etc/speaker/speaker.yaml", "--config /tmp/other.yaml",
     "runs the speaker with /tmp/other.yaml"),
    ("--config /etc/speaker/speaker.yaml", "--config speaker.yaml", "give an absolute path"),
    ("-m speaker --config /etc/speaker/speaker.yaml", "/usr/bin/healthcheck",
     "no process block runs the speaker"),
    ("    encoder json;\n", "", "no encoder; add 'encoder json;'"),
    ("encoder json", "encoder text", "encoder text"),
    ("processes [ speaker ]", "processes [ other ]", "does not name process speaker"),
    ("        neighbor-changes;\n", "", "without 'neighbor-changes;'"),
    ("ipv6 unicast", "ipv4 unicast", "family ipv6 unicast is not configured, but dns "
                                     "(2001:db8::53/128)"),
    ("local-as 65201", "local-as 65100", "local-as 65100 is outside 65200-65299"),
    ("    local-as 65201;\n", "", "no local-as"),
    ("    local-address 2001:db8::50;\n", "", "no local-address"),
    ("    router-id 10.0.0.1;\n", "", "no router-id"),
    ("    hold-time 9;\n", "    capability { graceful-restart 120; }\n    hold-time 9;\n",
     "graceful-restart must not be advertised"),
    ("hold-time 9", "hold-time 2", "hold-time 2 is invalid"),
    ("neighbor 2001:db8::1 {", "group legacy {", "ExaBGP 3 syntax"),
])
def test_each_problem_is_found_with_file_and_line(old: str, new: str, words: str) -> None:
    conf = GOOD.replace(old, new)
    assert conf != GOOD
    findings = check(conf)
    assert any(words in f for f in findings), findings
    assert all(f.startswith("/etc/speaker/speaker.conf:") for f in findings)


def test_a_local_as_is_checked_against_the_configured_range() -> None:
    yaml = YAML + "local_as_range: [64512, 64520]\n"
    [finding] = check(GOOD, yaml)
    assert "local-as 65201 is outside 64512-64520" in finding
    assert finding.startswith("/etc/speaker/speaker.conf:8: ")


@pytest.mark.parametrize(("old", "new", "words"), [
    ("    hold-time 9;\n", "", "no hold-time: with the default 180 s a node cut off"),
    ("hold-time 9", "hold-time 10", "hold-time 10 s: a node cut off without a FIN"),
    ("hold-time 9", "hold-time 90", "hold-time 90 s"),
    ("hold-time 9", "hold-time 0", "hold-time 0 disables"),
])
def test_hold_time_warnings(old: str, new: str, words: str) -> None:
    [finding] = check(GOOD.replace(old, new))
    assert ": warning: " in finding and words in finding
    assert "hold-time 0" in words or "ExaBGP has no BFD" in finding


@pytest.mark.parametrize("hold", [3, 5, 9])
def test_a_hold_time_of_3_to_9_s_is_fine(hold: int) -> None:
    assert check(GOOD.replace("hold-time 9", f"hold-time {hold}")) == []


@pytest.mark.parametrize("gr", ["    graceful-restart 120;\n",
                                "    capability { graceful-restart; }\n"])
def test_graceful_restart_is_an_error_on_its_line(gr: str) -> None:
    [finding] = check(GOOD.replace("    hold-time 9;\n", f"    hold-time 9;\n{gr}"))
    assert finding.startswith("/etc/speaker/speaker.conf:11: neighbor 2001:db8::1: "
                              "graceful-restart must not be advertised")


@pytest.mark.parametrize("value", ["false", "disable", "FALSE"])
def test_adj_rib_out_off_is_a_warning_on_its_line(value: str) -> None:
    [finding] = check(GOOD.replace("    hold-time 9;\n", f"    hold-time 9;\n"
                                                        f"    adj-rib-out {value};\n"))
    assert finding.startswith(f"/etc/speaker/speaker.conf:11: warning: neighbor 2001:db8::1: "
                              f"adj-rib-out {value}: the speaker clears")


def test_adj_rib_out_on_is_fine_and_off_in_a_template_is_found() -> None:
    assert check(GOOD.replace("    hold-time 9;\n", "    hold-time 9;\n"
                                                    "    adj-rib-out true;\n")) == []
    conf = GOOD.replace("neighbor 2001:db8::1 {", "neighbor 2001:db8::1 {\n    inherit t;")
    conf = "template {\n    neighbor t {\n        adj-rib-out false;\n    }\n}\n" + conf
    [finding] = check(conf)
    assert finding.startswith("/etc/speaker/speaker.conf:3: warning: ") and "adj-rib-out" in finding


@pytest.mark.parametrize(("routes", "kind"), [
    ("    static {\n        route 2001:db8::99/128 next-hop self;\n    }\n", "static block"),
    ("    announce {\n        ipv6 {\n            unicast 2001:db8::99/128 next-hop self;\n"
     "        }\n    }\n", "announce block"),
    ("    route 2001:db8::99/128 next-hop self;\n", "route"),
    ("    flow {\n        route x {\n            match { destination 2001:db8::99/128; }\n"
     "            then { discard; }\n        }\n    }\n", "flow block"),
])
def test_static_routes_are_a_warning_on_their_line(routes: str, kind: str) -> None:
    [finding] = check(GOOD.replace("    hold-time 9;\n", f"    hold-time 9;\n{routes}"))
    assert finding.startswith(f"/etc/speaker/speaker.conf:11: warning: neighbor 2001:db8::1: "
                              f"static routes ({kind}): the speaker's start-up clear")


def test_an_empty_static_block_is_fine() -> None:
    assert check(GOOD.replace("    hold-time 9;\n", "    hold-time 9;\n    static {\n    }\n")
                 ) == []


def test_graceful_restart_disabled_and_no_family_block_are_fine() -> None:
    conf = GOOD.replace("    family {\n        ipv6 unicast;\n    }\n",
                        "    capability { graceful-restart disable; }\n")
    assert check(conf) == []


def test_templates_are_inherited_and_processes_match_counts() -> None:
    conf = """\
process speaker { run /usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml;
                  encoder json; }
template {
    neighbor base {
        router-id 10.0.0.1; local-as 65201; hold-time 9;
        api { processes-match [ "^spea" ]; neighbor-changes; }
    }
}
neighbor 2001:db8::1 { inherit base; local-address 2001:db8::50; }
"""
    assert check(conf) == []


def test_a_quoted_run_line_is_split_like_a_shell() -> None:
    conf = GOOD.replace("run /usr/bin/python3 -m speaker --config /etc/speaker/speaker.yaml",
                        'run "python3 -m speaker --config=/etc/speaker/speaker.yaml"')
    assert check(conf) == []
