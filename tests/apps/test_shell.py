"""The call shell in a switch started inside the test's loop, over real UDP sockets on
loopback: echo, an agent feature code, a prompt destination (from an inbound trunk route
and from a queue's failover), and the same answers to the same in-dialog requests in every
one of them (softswitch.apps.indialog)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from app_calls import dial, in_dialog, rtp_socket, start_switch, udp
from sipua import SipUA, sdp

from acd.events import MemberState
from softswitch.calls.events import CallAnswered, CallEnded, CallStarted
from softswitch.sip import Response
from softswitch.sip.sdp import SessionDescription, audio

PCMU_SILENCE = 0xFF


async def probe(ua: SipUA, ok: Response, rtp: socket.socket) -> dict[str, Any]:
    """What the switch answers to the same in-dialog requests."""
    seen: dict[str, Any] = {}
    for method, body, ctype in (
            ("FOO", b"", ""),
            ("REGISTER", b"", ""),
            ("SUBSCRIBE", b"", ""),
            ("INFO", b"Signal=5\r\nDuration=100\r\n", "application/dtmf-relay"),
            ("INFO", b"<x/>", "application/xml"),
            ("UPDATE", b"", ""),
            ("OPTIONS", b"", ""),
            ("INVITE", sdp(rtp.getsockname()[1]), "application/sdp")):
        ua.send_raw(in_dialog(ua, ok, method, body, ctype))
        resp = await ua.response()
        key = f"{method} {ctype}".strip()
        seen[key] = resp.status
        if resp.status == 405 or resp.status == 501:
            seen[f"{key} Allow"] = resp.get("Allow")
        if method == "INVITE":
            seen["re-INVITE gets the same SDP"] = resp.body == ok.body
            ua.send_raw(ua.build("ACK", str(ok.contacts[0].uri),
                                 to=f"<{ua.invite_uri}>;tag={ok.to.tag}",  # type: ignore
                                 cseq=ua.cseq, with_contact=False))
    return seen


EXPECTED = {
    "FOO": 501, "FOO Allow": "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE",
    "REGISTER": 405, "REGISTER Allow": "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE",
    "SUBSCRIBE": 405, "SUBSCRIBE Allow": "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE",
    "INFO application/dtmf-relay": 200, "INFO application/xml": 415, "UPDATE": 200,
    "OPTIONS": 200, "INVITE application/sdp": 200, "re-INVITE gets the same SDP": True,
}


async def heard(rtp: socket.socket, seconds: float) -> int:
    """How many non-silent RTP packets arrived within `seconds`."""
    loop = asyncio.get_running_loop()
    count = 0
    end = loop.time() + seconds
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(loop.sock_recv(rtp, 2048), end - loop.time())
        except TimeoutError:
            break
        if any(b != PCMU_SILENCE for b in data[12:]):
            count += 1
    return count


@pytest.fixture
def rtp() -> Any:
    s = rtp_socket()
    yield s
    s.close()


async def test_echo_is_an_application_with_the_one_policy(tmp_path: Path, rtp) -> None:
    switch = await start_switch(tmp_path)
    seen: list[Any] = []
    switch.router.events.subscribe(seen.append, CallStarted, CallAnswered, CallEnded)
    try:
        ua = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(ua, "*43", "echo-shell", rtp)
        assert ok.status == 200
        answers = await probe(ua, ok, rtp)
        desc = SessionDescription.parse(ok.body)
        m = audio(desc)
        assert m is not None
        relay = (m.connection or desc.connection or "", m.port)
        rtp.sendto(b"\x80\x00\x00\x01" + b"\x00" * 8 + bytes(range(160)), relay)
        echoed = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(rtp, 2048), 3)
        assert echoed[12:] == bytes(range(160))
        ua.send_raw(in_dialog(ua, ok, "BYE"))
        assert (await ua.response()).status == 200
        # a request in a dialog that is over (or never was) is 481
        ua.call_id = "no-such-dialog"
        ua.send_raw(in_dialog(ua, ok, "INFO"))
        assert (await ua.response()).status == 481
        ua.close()
    finally:
        await switch.stop()
    assert answers == EXPECTED
    kinds = [(type(e).__name__, getattr(e, "destination", None)) for e in seen
             if e.call_id == "echo-shell"]
    assert kinds == [("CallStarted", "echo"), ("CallAnswered", None), ("CallEnded", None)]


async def test_echo_with_a_late_offer(tmp_path: Path, rtp) -> None:
    """An INVITE without SDP: the 200 carries the switch's offer, the ACK the phone's
    answer, and the echo comes back to the address of that answer."""
    switch = await start_switch(tmp_path)
    try:
        ua = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(ua, "*43", "echo-late", rtp, offer=False)
        assert ok.status == 200 and ok.get("Content-Type") == "application/sdp"
        desc = SessionDescription.parse(ok.body)
        m = audio(desc)
        assert m is not None
        relay = (m.connection or desc.connection or "", m.port)
        loop = asyncio.get_running_loop()
        for seq in range(50):  # until the ACK's answer has pointed the leg at us
            rtp.sendto(bytes([0x80, 0, 0, seq]) + b"\x00" * 8 + bytes(range(160)), relay)
            try:
                echoed = await asyncio.wait_for(loop.sock_recv(rtp, 2048), 0.05)
            except TimeoutError:
                continue
            assert echoed[12:] == bytes(range(160))
            break
        else:
            pytest.fail("no echo after the late offer's ACK")
        # the ACK completed the offer/answer: a re-INVITE is answered, not 491
        ua.send_raw(in_dialog(ua, ok, "INVITE", sdp(rtp.getsockname()[1])))
        assert (await ua.response()).status == 200
        ua.send_raw(in_dialog(ua, ok, "BYE"))
        assert (await ua.response()).status == 200
        ua.close()
    finally:
        await switch.stop()


async def test_feature_code_answers_plays_and_hangs_up(tmp_path: Path, rtp) -> None:
    switch = await start_switch(tmp_path, queues=[
        {"number": "6400", "name": "Sales", "dynamic_agents": ["1001"]}])
    try:
        ua = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(ua, "*76400", "feature-shell", rtp)
        assert ok.status == 200
        # the sign-in happened when the code was dialled
        assert switch.router.queues.acd.member_state("1001", "6400") is not \
            MemberState.LOGGED_OUT
        answers = await probe(ua, ok, rtp)
        assert await heard(rtp, 0.5) > 5  # the "signed in" prompt
        bye = await ua.next_request("BYE")  # the switch hangs up after the prompt
        ua.reply(bye, 200)
        ua.close()
    finally:
        await switch.stop()
    assert answers == EXPECTED


async def test_inbound_route_to_a_prompt_destination(tmp_path: Path, rtp) -> None:
    # the provider's address is the trunk's: its INVITEs need no digest
    provider = await SipUA("carrier", "", ("127.0.0.1", 9)).start()
    switch = await start_switch(
        tmp_path, trunks=[{"name": "carrier", "host": "127.0.0.1",
                           "port": provider.local[1]}],
        inbound_routes=[{"name": "closed", "did": "5550100",
                         "destination": {"type": "prompt", "target": "goodbye"}}])
    try:
        provider.server = udp(switch)
        ok = await dial(provider, "5550100", "trunk-prompt", rtp, authenticate=False)
        assert ok.status == 200
        answers = await probe(provider, ok, rtp)
        assert await heard(rtp, 0.4) > 5  # "goodbye"
        bye = await provider.next_request("BYE")
        provider.reply(bye, 200)
        provider.close()
    finally:
        await switch.stop()
    assert answers == EXPECTED


async def test_queue_failover_to_a_prompt_and_the_queue_callers_policy(
        tmp_path: Path, rtp) -> None:
    """A caller waiting in a queue gets the same answers as the applications; when the
    queue's max wait sends it to a prompt destination, the call shell takes the answered
    call over: the caller hears the prompt and the switch hangs up."""
    switch = await start_switch(tmp_path, queues=[
        {"number": "6400", "name": "Sales", "static_agents": ["1002"], "max_wait": 2,
         "failover": {"type": "prompt", "target": "goodbye"}}])
    try:
        ua = await SipUA("1001", "pw-1001", udp(switch)).start()
        ok = await dial(ua, "6400", "queue-prompt", rtp)
        assert ok.status == 200
        answers = await probe(ua, ok, rtp)
        bye = await ua.next_request("BYE")  # after max wait, then the prompt
        ua.reply(bye, 200)
        assert switch.router.apps.calls["queue-prompt"].kind == "prompt"
        ua.close()
    finally:
        await switch.stop()
    assert answers == EXPECTED
