"""`speakerctl doctor` and `status` say which event detection is active, and why not."""

from __future__ import annotations

from typing import Any

from speaker.cli import doctor
from speaker.cli.doctor import Verdict
from speaker.cli.render import render_status


def status(*detection: dict[str, Any]) -> dict[str, Any]:
    service = {"name": "dns", "state": "up", "health": "up", "since": 0.0, "reason": "ok",
               "passes": 3, "fails": 0, "rise": 3, "fall": 2, "maintenance": None,
               "held_down_for": 0, "flap_holds": 0, "address_present": True, "checks": [],
               "prefixes": [], "detection": list(detection)}
    return {"version": "x", "pid": 1, "started": 0.0, "uptime": 1.0, "config": "c",
            "services": [service], "neighbors": [], "dns_server": None,
            "exabgp": {"acks_done": 0, "acks_error": 0, "acks_unexpected": 0, "waiting": 0,
                       "ignored_lines": 0}}


SOCKET_OK = {"kind": "socket", "target": "udp [::1]:53", "active": True,
             "detail": "4 listening sockets"}
NO_CAP = {"kind": "socket", "target": "udp [::1]:53", "active": False,
          "detail": "sock_diag netlink unavailable: permission denied (needs CAP_NET_ADMIN)"}
NO_PID = {"kind": "process", "target": "pid file /run/named/named.pid", "active": False,
          "detail": "/run/named/named.pid does not exist (server not running?)"}


def test_doctor_is_ok_when_every_source_is_watched() -> None:
    (found,) = doctor.judge_events(status(SOCKET_OK))
    assert found.verdict is Verdict.OK and "1 server socket(s)/process(es) watched" in found.detail


def test_doctor_warns_for_each_source_not_watched_with_the_fix() -> None:
    cap, pid = doctor.judge_events(status(NO_CAP, NO_PID))
    assert (cap.verdict, pid.verdict) == (Verdict.WARN, Verdict.WARN)
    assert "needs CAP_NET_ADMIN" in cap.detail and "CAP_NET_ADMIN" in cap.fix
    assert "start the DNS server" in pid.fix


def test_doctor_says_when_detection_is_off_and_skips_without_a_process() -> None:
    (off,) = doctor.judge_events(status())
    assert off.verdict is Verdict.OK and "probes alone" in off.detail
    (skip,) = doctor.judge_events(None)
    assert skip.verdict is Verdict.SKIP


def test_status_lists_each_event_source_under_its_service() -> None:
    text = "\n".join(render_status(status(SOCKET_OK, NO_PID), now=10.0))
    assert "event socket" in text and "watched: 4 listening sockets" in text
    assert "not watched: /run/named/named.pid does not exist" in text
