"""The forked watchdog's protocol: it learns its timeout from the speaker's first line."""

from __future__ import annotations

import os
import time

from speaker.adapters import watchdog


def lines(fd: int) -> list[str]:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536).decode().splitlines()
    except BlockingIOError:
        return []


def test_adopt_sends_the_timeout_then_what_may_be_announced() -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    dog = watchdog.Handle(out_fd=1, timeout=2.0)
    dog.update(["2001:db8::53/128"], [])  # known before adopting: sent with the set
    dog.adopt((pid, write_fd))
    assert lines(read_fd) == ["timeout 2.0", "add 2001:db8::53/128"]
    assert dog.restarts == 0
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    assert dog.alive() is False  # reaped now: housekeeping starts a fresh one
    dog.bye()
    os.close(read_fd)


def test_without_a_timeout_it_waits_and_withdraws_when_the_speaker_is_gone() -> None:
    beat_r, beat_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(beat_w, b"add 2001:db8::53/128 192.0.2.53/32\nremove 192.0.2.53/32\n")
    os.close(beat_w)  # the speaker died before it sent its timeout
    assert watchdog.watch(os.getpid(), beat_r, out_w, None) == 0
    assert lines(out_r) == ["withdraw route 2001:db8::53/128 next-hop self"]
    for fd in (beat_r, out_r, out_w):
        os.close(fd)


def test_a_goodbye_after_the_timeout_line_is_quiet() -> None:
    beat_r, beat_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(beat_w, b"timeout 5.0\nadd 2001:db8::53/128\nbeat\nbye\n")
    assert watchdog.watch(os.getpid(), beat_r, out_w, None) == 0
    assert lines(out_r) == []
    for fd in (beat_r, beat_w, out_r, out_w):
        os.close(fd)


def test_runs_that_announce_nothing_fork_no_watchdog() -> None:
    assert watchdog.fork_early(["--config", "x.yaml", "--check"]) is None
    assert watchdog.fork_early(["--version"]) is None


def test_many_withdraws_go_out_in_groups_so_that_each_read_wakes_exabgp() -> None:
    count = 2 * watchdog.PACE + 1
    read_fd, write_fd = os.pipe()
    try:
        t0 = time.monotonic()
        sent = watchdog._withdraw(write_fd, [f"2001:db8::{i:x}/128" for i in range(count)],
                                  t0 + 1.0)
        took = time.monotonic() - t0
        lines = os.read(read_fd, 65536).decode().splitlines()
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert sent == count and len(lines) == count + 1
    assert lines[0] == "withdraw route 2001:db8::0/128 next-hop self"
    assert lines[-1] == "version"  # ExaBGP woken once more after the last group
    assert took >= 2 * watchdog.PAUSE  # two pauses: after the first and the second group


def test_the_pauses_never_outlast_the_deadline() -> None:
    read_fd, write_fd = os.pipe()
    try:
        t0 = time.monotonic()
        sent = watchdog._withdraw(write_fd, [f"2001:db8::{i:x}/128" for i in range(1000)],
                                  t0 + 0.01)
        took = time.monotonic() - t0
    finally:
        os.close(read_fd)
        os.close(write_fd)
    assert took < 0.1
    assert sent < 1000  # it stopped at the deadline (40 pauses of PAUSE are 0.08 s)
