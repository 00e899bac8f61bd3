"""How a `withdraw --graceful` client is told its drain ended when something else ended it:
another withdraw (another tag, or a plain one), the service going down, a reload that
removes the service. Each is told as it happened, never as a drain that ran its course."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

from speaker.core import config
from tests.unit.draining import auto_ack, draining, fail_until_down
from tests.unit.rig import PREFIX, YAML, Rig, ask, run


def progress(lines: list[dict[str, Any]]) -> str:
    return "\n".join(line["progress"] for line in lines if "progress" in line)


def test_a_withdraw_with_another_tag_cuts_the_drain_short_and_says_so(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60)
        rig.clock.advance(12)
        other = await ask(rig, "withdraw", services=["dns"], tag="dns-restart")
        assert other[-1]["ok"] and rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        lines = await answer
        told = progress(lines)
        assert "graceful drain over" not in told
        assert ("dns: graceful drain cut short after 12 s of 60 s: withdrawn at once "
                "(a withdraw with tag 'dns-restart')") in told
        assert lines[-1]["ok"] and lines[-1]["result"]["drain"] == {"dns": "cut-short"}

    run(folder, scenario)


def test_a_plain_withdraw_with_the_same_tag_cuts_the_drain_short_too(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60)
        await ask(rig, "withdraw", services=["dns"])
        told = progress(await answer)
        assert "cut short after 0 s of 60 s: withdrawn at once (a withdraw with tag " \
               "'operator')" in told

    run(folder, scenario)


def test_a_drain_that_ran_its_course_says_so(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60)
        rig.clock.advance(60)
        assert rig.speaker.drains.due() == ["dns"]
        lines = await answer
        assert "dns: graceful drain over (60 s): withdrawing" in progress(lines)
        assert lines[-1]["result"]["drain"] == {"dns": "withdrawn"}

    run(folder, scenario)


def test_a_service_down_during_the_drain_is_told_as_down_not_drained(folder: Path) -> None:
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        auto_ack(rig)
        answer = await draining(rig, 60)
        await fail_until_down(rig)
        told = progress(await answer)
        assert "graceful drain over" not in told
        assert "withdrawn at once (the service went down)" in told

    run(folder, scenario)


def test_a_reload_that_removes_the_draining_service_answers_clearly(folder: Path) -> None:
    """The waiting client gets no unknown-service error; the removed routes are withdrawn
    (the reload dropped them) and the drain's end withdraws nothing more."""
    async def scenario(rig: Rig) -> None:
        await rig.bring_up()
        await rig.bring_up("other")
        auto_ack(rig)
        answer = await draining(rig, 60)
        text = YAML.format(folder=rig.path.parent, prefix=PREFIX)
        rig.path.write_text(text[:text.index("  - name: dns")]
                            + text[text.index("  - name: other"):])
        summary = rig.speaker.reload(config.load(rig.path))
        assert summary["removed"] == ["dns"]
        lines = await asyncio.wait_for(answer, 5)
        assert lines[-1]["ok"], lines[-1]
        assert ("dns: service dns was removed by a reload during the drain; its routes were "
                "withdrawn") in progress(lines)
        assert lines[-1]["result"]["drain"] == {"dns": "removed"}
        assert lines[-1]["result"]["services"] == []
        assert rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")
        assert not rig.speaker.book.desired(ipaddress.ip_network(PREFIX))
        assert rig.speaker.drains.get("dns") is None
        rig.clock.advance(60)
        assert rig.speaker.drains.due() == []

    run(folder, scenario)
