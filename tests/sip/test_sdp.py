"""SDP parsing/building and offer/answer (RFC 4566, RFC 3264)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.sip import (
    SdpParseError,
    SessionDescription,
    anchor,
    audio,
    create_answer,
    create_offer,
    is_on_hold,
)

PHONE_OFFER = (
    b"v=0\r\n"
    b"o=- 3921482 3921482 IN IP4 192.168.1.20\r\n"
    b"s=Zoiper\r\n"
    b"c=IN IP4 192.168.1.20\r\n"
    b"b=AS:84\r\n"
    b"t=0 0\r\n"
    b"m=audio 40000 RTP/AVP 8 0 9 18 101\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:9 G722/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
    b"m=video 0 RTP/AVP 96\r\n"
)


def test_parse_phone_offer() -> None:
    sdp = SessionDescription.parse(PHONE_OFFER)
    assert sdp.origin.address == "192.168.1.20" and sdp.session_name == "Zoiper"
    assert sdp.connection == "192.168.1.20"
    m = audio(sdp)
    assert m is not None
    assert m.port == 40000 and m.proto == "RTP/AVP"
    assert m.formats == ["8", "0", "9", "18", "101"]
    assert m.rtpmap[101].encoding == "telephone-event" and m.rtpmap[8].encoding == "PCMA"
    assert m.fmtp[101] == "0-16" and m.ptime == 20 and m.direction == "sendrecv"
    assert len(sdp.media) == 2
    # Serialising keeps what we do not interpret (b=, fmtp for G.729).
    out = bytes(sdp)
    assert b"b=AS:84\r\n" in out and b"a=fmtp:18 annexb=no\r\n" in out
    assert SessionDescription.parse(out).media[0].formats == m.formats


def test_answer_keeps_offer_order_and_intersects() -> None:
    offer = SessionDescription.parse(PHONE_OFFER)
    answer = create_answer(offer, "10.0.0.1", 30000)
    assert answer is not None
    a = answer.media[0]
    assert a.port == 30000 and answer.connection == "10.0.0.1"
    assert a.formats == ["8", "0", "101"]  # PCMA first as offered; G722/G729 dropped
    assert a.fmtp[101] == "0-16" and a.direction == "sendrecv" and a.ptime == 20
    # The rejected video stream is answered with port 0 (RFC 3264 §6).
    assert answer.media[1].media == "video" and answer.media[1].port == 0
    assert len(answer.media) == len(offer.media)
    reparsed = SessionDescription.parse(bytes(answer))
    assert reparsed.media[0].formats == ["8", "0", "101"]


def test_answer_with_restricted_codecs_and_no_common_codec() -> None:
    offer = SessionDescription.parse(PHONE_OFFER)
    only_pcmu = create_answer(offer, "10.0.0.1", 30000, codecs=("PCMU",))
    assert only_pcmu is not None and only_pcmu.media[0].formats == ["0", "101"]
    g729_only = SessionDescription.parse(PHONE_OFFER.replace(b"RTP/AVP 8 0 9 18 101",
                                                             b"RTP/AVP 18"))
    assert create_answer(g729_only, "10.0.0.1", 30000) is None  # -> 488


def test_dynamic_payload_numbers_are_followed() -> None:
    offer = SessionDescription.parse(
        PHONE_OFFER.replace(b"101", b"96").replace(b"m=video 0 RTP/AVP 96\r\n", b""))
    answer = create_answer(offer, "10.0.0.1", 30000)
    assert answer is not None and answer.media[0].formats[-1] == "96"
    assert answer.media[0].rtpmap[96].encoding == "telephone-event"


@pytest.mark.parametrize("offered,answered", [
    ("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive"),
    ("sendrecv", "sendrecv"),
])
def test_answer_mirrors_direction(offered: str, answered: str) -> None:
    offer = SessionDescription.parse(PHONE_OFFER.replace(b"a=sendrecv", f"a={offered}".encode()))
    answer = create_answer(offer, "10.0.0.1", 30000)
    assert answer is not None and answer.media[0].direction == answered


def test_hold_detection() -> None:
    base = SessionDescription.parse(PHONE_OFFER)
    assert not is_on_hold(base)
    for variant in (b"a=sendonly", b"a=inactive"):
        assert is_on_hold(SessionDescription.parse(PHONE_OFFER.replace(b"a=sendrecv",
                                                                       variant)))
    old_style = SessionDescription.parse(PHONE_OFFER.replace(b"c=IN IP4 192.168.1.20",
                                                             b"c=IN IP4 0.0.0.0"))
    assert is_on_hold(old_style)
    # recvonly is not hold from the sender's view.
    assert not is_on_hold(SessionDescription.parse(PHONE_OFFER.replace(b"a=sendrecv",
                                                                       b"a=recvonly")))


def test_anchor_rewrites_addresses_and_port_only() -> None:
    offer = SessionDescription.parse(PHONE_OFFER)
    anchored = anchor(offer, "10.0.0.1", 31000)
    m = audio(anchored)
    assert m is not None and m.port == 31000
    assert anchored.connection == "10.0.0.1" and anchored.origin.address == "10.0.0.1"
    assert m.formats == ["8", "0", "9", "18", "101"]
    assert anchored.media[1].port == 0  # still rejected
    assert offer.media[0].port == 40000  # the original is untouched
    # An RFC 2543 hold (c=0.0.0.0) stays a hold after anchoring.
    held = SessionDescription.parse(PHONE_OFFER.replace(b"c=IN IP4 192.168.1.20",
                                                        b"c=IN IP4 0.0.0.0"))
    relayed = anchor(held, "10.0.0.1", 31000)
    assert relayed.connection == "10.0.0.1" and is_on_hold(relayed)


def test_offer_we_build() -> None:
    offer = create_offer("10.0.0.1", 32000)
    m = audio(offer)
    assert m is not None and m.formats == ["0", "8", "101"]
    assert m.fmtp[101] == "0-16" and m.ptime == 20 and m.direction == "sendrecv"
    parsed = SessionDescription.parse(bytes(offer))
    assert parsed.connection == "10.0.0.1" and audio(parsed) is not None
    held = create_offer("10.0.0.1", 32000, direction="sendonly")
    assert is_on_hold(held)


@pytest.mark.parametrize("bad", [
    b"",
    b"hello world",
    b"v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
    b"v=0\r\no=- 1 IN IP4\r\n",
    b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio port RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN\r\n",
])
def test_malformed_sdp_raises(bad: bytes) -> None:
    with pytest.raises(SdpParseError):
        SessionDescription.parse(bad)


SDP_PIECES = st.sampled_from([
    "v=0", "v=1", "o=- 1 1 IN IP4 1.2.3.4", "o=x", "s=-", "c=IN IP4 0.0.0.0", "c=IN IP6 ::1",
    "c=IN", "t=0 0", "m=audio 4000 RTP/AVP 0 8 101", "m=audio 0 RTP/AVP 0",
    "m=audio 70000 RTP/AVP 0", "m=video 5000 RTP/AVP 96", "m=audio x RTP/AVP 0",
    "m=audio 4000/2 RTP/AVP 0", "m=audio 4000 RTP/SAVP 0", "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000", "a=rtpmap:x y", "a=rtpmap:8", "a=fmtp:101 0-16",
    "a=fmtp:", "a=sendonly", "a=recvonly", "a=inactive", "a=sendrecv", "a=ptime:20",
    "a=ptime:abc", "b=AS:64", "x", "", "a=rtpmap:96 telephone-event/16000",
])


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.one_of(SDP_PIECES, st.text(max_size=20)), max_size=14))
def test_sdp_from_any_lines_parses_or_raises_sdp_parse_error(lines: list[str]) -> None:
    text = "\r\n".join(lines).encode("utf-8", "surrogatepass")
    try:
        sdp = SessionDescription.parse(text)
    except SdpParseError:
        return
    # Whatever parsed can be answered, anchored, checked and serialised.
    answer = create_answer(sdp, "10.0.0.1", 30000)
    if answer is not None:
        assert SessionDescription.parse(bytes(answer)).media
    bytes(anchor(sdp, "10.0.0.1", 30000))
    is_on_hold(sdp)
    for m in sdp.media:
        _ = (m.rtpmap, m.fmtp, m.ptime, m.direction)
