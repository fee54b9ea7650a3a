"""Two `SipEndpoint`s over real loopback sockets (UDP and TCP, ephemeral ports): requests,
responses, INVITE dialogs with ACK/BYE, CANCEL, TCP connection reuse, malformed input."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from softswitch.sip import (
    Address,
    Dialog,
    Peer,
    Request,
    Response,
    ServerInviteTransaction,
    ServerTransaction,
    SipEndpoint,
    SipParseError,
    SipUri,
    new_call_id,
    new_tag,
    parse_message,
)


class Phone:
    """An endpoint plus what it saw, with a pluggable request handler."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.acks: list[Request] = []
        self.cancels: list[tuple[Request, ServerInviteTransaction | None]] = []
        self.handler: Callable[[ServerTransaction, Request], None] = self.answer_200
        self.ep = SipEndpoint(self._on_request, on_ack=self._on_ack, on_cancel=self._on_cancel)
        self.dialogs: list[Dialog] = []
        self.sources: list[Peer] = []

    def _on_request(self, txn: ServerTransaction, request: Request) -> None:
        self.requests.append(request)
        self.handler(txn, request)

    def _on_ack(self, request: Request, txn: ServerInviteTransaction | None) -> None:
        self.acks.append(request)

    def _on_cancel(self, request: Request, txn: ServerInviteTransaction | None) -> None:
        self.cancels.append((request, txn))
        if txn is not None:
            self.ep.send_response(txn, txn.request.create_response(487, to_tag="callee"))

    def answer_200(self, txn: ServerTransaction, request: Request) -> None:
        self.sources.append(txn.peer)
        resp = request.create_response(200, to_tag=new_tag())
        if request.method == "INVITE":
            local = self.ep.local_peer(txn.peer.transport)
            resp.add("Contact", f"<sip:callee@{local.host}:{local.port};transport="
                                f"{local.transport}>")
            self.dialogs.append(Dialog.create_uas(request, resp))
        self.ep.send_response(txn, resp)

    async def wait(self, cond: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait for socket I/O to make `cond` true (polls the loop; no timer is awaited)."""
        async def loop() -> None:
            while not cond():
                await asyncio.sleep(0.005)

        await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Phone, Phone]]:
    a, b = Phone(), Phone()
    for p in (a, b):
        await p.ep.listen("udp", "127.0.0.1", 0)
        await p.ep.listen("tcp", "127.0.0.1", 0)
    yield a, b
    await a.ep.close()
    await b.ep.close()


def make_request(method: str, src: SipEndpoint, dst: Peer, **extra: Any) -> Request:
    local = src.local_peer(dst.transport)
    headers: list[tuple[str, Any]] = [
        ("From", Address(SipUri.parse("sip:alice@example.com"), "Alice", {"tag": new_tag()})),
        ("To", "<sip:bob@example.com>"),
        ("Call-ID", new_call_id()),
        ("CSeq", f"1 {method}"),
        ("Contact", f"<sip:alice@{local.host}:{local.port};transport={local.transport}>"),
    ]
    headers += list(extra.items())
    return Request(method, f"sip:bob@{dst.host}:{dst.port}", headers)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_options_round_trip(pair: tuple[Phone, Phone], transport: str) -> None:
    a, b = pair
    dst = b.ep.local_peer(transport)
    out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
    resp = await asyncio.wait_for(out.final, 5)
    assert resp.status == 200 and resp.to.tag
    (req,) = b.requests
    # B saw A's source address stamped on the top Via (received/rport, RFC 3581).
    assert req.via.params["rport"] == str(req.via.params["rport"]) != ""
    assert req.via.received == "127.0.0.1"
    assert req.get("User-Agent") == "softswitch" and req.max_forwards == 70


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_invite_dialog_ack_and_bye(pair: tuple[Phone, Phone], transport: str) -> None:
    a, b = pair
    dst = b.ep.local_peer(transport)
    invite = make_request("INVITE", a.ep, dst)
    provisional: list[int] = []
    out = a.ep.send_request(invite, dst, on_response=lambda r: provisional.append(r.status))
    ok = await asyncio.wait_for(out.final, 5)
    assert ok.status == 200 and 100 in provisional
    dialog = Dialog.create_uac(invite, ok)
    assert dialog.remote_target.user == "callee"
    out.send_ack(dialog.create_ack(invite))
    await b.wait(lambda: len(b.acks) == 1)
    assert b.acks[0].cseq.number == invite.cseq.number
    # The callee hangs up through its dialog, sending to where the INVITE came from (the
    # flow, as for a phone behind NAT); A answers 200.
    (callee_dialog,) = b.dialogs
    assert callee_dialog.remote_target.port == a.ep.local_peer(transport).port
    bye = callee_dialog.create_request("BYE")
    bye_out = b.ep.send_request(bye, b.sources[0])
    assert (await asyncio.wait_for(bye_out.final, 5)).status == 200
    assert a.requests[-1].method == "BYE"
    assert a.requests[-1].call_id == invite.call_id
    if transport == "tcp":
        # The BYE went over the connection A opened (reuse), not a new one.
        assert a.ep.connection_count == 1 and b.ep.connection_count == 1


async def test_cancel_ringing_invite(pair: tuple[Phone, Phone]) -> None:
    a, b = pair

    def ring(txn: ServerTransaction, request: Request) -> None:
        b.ep.send_response(txn, request.create_response(180, to_tag="callee"))

    b.handler = ring
    dst = b.ep.local_peer("udp")
    out = a.ep.send_request(make_request("INVITE", a.ep, dst), dst)
    out.cancel()  # before any 1xx: held back until the 180 arrives (§9.1)
    final = await asyncio.wait_for(out.final, 5)
    assert final.status == 487
    assert len(b.cancels) == 1 and b.cancels[0][1] is not None
    assert out.cancel_request is not None


async def test_tcp_requests_to_a_registered_phone_reuse_its_connection(
    pair: tuple[Phone, Phone],
) -> None:
    """A phone (A) registers over TCP to the switch (B); the switch then calls the phone at
    the source address of that connection and the request goes over the same socket."""
    phone, switch = pair
    dst = switch.ep.local_peer("tcp")
    reg = await asyncio.wait_for(
        phone.ep.send_request(make_request("REGISTER", phone.ep, dst), dst).final, 5)
    assert reg.status == 200
    source = switch.requests[0]
    src_peer = Peer("tcp", source.via.received or "", int(source.via.params["rport"] or 0))
    out = switch.ep.send_request(make_request("OPTIONS", switch.ep, src_peer), src_peer)
    assert (await asyncio.wait_for(out.final, 5)).status == 200
    assert phone.requests[-1].method == "OPTIONS"
    assert switch.ep.connection_count == 1 and phone.ep.connection_count == 1


async def test_tcp_connect_failure_is_a_503(pair: tuple[Phone, Phone]) -> None:
    a, _ = pair
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    dst = Peer("tcp", "127.0.0.1", port)
    out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
    assert (await asyncio.wait_for(out.final, 5)).status == 503


class RawUdp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait(data)


async def _raw_udp() -> tuple[asyncio.DatagramTransport, RawUdp]:
    loop = asyncio.get_running_loop()
    t, p = await loop.create_datagram_endpoint(RawUdp, local_addr=("127.0.0.1", 0))
    return t, p  # type: ignore[return-value]


BAD_REQUEST = (
    b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1\r\n"
    b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: bad-1\r\n"
    b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)


async def test_malformed_request_gets_400_with_warning_and_garbage_is_dropped(
    pair: tuple[Phone, Phone],
) -> None:
    a, b = pair
    t, raw = await _raw_udp()
    try:
        dst = b.ep.local_peer("udp")
        t.sendto(bytes(range(256)), (dst.host, dst.port))  # dropped silently
        t.sendto(BAD_REQUEST, (dst.host, dst.port))
        data = await asyncio.wait_for(raw.got.get(), 5)
        resp = parse_message(data)
        assert isinstance(resp, Response) and resp.status == 400
        assert resp.call_id == "bad-1"
        assert "CSeq method" in (resp.get("Warning") or "")
        assert raw.got.empty()
        # The endpoint keeps working.
        out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
        assert (await asyncio.wait_for(out.final, 5)).status == 200
        assert b.ep.stats["malformed"] == 2
    finally:
        t.close()


async def test_a_burst_of_datagrams_is_answered_completely_and_in_order(
    pair: tuple[Phone, Phone],
) -> None:
    """More datagrams than one read batch arrive before the loop looks: each gets its
    answer, in arrival order (answers made during a batch go out when the batch ends)."""
    _a, b = pair
    b.handler = b.answer_200
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.bind(("127.0.0.1", 0))
        raw.setblocking(False)
        host, port = raw.getsockname()
        dst = b.ep.local_peer("udp")
        n = 80
        for i in range(1, n + 1):
            raw.sendto((f"OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKburst{i}\r\n"
                        f"From: <sip:a@127.0.0.1>;tag=t{i}\r\nTo: <sip:bob@127.0.0.1>\r\n"
                        f"Call-ID: burst-{i}\r\nCSeq: {i} OPTIONS\r\n"
                        f"Content-Length: 0\r\n\r\n").encode(), (dst.host, dst.port))
        got: list[int] = []
        loop = asyncio.get_running_loop()
        while len(got) < n:
            data = await asyncio.wait_for(loop.sock_recv(raw, 65535), 5)
            resp = parse_message(data)
            assert isinstance(resp, Response) and resp.status == 200
            got.append(resp.cseq.number)
    assert got == list(range(1, n + 1))
    assert len(b.requests) == n


async def test_handler_errors_become_400_or_500(pair: tuple[Phone, Phone]) -> None:
    a, b = pair

    def bad_header(txn: ServerTransaction, request: Request) -> None:
        raise SipParseError("invalid Event header")

    def broken(txn: ServerTransaction, request: Request) -> None:
        raise RuntimeError("bug")

    dst = b.ep.local_peer("udp")
    b.handler = bad_header
    r1 = await asyncio.wait_for(
        a.ep.send_request(make_request("SUBSCRIBE", a.ep, dst), dst).final, 5)
    assert r1.status == 400 and "Event" in (r1.get("Warning") or "")
    b.handler = broken
    r2 = await asyncio.wait_for(
        a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst).final, 5)
    assert r2.status == 500


async def test_tcp_framing_error_closes_only_that_connection(pair: tuple[Phone, Phone]) -> None:
    a, b = pair
    dst = b.ep.local_peer("tcp")
    reader, writer = await asyncio.open_connection(dst.host, dst.port)
    writer.write(b"\r\n\r\n")  # keepalive ping gets a pong
    assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
    writer.write(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
                 b"Content-Length: nope\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the switch
    writer.close()
    # Other traffic is unaffected.
    out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
    assert (await asyncio.wait_for(out.final, 5)).status == 200


async def test_idle_tcp_connection_is_closed(pair: tuple[Phone, Phone]) -> None:
    a, b = pair
    dst = b.ep.local_peer("tcp")
    await asyncio.wait_for(a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst).final, 5)
    assert b.ep.connection_count == 1
    (conn,) = b.ep._connections.values()
    conn.last_activity -= b.ep.tcp_idle_timeout + 1  # as if idle for the whole timeout
    b.ep._tcp_idle_check(conn)
    await b.wait(lambda: b.ep.connection_count == 0)


async def test_tcp_response_after_the_connection_closed_goes_to_via_sent_by(
    pair: tuple[Phone, Phone],
) -> None:
    """§18.2.2: when the request's connection is gone, the response opens a new one to the
    Via's received address and sent-by port (here A's listening port)."""
    a, b = pair
    held: list[ServerTransaction] = []
    b.handler = lambda txn, req: held.append(txn)
    dst = b.ep.local_peer("tcp")
    out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
    await b.wait(lambda: len(held) == 1)
    for conn in list(b.ep._connections.values()):
        conn.close()
    await b.wait(lambda: b.ep.connection_count == 0)
    txn = held[0]
    b.ep.send_response(txn, txn.request.create_response(200, to_tag="late"))
    resp = await asyncio.wait_for(out.final, 5)
    assert resp.status == 200 and resp.to.tag == "late"


async def test_late_answer_to_a_cancelled_invite_is_dropped_not_raised(
    pair: tuple[Phone, Phone],
) -> None:
    a, b = pair
    held: list[tuple[ServerTransaction, Request]] = []

    def ring(txn: ServerTransaction, request: Request) -> None:
        held.append((txn, request))
        b.ep.send_response(txn, request.create_response(180, to_tag="callee"))

    b.handler = ring
    dst = b.ep.local_peer("udp")
    out = a.ep.send_request(make_request("INVITE", a.ep, dst), dst)
    out.cancel()
    assert (await asyncio.wait_for(out.final, 5)).status == 487
    # The callee's answer arrives after the 487: refused quietly.
    txn, invite = held[0]
    assert b.ep.send_response(txn, invite.create_response(200)) is False


async def test_with_two_udp_listeners_answers_leave_from_the_socket_asked() -> None:
    server = Phone()
    first = await server.ep.listen("udp", "127.0.0.1", 0)
    second = await server.ep.listen("udp", "127.0.0.2", 0)
    try:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[tuple[bytes, Any]] = loop.create_future()

        class Catch(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if not got.done():
                    got.set_result((data, addr))

        ct, _ = await loop.create_datagram_endpoint(Catch, local_addr=("127.0.0.1", 0))
        req = make_request("OPTIONS", server.ep, second)
        req.add("Via", f"SIP/2.0/UDP 127.0.0.1:{ct.get_extra_info('sockname')[1]}"
                       ";branch=z9hG4bKtwo;rport", first=True)
        ct.sendto(bytes(req), (second.host, second.port))
        data, addr = await asyncio.wait_for(got, 5)
        assert parse_message(data).status == 200  # type: ignore[union-attr]
        assert addr == (second.host, second.port)  # not from the first socket
        assert first.host == "127.0.0.1"
        ct.close()
    finally:
        await server.ep.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback here")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_ipv6_loopback_round_trip(transport: str) -> None:
    a, b = Phone(), Phone()
    try:
        await a.ep.listen(transport, "::1", 0)
        dst = await b.ep.listen(transport, "::1", 0)
        req = Request("OPTIONS", f"sip:bob@[::1]:{dst.port}", [
            ("From", "<sip:alice@[::1]>;tag=v6"), ("To", "<sip:bob@[::1]>"),
            ("Call-ID", new_call_id()), ("CSeq", "1 OPTIONS"),
        ])
        out = a.ep.send_request(req, dst)
        assert (await asyncio.wait_for(out.final, 5)).status == 200
        seen = b.requests[0]
        assert seen.via.host.startswith("[") and seen.via.received == "::1"
    finally:
        await a.ep.close()
        await b.ep.close()


async def test_endpoint_timer_follows_the_layer_in_virtual_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shell's one TimerHandle is armed at the layer's earliest deadline; firing it (here
    by hand, with the loop clock moved forward) retransmits and finally times out (408)."""
    loop = asyncio.get_running_loop()
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.setblocking(False)
    a = Phone()
    try:
        await a.ep.listen("udp", "127.0.0.1", 0)
        clock = {"now": loop.time()}
        monkeypatch.setattr(loop, "time", lambda: clock["now"])
        start = clock["now"]
        dst = Peer("udp", "127.0.0.1", silent.getsockname()[1])
        out = a.ep.send_request(make_request("OPTIONS", a.ep, dst), dst)
        assert a.ep._timer_when == pytest.approx(start + 0.5)  # Timer E
        got = [await loop.sock_recv(silent, 65535)]
        for expected_next in (1.5, 3.5, 7.5):
            clock["now"] = a.ep._timer_when or 0.0
            a.ep._on_timer()
            got.append(await loop.sock_recv(silent, 65535))
            assert a.ep._timer_when == pytest.approx(start + expected_next)
        assert len({g.split(b"\r\n")[1] for g in got}) == 1  # the same Via each time
        clock["now"] = start + 32.0  # Timer F
        a.ep._on_timer()
        assert out.final.done() and out.final.result().status == 408
    finally:
        monkeypatch.undo()
        silent.close()
        await a.ep.close()


async def _ask_raw(dst: Peer, data: bytes) -> bytes:
    t, raw = await _raw_udp()
    try:
        t.sendto(data, (dst.host, dst.port))
        return await asyncio.wait_for(raw.got.get(), 5)
    finally:
        t.close()


def _status(wire: bytes) -> int:
    assert wire.startswith(b"SIP/2.0 ")
    return int(wire[8:11])


async def test_rfc4475_application_layer_cases_through_the_endpoint(
    pair: tuple[Phone, Phone],
) -> None:
    from . import rfc4475 as R

    _a, b = pair
    dst = b.ep.local_peer("udp")
    # §3.3.2 / §3.3.3: unknown Request-URI schemes get 416 before the TU sees them. (The
    # two RFC messages share a Via branch; the second gets its own so it is not absorbed
    # as a retransmission of the first.)
    for data in (R.UNKSCM, R.NOVELSC.replace(b"z9hG4bKkdjuw39234", b"z9hG4bKnovelsc")):
        wire = await _ask_raw(dst, data.replace(b"SIP/2.0/TCP", b"SIP/2.0/UDP"))
        assert _status(wire) == 416
    # §3.3.6: unknown Require option tags get 420 with Unsupported listing them.
    wire = await _ask_raw(dst, R.BEXT01.replace(b"SIP/2.0/TLS", b"SIP/2.0/UDP"))
    resp = parse_message(wire)
    assert isinstance(resp, Response) and resp.status == 420
    assert resp.get_all("Unsupported") == ["nothingSupportsThis", "nothingSupportsThisEither"]
    # §3.1.2.16: SIP/7.0 gets 505; §3.3.1 (no From/To/Call-ID) still gets its 400.
    assert _status(await _ask_raw(dst, R.BADVERS)) == 505
    wire = await _ask_raw(dst, R.INSUF)
    assert _status(wire) == 400 and b"CSeq: 193942 INVITE\r\n" in wire
    assert b.requests == []  # none of these reached the TU


async def test_huge_content_length_over_tcp_is_answered_400_then_closed(
        pair: tuple[Phone, Phone]) -> None:
    """Thousands of Content-Length digits used to raise ValueError in the stream framer:
    now the request is answered (the reason phrase names the limit) and the connection,
    whose framing is lost, closed; over UDP the same request gets the same 400."""
    _a, b = pair
    bad = BAD_REQUEST.replace(b"CSeq: 1 INVITE", b"CSeq: 1 OPTIONS").replace(
        b"Content-Length: 0", b"Content-Length: " + b"7" * 5000)
    dst = b.ep.local_peer("tcp")
    reader, writer = await asyncio.open_connection(dst.host, dst.port)
    writer.write(bad.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
    answer = await asyncio.wait_for(reader.read(), 5)  # everything until the close
    resp = parse_message(answer)
    assert isinstance(resp, Response)
    assert (resp.status, resp.reason) == (400, "Bad Request (over 10 digits in Content-Length)")
    writer.close()
    t, raw = await _raw_udp()
    try:
        udp = b.ep.local_peer("udp")
        t.sendto(bad, (udp.host, udp.port))
        resp = parse_message(await asyncio.wait_for(raw.got.get(), 5))
        assert isinstance(resp, Response)
        assert (resp.status, resp.reason) == (400,
                                              "Bad Request (over 10 digits in Content-Length)")
    finally:
        t.close()
    assert b.requests == []


async def test_tcp_connections_beyond_the_limit_are_closed() -> None:
    server = Phone()
    server.ep.max_tcp_connections = 2
    dst = await server.ep.listen("tcp", "127.0.0.1", 0)
    conns = []
    try:
        for _ in range(3):
            conns.append(await asyncio.open_connection(dst.host, dst.port))
        reader, _w = conns[2]
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the third was closed
        assert server.ep.connection_count == 2
        # The first two still work (a keepalive ping gets its pong).
        r0, w0 = conns[0]
        w0.write(b"\r\n\r\n")
        assert await asyncio.wait_for(r0.readexactly(2), 5) == b"\r\n"
    finally:
        for _r, w in conns:
            w.close()
        await server.ep.close()


async def test_rfc4475_content_length_errors_over_tcp(pair: tuple[Phone, Phone]) -> None:
    """§3.1.2.3: a negative Content-Length over a stream loses the framing -> the request is
    answered 400 and the connection closed. §3.1.2.2 (clerr) over a stream just waits for
    the missing octets."""
    from . import rfc4475 as R

    _a, b = pair
    dst = b.ep.local_peer("tcp")
    reader, writer = await asyncio.open_connection(dst.host, dst.port)
    writer.write(R.NCL.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
    answer = await asyncio.wait_for(reader.read(), 5)  # everything until the close
    assert answer.startswith(b"SIP/2.0 400 ") and b"Content-Length" in answer
    writer.close()
    reader, writer = await asyncio.open_connection(dst.host, dst.port)
    clerr = R.CLERR.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(clerr)
    await writer.drain()
    # The message is incomplete until 9999 body octets arrived; then it is delivered whole.
    body_so_far = len(clerr) - clerr.index(b"\r\n\r\n") - 4
    writer.write(b"x" * (9999 - body_so_far))
    await b.wait(lambda: len(b.requests) == 1)
    assert b.requests[0].method == "INVITE" and len(b.requests[0].body) == 9999
    assert b.ep.stats["malformed"] == 1  # the ncl request only
    writer.close()
