"""The lab's idea of a live process: a zombie thread-group leader whose other threads
still run is alive (it still holds its sockets), for our own children and for others."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
import time

import pytest

from tests.lab.procs import Proc
from tests.lab.system import alive, start_time, state

SYS_EXIT = {"x86_64": 60, "aarch64": 93}  # exit(2): ends the calling thread only

# The main thread ends at once; a second thread holds a listening socket for 1.5 s.
CHILD = """
import ctypes, socket, sys, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
threading.Thread(target=time.sleep, args=(1.5,)).start()
print(s.getsockname()[1], flush=True)
ctypes.CDLL(None).syscall(int(sys.argv[1]), 0)
"""


@pytest.mark.skipif(platform.machine() not in SYS_EXIT, reason="exit(2) number unknown here")
def test_a_zombie_leader_with_a_running_thread_is_alive_until_its_last_thread_ends() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(SYS_EXIT[platform.machine()])],
                             stdout=subprocess.PIPE)
    started = start_time(child.pid)
    assert started is not None
    assert child.stdout is not None
    port = int(child.stdout.readline())  # bound and listening; the main thread exits now
    deadline = time.monotonic() + 1.0
    while state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state(child.pid) == "Z", "the main thread did not exit"
    proc = Proc("test/child", child.pid, started, ["python3"], child)
    assert proc.alive and alive(child.pid, started), "its second thread still runs"
    with socket.create_connection(("127.0.0.1", port), timeout=1.0):
        pass  # its socket still listens
    deadline = time.monotonic() + 5.0
    while proc.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not proc.alive, "gone once the last thread ended"
    assert child.returncode == 0
