"""The event sources of the engine: socket and process watches behind one object.

`ServerWatch` hands each target of a service to the watch that serves it
(speaker.adapters.sockdiag for listeners, speaker.adapters.pidfd for pid
files) and reports every detection together. It never decides about
routes and never logs; `on_gone(name, reason)` is the engine's callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from speaker.adapters.pidfd import ProcessWatch
from speaker.adapters.sockdiag import SocketWatch
from speaker.core.sockdiag import Listener
from speaker.core.watch import Detection, Process, Target


class ServerWatch:
    def __init__(self, on_gone: Callable[[str, str], None]) -> None:
        self.on_gone = on_gone
        self.sockets = SocketWatch(self._gone)
        self.processes = ProcessWatch(self._gone)

    def _gone(self, name: str, reason: str) -> None:
        self.on_gone(name, reason)

    def watch(self, name: str, targets: Sequence[Target]) -> None:
        """Watch `targets` for service `name`, replacing what it watched before."""
        self.unwatch(name)
        listeners = [t for t in targets if isinstance(t, Listener)]
        if listeners:
            self.sockets.watch(name, listeners)
        for target in targets:
            if isinstance(target, Process):
                self.processes.watch(name, target)

    def rearm(self, name: str) -> None:
        self.sockets.rearm(name)
        self.processes.rearm(name)

    def unwatch(self, name: str) -> None:
        self.sockets.unwatch(name)
        self.processes.unwatch(name)

    def report(self, name: str) -> list[Detection]:
        return self.sockets.report(name) + self.processes.report(name)

    def close(self) -> None:
        self.sockets.close()
        self.processes.close()
