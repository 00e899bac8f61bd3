"""speakerctl withdraw --graceful when a reload removes the service mid-drain: the client
says what happened and never suggests `speakerctl announce` with no service (all of them)."""

from __future__ import annotations

import asyncio
import threading

from speaker.core import config
from speaker.core.gshut import GRACEFUL_SHUTDOWN
from tests.unit.cli.served import Run, Served, cli
from tests.unit.rig import PREFIX, YAML


def test_a_service_removed_mid_drain_is_told_and_nothing_is_left_to_announce(
        served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    rig = served.rig

    async def remove_once_draining() -> None:
        while f"community [{GRACEFUL_SHUTDOWN}]" not in rig.sink.lines[-1] or rig.speaker.book.waiting:
            await asyncio.sleep(0.001)
        text = YAML.format(folder=served.folder, prefix=PREFIX)
        rig.path.write_text(text[:text.index("  - name: dns")]
                            + text[text.index("  - name: other"):])
        rig.speaker.reload(config.load(rig.path))

    remover = threading.Thread(target=served.call, args=(remove_once_draining,))
    remover.start()
    code, out, err = run(*cli(served.folder, "withdraw", "--graceful", "60", "dns"))
    remover.join(5)
    assert code == 0, err
    assert "service dns was removed by a reload during the drain; its routes were withdrawn" \
        in out
    assert "speakerctl announce" not in out
    assert out.splitlines()[-1] == "withdrawn: dns removed by a reload, nothing to announce " \
                                   "afterwards"
