"""The start-up line about event detection: a server not listening yet is no warning."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from speaker import daemon
from speaker.core.watch import Detection


def _speaker(*found: Detection) -> SimpleNamespace:
    return SimpleNamespace(runs={"dns": None},
                           server_events=SimpleNamespace(report=lambda name: list(found)))


def test_a_socket_nothing_listens_on_yet_is_logged_as_info_not_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="speaker")
    daemon._log_detection(_speaker(  # type: ignore[arg-type]
        Detection("socket", "udp [::1]:53", True, "1 listening socket"),
        Detection("socket", "udp [fd00::100]:53", False, "nothing listens there yet",
                  pending=True)))
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO]
    assert "waits for the server to listen" in caplog.records[0].getMessage()


def test_a_source_that_cannot_be_set_up_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="speaker")
    daemon._log_detection(_speaker(  # type: ignore[arg-type]
        Detection("socket", "udp [::1]:53", False, "needs CAP_NET_ADMIN")))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert caplog.records[0].__dict__["fields"]["reason"] == "needs CAP_NET_ADMIN"
