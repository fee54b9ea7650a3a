"""The sans-IO rules of widget calls (softswitch.webrtc.offer): which SDP offers are taken
before aiortc sees them, and the per-channel call slots (max_concurrent_calls)."""

from __future__ import annotations

import pytest

from softswitch.webrtc.calls import caller_name
from softswitch.webrtc.offer import OFFER_MAX, CallSlots, OfferError, check_offer

GOOD = ("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nt=0 0\n"
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\nc=IN IP4 0.0.0.0\n"
        "a=ice-ufrag:abcd\na=ice-pwd:abcdefghijklmnopqrstuv\n"
        "a=fingerprint:sha-256 AB:CD\na=rtpmap:111 opus/48000/2\n")


def test_a_browser_like_offer_is_taken_and_normalised() -> None:
    out = check_offer(GOOD)
    assert out.startswith("v=0\r\no=") and out.endswith("a=rtpmap:111 opus/48000/2\r\n")
    # PCMA under a dynamic payload type counts too
    dynamic = GOOD.replace("111 0 8", "111 96").replace(
        "a=rtpmap:111", "a=rtpmap:96 PCMA/8000\na=rtpmap:111")
    assert "PCMA" in check_offer(dynamic)


@pytest.mark.parametrize(("sdp", "message"), [
    (None, "needs an SDP offer"),
    ("   ", "needs an SDP offer"),
    ("hello", "v=0 first"),
    ("v=0\n" + "a=x\n" * (OFFER_MAX // 4), "larger than"),
    (GOOD.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8", "m=video 9 UDP 96"), "no audio"),
    (GOOD.replace("111 0 8", "111"), "neither PCMU nor PCMA"),
    (GOOD.replace("a=fingerprint:sha-256 AB:CD\n", ""), "DTLS fingerprint"),
    (GOOD.replace("a=ice-pwd:abcdefghijklmnopqrstuv\n", ""), "ICE credentials"),
    (GOOD + "garbage line\n", "malformed line"),
    (GOOD + "a=" + "x" * 5000 + "\n", "malformed line"),
    (GOOD + "a=x\x00y\n", "malformed line"),
    (GOOD.replace("m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8", "m=audio 9"), "malformed audio"),
])
def test_hostile_offers_are_refused(sdp: object, message: str) -> None:
    with pytest.raises(OfferError) as err:
        check_offer(sdp)
    assert message in str(err.value)


def test_slots_per_channel() -> None:
    slots = CallSlots()
    a, b, c = object(), object(), object()
    assert slots.take("Livechat", 2, a) and slots.take("Livechat", 2, b)
    assert not slots.take("Livechat", 2, c)
    assert slots.take("Other", 2, c)  # each channel has its own limit
    slots.release("Livechat", a)
    assert slots.count("Livechat") == 1 and slots.take("Livechat", 2, c)


def test_caller_name_from_the_pre_chat_form() -> None:
    assert caller_name({"name": "Ann", "email": "ann@example.com"}) == "Ann"
    assert caller_name({"email": "ann@example.com"}) == "ann@example.com"
    assert caller_name(None) == "Website visitor"
