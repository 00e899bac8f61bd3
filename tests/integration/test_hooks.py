"""The hook runner with real child processes: output, exit codes, timeouts, one at a time."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import pytest

from speaker.adapters import hooks
from speaker.core.hooks import Transition

pytestmark = pytest.mark.integration
DOWN = Transition("dns", "up", "down", "dns check: timeout", ("2001:db8::53/128",))
PY = sys.executable


def fields(caplog: pytest.LogCaptureFixture, message: str) -> list[dict[str, object]]:
    return [getattr(r, "fields", {}) for r in caplog.records if r.getMessage() == message]


async def settle(runner: hooks.Runner, seconds: float = 10.0) -> None:
    """Wait for every queued hook to finish (the runner's own workers)."""
    deadline = time.monotonic() + seconds
    while any(not w.done() for w in runner._workers.values()):
        assert time.monotonic() < deadline, "hooks still running"
        await asyncio.sleep(0.02)


def run(coro_steps: list[tuple[tuple[tuple[str, ...], ...], float, Transition]],
        results: list[tuple[str, str]] | None = None, grace: float | None = None) -> hooks.Runner:
    async def main() -> hooks.Runner:
        runner = hooks.Runner(lambda s, r: (results if results is not None else []).append((s, r)))
        for argv, timeout, transition in coro_steps:
            runner.run(argv, timeout, transition)
        if grace is None:
            await settle(runner)
        else:
            while not runner._children:  # started
                await asyncio.sleep(0.02)
            await runner.stop(grace)
        return runner

    return asyncio.run(main())


def test_a_hook_gets_the_transition_in_its_environment_and_its_output_is_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "speaker")
    script = ("import os; print(' '.join(os.environ[k] for k in ('SPEAKER_SERVICE', "
              "'SPEAKER_OLD', 'SPEAKER_NEW', 'SPEAKER_PREFIXES'))); "
              "print(os.environ['SPEAKER_REASON'])")
    results: list[tuple[str, str]] = []
    run([(((PY, "-c", script),), 5.0, DOWN)], results)
    assert [f["line"] for f in fields(caplog, "hook output")] == [
        "dns up down 2001:db8::53/128", "dns check: timeout"]
    assert fields(caplog, "hook done")[0]["exit_code"] == 0
    assert results == [("dns", "ok")]


def test_a_failing_hook_is_logged_with_its_exit_code_and_counted(
        caplog: pytest.LogCaptureFixture) -> None:
    results: list[tuple[str, str]] = []
    run([(((PY, "-c", "import sys; print('no route'); sys.exit(3)"),), 5.0, DOWN)], results)
    failed = fields(caplog, "hook failed")
    assert [(f["exit_code"], f["service"], f["new"]) for f in failed] == [(3, "dns", "down")]
    assert results == [("dns", "failed")]


def test_a_hook_that_hangs_is_killed_with_what_it_started_at_its_timeout(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pid_file = tmp_path / "child.pid"
    # the hook starts a grandchild that holds the output pipe open, then hangs
    script = (f"import subprocess, time; p = subprocess.Popen(['sleep', '60']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    results: list[tuple[str, str]] = []
    start = time.monotonic()
    run([(((PY, "-c", script),), 0.5, DOWN)], results)
    assert time.monotonic() - start < 5
    assert results == [("dns", "timeout")]
    assert fields(caplog, "hook timed out: killed")[0]["timeout"] == 0.5
    grandchild = int(pid_file.read_text())
    assert not Path(f"/proc/{grandchild}").exists() or "Z" in Path(
        f"/proc/{grandchild}/stat").read_text().split()[2]


def test_a_hook_that_cannot_start_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    results: list[tuple[str, str]] = []
    run([((("/nonexistent/hook",),), 5.0, DOWN)], results)
    assert results == [("dns", "error")]
    assert "No such file" in str(fields(caplog, "hook could not start")[0]["error"])


def test_hooks_of_one_service_never_run_two_at_once_and_keep_their_order(tmp_path: Path) -> None:
    log = tmp_path / "log"
    script = ("import os, sys, time; f = open(sys.argv[1], 'a'); "
              "f.write('start ' + os.environ['SPEAKER_NEW'] + '\\n'); f.flush(); "
              "time.sleep(0.2); f.write('end ' + os.environ['SPEAKER_NEW'] + '\\n')")
    argv = ((PY, "-c", script, str(log)),)
    up = Transition("dns", "down", "up", "ok", ())
    run([(argv, 5.0, DOWN), (argv, 5.0, up), (argv, 5.0, DOWN)])
    assert log.read_text().split("\n")[:-1] == [
        "start down", "end down", "start up", "end up", "start down", "end down"]


def test_hooks_of_different_services_run_side_by_side() -> None:
    argv = ((PY, "-c", "import time; time.sleep(0.6)"),)
    other = Transition("ntp", "up", "down", "timeout", ())
    start = time.monotonic()
    run([(argv, 5.0, DOWN), (argv, 5.0, other)])
    assert time.monotonic() - start < 1.1


def test_run_returns_at_once_while_the_hook_runs() -> None:
    async def main() -> float:
        runner = hooks.Runner()
        start = time.monotonic()
        runner.run(((PY, "-c", "import time; time.sleep(1)"),), 5.0, DOWN)
        took = time.monotonic() - start
        await runner.stop(0.0)
        return took

    assert asyncio.run(main()) < 0.05


def test_stopping_kills_a_hook_still_running_after_the_grace(
        caplog: pytest.LogCaptureFixture) -> None:
    start = time.monotonic()
    run([(((PY, "-c", "import time; time.sleep(60)"),), 30.0, DOWN)], grace=0.3)
    assert time.monotonic() - start < 5
    assert fields(caplog, "hook killed: the speaker is stopping")


HOOK_SCRIPT = """#!/bin/sh
# a state-change hook: note what it was told, one file per transition
{{ echo "$SPEAKER_SERVICE $SPEAKER_OLD $SPEAKER_NEW $SPEAKER_PREFIXES"; echo "$SPEAKER_REASON"; }} \\
    > "{folder}/$SPEAKER_NEW"
echo "hook saw $SPEAKER_NEW"
"""


def test_a_running_speaker_runs_a_real_script_on_its_transitions(tmp_path: Path) -> None:
    from tests.integration.running import Running

    seen = tmp_path / "seen"
    seen.mkdir()
    script = tmp_path / "hook.sh"
    script.write_text(HOOK_SCRIPT.format(folder=seen))
    script.chmod(0o755)
    speaker = Running(tmp_path, {"hooks": {"change": [[str(script)]], "timeout": 5}})
    try:
        speaker.wait_until(lambda: (seen / "up").exists())
        assert (seen / "up").read_text().split("\n")[0] == "dns starting up 2001:db8::53/128"
        done = speaker.ctl("withdraw", "--reason", "kernel upgrade", "--drain-delay", "0")
        assert done.returncode == 0, done.stderr
        speaker.wait_until(lambda: (seen / "maintenance").exists())
        assert (seen / "maintenance").read_text().split("\n")[:2] == [
            "dns up maintenance 2001:db8::53/128", "speakerctl withdraw: kernel upgrade"]
        assert any(c.startswith("withdraw route 2001:db8::53/128") for c in speaker.commands)
        speaker.wait_until(lambda: 'speaker_hook_runs_total{result="ok",service="dns"} 2.0'
                           in speaker.exposition())
    finally:
        speaker.close()
