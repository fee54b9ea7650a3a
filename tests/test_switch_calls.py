"""B2BUA calls through a running switch process, over real sockets: signalling as each phone
sees it, RTP through the relay, and the CDR row each call leaves."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import switchproc
from sipua import SipUA, sdp

from softswitch.sip import Request, Response
from softswitch.sip.sdp import SessionDescription, audio


@pytest.fixture
async def switch(tmp_path: Path) -> AsyncIterator[switchproc.SwitchProcess]:
    proc = switchproc.start(tmp_path, switchproc.base_config(tmp_path, no_answer_timeout=2))
    proc.workdir = tmp_path  # type: ignore[attr-defined]
    yield proc
    assert proc.stop() == 0


def rtp_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def rtp_packet(seq: int, payload: bytes, pt: int = 0, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + payload


async def recv(sock: socket.socket, timeout: float = 3.0) -> bytes:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 2048), timeout)


def media_addr(body: bytes) -> tuple[str, int]:
    desc = SessionDescription.parse(body)
    m = audio(desc)
    assert m is not None
    return (m.connection or desc.connection or "", m.port)


@dataclass
class Phones:
    caller: SipUA
    callee: SipUA
    caller_rtp: socket.socket
    callee_rtp: socket.socket


@pytest.fixture
async def phones(switch) -> AsyncIterator[Phones]:
    caller = await SipUA("1001", "pw-1001", switch.udp).start()
    callee = await SipUA("1002", "pw-1002", switch.udp).start()
    assert (await callee.register()).status == 200
    p = Phones(caller, callee, rtp_socket(), rtp_socket())
    yield p
    for s in (p.caller_rtp, p.callee_rtp):
        s.close()
    caller.close()
    callee.close()


async def invite(p: Phones, number: str = "1002", call_id: str = "call-1",
                 offer: bool = True) -> None:
    """Send the INVITE and answer the 407 challenge; returns once the authenticated INVITE
    is out (its responses are left in the caller's queue). `offer=False`: no SDP."""
    body = sdp(p.caller_rtp.getsockname()[1]) if offer else b""
    uri = f"sip:{number}@127.0.0.1"
    ua = p.caller
    ua.call_id = call_id
    ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body))
    first = await ua.response()
    assert first.status == 407
    from sipua import digest_authorization, parse_challenge

    challenge = parse_challenge(first.get_all("Proxy-Authenticate")[-1])
    auth = digest_authorization(challenge, "INVITE", uri, "1001", "pw-1001")
    ack = ua.build("ACK", uri, to=f"<{uri}>;tag={first.to.tag}", cseq=ua.cseq,
                   branch=first.via.branch, with_contact=False)
    ua.send_raw(ack)
    ua.send_raw(ua.build("INVITE", uri, to=f"<{uri}>", body=body,
                         headers=[f"Proxy-Authorization: {auth}"]))
    ua.invite_uri = uri  # type: ignore[attr-defined]
    ua.invite_cseq = ua.cseq  # type: ignore[attr-defined]


def ack_for(ua: SipUA, resp: Response) -> bytes:
    uri = str(resp.contacts[0].uri)
    return ua.build("ACK", uri, to=f"<{ua.invite_uri}>;tag={resp.to.tag}",  # type: ignore
                    cseq=ua.invite_cseq, with_contact=False)  # type: ignore[attr-defined]


def in_dialog(ua: SipUA, method: str, resp_or_req: Response | Request, *,
              we_are_caller: bool, body: bytes = b"", content_type: str = "application/sdp",
              target: str | None = None) -> bytes:
    """A request inside the dialog: the caller uses the 200's Contact and the To tag it
    got; the callee uses the INVITE's Contact and swaps From/To."""
    msg = resp_or_req
    if we_are_caller:
        uri = target or str(msg.contacts[0].uri)
        return ua.build(method, uri, to=f"<{ua.invite_uri}>;tag={msg.to.tag}",  # type: ignore
                        body=body, content_type=content_type)
    req = msg
    assert isinstance(req, Request)
    uri = str(req.contacts[0].uri)
    own_tag = ua.answer_tag  # type: ignore[attr-defined]
    ua.cseq = max(ua.cseq, 1)
    data = ua.build(method, uri, to=f"{req.from_}", call_id=req.call_id, body=body,
                    content_type=content_type)
    return data.replace(f";tag={ua.tag}".encode(), f";tag={own_tag}".encode(), 1)


async def answered_call(p: Phones, call_id: str = "call-1") -> tuple[Response, Request]:
    await invite(p, call_id=call_id)
    req = await p.callee.next_request("INVITE")
    p.callee.answer_tag = "calleetag"  # type: ignore[attr-defined]
    p.callee.reply(req, 180, to_tag="calleetag")
    ringing = await p.caller.response(final=False)
    while ringing.status == 100:
        ringing = await p.caller.response(final=False)
    assert ringing.status == 180
    p.callee.reply(req, 200, to_tag="calleetag", body=sdp(p.callee_rtp.getsockname()[1]))
    ok = await p.caller.response()
    assert ok.status == 200 and ok.get("Content-Type") == "application/sdp"
    p.caller.send_raw(ack_for(p.caller, ok))
    ack = await p.callee.next_request("ACK")
    assert ack.call_id == req.call_id
    return ok, req


async def test_call_answered_audio_both_ways_bye_from_callee_and_cdr(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p)
    # the callee was offered the switch's relay, not the caller's address
    relay_for_callee = media_addr(req.body)
    relay_for_caller = media_addr(ok.body)
    assert relay_for_callee[1] != p.caller_rtp.getsockname()[1]
    assert relay_for_caller != relay_for_callee
    assert req.call_id != "call-1"  # B2BUA: the callee's leg is a dialog of its own
    # RTP caller -> relay -> callee, and back (symmetric RTP: the relay latches on sources)
    for i in range(3):
        p.caller_rtp.sendto(rtp_packet(i, b"\xaa" * 160), relay_for_caller)
        p.callee_rtp.sendto(rtp_packet(i, b"\x55" * 160, ssrc=0x99), relay_for_callee)
    got_callee = await recv(p.callee_rtp)
    got_caller = await recv(p.caller_rtp)
    assert got_callee[12:] == b"\xaa" * 160 and got_caller[12:] == b"\x55" * 160
    # the callee hangs up: the caller gets a BYE
    p.callee.send_raw(in_dialog(p.callee, "BYE", req, we_are_caller=False))
    assert (await p.callee.response()).status == 200
    bye = await p.caller.next_request("BYE")
    assert bye.call_id == "call-1"
    p.caller.reply(bye, 200)
    await asyncio.sleep(0.3)  # let the writer task commit (real I/O, not a timer)
    assert switch.stop() == 0
    db = sqlite3.connect(switch.workdir / "switch.sqlite3")
    rows = db.execute("SELECT call_id, caller, callee, disposition, hangup_side, hangup_cause,"
                      " sip_code, answer_time IS NOT NULL, billsec >= 0, caller_rtp"
                      " FROM cdr").fetchall()
    assert rows[0][:9] == ("call-1", "1001", "1002", "ANSWERED", "callee", "BYE", 200, 1, 1)
    assert '"packets_received"' in (rows[0][9] or "") or rows[0][9]


async def test_bye_from_caller(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p)
    p.caller.send_raw(in_dialog(p.caller, "BYE", ok, we_are_caller=True))
    bye = await p.callee.next_request("BYE")
    assert bye.call_id == req.call_id
    p.callee.reply(bye, 200)
    assert (await p.caller.response()).status == 200


async def test_cancel_while_ringing(switch, phones) -> None:
    p = phones
    await invite(p)
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 180, to_tag="t1")
    while (await p.caller.response(final=False)).status != 180:
        pass
    ua = p.caller
    cancel = ua.build("CANCEL", ua.invite_uri, to=f"<{ua.invite_uri}>",  # type: ignore
                      cseq=ua.invite_cseq, with_contact=False,  # type: ignore[attr-defined]
                      branch=_last_branch(ua))
    ua.send_raw(cancel)
    statuses = set()
    for _ in range(2):
        statuses.add((await ua.response()).status)
    assert statuses == {200, 487}  # 200 for the CANCEL, 487 for the INVITE
    cancel_b = await p.callee.next_request("CANCEL")
    assert cancel_b.call_id == req.call_id


def _last_branch(ua: SipUA) -> str:
    import re

    sent = [m for m in ua.sent if b"INVITE sip:" in m[:30]]  # type: ignore[attr-defined]
    return re.search(rb"branch=([^;\r\n]+)", sent[-1])[1].decode()  # type: ignore[index]


async def refused(ua: SipUA, timeout: float = 5.0) -> int:
    """The final response to the INVITE, ACKed as §17.1.1.3 says (same branch)."""
    resp = await ua.response(timeout)
    if resp.status >= 300:
        ua.send_raw(ua.build("ACK", ua.invite_uri,  # type: ignore[attr-defined]
                             to=f"<{ua.invite_uri}>;tag={resp.to.tag}",  # type: ignore
                             cseq=ua.invite_cseq,  # type: ignore[attr-defined]
                             branch=resp.via.branch, with_contact=False))
    return resp.status


async def test_busy_unknown_not_registered_and_no_answer(switch, phones) -> None:
    p = phones
    await invite(p)
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 486, to_tag="b")
    assert await refused(p.caller) == 486
    await invite(p, number="1999", call_id="call-2")
    assert await refused(p.caller) == 404
    await invite(p, number="1003", call_id="call-3")
    assert await refused(p.caller) == 480
    await invite(p, call_id="call-4")
    ringing = await p.callee.next_request("INVITE")
    p.callee.reply(ringing, 180, to_tag="r")  # rings, nobody answers (no_answer_timeout: 2)
    assert await refused(p.caller, timeout=6) == 408
    cancel = await p.callee.next_request("CANCEL", timeout=3)
    assert cancel is not None
    await asyncio.sleep(0.3)
    assert switch.stop() == 0
    db = sqlite3.connect(switch.workdir / "switch.sqlite3")
    rows = dict(db.execute("SELECT call_id, disposition FROM cdr").fetchall())
    assert rows == {"call-1": "BUSY", "call-2": "FAILED", "call-3": "FAILED",
                    "call-4": "NO ANSWER"}


async def test_hold_unhold_reinvite_and_info_pass_through(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p)
    relay_for_caller = media_addr(ok.body)
    # caller puts the call on hold: a=sendonly goes to the callee, re-anchored on the relay
    p.caller.send_raw(in_dialog(p.caller, "INVITE", ok, we_are_caller=True,
                                body=sdp(p.caller_rtp.getsockname()[1], direction="sendonly")))
    hold = await p.callee.next_request("INVITE")
    assert b"a=sendonly" in hold.body
    assert media_addr(hold.body) == media_addr(req.body)  # still the relay's port
    # RFC 3264 §8: same o= session as the switch's first offer, version + 1
    first_o = SessionDescription.parse(req.body).origin
    hold_o = SessionDescription.parse(hold.body).origin
    assert (hold_o.username, hold_o.session_id) == (first_o.username, first_o.session_id)
    assert int(hold_o.session_version) == int(first_o.session_version) + 1
    p.callee.reply(hold, 200, to_tag="calleetag",
                   body=sdp(p.callee_rtp.getsockname()[1], direction="recvonly"))
    resp = await p.caller.response()
    assert resp.status == 200 and b"a=recvonly" in resp.body
    assert media_addr(resp.body) == relay_for_caller
    ok_o, resp_o = (SessionDescription.parse(m.body).origin for m in (ok, resp))
    assert resp_o.session_id == ok_o.session_id
    assert int(resp_o.session_version) == int(ok_o.session_version) + 1
    p.caller.send_raw(in_dialog(p.caller, "ACK", ok, we_are_caller=True))
    await p.callee.next_request("ACK")
    # unhold
    p.caller.send_raw(in_dialog(p.caller, "INVITE", ok, we_are_caller=True,
                                body=sdp(p.caller_rtp.getsockname()[1])))
    unhold = await p.callee.next_request("INVITE")
    assert b"a=sendrecv" in unhold.body
    p.callee.reply(unhold, 200, to_tag="calleetag", body=sdp(p.callee_rtp.getsockname()[1]))
    assert (await p.caller.response()).status == 200
    p.caller.send_raw(in_dialog(p.caller, "ACK", ok, we_are_caller=True))
    # INFO (DTMF relay) is passed through and its answer comes back
    p.caller.send_raw(in_dialog(p.caller, "INFO", ok, we_are_caller=True,
                                body=b"Signal=5\r\nDuration=160\r\n",
                                content_type="application/dtmf-relay"))
    info = await p.callee.next_request("INFO")
    assert info.body == b"Signal=5\r\nDuration=160\r\n"
    p.callee.reply(info, 200, to_tag="calleetag")
    assert (await p.caller.response()).status == 200


async def test_forking_first_answer_wins_other_phone_cancelled(switch, phones) -> None:
    p = phones
    desk = await SipUA("1002", "pw-1002", switch.udp).start()
    assert (await desk.register()).status == 200
    await invite(p)
    a = await p.callee.next_request("INVITE")
    b = await desk.next_request("INVITE")
    p.callee.reply(a, 180, to_tag="x1")
    desk.reply(b, 180, to_tag="x2")
    desk.reply(b, 200, to_tag="x2", body=sdp(p.callee_rtp.getsockname()[1]))
    ok = await p.caller.response()
    assert ok.status == 200
    cancel = await p.callee.next_request("CANCEL")
    assert cancel.call_id == a.call_id
    p.callee.reply(cancel, 200, to_tag="x1")
    desk.close()


async def test_echo_test_loops_audio_back(switch, phones) -> None:
    p = phones
    await invite(p, number="*43", call_id="echo-1")
    ok = await p.caller.response()
    assert ok.status == 200
    p.caller.send_raw(ack_for(p.caller, ok))
    relay = media_addr(ok.body)
    for i in range(3):
        p.caller_rtp.sendto(rtp_packet(i, bytes(range(160))), relay)
    echoed = await recv(p.caller_rtp)
    assert echoed[12:] == bytes(range(160))
    p.caller.send_raw(in_dialog(p.caller, "BYE", ok, we_are_caller=True))
    assert (await p.caller.response()).status == 200


async def test_malformed_sip_gets_400_and_the_call_in_progress_survives(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p)
    garbage = [
        b"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bKx\r\n"
        b"From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: bad1\r\n"
        b"CSeq: x INVITE\r\nContent-Length: 0\r\n\r\n",
        b"\x00\xff\x10garbage" * 50,
        b"REGISTER sip:127.0.0.1 SIP/2.0\r\nContent-Length: 5\r\n\r\n",
    ]
    sock = rtp_socket()
    for g in garbage:
        sock.sendto(g, switch.udp)
    answer = await recv(sock)
    assert answer.startswith(b"SIP/2.0 400")
    sock.close()
    # the call still works: audio flows and BYE is relayed
    relay_for_caller = media_addr(ok.body)
    for seq in range(9, 12):
        p.caller_rtp.sendto(rtp_packet(seq, b"\x11" * 160), relay_for_caller)
    assert (await recv(p.callee_rtp))[12:] == b"\x11" * 160
    p.caller.send_raw(in_dialog(p.caller, "BYE", ok, we_are_caller=True))
    bye = await p.callee.next_request("BYE")
    p.callee.reply(bye, 200)


async def test_sigterm_ends_calls_with_bye_to_both_sides_and_writes_cdr(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p, call_id="shutdown-1")

    async def answer_bye(ua: SipUA) -> Request:
        bye = await ua.next_request("BYE", timeout=10)
        ua.reply(bye, 200)
        return bye

    waiting = asyncio.gather(answer_bye(p.caller), answer_bye(p.callee))
    switch.proc.send_signal(__import__("signal").SIGTERM)
    bye_a, bye_b = await waiting
    assert bye_a.call_id == "shutdown-1" and bye_b.call_id == req.call_id
    assert await asyncio.get_running_loop().run_in_executor(None, switch.proc.wait, 15) == 0
    db = sqlite3.connect(switch.workdir / "switch.sqlite3")
    assert db.execute("SELECT disposition, hangup_side, hangup_cause FROM cdr").fetchall() == \
        [("ANSWERED", "switch", "shutdown")]


async def test_callee_can_hold_too_reinvite_relayed_toward_the_caller(switch, phones) -> None:
    p = phones
    ok, req = await answered_call(p)
    p.callee.send_raw(in_dialog(p.callee, "INVITE", req, we_are_caller=False,
                                body=sdp(p.callee_rtp.getsockname()[1], direction="sendonly")))
    hold = await p.caller.next_request("INVITE")
    assert b"a=sendonly" in hold.body and hold.call_id == "call-1"
    assert media_addr(hold.body) == media_addr(ok.body)  # the caller still sees the relay
    p.caller.reply(hold, 200, to_tag=ok.to.tag,
                   body=sdp(p.caller_rtp.getsockname()[1], direction="recvonly"))
    resp = await p.callee.response()
    assert resp.status == 200 and b"a=recvonly" in resp.body


async def test_message_needs_auth_and_is_relayed(switch, phones) -> None:
    p = phones
    p.caller.call_id = "msg-1"
    uri = "sip:1002@127.0.0.1"
    p.caller.send_raw(p.caller.build("MESSAGE", uri, to=f"<{uri}>", body=b"hello bob",
                                     content_type="text/plain"))
    challenge = await p.caller.response()
    assert challenge.status == 407
    from sipua import digest_authorization, parse_challenge

    auth = digest_authorization(parse_challenge(challenge.get_all("Proxy-Authenticate")[-1]),
                                "MESSAGE", uri, "1001", "pw-1001")
    p.caller.send_raw(p.caller.build("MESSAGE", uri, to=f"<{uri}>", body=b"hello bob",
                                     content_type="text/plain",
                                     headers=[f"Proxy-Authorization: {auth}"]))
    msg = await p.callee.next_request("MESSAGE")
    assert msg.body == b"hello bob" and msg.from_.uri.user == "1001"
    p.callee.reply(msg, 200, to_tag="m")
    assert (await p.caller.response()).status == 200


async def test_random_mutations_never_disturb_a_call_in_progress(switch, phones) -> None:
    import random

    p = phones
    ok, req = await answered_call(p)
    valid = p.caller.build("INVITE", "sip:1002@127.0.0.1", call_id="fuzz",
                           body=sdp(4000))
    rng = random.Random(4475)
    sock = rtp_socket()
    for _ in range(300):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            i = rng.randrange(len(data))
            if op < 0.4:
                data[i] = rng.randrange(256)
            elif op < 0.7:
                del data[i:i + rng.randint(1, 40)]
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        sock.sendto(bytes(data), switch.udp)
    sock.close()
    assert switch.proc.poll() is None
    # The burst may overflow the switch's UDP receive buffer (as on any network, that is
    # what retransmissions are for); our test phones do not retransmit, so wait until the
    # switch answers again before going on.
    for _ in range(50):
        p.caller.send_raw(p.caller.build("OPTIONS", "sip:127.0.0.1", call_id="probe"))
        try:
            if (await p.caller.response(timeout=0.2)).status == 200:
                break
        except TimeoutError:
            continue
    for seq in range(20, 23):
        p.caller_rtp.sendto(rtp_packet(seq, b"\x22" * 160), media_addr(ok.body))
    assert (await recv(p.callee_rtp))[12:] == b"\x22" * 160
    p.callee.send_raw(in_dialog(p.callee, "BYE", req, we_are_caller=False))
    bye = await p.caller.next_request("BYE")
    p.caller.reply(bye, 200)


async def test_early_media_183_relayed_with_the_relay_sdp(switch, phones) -> None:
    p = phones
    await invite(p, call_id="early-1")
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 183, to_tag="e1", body=sdp(p.callee_rtp.getsockname()[1]))
    progress = await p.caller.response(final=False)
    while progress.status == 100:
        progress = await p.caller.response(final=False)
    assert progress.status == 183 and progress.body
    relay_for_caller = media_addr(progress.body)
    # ringback / announcements from the callee reach the caller before the answer
    for seq in range(3):
        p.callee_rtp.sendto(rtp_packet(seq, b"\x33" * 160, ssrc=7), media_addr(req.body))
    assert (await recv(p.caller_rtp))[12:] == b"\x33" * 160
    p.callee.reply(req, 200, to_tag="e1", body=sdp(p.callee_rtp.getsockname()[1]))
    ok = await p.caller.response()
    assert ok.status == 200 and media_addr(ok.body) == relay_for_caller


async def test_callee_answer_without_common_codec_fails_the_call_cleanly(switch, phones) -> None:
    p = phones
    await invite(p, call_id="nocodec-1")
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 200, to_tag="n1", body=sdp(p.callee_rtp.getsockname()[1], codecs="18"))
    await p.callee.next_request("ACK")
    bye = await p.callee.next_request("BYE")  # the switch hangs that phone up
    p.callee.reply(bye, 200)
    assert await refused(p.caller) == 488


async def test_late_offer_invite_without_sdp(switch, phones) -> None:
    p = phones
    ua = p.caller
    await invite(p, call_id="late-1", offer=False)
    req = await p.callee.next_request("INVITE")
    assert req.body  # the callee is offered the relay
    p.callee.reply(req, 200, to_tag="l1", body=sdp(p.callee_rtp.getsockname()[1], codecs="8"))
    ok = await ua.response()
    assert ok.status == 200 and b"RTP/AVP 8" in ok.body  # our offer: the callee's codec
    ack = ack_for(ua, ok).replace(b"Content-Length: 0", b"Content-Type: application/sdp\r\n"
                                  b"Content-Length: 0")
    body = sdp(p.caller_rtp.getsockname()[1], codecs="8")
    ack = ack.replace(b"Content-Length: 0\r\n\r\n",
                      f"Content-Length: {len(body)}\r\n\r\n".encode()) + body
    ua.send_raw(ack)
    await p.callee.next_request("ACK")
    # audio both ways once the ACK's answer set the caller's address
    for seq in range(3):
        p.callee_rtp.sendto(rtp_packet(seq, b"\x44" * 160, pt=8, ssrc=5), media_addr(req.body))
    assert (await recv(p.caller_rtp))[12:] == b"\x44" * 160


async def test_bye_before_answer_ends_the_attempt_and_old_cseq_is_refused(switch, phones) -> None:
    p = phones
    await invite(p, call_id="early-bye")
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 180, to_tag="eb")
    ringing = await p.caller.response(final=False)
    while ringing.status != 180:
        ringing = await p.caller.response(final=False)
    ua = p.caller
    ua.send_raw(ua.build("BYE", ua.invite_uri, to=f"<{ua.invite_uri}>;tag={ringing.to.tag}"))
    statuses = {(await ua.response()).status, (await ua.response()).status}
    assert statuses == {200, 487}  # BYE answered, the INVITE ended as if CANCELled
    assert (await p.callee.next_request("CANCEL")).call_id == req.call_id
    # a connected call: an in-dialog request with a CSeq lower than the last one gets 500
    ok, _ = await answered_call(p, call_id="cseq-1")
    stale = in_dialog(ua, "INFO", ok, we_are_caller=True, body=b"x",
                      content_type="text/plain")
    stale = stale.replace(f"CSeq: {ua.cseq} INFO".encode(), b"CSeq: 1 INFO")
    ua.send_raw(stale)
    assert (await ua.response()).status == 500


async def test_calls_reach_a_phone_behind_nat_at_its_source_address(switch, phones) -> None:
    p = phones
    natted = await SipUA("1003", "pw-1003", switch.udp).start()
    natted.contact_uri = "sip:1003@10.9.8.7:5060"  # its private address, unreachable here
    assert (await natted.register()).status == 200
    await invite(p, number="1003", call_id="nat-1")
    req = await natted.next_request("INVITE")  # arrived at the socket the REGISTER came from
    assert str(req.uri) == "sip:1003@10.9.8.7:5060"
    natted.reply(req, 486, to_tag="n")
    assert await refused(p.caller) == 486
    natted.close()


async def test_a_new_attempt_may_reuse_the_call_id_of_an_ended_call(switch, phones) -> None:
    p = phones
    await invite(p, call_id="again-1")
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 486, to_tag="a1")
    assert await refused(p.caller) == 486
    await invite(p, call_id="again-1")  # same Call-ID, higher CSeq
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 486, to_tag="a2")
    assert await refused(p.caller) == 486


async def test_sigterm_while_ringing_cancels_the_callee_and_answers_503(switch, phones) -> None:
    p = phones
    await invite(p, call_id="ring-down")
    req = await p.callee.next_request("INVITE")
    p.callee.reply(req, 180, to_tag="rd")
    while (await p.caller.response(final=False)).status != 180:
        pass
    switch.proc.send_signal(__import__("signal").SIGTERM)
    cancel = await p.callee.next_request("CANCEL")
    assert cancel.call_id == req.call_id
    p.callee.reply(cancel, 200, to_tag="rd")
    p.callee.reply(req, 487, to_tag="rd")
    assert await refused(p.caller) == 503
    assert await asyncio.get_running_loop().run_in_executor(None, switch.proc.wait, 15) == 0
    db = sqlite3.connect(switch.workdir / "switch.sqlite3")
    assert db.execute("SELECT disposition, hangup_side, hangup_cause, sip_code FROM cdr"
                      ).fetchall() == [("FAILED", "switch", "shutdown", 503)]
