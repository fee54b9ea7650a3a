"""The internal WebRTC trunk's admission rule (softswitch.webrtc.trunk): the switch's
per-process secret in ``X-WebRTC-Trunk`` and a loopback source, nothing else."""

from __future__ import annotations

from softswitch.sip import Request
from softswitch.sip.transaction import Peer
from softswitch.webrtc.trunk import HEADER, WebRtcTrunk, failure_reason


def invite(secret: str | None) -> Request:
    headers = [("From", "<sip:LC00000@pbx>;tag=a"), ("To", "<sip:LC00000@pbx>"),
               ("Call-ID", "c1"), ("CSeq", "1 INVITE")]
    if secret is not None:
        headers.append((HEADER, secret))
    return Request("INVITE", "sip:LC00000@127.0.0.1", headers=headers)


def test_only_the_secret_from_loopback_is_the_trunk() -> None:
    trunk = WebRtcTrunk()
    here = Peer("udp", "127.0.0.1", 5062)
    assert trunk.admits(invite(trunk.secret), here)
    assert trunk.admits(invite(trunk.secret), Peer("udp", "::1", 5062))
    assert not trunk.admits(invite(trunk.secret), Peer("udp", "192.0.2.7", 5062))
    assert not trunk.admits(invite(trunk.secret[:-1]), here)
    assert not trunk.admits(invite(""), here)
    assert not trunk.admits(invite(None), here)
    assert WebRtcTrunk().secret != trunk.secret  # generated per process, never configured


def test_the_visitor_hears_why_the_call_ended() -> None:
    assert [failure_reason(s) for s in (480, 404, 603, 486, 408, 487, 500, 488)] == [
        "unavailable", "unavailable", "unavailable", "no_answer", "no_answer", "no_answer",
        "failed", "failed"]


def test_the_media_of_a_180_183_or_200_answer() -> None:
    """What the gateway takes from the switch's SDP (a 200's, or a 183's early media)."""
    from softswitch.webrtc.trunk import answer_media

    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40002 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n")
    assert answer_media(sdp.encode()) == (("127.0.0.1", 40002), 8)
    assert answer_media(sdp.replace(" 8 101", " 18").encode()) is None  # no G.711
    assert answer_media(sdp.replace("40002", "0").encode()) is None  # a refused stream
    assert answer_media(b"garbage") is None
