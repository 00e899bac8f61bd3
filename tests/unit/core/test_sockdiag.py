"""The sock_diag parser and its pure helpers, on datagrams recorded from the kernel."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from speaker.core import sockdiag
from speaker.core.sockdiag import Listener, SockDiagError, Socket
from tests.unit import sockdiag_records as rec

LOOP6 = ipaddress.ip_address("::1")
LOOP4 = ipaddress.ip_address("127.0.0.1")


def sockets(datagrams: list[bytes]) -> list[Socket]:
    return [s for d in datagrams for s in sockdiag.parse(d).sockets]


def test_a_dump_reply_gives_each_socket_with_address_port_state_and_cookie() -> None:
    wildcard, bound = sockets(rec.DUMP_UDP6)
    assert (bound.family, bound.local, bound.port, bound.state) == (10, LOOP6, 5399, 7)
    assert (bound.remote, bound.remote_port, bound.v6only) == (ipaddress.ip_address("::"), 0,
                                                                True)
    assert wildcard.local.is_unspecified and wildcard.port == 5398 and wildcard.v6only is False
    assert bound.cookie != wildcard.cookie


def test_a_dump_ends_with_done() -> None:
    first, last = (sockdiag.parse(d) for d in rec.DUMP_UDP6)
    assert not first.done and last.done and last.sockets == () and last.error == 0


def test_a_refused_request_gives_its_errno() -> None:
    batch = sockdiag.parse(rec.ERROR[0])
    assert batch.done and batch.error == 22  # EINVAL: no such family


def test_ipv4_and_tcp_dumps_parse() -> None:
    (v4,) = sockets(rec.DUMP_UDP4)
    assert (v4.family, v4.local, v4.port) == (2, LOOP4, 5399)
    (tcp,) = sockets(rec.DUMP_TCP6)
    assert tcp.state == sockdiag.TCP_LISTEN and tcp.port == 5399


def test_a_destroy_event_names_the_protocol_and_the_cookie_the_dump_gave() -> None:
    (gone,) = sockets(rec.EVENT_UDP6)
    bound = sockets(rec.DUMP_UDP6)[1]
    assert gone.protocol == sockdiag.IPPROTO_UDP and gone.cookie == bound.cookie
    (tcp_gone,) = sockets(rec.EVENT_TCP6)
    assert tcp_gone.protocol == sockdiag.IPPROTO_TCP
    assert tcp_gone.cookie == sockets(rec.DUMP_TCP6)[0].cookie


def test_a_restarted_server_socket_has_a_new_cookie() -> None:
    old = sockets(rec.DUMP_UDP6)[1]
    new = sockets(rec.DUMP_UDP6_RESTARTED)[1]
    assert (new.local, new.port) == (old.local, old.port) and new.cookie != old.cookie


@pytest.mark.parametrize("cut", [3, 20, 40, 100])
def test_truncated_bytes_raise_an_error_naming_the_problem(cut: int) -> None:
    with pytest.raises(SockDiagError, match=r"byte|truncated|needs"):
        sockdiag.parse(rec.DUMP_UDP6[0][:cut])


def test_a_message_longer_than_the_datagram_is_refused() -> None:
    data = bytearray(rec.EVENT_UDP6[0])
    data[0:4] = struct.pack("=I", len(data) + 8)
    with pytest.raises(SockDiagError, match="claims"):
        sockdiag.parse(bytes(data))


def test_a_bad_attribute_length_is_refused() -> None:
    data = bytearray(rec.EVENT_UDP6[0])
    data[-8:-6] = struct.pack("=H", 200)
    with pytest.raises(SockDiagError, match="attribute"):
        sockdiag.parse(bytes(data))


def test_a_dump_request_has_the_kernels_layout() -> None:
    request = sockdiag.dump_request(sockdiag.AF_INET6, sockdiag.IPPROTO_UDP, 1 << 7, seq=9)
    length, kind, flags, seq, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, flags, seq) == (len(request), 20, 0x301, 9) and length == 72
    assert request[16:18] == bytes([10, 17]) and struct.unpack_from("=I", request, 20) == (128,)


def test_a_socket_bound_to_the_address_serves_it() -> None:
    bound = sockets(rec.DUMP_UDP6)[1]
    assert sockdiag.serves(bound, Listener("udp", LOOP6, 5399))
    assert not sockdiag.serves(bound, Listener("udp", LOOP6, 53))
    assert not sockdiag.serves(bound, Listener("udp", ipaddress.ip_address("::2"), 5399))
    assert not sockdiag.serves(bound, Listener("tcp", LOOP6, 5399))  # a UDP state, not LISTEN


def test_a_wildcard_serves_its_family_and_ipv4_when_not_v6only() -> None:
    wildcard = sockets(rec.DUMP_UDP6)[0]
    assert sockdiag.serves(wildcard, Listener("udp", LOOP6, 5398))
    assert sockdiag.serves(wildcard, Listener("udp", LOOP4, 5398))
    only6 = Socket(**{**wildcard.__dict__, "v6only": True})
    assert not sockdiag.serves(only6, Listener("udp", LOOP4, 5398))


def test_a_connected_client_socket_serves_nothing() -> None:
    (client,) = sockets(rec.EVENT_CLIENT)
    assert not sockdiag.serves(client, Listener("udp", LOOP6, client.port))


def test_a_listener_is_reported_by_its_familys_groups() -> None:
    assert sockdiag.group(Listener("udp", LOOP6, 53)) == [4]
    assert sockdiag.group(Listener("tcp", LOOP4, 53)) == [1, 3]  # and IPv6 wildcards


def run_bpf(program: list[tuple[int, int, int, int]], packet: bytes) -> int:
    """Just enough of a classic BPF machine for `port_filter` (ldh, jeq, ret)."""
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x28:
            acc = int.from_bytes(packet[k:k + 2], "big")
        elif code == 0x15:
            pc += jt if acc == k else jf
        elif code == 0x06:
            return k
        pc += 1


def test_the_port_filter_keeps_events_of_watched_ports_only() -> None:
    program = sockdiag.port_filter([53, 5399, 53])
    assert run_bpf(program, rec.EVENT_UDP6[0]) == 0xFFFFFFFF
    assert run_bpf(program, rec.EVENT_CLIENT[0]) == 0  # its local port is random
    assert run_bpf(sockdiag.port_filter([53]), rec.EVENT_UDP6[0]) == 0
    assert len(sockdiag.pack_filter(program)) == 8 * len(program)
