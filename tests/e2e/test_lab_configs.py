"""The files the lab generates are accepted by the real tools, offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.lab import render
from tests.lab.lab import EXABGP, REPO, base_env, exabgp_env
from tests.lab.servers import SERVERS
from tests.lab.topology import build

TOPO = build("00000", 3)


def write_node(tmp_path: Path) -> Path:
    node = TOPO.node(1)
    (tmp_path / "named.conf").write_text(render.named_conf(node, tmp_path))
    (tmp_path / "db.example.com").write_text(render.zone_file(TOPO))
    wrapper = tmp_path / "run-speaker"
    wrapper.write_text(render.run_script(REPO, tmp_path / "speaker.yaml"))
    wrapper.chmod(0o755)
    (tmp_path / "exabgp.conf").write_text(render.exabgp_conf(TOPO, node, wrapper))
    (tmp_path / "speaker.yaml").write_text(
        render.speaker_yaml(TOPO, node, tmp_path / "speaker.sock", tmp_path / "state"))
    return tmp_path


def test_named_conf_and_zone_load(tmp_path: Path) -> None:
    """named-checkconf -z accepts the node's named.conf and loads its zone."""
    write_node(tmp_path)
    proc = subprocess.run(["named-checkconf", "-z", str(tmp_path / "named.conf")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_broken_zone_does_not_load(tmp_path: Path) -> None:
    """The zone the lab writes to make named SERVFAIL really fails to load."""
    (tmp_path / "db").write_text(render.zone_file(TOPO, broken=True))
    proc = subprocess.run(["named-checkzone", "example.com", str(tmp_path / "db")],
                          capture_output=True, text=True, check=False)
    assert proc.returncode != 0


def test_speaker_yaml_is_valid() -> None:
    """The speaker accepts the YAML the lab generates for a node."""
    from speaker.core import config

    node = TOPO.node(2)
    cfg = config.parse(render.speaker_yaml(TOPO, node, Path("/run/x/speaker.sock"),
                                           Path("/run/x/state")))
    assert [str(p) for p in cfg.prefixes] == ["fd00:10:1::100/128"]


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_exabgp_accepts_the_node_config(tmp_path: Path, exabgp_version: str) -> None:
    """ExaBGP's own config check passes on the generated node config."""
    write_node(tmp_path)
    binary = EXABGP[exabgp_version]
    argv = ([str(binary), "--test"] if exabgp_version == "4.2"
            else [str(binary), "validate"]) + [str(tmp_path / "exabgp.conf")]
    env = base_env()
    env.update(exabgp_env())
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_router_config_is_accepted_by_vtysh_dryrun(tmp_path: Path) -> None:
    """vtysh --dryrun parses the router's bgpd config without errors."""
    (tmp_path / "bgpd.conf").write_text(render.bgpd_conf(TOPO))
    proc = subprocess.run(["vtysh", "--dryrun", "-f", str(tmp_path / "bgpd.conf")],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and "error" not in (proc.stdout + proc.stderr).lower(), (
        proc.stdout + proc.stderr)


def test_pdns_conf_and_zone_load(tmp_path: Path) -> None:
    """pdnsutil check-zone, on the node's pdns.conf (bind backend), loads the zone cleanly;
    the zone written to make PowerDNS SERVFAIL is rejected."""
    pdns = SERVERS["pdns"]
    pdns.write_configs(TOPO, TOPO.node(1), tmp_path)
    argv = ["pdnsutil", f"--config-dir={tmp_path}", "check-zone", "example.com"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and "0 errors" in proc.stdout, proc.stdout + proc.stderr
    assert (tmp_path / "pdns-api.key").stat().st_mode & 0o077 == 0
    pdns.write_configs(TOPO, TOPO.node(1), tmp_path, zone_mode="servfail")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0 and "not loaded" in proc.stdout + proc.stderr


def test_pdns_speaker_yaml_is_valid(tmp_path: Path) -> None:
    """The speaker accepts the YAML the lab generates for a PowerDNS node."""
    from speaker.core import config

    node = TOPO.node(1)
    cfg = config.parse(render.speaker_yaml(TOPO, node, tmp_path / "speaker.sock",
                                           tmp_path / "state",
                                           statistics=SERVERS["pdns"].statistics(tmp_path)))
    assert cfg.dns_statistics is not None and cfg.dns_statistics.kind == "powerdns"
    assert cfg.dns_statistics.api_key_file == tmp_path / "pdns-api.key"
