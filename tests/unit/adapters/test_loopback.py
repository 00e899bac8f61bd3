"""The loopback adapter on recorded rtnetlink datagrams: dumps, events, tentative addresses, adds."""

from __future__ import annotations

import errno
import ipaddress
import logging
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from speaker.adapters import loopback, rtnl
from speaker.adapters.loopback import RESYNC, AddressError, all_addresses, index_of
from tests.fakes import Clock
from tests.unit.rtnl_records import (
    ACK,
    DEL_V4_LO,
    DEL_V6_LO,
    DUMP,
    EEXIST,
    LO,
    NEW_V4_LO,
    NEW_V6_LINK_LOCAL,
    NEW_V6_LO,
    NEW_V6_VA_DAD_DONE,
    NEW_V6_VA_TENTATIVE,
    VA,
    Events,
    Kernel,
    error,
    open_netlink,
)

V6 = ipaddress.ip_address("2001:db8::53")
V4 = ipaddress.ip_address("192.0.2.53")
VA_V6 = ipaddress.ip_address("2001:db8:1::1")
NEW = ipaddress.ip_address("2001:db8::54")
REPO = Path(__file__).resolve().parents[3]


def changes(*datagrams: bytes) -> list[rtnl.Change | None]:
    return [rtnl.change(m) for d in datagrams for m in rtnl.split(d)]


# -- messages ---------------------------------------------------------------------------


def test_a_dump_datagram_splits_into_its_messages_and_done() -> None:
    messages = rtnl.split(DUMP[0]) + rtnl.split(DUMP[1])
    assert [m.kind for m in messages] == [rtnl.RTM_NEWADDR] * 6 + [rtnl.NLMSG_DONE]
    assert all(m.seq == 1 and m.flags & rtnl.NLM_F_MULTI for m in messages)


def test_a_truncated_datagram_is_refused_with_its_sizes() -> None:
    with pytest.raises(ValueError, match="72 bytes at offset 0 does not fit a datagram of 40"):
        rtnl.split(NEW_V6_LO[:40])


def test_new_addresses_on_lo_are_usable_at_once() -> None:
    assert changes(NEW_V6_LO, NEW_V4_LO) == [rtnl.Change(LO, V6, True), rtnl.Change(LO, V4, True)]


def test_a_tentative_address_is_not_usable_until_dad_is_done() -> None:
    assert changes(NEW_V6_VA_TENTATIVE, NEW_V6_VA_DAD_DONE) == [
        rtnl.Change(VA, VA_V6, False), rtnl.Change(VA, VA_V6, True)]


def test_an_address_whose_dad_failed_is_not_usable() -> None:
    flags = rtnl.IFA_F_TENTATIVE | rtnl.IFA_F_DADFAILED
    datagram = rtnl.request(rtnl.RTM_NEWADDR, 0, 0, {"family": 10, "prefixlen": 64, "index": VA},
                            [("IFA_ADDRESS", str(VA_V6)), ("IFA_FLAGS", flags)])
    assert changes(datagram) == [rtnl.Change(VA, VA_V6, False)]


def test_a_deleted_address_is_not_usable() -> None:
    assert changes(DEL_V6_LO, DEL_V4_LO) == [rtnl.Change(LO, V6, False), rtnl.Change(LO, V4, False)]


def test_the_add_request_asks_for_a_host_prefix_without_dad() -> None:
    kernel = Kernel((ACK,))
    assert rtnl.Rtnl(kernel).add(LO, NEW) is True  # type: ignore[arg-type]
    sent = rtnl.split(kernel.sent[0])[0]
    assert (sent.kind, sent.flags) == (rtnl.RTM_NEWADDR, 0x605)  # REQUEST|ACK|EXCL|CREATE
    body = rtnl._ifaddrmsg()(sent.data)
    body.decode()
    assert (body["family"], body["prefixlen"], body["index"]) == (10, 128, LO)
    assert body.get_attr("IFA_LOCAL") == body.get_attr("IFA_ADDRESS") == str(NEW)
    assert body.get_attr("IFA_FLAGS") == rtnl.IFA_F_NODAD


def test_an_existing_address_is_not_added_again() -> None:
    assert rtnl.Rtnl(Kernel((EEXIST,))).add(LO, NEW) is False  # type: ignore[arg-type]


def test_a_refused_add_raises_the_kernels_errno() -> None:
    with pytest.raises(PermissionError):
        rtnl.Rtnl(Kernel((error(errno.EPERM),))).add(LO, NEW)  # type: ignore[arg-type]


def test_a_stale_answer_is_skipped_and_the_wait_is_bounded() -> None:
    kernel = Kernel((ACK,), keep_seq=True)  # seq 2: the answer to an earlier request
    with pytest.raises(TimeoutError):
        rtnl.Rtnl(kernel).add(LO, NEW)  # type: ignore[arg-type]
    assert kernel.timeout == rtnl.REPLY_TIMEOUT


def test_the_doctors_dump_names_interfaces_and_skips_nothing_usable() -> None:
    kernel = Kernel(DUMP)
    found = all_addresses(lambda groups: kernel)  # type: ignore[arg-type, return-value]
    assert ("lo", V6) in found and ("lo", ipaddress.ip_address("::1")) in found
    assert ("lo", ipaddress.ip_address("127.0.0.1")) in found and len(found) == 6
    assert kernel.closed


# -- the adapter -------------------------------------------------------------------------


@pytest.fixture
def events() -> Events:
    return Events()


def test_the_first_dump_says_what_is_present(events: Events) -> None:
    nl = open_netlink(Kernel(DUMP), events, Clock())
    assert nl.present("lo", V6) and not nl.present("lo", V4)
    nl.close()


def test_present_asks_the_interfaces_index_once_and_again_on_a_miss(
        events: Events, monkeypatch: pytest.MonkeyPatch) -> None:
    nl = open_netlink(Kernel(DUMP), events, Clock())
    asked: list[str] = []

    def counting(interface: str) -> int:
        asked.append(interface)
        return index_of(interface)

    monkeypatch.setattr(loopback, "index_of", counting)
    assert all(nl.present("lo", V6) for _ in range(3)) and asked == ["lo"]
    assert not nl.present("lo", V4) and asked == ["lo", "lo"]  # a miss: the kernel again
    nl.close()


def test_replayed_events_keep_the_addresses_current(events: Events) -> None:
    nl = open_netlink(Kernel(DUMP), events, Clock())
    events.send(NEW_V4_LO, DEL_V6_LO)
    assert nl.receive(0) and nl.receive(0)
    assert nl.present("lo", V4) and not nl.present("lo", V6)
    events.send(DEL_V4_LO)
    nl.receive(0)
    assert not nl.present("lo", V4)
    nl.close()


def test_a_tentative_address_counts_only_once_dad_is_done(events: Events) -> None:
    nl = open_netlink(Kernel((DUMP[1],)), events, Clock())  # an empty dump
    events.send(NEW_V6_VA_TENTATIVE)
    nl.receive(0)
    assert VA_V6 not in nl._table.on(VA)
    events.send(NEW_V6_LINK_LOCAL, NEW_V6_VA_DAD_DONE)
    nl.receive(0)
    nl.receive(0)
    assert VA_V6 in nl._table.on(VA)
    nl.close()


def test_lost_events_make_it_read_a_full_dump(events: Events) -> None:
    kernel = Kernel(DUMP, (NEW_V4_LO, DUMP[1]))  # the second dump: only 192.0.2.53
    nl = open_netlink(kernel, events, Clock())
    events.fail = errno.ENOBUFS
    events.send(b"")
    assert nl.receive(0)
    assert nl.addresses("lo") == {V4}
    nl.close()


def test_a_dump_every_resync_seconds_corrects_the_events(events: Events) -> None:
    clock = Clock()
    nl = open_netlink(Kernel(DUMP, (NEW_V4_LO, DUMP[1])), events, clock)
    nl.receive(0)
    assert nl.present("lo", V6)
    clock.advance(RESYNC)
    nl.receive(0)
    assert nl.addresses("lo") == {V4}
    nl.close()


def test_ensure_adds_a_missing_address_and_counts_it_present(events: Events) -> None:
    kernel = Kernel(DUMP, (ACK,))
    nl = open_netlink(kernel, events, Clock())
    assert nl.ensure("lo", NEW) is True
    assert nl.present("lo", NEW)
    assert nl.ensure("lo", NEW) is False and len(kernel.sent) == 2  # no second request


def test_ensure_of_a_present_address_sends_nothing(events: Events) -> None:
    kernel = Kernel(DUMP)
    nl = open_netlink(kernel, events, Clock())
    assert nl.ensure("lo", V6) is False and len(kernel.sent) == 1  # the dump only


@pytest.mark.parametrize(("answer", "message"), [
    ((error(errno.EPERM),), "cannot add 2001:db8::54 to lo: permission denied (needs CAP_NET_ADMIN)"),
    ((error(errno.ENODEV),), "cannot add 2001:db8::54 to lo: [Errno 19] No such device"),
    ((), "cannot add 2001:db8::54 to lo: netlink did not answer within 5 s"),
])
def test_a_failed_add_names_the_address_and_the_cause(events: Events, answer: tuple[bytes, ...],
                                                      message: str) -> None:
    nl = open_netlink(Kernel(DUMP, answer), events, Clock())
    with pytest.raises(AddressError) as caught:
        nl.ensure("lo", NEW)
    assert str(caught.value) == message
    assert not nl.present("lo", NEW)


def test_an_unknown_interface_is_named() -> None:
    with pytest.raises(AddressError, match="interface nosuch0 does not exist"):
        index_of("nosuch0")


def test_the_thread_applies_events_and_stops_on_close(events: Events) -> None:
    nl = open_netlink(Kernel(DUMP), events, Clock())
    applied, seen = nl._table.apply, threading.Event()

    def apply(c: Iterable[rtnl.Change]) -> None:
        applied(c)
        seen.set()

    nl._table.apply = apply  # type: ignore[method-assign]
    events.send(NEW_V4_LO)
    nl.start()
    assert seen.wait(5.0) and nl.present("lo", V4)
    nl.close()  # wakes the thread: it stops at once, not after its 1 s select
    assert not nl._thread.is_alive()


def test_importing_it_loads_neither_pyroute2s_entry_points_nor_tc() -> None:
    script = ("import sys; from speaker.adapters import rtnl; rtnl.split(b''); rtnl._ifaddrmsg()\n"
              "loaded = [m for m in sys.modules if m.startswith(('pyroute2.iproute', 'pyroute2.ndb',"
              " 'pyroute2.netlink.rtnl.tcmsg', 'asyncio'))]\n"
              "print(loaded)")
    done = subprocess.run([sys.executable, "-W", "error", "-c", script], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "[]", "")


def test_a_failing_event_socket_is_logged_when_it_starts_and_ends_and_retried(
        events: Events, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(loopback, "RETRY", 0.0)
    caplog.set_level(logging.INFO, logger="speaker")
    nl = open_netlink(Kernel(DUMP), events, Clock())
    for _ in range(2):
        events.fail = errno.EBADMSG
        events.send(b"")
        assert nl.watch_once(0) is True  # the thread goes on
    events.send(NEW_V4_LO)
    assert nl.watch_once(0) is True and nl.present("lo", V4)
    nl.close()
    assert nl.watch_once(0) is False  # closed: the thread ends
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert logged == [
        ("ERROR", "netlink address events unreadable: addresses may be stale; retrying"),
        ("INFO", "netlink address events readable again")]
    assert "scripted" in str(caplog.records[0].__dict__["fields"]["error"])


def test_a_due_resync_is_not_waited_past(events: Events) -> None:
    """The thread waits for events up to RESYNC (no wake-ups between), never past the resync:
    with one overdue, `receive` does not block for the minute it was given."""
    clock = Clock()
    nl = open_netlink(Kernel(DUMP, (NEW_V4_LO, DUMP[1])), events, clock)
    clock.advance(RESYNC)
    assert nl.receive(60.0)  # returns at once: the resync is due
    assert nl.addresses("lo") == {V4}
    nl.close()
