"""SIP URIs (RFC 3261 §19.1): parsing, serialising, and the comparison rules of §19.1.4 with
the RFC's own examples."""

from __future__ import annotations

import pytest

from softswitch.sip import SipParseError, SipUri

EQUAL = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
     "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
    ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
     "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
]
NOT_EQUAL = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]


@pytest.mark.parametrize("a,b", EQUAL)
def test_rfc3261_equivalent_uris(a: str, b: str) -> None:
    assert SipUri.parse(a) == SipUri.parse(b)


@pytest.mark.parametrize("a,b", NOT_EQUAL)
def test_rfc3261_different_uris(a: str, b: str) -> None:
    assert SipUri.parse(a) != SipUri.parse(b)


def test_parts_and_round_trip() -> None:
    text = "sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi"
    u = SipUri.parse(text)
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips", "alice", "secret", "[2001:db8::1]", 5061)
    assert u.params == {"transport": "tls", "lr": None} and u.transport == "tls"
    assert u.headers == "subject=hi"
    assert str(u) == text
    assert str(SipUri.parse("sip:1001@10.0.0.5")) == "sip:1001@10.0.0.5"
    tel = SipUri.parse("tel:+15551234567;phone-context=example.com")
    assert tel.scheme == "tel" and not tel.is_sip and str(tel).startswith("tel:+1555")


@pytest.mark.parametrize("bad", [
    "sip:", "sip:@example.com", "sip:alice@", "sip:alice@exa mple.com", "sip:alice@host:99999",
    "sip:alice@300.1.1.1", "sip:alice@-bad.example.com", "sip:alice@host;=x", "nocolon",
    "sip:al<ice@example.com", "sip:alice@host;tag=",
])
def test_invalid_uris_raise(bad: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(bad)
