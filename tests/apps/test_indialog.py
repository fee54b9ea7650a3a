"""The one in-dialog policy of self-answered calls (softswitch.apps.indialog): every method,
as a table."""

from __future__ import annotations

import pytest

from softswitch.apps.indialog import ALLOW, InDialogPolicy, unknown_dialog
from softswitch.sip import Request, Response, parse_message
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog

CALLER_SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
              "m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
              "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na={direction}\r\n")


def _request(method: str, cseq: int, body: str = "", content_type: str = "application/sdp",
             to_tag: str | None = "ours", call_id: str = "call-1") -> Request:
    lines = [f"{method} sip:6400@127.0.0.1 SIP/2.0",
             "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + f"{method}{cseq}",
             "Max-Forwards: 70", "From: <sip:1001@example.com>;tag=theirs",
             "To: <sip:6400@example.com>" + (f";tag={to_tag}" if to_tag else ""),
             f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
             "Contact: <sip:1001@127.0.0.1:5070>"]
    if body:
        lines.append(f"Content-Type: {content_type}")
    raw = ("\r\n".join(lines) + f"\r\nContent-Length: {len(body.encode())}\r\n\r\n" + body)
    msg = parse_message(raw.encode())
    assert isinstance(msg, Request)
    return msg


def _policy() -> InDialogPolicy:
    invite = _request("INVITE", 1, CALLER_SDP.format(direction="sendrecv"), to_tag=None)
    offer = sdplib.SessionDescription.parse(invite.body)
    answer = sdplib.create_answer(offer, "127.0.0.1", 20000, codecs=("PCMU",),
                                  session_id="77")
    assert answer is not None
    ok = invite.create_response(200, to_tag="ours", body=bytes(answer),
                                headers=[("Contact", "<sip:6400@127.0.0.1:5060>")])
    return InDialogPolicy(Dialog.create_uas(invite, ok), answer, "<sip:6400@127.0.0.1:5060>")


def _sdp(resp: Response) -> sdplib.SessionDescription:
    return sdplib.SessionDescription.parse(resp.body)


# method, body, content type -> status, call ends, digit delivered, Allow listed
TABLE = [
    ("BYE", "", "", 200, True, None, False),
    ("OPTIONS", "", "", 200, False, None, True),
    ("INFO", "Signal=5\r\nDuration=160\r\n", "application/dtmf-relay", 200, False, "5", False),
    ("INFO", "Signal=11\r\n", "application/dtmf-relay", 200, False, "#", False),
    ("INFO", "*", "application/dtmf", 200, False, "*", False),
    ("INFO", "Signal=\r\n", "application/dtmf-relay", 400, False, None, False),
    ("INFO", "", "", 200, False, None, False),
    ("INFO", "<xml/>", "application/xml", 415, False, None, False),
    ("UPDATE", "", "", 200, False, None, False),
    ("PRACK", "", "", 481, False, None, False),
    ("NOTIFY", "", "", 481, False, None, False),
    ("REGISTER", "", "", 405, False, None, True),
    ("SUBSCRIBE", "", "", 405, False, None, True),
    ("REFER", "", "", 405, False, None, True),
    ("PUBLISH", "", "", 405, False, None, True),
    ("MESSAGE", "hi", "text/plain", 405, False, None, True),
    ("FOO", "", "", 501, False, None, True),
]


@pytest.mark.parametrize(("method", "body", "ctype", "status", "ends", "digit", "allow"),
                         TABLE)
def test_every_method(method: str, body: str, ctype: str, status: int, ends: bool,
                      digit: str | None, allow: bool) -> None:
    policy = _policy()
    out = policy.handle_request(_request(method, 2, body, ctype), 0.0)
    assert out.response.status == status
    assert out.ends_call is ends
    assert out.digit == digit
    assert (out.response.get("Allow") == ALLOW) is allow
    assert out.media is None
    if status == 415:
        assert "application/dtmf-relay" in (out.response.get("Accept") or "")


def test_unknown_dialog_is_481() -> None:
    resp = unknown_dialog(_request("INFO", 2))
    assert resp.status == 481


def test_cseq_lower_than_the_last_is_500() -> None:
    policy = _policy()
    assert policy.handle_request(_request("OPTIONS", 5), 0.0).response.status == 200
    out = policy.handle_request(_request("INFO", 4, "1", "application/dtmf"), 0.0)
    assert out.response.status == 500 and out.digit is None


def test_reinvite_refresh_gets_the_same_sdp() -> None:
    policy = _policy()
    before = bytes(policy.local_sdp)
    out = policy.handle_request(_request("INVITE", 2, CALLER_SDP.format(direction="sendrecv")),
                                0.0)
    assert out.response.status == 200
    assert out.response.body == before  # same o= version: nothing changed
    assert out.response.get("Contact") == "<sip:6400@127.0.0.1:5060>"
    assert out.held is None and out.media is not None
    assert out.media.address == ("127.0.0.1", 4000) and out.media.codec == "PCMU"


def test_hold_and_unhold() -> None:
    policy = _policy()
    first = _sdp(policy.handle_request(_request(
        "INVITE", 2, CALLER_SDP.format(direction="sendonly")), 0.0).response)
    assert policy.held
    audio = sdplib.audio(first)
    assert audio is not None and audio.direction == "recvonly"
    assert first.origin is not None and first.origin.session_version == "78"
    back = policy.handle_request(_request("INVITE", 3, CALLER_SDP.format(direction="sendrecv")),
                                 0.0)
    assert back.held is False and back.media is not None and back.media.direction == "sendrecv"
    again = _sdp(back.response)
    assert again.origin is not None and again.origin.session_version == "79"
    assert again.origin.session_id == "77"
    inactive = policy.handle_request(_request(
        "INVITE", 4, CALLER_SDP.format(direction="inactive")), 0.0)
    assert inactive.held is True
    audio = sdplib.audio(_sdp(inactive.response))
    assert audio is not None and audio.direction == "inactive"


def test_reinvite_keeps_our_codec_while_offered() -> None:
    policy = _policy()
    offer = CALLER_SDP.format(direction="sendrecv").replace("RTP/AVP 0 8 101",
                                                            "RTP/AVP 8 0 101")
    out = policy.handle_request(_request("INVITE", 2, offer), 0.0)
    assert out.media is not None and out.media.codec == "PCMU"
    only_pcma = offer.replace("RTP/AVP 8 0 101", "RTP/AVP 8 101")
    out = policy.handle_request(_request("INVITE", 3, only_pcma), 0.0)
    assert out.media is not None and out.media.codec == "PCMA"
    assert out.media.payload_type == 8


def test_reinvite_without_codec_of_ours_is_488() -> None:
    policy = _policy()
    offer = CALLER_SDP.format(direction="sendrecv").replace("RTP/AVP 0 8 101", "RTP/AVP 18")
    assert policy.handle_request(_request("INVITE", 2, offer), 0.0).response.status == 488


def test_reinvite_without_sdp_offers_ours_and_491_until_the_ack() -> None:
    policy = _policy()
    out = policy.handle_request(_request("INVITE", 2), 0.0)
    assert out.response.status == 200 and out.response.body == bytes(policy.local_sdp)
    assert policy.handle_request(_request("INVITE", 3, CALLER_SDP.format(
        direction="sendrecv")), 0.0).response.status == 491
    assert policy.handle_request(_request("UPDATE", 4, CALLER_SDP.format(
        direction="sendrecv")), 0.0).response.status == 491
    ack = policy.handle_ack(_request("ACK", 2, CALLER_SDP.format(direction="sendonly")))
    assert ack is not None and ack.held is True and ack.media.codec == "PCMU"
    assert policy.handle_request(_request("INVITE", 5, CALLER_SDP.format(
        direction="sendrecv")), 0.0).response.status == 200


def test_update_with_sdp_is_an_offer() -> None:
    policy = _policy()
    out = policy.handle_request(_request("UPDATE", 2, CALLER_SDP.format(direction="sendonly")),
                                0.0)
    assert out.response.status == 200 and out.held is True
    audio = sdplib.audio(_sdp(out.response))
    assert audio is not None and audio.direction == "recvonly"


def test_bad_sdp_is_400() -> None:
    policy = _policy()
    assert policy.handle_request(_request("INVITE", 2, "garbage"), 0.0).response.status == 400
