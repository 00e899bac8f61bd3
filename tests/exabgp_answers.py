"""What ExaBGP answers, played to a Speaker on fakes: acks and `show neighbor summary`.

A test helper module (tests/unit/*rig.py, test_startup.py): no network, no sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from speaker.core.exabgp_api import Ack, Text

SUMMARY_HEADER = "Peer            AS        up/down state       |     #sent     #recvd"


def answer_summary(speaker: Any, rows: Sequence[str] = (), ok: bool = True) -> None:
    """Play ExaBGP's answer to `show neighbor summary`: the header, `rows`, then the ack."""
    for line in (SUMMARY_HEADER, *rows):
        speaker.on_message(Text(line))
    speaker.on_message(Ack(ok))


def ack_everything(speaker: Any, ok: bool = True) -> None:
    """Acknowledge every command written, answer the wake written after a burst
    (engine.wake), then answer the summary if it was asked."""
    while speaker.book.waiting:
        speaker.on_message(Ack(ok))
    if speaker.exabgp.waker.pending:
        speaker.on_message(Text("exabgp 4.2.21"))
        speaker.on_message(Ack(True))
    if speaker.exabgp.asking:
        answer_summary(speaker)
