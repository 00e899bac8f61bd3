"""MD5 and GTSM between a node's ExaBGP and the router's FRR, on ExaBGP 4.2 and 5.0.

One lab of one node per test. MD5: FRR's `neighbor X password`, ExaBGP's
`md5-password`: the session comes up with the same password only. GTSM: FRR's
`ttl-security hops 1` (sends hop limit 255, wants 255), ExaBGP's `outgoing-ttl
255; incoming-ttl 255;`: up; with the router sending 64 (`ebgp-multihop 64`)
ExaBGP 5.0 refuses the session, 4.2 does not (it ignores incoming-ttl, and
`speakerctl check-config` says so).
"""

from __future__ import annotations

import pytest

from tests.lab import Lab, security

from .conftest import keep_logs

GTSM = ("outgoing-ttl 255", "incoming-ttl 255")


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_md5_session_up_with_the_right_password_only(exabgp_version: str) -> None:
    """The router wants a password: no password and a wrong one keep the session down,
    the right one brings it up and the route into the FIB; check-config warns that the
    secret sits in a world-readable file."""
    lab = Lab(nodes=1, exabgp_version=exabgp_version)
    try:
        lab.up(timeout=30)
        node = lab.node(1)
        security.router(lab, node, "password s3cret")
        lab.router.time_until_gone(node.address, timeout=15)
        assert security.stays_down(lab, node, 6), "up without a password"
        security.reconfigure(node, ('md5-password "wrong"',))
        assert security.stays_down(lab, node, 8), "up with a wrong password"
        security.reconfigure(node, ('md5-password "s3cret"',))
        security.wait_session(lab, node, established=True, timeout=20)
        lab.router.time_until_back(node.address, timeout=15)
        node.exabgp_conf.chmod(0o644)
        checked = node.ctl("check-config", "--exabgp", str(node.exabgp_conf))
        assert "md5-password in a file every user can read (mode 0644)" in checked.stderr, (
            checked.stdout + checked.stderr)
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []


@pytest.mark.parametrize("exabgp_version", ["4.2", "5.0"])
def test_gtsm_up_at_hop_limit_255_and_refused_at_64_on_5_0_only(exabgp_version: str) -> None:
    """Both sides at 255: up. The router then sends 64: ExaBGP 5.0 never brings the
    session up again; 4.2 does (incoming-ttl is not enforced), and check-config warns."""
    lab = Lab(nodes=1, exabgp_version=exabgp_version)
    try:
        lab.up(timeout=30)
        node = lab.node(1)
        security.reconfigure(node, GTSM)
        security.router(lab, node, "ttl-security hops 1")
        security.wait_session(lab, node, established=True, timeout=20)
        lab.router.time_until_back(node.address, timeout=15)

        security.router(lab, node, "no ttl-security hops 1", "ebgp-multihop 64")
        if exabgp_version == "5.0":
            lab.router.time_until_gone(node.address, timeout=15)
            assert security.stays_down(lab, node, 8), "5.0 took a session at hop limit 64"
        else:
            security.wait_session(lab, node, established=True, timeout=20)
            checked = node.ctl("check-config", "--exabgp", str(node.exabgp_conf),
                               "--exabgp-version", "4.2.21")
            assert "ExaBGP 4.2 accepts incoming-ttl and does not enforce it" in checked.stderr, (
                checked.stdout + checked.stderr)
    except BaseException:
        keep_logs(lab)
        raise
    finally:
        left = lab.down()
    assert left == []
