"""Message layer: parsing, building, serialising, stream framing, and bad input (a malformed
corpus plus hypothesis mutations: parse returns a message or raises SipParseError, nothing
else)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.sip import (
    Address,
    Request,
    Response,
    SipParseError,
    SipUri,
    StreamFramer,
    Via,
    parse_message,
)

REGISTER = (
    b"REGISTER sip:example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-524287-1---a7a6f3c1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@10.0.0.5:5062;rinstance=8a1b>;expires=3600\r\n"
    b"To: <sip:1001@example.com>\r\n"
    b"From: <sip:1001@example.com>;tag=4d1a2f6b\r\n"
    b"Call-ID: OWRiZjQ5YmYyZTJmNzAyN2E4ZTk3NjQ0MjZhNmY2Yzg\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Expires: 3600\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n"
    b"User-Agent: Zoiper rv2.10.8.2\r\n"
    b'Authorization: Digest username="1001",realm="example.com",nonce="abc",'
    b'uri="sip:example.com",response="0123",cnonce="xyz",nc=00000001,qop=auth,'
    b"algorithm=MD5\r\n"
    b"Content-Length: 0\r\n\r\n"
)

INVITE = (
    b"INVITE sip:1002@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/TCP 10.0.0.5:5062;branch=z9hG4bKabc, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKdef\r\n"
    b"f: \"Alice A.\" <sip:1001@example.com>;tag=aaa\r\n"
    b"t: <sip:1002@example.com>\r\n"
    b"i: call-1@10.0.0.5\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:1001@10.0.0.5:5062;transport=tcp>\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"k: replaces, 100rel\r\n"
    b"c: application/sdp\r\n"
    b"Alert-Info: <http://www.notused.com>;info=alert-autoanswer\r\n"
    b"l: 5\r\n\r\nv=0\r\n"
)


def test_register_core_headers() -> None:
    m = parse_message(REGISTER)
    assert isinstance(m, Request) and m.method == "REGISTER"
    assert str(m.uri) == "sip:example.com"
    assert m.via.branch == "z9hG4bK-524287-1---a7a6f3c1" and m.via.rport == ""
    assert m.via.sent_by == ("10.0.0.5", 5062)
    assert m.from_.tag == "4d1a2f6b" and m.to.tag is None
    assert m.call_id == "OWRiZjQ5YmYyZTJmNzAyN2E4ZTk3NjQ0MjZhNmY2Yzg"
    assert (m.cseq.number, m.cseq.method) == (2, "REGISTER")
    assert m.expires == 3600 and m.max_forwards == 70
    (c,) = m.contacts
    assert c.expires == 3600 and c.uri.port == 5062 and c.uri.params["rinstance"] == "8a1b"
    assert m.get_all("Allow")[:3] == ["INVITE", "ACK", "CANCEL"]
    assert m.get("authorization", ) is not None and m.get("AUTHORIZATION") is not None


def test_compact_forms_and_lists() -> None:
    m = parse_message(INVITE)
    assert [v.branch for v in m.vias] == ["z9hG4bKabc", "z9hG4bKdef"]
    assert m.from_.display_name == "Alice A."
    assert m.call_id == "call-1@10.0.0.5"
    assert m.contacts[0].uri.transport == "tcp"
    assert [str(r.uri) for r in m.record_routes] == [
        "sip:p1.example.com;lr", "sip:p2.example.com;lr"
    ]
    assert m.get_all("Supported") == ["replaces", "100rel"]
    assert m.get("Contact") == m.get("m")
    assert m.content_type == "application/sdp" and m.body == b"v=0\r\n"
    assert m.get("Alert-Info") == "<http://www.notused.com>;info=alert-autoanswer"


def test_serialise_writes_long_names_and_correct_length() -> None:
    m = parse_message(INVITE)
    m.body = b"v=0\r\no=x\r\n"
    wire = bytes(m)
    assert b"\r\nVia: " in wire and b"\r\nFrom: " in wire and b"\r\nCall-ID: " in wire
    assert wire.count(b"Content-Length") == 1
    assert b"Content-Length: 10\r\n\r\nv=0\r\no=x\r\n" in wire
    assert parse_message(wire).body == m.body


def test_in_place_changes_show_when_serialised() -> None:
    m = parse_message(REGISTER)
    m.via.params["received"] = "192.0.2.7"
    m.via.params["rport"] = "5999"
    wire = bytes(m)
    assert b"rport=5999;received=192.0.2.7" in wire


def test_create_response_copies_what_8_2_6_2_says() -> None:
    m = parse_message(INVITE)
    r = m.create_response(180, to_tag="t1", headers=[("Contact", "<sip:sw@10.0.0.1>")])
    assert r.status == 180 and r.reason == "Ringing"
    assert [v.branch for v in r.vias] == ["z9hG4bKabc", "z9hG4bKdef"]
    assert r.to.tag == "t1" and m.to.tag is None  # the request is untouched
    assert r.from_.tag == "aaa" and r.call_id == m.call_id and r.cseq.number == 1
    assert len(r.record_routes) == 2
    trying = m.create_response(100, to_tag="t1")
    assert trying.to.tag is None and not trying.record_routes
    again = parse_message(bytes(r))
    assert isinstance(again, Response) and again.to.tag == "t1"


def test_build_request_from_scratch() -> None:
    req = Request(
        "OPTIONS",
        "sip:1001@192.0.2.1:5060",
        [
            ("Via", Via("UDP", "192.0.2.9", 5060, {"branch": "z9hG4bKx", "rport": None})),
            ("From", Address(SipUri.parse("sip:switch@example.com"), "Switch", {"tag": "a"})),
            ("To", "<sip:1001@example.com>"),
            ("Call-ID", "c1"),
            ("CSeq", "1 OPTIONS"),
        ],
    )
    wire = bytes(req)
    assert wire.startswith(b"OPTIONS sip:1001@192.0.2.1:5060 SIP/2.0\r\n")
    assert b'From: "Switch" <sip:switch@example.com>;tag=a\r\n' in wire
    assert b"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKx;rport\r\n" in wire
    back = parse_message(wire)
    assert back.from_.display_name == "Switch" and back.cseq.method == "OPTIONS"


def test_header_set_add_remove() -> None:
    m = parse_message(REGISTER)
    m.set("Expires", "60")
    assert m.expires == 60
    m.remove("expires")
    assert m.expires is None and not m.has("Expires")
    m.add("Route", "<sip:a;lr>")
    m.add("Route", "<sip:b;lr>")
    assert [r.uri.host for r in m.routes] == ["a", "b"]
    top = m.pop_via()
    assert top.branch == "z9hG4bK-524287-1---a7a6f3c1" and m.vias == []


def test_contact_star() -> None:
    data = REGISTER.replace(
        b"Contact: <sip:1001@10.0.0.5:5062;rinstance=8a1b>;expires=3600", b"Contact: *"
    ).replace(b"Expires: 3600", b"Expires: 0")
    m = parse_message(data)
    assert m.contacts[0].is_wildcard and m.expires == 0
    bad = REGISTER.replace(b"Contact: <", b"Contact: *, <")
    with pytest.raises(SipParseError) as info:
        parse_message(bad)
    assert info.value.request is not None


def test_leading_crlf_before_start_line_is_ignored() -> None:
    assert parse_message(b"\r\n\r\n" + REGISTER).call_id.startswith("OWRi")


def test_bare_lf_line_endings_are_tolerated() -> None:
    m = parse_message(REGISTER.replace(b"\r\n", b"\n"))
    assert m.cseq.number == 2


# -- malformed corpus --------------------------------------------------------------------

def _without(header: bytes) -> bytes:
    return b"".join(
        line + b"\r\n"
        for line in REGISTER.split(b"\r\n")[:-2]
        if not line.lower().startswith(header.lower() + b":")
    ) + b"\r\n"


MALFORMED: dict[str, tuple[bytes, bool]] = {
    # name: (data, answerable with 400)
    "truncated in headers": (REGISTER[:120], False),
    "truncated start line": (b"REGIS", False),
    "empty": (b"", False),
    "only crlf": (b"\r\n\r\n\r\n", False),
    "content-length too big": (REGISTER.replace(b"Content-Length: 0", b"Content-Length: 40"),
                               True),
    "content-length not a number": (REGISTER.replace(b"Content-Length: 0",
                                                     b"Content-Length: zero"), True),
    "missing Via": (_without(b"Via"), False),
    "missing CSeq": (_without(b"CSeq"), False),
    "missing From": (_without(b"From"), True),
    "missing To": (_without(b"To"), True),
    "missing Call-ID": (_without(b"Call-ID"), True),
    "huge header": (REGISTER.replace(b"User-Agent: Zoiper rv2.10.8.2",
                                     b"User-Agent: " + b"x" * 70000), False),
    "too many headers": (REGISTER.replace(b"Expires: 3600\r\n", b"X-A: b\r\n" * 300), True),
    "binary garbage": (bytes(range(256)) * 4, False),
    "garbage after valid start": (b"OPTIONS sip:a@b SIP/2.0\r\n\x00\xff\xfe\r\n\r\n", False),
    "invalid request uri": (REGISTER.replace(b"sip:example.com SIP", b"sip:exa mple SIP"),
                            True),
    "request uri without host": (REGISTER.replace(b"sip:example.com SIP", b"sip: SIP"), True),
    "bad port": (REGISTER.replace(b"sip:example.com SIP", b"sip:example.com:99999 SIP"),
                 True),
    "invalid From uri": (REGISTER.replace(b"From: <sip:1001@example.com>",
                                          b"From: <sip:1001@exa mple.com>"), True),
    "invalid contact uri": (REGISTER.replace(b"<sip:1001@10.0.0.5:5062;",
                                             b"<sip:1001@10.0.0.5:port;"), True),
    "bad expires": (REGISTER.replace(b"Expires: 3600", b"Expires: soon"), True),
    "bad max-forwards": (REGISTER.replace(b"Max-Forwards: 70", b"Max-Forwards: -1"), True),
    "bad cseq": (REGISTER.replace(b"CSeq: 2 REGISTER", b"CSeq: two REGISTER"), True),
    "bad via": (REGISTER.replace(b"SIP/2.0/UDP 10.0.0.5:5062", b"SIP/2.0/UDP"), True),
    "header without colon": (REGISTER.replace(b"Expires: 3600", b"Expires 3600"), True),
    "response with bad status": (b"SIP/2.0 99 Low\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n"
                                 b"\r\n", False),
    "response without via": (b"SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", False),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_corpus(name: str) -> None:
    data, answerable = MALFORMED[name]
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.reason
    assert (info.value.request is not None) == answerable, info.value.reason


# -- hypothesis: mutations of valid messages ---------------------------------------------

SEEDS = [REGISTER, INVITE]


def _mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, length, payload in ops:
        if not buf:
            buf.extend(payload)
            continue
        p = pos % len(buf)
        if kind == 0:  # overwrite
            buf[p : p + len(payload)] = payload
        elif kind == 1:  # delete
            del buf[p : p + length]
        elif kind == 2:  # insert
            buf[p:p] = payload
        else:  # duplicate a slice
            buf[p:p] = buf[p : p + length]
    return bytes(buf)


SPECIAL = st.sampled_from(
    [b"\r\n", b"\r\n ", b":", b";", b",", b"<", b">", b'"', b"\\", b"\x00", b"\xff", b"%",
     b"sip:", b"SIP/2.0", b"z9hG4bK", b"Content-Length: 99999", b"l: -1", b"=", b" ", b"\t",
     b"*", b"[", b"]", b"@", b"?",
     # adversarial runs (the shapes of tests/sip/test_hostile.py, shorter)
     b"X" * 9000, b"," * 300, b";p" * 100, b"<" * 500, b'"' * 501, b" " * 3000 + b"\r\n ",
     b"\r\nX-A: b" * 300, b"Content-Length: " + b"9" * 5000, b"\xff\xfe" * 50]
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    ops=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 10_000),
            st.integers(0, 40),
            st.one_of(SPECIAL, st.binary(min_size=1, max_size=8)),
        ),
        min_size=1,
        max_size=6,
    ),
    stream=st.booleans(),
)
def test_mutations_parse_or_raise_sip_parse_error(
    seed: bytes, ops: list[tuple[int, int, int, bytes]], stream: bool
) -> None:
    data = _mutate(seed, ops)
    try:
        msg = parse_message(data, stream=stream)
    except SipParseError as exc:
        if exc.request is not None:
            # What the endpoint does next must not fail either.
            bytes(exc.request.create_response(exc.status))
        return
    # A message that parsed can be read and serialised without surprises.
    _ = (msg.via, msg.from_.tag, msg.to.tag, msg.call_id, msg.cseq)
    try:
        _ = (msg.contacts, msg.routes, msg.record_routes)
    except SipParseError:
        pass
    if isinstance(msg, Request):
        bytes(msg.create_response(200, to_tag="x"))
    assert parse_message(bytes(msg)) is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        parse_message(data)
    except SipParseError:
        pass
    try:
        StreamFramer().feed(data)
    except SipParseError:
        pass


# -- TCP framing -------------------------------------------------------------------------

def test_stream_framer_reassembles_split_and_joined_messages() -> None:
    two = INVITE + REGISTER
    for cut in (1, 17, len(INVITE) - 1, len(INVITE), len(INVITE) + 5, len(two) - 1):
        f = StreamFramer()
        items = f.feed(two[:cut]) + f.feed(two[cut:])
        assert items == [INVITE, REGISTER]


def test_stream_framer_keepalives() -> None:
    f = StreamFramer()
    assert f.feed(b"\r\n\r\n") == ["ping"]
    assert f.feed(b"\r\n") == []  # maybe half a ping
    assert f.feed(b"\r\n" + REGISTER) == ["ping", REGISTER]
    assert f.feed(b"\r\n" + REGISTER) == [REGISTER]  # a lone CRLF (pong) is skipped


def test_stream_framer_requires_content_length() -> None:
    with pytest.raises(SipParseError):
        StreamFramer().feed(REGISTER.replace(b"Content-Length: 0\r\n", b""))


def test_stream_framer_refuses_endless_headers() -> None:
    f = StreamFramer()
    with pytest.raises(SipParseError):
        for _ in range(100):
            f.feed(b"X-Junk: " + b"a" * 1000 + b"\r\n")


def test_stream_parse_requires_content_length() -> None:
    with pytest.raises(SipParseError):
        parse_message(REGISTER.replace(b"Content-Length: 0\r\n", b""), stream=True)


def test_event_subscription_state_and_alert_info() -> None:
    notify = parse_message(
        b"NOTIFY sip:1001@10.0.0.5:5062 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKn1\r\n"
        b"From: <sip:1002@example.com>;tag=a\r\nTo: <sip:1001@example.com>;tag=b\r\n"
        b"Call-ID: blf-1\r\nCSeq: 3 NOTIFY\r\n"
        b"o: Dialog;id=7\r\n"
        b"Subscription-State: active;expires=3599\r\n"
        b"Alert-Info: <http://127.0.0.1/ring.wav>;info=alert-autoanswer, <urn:x:1>\r\n"
        b"Content-Length: 0\r\n\r\n")
    assert notify.event == ("dialog", {"id": "7"})
    assert notify.subscription_state == ("active", {"expires": "3599"})
    alert = notify.alert_info
    assert [a.uri.scheme for a in alert] == ["http", "urn"]
    assert alert[0].params == {"info": "alert-autoanswer"}
    bad = parse_message(REGISTER.replace(b"Expires: 3600", b"Event: ;id=1"))
    with pytest.raises(SipParseError):
        _ = bad.event
    assert parse_message(REGISTER).event is None


def test_unquoted_utf8_display_name_is_tolerated() -> None:
    m = parse_message(REGISTER.replace(b"From: <sip:1001", "From: 张三 <sip:1001".encode()))
    assert m.from_.display_name == "张三"
    assert '"张三" <sip:1001@example.com>'.encode() in bytes(m)
