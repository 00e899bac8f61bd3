"""Runs the state-change hooks: child processes, without a shell, in the background.

Owns `Runner`, the `speaker.ports.HookRunner` of the daemon. Each command is
an argv list started with `asyncio.create_subprocess_exec` in its own process
group, with the speaker's environment plus the `SPEAKER_*` variables of the
transition, stdin from /dev/null and stdout and stderr captured and logged
(never on the speaker's stdout, which belongs to ExaBGP). A command that
outlives its timeout is killed with its process group. The hooks of one
service run one at a time, in the order of their transitions; those of
different services run side by side. Must not decide which hooks run (the
engine and `speaker.core.hooks` do) and never raises into its caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from speaker import logs
from speaker.core.hooks import Argv, Transition

LOG = logs.get("hooks")
OUTPUT_LINES = 20  # lines of a hook's output logged; the rest are counted
OUTPUT_BYTES = 64 * 1024  # bytes of a hook's output read; the rest are discarded
PENDING = 100  # queued hook runs per service before the oldest are dropped
KILL_GRACE = 1.0  # seconds between SIGTERM and SIGKILL of a timed-out hook


@dataclass(frozen=True)
class _Job:
    commands: tuple[Argv, ...]
    timeout: float
    transition: Transition


class Runner:
    """Runs hook commands as child processes; `on_result(service, result)` counts them."""

    def __init__(self, on_result: Callable[[str, str], None] = lambda service, result: None
                 ) -> None:
        self.on_result = on_result
        self._queues: dict[str, deque[_Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._children: set[asyncio.subprocess.Process] = set()

    def run(self, commands: Sequence[Argv], timeout: float, transition: Transition) -> None:
        if not commands:
            return
        try:
            self._enqueue(_Job(tuple(commands), timeout, transition))
        except Exception as exc:  # never into the engine: a hook must not stop a withdraw
            logs.log(LOG, logging.ERROR, "hook not started", service=transition.service,
                     error=repr(exc))

    def _enqueue(self, job: _Job) -> None:
        service = job.transition.service
        queue = self._queues.setdefault(service, deque())
        if len(queue) >= PENDING:
            dropped = queue.popleft()
            logs.log(LOG, logging.WARNING, "hooks dropped: too many transitions waiting",
                     service=service, old=dropped.transition.old, new=dropped.transition.new)
            for _ in dropped.commands:
                self.on_result(service, "error")
        queue.append(job)
        worker = self._workers.get(service)
        if worker is None or worker.done():
            self._workers[service] = asyncio.get_running_loop().create_task(
                self._work(service, queue), name=f"hooks {service}")

    async def _work(self, service: str, queue: deque[_Job]) -> None:
        while queue:
            job = queue.popleft()
            for argv in job.commands:
                result = await self._one(argv, job.timeout, job.transition)
                self.on_result(service, result)

    async def _one(self, argv: Argv, timeout: float, transition: Transition) -> str:
        """Run one command to its end or its timeout; the result counted for it."""
        fields = {"service": transition.service, "old": transition.old, "new": transition.new,
                  "hook": argv[0]}
        try:
            child = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env={**os.environ, **transition.environment()},
                start_new_session=True)
        except (OSError, ValueError) as exc:
            logs.log(LOG, logging.ERROR, "hook could not start", **fields, error=exc)
            return "error"
        self._children.add(child)
        try:
            output, timed_out = await self._collect(child, timeout)
        finally:
            self._children.discard(child)
        self._log_output(output, fields)
        if timed_out:
            logs.log(LOG, logging.ERROR, "hook timed out: killed", **fields, timeout=timeout)
            return "timeout"
        code = child.returncode
        if code != 0:
            logs.log(LOG, logging.WARNING, "hook failed", **fields, exit_code=code)
            return "failed"
        logs.log(LOG, logging.INFO, "hook done", **fields, exit_code=0)
        return "ok"

    async def _collect(self, child: asyncio.subprocess.Process, timeout: float
                       ) -> tuple[bytes, bool]:
        """The child's output and whether it had to be killed; the child has exited."""
        assert child.stdout is not None
        chunks: list[bytes] = []
        size = 0

        async def read() -> None:
            nonlocal size
            assert child.stdout is not None
            while chunk := await child.stdout.read(4096):
                if size < OUTPUT_BYTES:
                    chunks.append(chunk[:OUTPUT_BYTES - size])
                size += len(chunk)
            await child.wait()

        timed_out = False
        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            timed_out = True
            await _kill(child)
        return b"".join(chunks), timed_out

    @staticmethod
    def _log_output(output: bytes, fields: dict[str, str]) -> None:
        lines = output.decode("utf-8", "replace").splitlines()
        for line in lines[:OUTPUT_LINES]:
            logs.log(LOG, logging.INFO, "hook output", **fields, line=line)
        if len(lines) > OUTPUT_LINES:
            logs.log(LOG, logging.INFO, "hook output truncated", **fields,
                     lines_not_logged=len(lines) - OUTPUT_LINES)

    async def stop(self, grace: float) -> None:
        """Let running hooks finish for up to `grace` seconds, then kill them; drop the rest."""
        for queue in self._queues.values():
            queue.clear()
        workers = [w for w in self._workers.values() if not w.done()]
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=grace)
            for child in list(self._children):
                logs.log(LOG, logging.WARNING, "hook killed: the speaker is stopping",
                         pid=child.pid)
                await _kill(child)
            for worker in pending:
                worker.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


async def _kill(child: asyncio.subprocess.Process) -> None:
    """End `child` and its process group (start_new_session made it the leader):
    SIGTERM, then SIGKILL if the child is still there after `KILL_GRACE`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)  # also what it started and left holding the output
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(child.wait(), KILL_GRACE)
        if child.returncode is not None:
            return
