"""speakerctl against a served Speaker: withdraw, announce and resume (maintenance).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from speaker.adapters import control
from speaker.adapters.state import ALL, Maintenance, MaintenanceStore
from tests.unit.cli.served import Run, Served, cli
from tests.unit.rig import PREFIX


def test_withdraw_prints_progress_then_safe_and_persists(served: Served, run: Run) -> None:
    served.call(served.rig.bring_up)
    code, out, _ = run(*cli(served.folder, "withdraw", "dns", "--reason", "named upgrade"))
    assert code == 0
    lines = out.splitlines()
    assert "maintenance recorded" in lines[0] and "acknowledged by ExaBGP" in lines[1]
    assert "safe to stop the DNS server" in lines[-1]
    assert served.rig.store.load()["dns"][0].reason == "named upgrade"
    assert served.rig.sink.lines[-1].startswith(f"withdraw route {PREFIX}")


def test_withdraw_json_prints_the_result_and_progress_on_stderr(
        served: Served, run: Run) -> None:
    code, out, err = run(*cli(served.folder, "--json", "withdraw", "--drain-delay", "0"))
    assert code == 0 and json.loads(out)["safe"] is True and "maintenance recorded" in err


def test_withdraw_not_acknowledged_exits_75(
        folder: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(control, "SETTLE_TIMEOUT", 0.0)
    served = Served(folder, auto_ack=False)
    try:
        served.call(served.rig.bring_up)
        code, _, err = run(*cli(folder, "withdraw"))
    finally:
        served.stop()
    assert code == 75 and "do not stop the DNS server" in err
    assert set(MaintenanceStore(folder / "state").load()) == {"dns", "other"}


def test_withdraw_unknown_service_exits_67(served: Served, run: Run) -> None:
    code, _, err = run(*cli(served.folder, "withdraw", "nope"))
    assert code == 67 and "configured: dns, other" in err
    assert served.rig.speaker.maintenance == {}


def test_announce_and_resume_end_maintenance(served: Served, run: Run) -> None:
    run(*cli(served.folder, "withdraw"))
    code, out, _ = run(*cli(served.folder, "announce", "dns"))
    assert code == 0 and "dns: maintenance ended" in out and "2 times" in out
    code, out, _ = run(*cli(served.folder, "--json", "resume"))
    assert code == 0 and json.loads(out)["services"] == ["dns", "other"]
    assert served.rig.store.load() == {}


def test_announce_of_one_service_keeps_the_others_in_all_services_maintenance(
        served: Served, run: Run) -> None:
    everything = {ALL: (Maintenance("everything", 1.0, "root"),)}

    def load_all() -> None:  # as a start with a file that has an all-services entry
        served.rig.store.save(everything)
        served.rig.speaker.maint.entries = dict(everything)

    served.call(load_all)
    code, _, _ = run(*cli(served.folder, "announce", "dns"))
    assert code == 0 and served.rig.store.load() == {"other": everything[ALL]}
    assert served.rig.speaker.in_maintenance("other") == everything[ALL][0]
    assert served.rig.speaker.in_maintenance("dns") is None
