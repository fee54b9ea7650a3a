"""The running switch (`softswitch run` as a process) against hostile senders: unknown
methods get 501, hostile 64 KB datagrams get a 400 naming the limit while others are still
answered, and a flooding source is cut off by the rate limit (loopback is trusted by
default, so this switch is configured with `trusted_networks: []`)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import switchproc
from sipua import final_response, options_probe

from benchmarks.sip_hostile import MAX_UDP_PAYLOAD, hostile
from softswitch.sip import Response, parse_message

from . import rfc4475 as R

LIMIT = 20  # requests per interval for this switch


@pytest.fixture(scope="module")
def switch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[switchproc.SwitchProcess]:
    workdir = tmp_path_factory.mktemp("guard")
    config = switchproc.base_config(
        workdir, trusted_networks=[],
        rate_limit={"enabled": True, "requests": LIMIT, "interval": 60, "block_time": 60})
    proc = switchproc.start(workdir, config)
    yield proc
    proc.stop()


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.settimeout(5)
    return sock


def drain(sock: socket.socket) -> list[Response]:
    sock.setblocking(False)
    out = []
    try:
        while True:
            msg = parse_message(sock.recv(65535))
            if isinstance(msg, Response):
                out.append(msg)
    except BlockingIOError:
        return out
    finally:
        sock.setblocking(True)


@pytest.mark.parametrize("name", sorted(R.SWITCH_ANSWERS))
def test_unknown_methods_get_501_with_allow(switch: switchproc.SwitchProcess,
                                            name: str) -> None:
    data, status = R.SWITCH_ANSWERS[name]
    with udp_socket("127.0.0.11") as sock:
        sock.sendto(data.replace(b"SIP/2.0/TCP", b"SIP/2.0/UDP"), switch.udp)
        resp = final_response(sock, parse_message(data).call_id)
    assert (resp.status, resp.reason) == (status, "Not Implemented")
    assert "INVITE" in (resp.get("Allow") or "")


def test_known_method_not_allowed_outside_a_dialog_keeps_405(
        switch: switchproc.SwitchProcess) -> None:
    with udp_socket("127.0.0.12") as sock:
        data = options_probe(sock, "publish-1").replace(b"OPTIONS", b"PUBLISH")
        sock.sendto(data, switch.udp)
        resp = final_response(sock, "publish-1")
    assert resp.status == 405 and "OPTIONS" in (resp.get("Allow") or "")


@pytest.mark.parametrize("shape, phrase", [
    ("long line", "Bad Request (over 8192 characters in a line)"),
    ("many headers", "Bad Request (over 256 header lines)"),
])
def test_hostile_64kb_datagram_is_answered_naming_the_limit(
        switch: switchproc.SwitchProcess, shape: str, phrase: str) -> None:
    with udp_socket("127.0.0.13") as sock:
        sock.sendto(hostile(shape, MAX_UDP_PAYLOAD), switch.udp)
        resp = final_response(sock, "hostile-1@10.0.0.5")
    assert (resp.status, resp.reason) == (400, phrase)


def test_a_flooding_source_is_cut_off_and_others_still_answered(
        switch: switchproc.SwitchProcess) -> None:
    with udp_socket("127.0.0.2") as flood, udp_socket("127.0.0.3") as other:
        for i in range(3 * LIMIT):
            flood.sendto(options_probe(flood, f"flood-{i}"), switch.udp)
        # The switch reads its socket in arrival order: once the other source's answer is
        # in, every flood datagram before it was handled.
        other.sendto(options_probe(other, "other-1"), switch.udp)
        assert final_response(other, "other-1").status == 200
        answered = drain(flood)
        assert sorted(r.call_id for r in answered) == sorted(f"flood-{i}"
                                                             for i in range(LIMIT))
        assert {r.status for r in answered} == {200}
        # still blocked: the next request is not answered either, while others are
        flood.sendto(options_probe(flood, "flood-late"), switch.udp)
        other.sendto(options_probe(other, "other-2"), switch.udp)
        assert final_response(other, "other-2").status == 200
        assert drain(flood) == []
    deadline = time.monotonic() + 5
    while not (blocked := switch.events("sip source blocked: request rate over the limit")):
        assert time.monotonic() < deadline, "no block logged"
        time.sleep(0.05)
    assert [(e["source"], e["requests"]) for e in blocked] == [("127.0.0.2", LIMIT)]
