"""router_limits: the router's offering read at load and reload, its excess named for check-config."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from speaker.core import config, exabgp_conf, limits, protocol
from speaker.core.errors import ConfigError
from speaker.core.limits import RouterLimits
from tests.unit.rig import PREFIX, YAML, Rig

ROOT = Path(__file__).resolve().parents[3]
CLOUDSTACK = "router_limits: {max_prefixes: 5, min_length: 128, max_length: 128, " \
             "asn_range: [65200, 65299]}\n"


def services(count: int) -> str:
    prefixes = ", ".join(f'"2001:db8::{i + 1:x}/128"' for i in range(count))
    return ("services:\n  - name: dns\n"
            f"    prefixes: [{prefixes}]\n"
            "    allow_shorter_prefixes: true\n"
            '    checks: [{type: dns, server: "2001:db8::1", qname: example.com.}]\n')


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        config.parse(text, source="s.yaml")
    return exc.value.problems


def test_no_router_limits_means_no_prefix_limit_and_the_old_asn_range() -> None:
    cfg = config.parse(services(6))
    assert cfg.router_limits == RouterLimits()
    assert cfg.local_as_range == (65200, 65299)


def test_the_cloudstack_offering_is_read() -> None:
    cfg = config.parse(services(5) + CLOUDSTACK)
    assert cfg.router_limits == RouterLimits(5, 128, 128, (65200, 65299))


def test_a_sixth_prefix_is_no_load_error_but_named_as_the_excess() -> None:
    cfg = config.parse(services(6) + CLOUDSTACK, source="s.yaml")
    assert len(cfg.prefixes) == 6
    found = limits.excess(cfg.router_limits, cfg.prefixes)
    assert found is not None
    path, problem = found
    assert path == "/router_limits/max_prefixes"
    assert problem.startswith("the services announce 6 prefixes to every neighbour but the "
                              "router accepts 5")
    assert "maximum-prefix tears the session down" in problem
    assert "announces only the first 5 in config order" in problem
    assert "keeps 1 (2001:db8::6/128) withdrawn" in problem


def test_five_prefixes_are_within_the_limit() -> None:
    cfg = config.parse(services(5) + CLOUDSTACK)
    assert limits.excess(cfg.router_limits, cfg.prefixes) is None


def test_prefixes_are_counted_over_every_service() -> None:
    text = services(3) + ("  - name: other\n"
                          '    prefixes: ["2001:db8::a/128", "2001:db8::b/128", '
                          '"2001:db8::c/128"]\n'
                          '    checks: [{type: dns, server: "2001:db8::a", qname: x.}]\n')
    cfg = config.parse(text + CLOUDSTACK)
    found = limits.excess(cfg.router_limits, cfg.prefixes)
    assert found is not None and "announce 6 prefixes" in found[1]
    assert "(2001:db8::c/128)" in found[1]


def test_a_prefix_outside_the_length_range_is_refused_at_its_path() -> None:
    text = services(1).replace('"2001:db8::1/128"', '"2001:db8:1::/64"')
    [problem] = problems(text + CLOUDSTACK)
    assert problem == ("s.yaml: /services/0/prefixes/0: 2001:db8:1::/64 is shorter than the "
                       "router accepts (min_length 128 in /router_limits)")


def test_lengths_bound_ipv6_only() -> None:
    text = ("services:\n  - name: v4\n    prefixes: [192.0.2.53/32]\n"
            "    checks: [{type: dns, server: 192.0.2.53, qname: example.com.}]\n")
    assert config.parse(text + CLOUDSTACK).services[0].prefixes


@pytest.mark.parametrize(("block", "words"), [
    ("{max_prefixes: 0}", "/router_limits/max_prefixes: must be >= 1"),
    ("{min_length: 129}", "/router_limits/min_length: must be <= 128"),
    ("{min_length: 128, max_length: 64}", "/router_limits/min_length: must be <= max_length (64)"),
    ("{asn_range: [65300, 65200]}", "/router_limits/asn_range: must be [low, high]"),
    ("{max_prefix: 5}", "/router_limits/max_prefix"),
    ("5", "/router_limits: must be a mapping"),
])
def test_bad_limits_are_refused_with_their_path(block: str, words: str) -> None:
    found = problems(services(1) + f"router_limits: {block}\n")
    assert any(words in p for p in found), found


def test_local_as_range_still_works_and_is_the_asn_range() -> None:
    cfg = config.parse(services(1) + "local_as_range: [64512, 64520]\n")
    assert cfg.router_limits.asn_range == cfg.local_as_range == (64512, 64520)


def test_local_as_range_and_router_limits_together_are_refused() -> None:
    found = problems(services(1) + "local_as_range: [64512, 64520]\n" + CLOUDSTACK)
    assert found == ["s.yaml: /local_as_range: is router_limits/asn_range now: move it there "
                     "(both are set)"]


def test_check_config_checks_local_as_against_the_asn_range() -> None:
    conf = (ROOT / "conf" / "speaker.conf").read_text()
    yaml_path = "/etc/speaker/speaker.yaml"
    cfg = config.parse(services(1) + "router_limits: {asn_range: [64512, 64520]}\n")
    found = [str(f) for f in exabgp_conf.cross_check(conf, "/etc/speaker/speaker.conf", cfg,
                                                    yaml_path, same=lambda a, b: True)]
    assert any("is outside 64512-64520 (router_limits/asn_range in /etc/speaker/speaker.yaml)"
               in f for f in found), found


@pytest.mark.parametrize("name", ["conf/speaker.yaml", "packaging/etc/speaker.yaml"])
def test_the_shipped_configs_carry_the_cloudstack_offering(name: str) -> None:
    cfg = config.load(ROOT / name)
    assert cfg.router_limits == RouterLimits(5, 128, 128, (65200, 65299))


def test_a_reload_beyond_max_prefixes_is_taken_and_names_the_excess(folder: Path) -> None:
    """The config is swapped in (the run-time budget keeps the router within its limit);
    the reply lists the prefixes beyond max_prefixes."""
    limits_text = "router_limits: {max_prefixes: 2}\n"
    text = YAML.format(folder=folder, prefix=PREFIX) + limits_text

    async def main() -> None:
        rig = Rig(folder, text)
        await rig.start()
        try:
            rig.path.write_text(text.replace('"2001:db8::54/128"',
                                             '"2001:db8::54/128", "2001:db8::55/128"'))
            reader, writer = await asyncio.open_unix_connection(rig.socket)
            writer.write(protocol.encode_request(protocol.Request("reload", {})))
            await writer.drain()
            reply = json.loads((await reader.read()).splitlines()[0])
            writer.close()
            assert reply["ok"], reply
            assert reply["result"]["over_max_prefixes"] == ["2001:db8::55/128"]
            assert [str(p) for p in rig.speaker.config.prefixes] == [
                PREFIX, "2001:db8::54/128", "2001:db8::55/128"]
        finally:
            await rig.server.stop()

    asyncio.run(asyncio.wait_for(main(), 10))
