"""Hostile input: every worst case of the parsers ends in a clear outcome (parsed, answered
400/414/513 with the limit named, or dropped), never in another exception, and inside the
limits of softswitch.sip.limits. How long each takes is measured by benchmarks/sip_hostile.py
(no timing here); here each adversarial 64 KB shape must come back rejected by the limit it
is over, which is what keeps its cost bounded."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.sip_hostile import SHAPES, TYPICAL_INVITE, hostile
from softswitch.sip import (
    Address,
    Request,
    SessionDescription,
    SipParseError,
    SipUri,
    StreamFramer,
    parse_message,
)
from softswitch.sip.headers import parse_auth_params, split_header_list
from softswitch.sip.limits import (
    MAX_HEADERS,
    MAX_LINE_LENGTH,
    MAX_LIST_ELEMENTS,
    MAX_MESSAGE_SIZE,
    MAX_PARAMS,
    MAX_URI_LENGTH,
    small_int,
)
from softswitch.sip.sdp import SdpParseError
from softswitch.sip.uri import parse_params

HEAD = (
    b"OPTIONS sip:1002@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bK-h1;rport\r\n"
    b"To: <sip:1002@example.com>\r\n"
    b"From: <sip:1001@example.com>;tag=ab12\r\n"
    b"Call-ID: hostile-unit@10.0.0.5\r\n"
    b"CSeq: 1 OPTIONS\r\n"
)


def request(*lines: bytes, body: bytes = b"", content_length: bytes | None = None) -> bytes:
    cl = str(len(body)).encode() if content_length is None else content_length
    return HEAD + b"".join(line + b"\r\n" for line in lines) + b"Content-Length: " + cl + \
        b"\r\n\r\n" + body


def rejected(data: bytes, *, stream: bool = False) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse_message(data, stream=stream)
    return info.value


# -- the benchmark's 64 KB shapes: each rejected by the limit it is over -------------------

EXPECTED = {
    "long line": (400, f"over {MAX_LINE_LENGTH} characters in a line"),
    "many headers": (400, f"over {MAX_HEADERS} header lines"),
    "deep nesting": (400, None),  # not over a limit: an invalid Contact
    "many commas": (400, f"over {MAX_LIST_ELEMENTS} elements in a header"),
    "many parameters": (400, f"over {MAX_PARAMS} header parameters"),
    "blank run": (400, f"over {MAX_LINE_LENGTH} characters in a line"),
    "many folds": (400, f"over {MAX_HEADERS} header lines"),
}


@pytest.mark.parametrize("shape", sorted(EXPECTED))
def test_64kb_adversarial_shape_is_answered_by_its_limit(shape: str) -> None:
    data = hostile(shape)
    assert MAX_MESSAGE_SIZE - 8192 < len(data) <= MAX_MESSAGE_SIZE
    err = rejected(data)
    status, limit = EXPECTED[shape]
    assert err.request is not None, err.reason  # start line, Via, CSeq readable: answered
    assert err.request.call_id == "hostile-1@10.0.0.5"
    assert err.status == status
    if limit is not None:
        assert err.reason == limit
        assert err.phrase == f"Bad Request ({limit})"


def test_a_blank_run_before_a_folded_line_is_unfolded_not_rejected() -> None:
    msg = parse_message(request(b"Subject: a" + b" " * 60000 + b"\r\n b"))
    assert msg.get("Subject") == "a b"  # the 60 KB of blanks collapse into one space


def test_all_shapes_are_covered_by_the_benchmark() -> None:
    assert set(EXPECTED) == set(SHAPES)


def test_typical_invite_is_untouched_by_the_limits() -> None:
    msg = parse_message(TYPICAL_INVITE)
    assert isinstance(msg, Request) and msg.method == "INVITE" and msg.body.startswith(b"v=0")


# -- the limits one by one -------------------------------------------------------------


def test_long_header_line_without_colon_is_answered_400_naming_the_limit() -> None:
    err = rejected(request(b"X" * (MAX_LINE_LENGTH + 1)))
    assert err.request is not None and err.status == 400
    assert err.phrase == f"Bad Request (over {MAX_LINE_LENGTH} characters in a line)"


def test_a_line_at_the_limit_is_accepted() -> None:
    value = b"x" * (MAX_LINE_LENGTH - len(b"Subject: "))
    msg = parse_message(request(b"Subject: " + value))
    assert msg.get("Subject") == value.decode()


def test_more_than_max_headers_is_answered_with_only_the_first_ones_read() -> None:
    err = rejected(request(*[b"X-N: %d" % i for i in range(MAX_HEADERS + 50)]))
    assert err.request is not None and err.reason == f"over {MAX_HEADERS} header lines"
    assert len(err.request.headers) == MAX_HEADERS
    assert err.request.get_all("X-N")[-1] == str(MAX_HEADERS - 5 - 1)  # (HEAD has 5)


def test_request_uri_over_the_limit_is_414() -> None:
    uri = b"sip:" + b"a" * MAX_URI_LENGTH + b"@example.com"
    err = rejected(request().replace(b"sip:1002@example.com SIP", uri + b" SIP", 1))
    assert err.request is not None and err.status == 414
    assert err.phrase == f"Request-URI Too Long (over {MAX_URI_LENGTH} characters in the " \
                         "Request-URI)"


def test_message_over_64kb_is_513_from_its_first_64kb() -> None:
    err = rejected(request(b"Subject: x", body=b"b" * MAX_MESSAGE_SIZE))
    assert err.request is not None and err.status == 513
    assert err.phrase == f"Message Too Large (over {MAX_MESSAGE_SIZE} bytes in a message)"


@pytest.mark.parametrize("digits,reason", [
    (11, "over 10 digits in Content-Length"),
    (5000, "over 10 digits in Content-Length"),
    (60000, f"over {MAX_LINE_LENGTH} characters in a line"),
])
def test_content_length_with_too_many_digits_is_400_over_udp(digits: int, reason: str) -> None:
    err = rejected(request(content_length=b"9" * digits))
    assert err.request is not None and err.status == 400
    assert err.reason == reason


def test_content_length_with_thousands_of_digits_over_tcp_is_answerable_not_a_crash() -> None:
    framer = StreamFramer()
    data = request(content_length=b"1" * 5000)
    with pytest.raises(SipParseError) as info:
        framer.feed(data)
    assert info.value.request is not None and info.value.status == 400
    assert "Content-Length" in (info.value.phrase or "")
    # the framer starts afresh: a good message after a reconnect would frame again
    assert framer.feed(request()) == [request()]


def test_content_length_unicode_digits_are_invalid_not_a_crash() -> None:
    err = rejected(request(content_length="²".encode()))
    assert err.request is not None and "Content-Length" in err.reason


def test_huge_expires_and_max_forwards_are_clamped_not_a_crash() -> None:
    msg = parse_message(request(b"Expires: " + b"7" * 6000, b"Max-Forwards: " + b"9" * 6000))
    assert msg.expires == 2**32 - 1 and msg.max_forwards == 255


def test_contact_expires_with_huge_or_exotic_digits() -> None:
    assert Address.parse("<sip:a@b>;expires=" + "9" * 6000).expires == 2**32 - 1
    with pytest.raises(SipParseError):
        _ = Address.parse("<sip:a@b>;expires=²").expires


def test_nul_bytes_and_invalid_utf8_are_parsed_or_refused_cleanly() -> None:
    msg = parse_message(request(b"Subject: \x00\xff\xfe\x00 ok"))
    assert msg.get("Subject") is not None
    # serialised back byte for byte (surrogateescape)
    assert b"\x00\xff\xfe\x00 ok" in bytes(msg)
    err = rejected(HEAD.replace(b"Via", b"V\x00a") + b"Content-Length: 0\r\n\r\n")
    assert err.request is None  # no Via to answer to: dropped
    err = rejected(b"\xff\xfe INVITE sip:a@b SIP/2.0\r\n\r\n")
    assert err.request is None


def test_deep_nesting_of_angle_brackets_and_quotes() -> None:
    for contact in (b"<" * 4000 + b">" * 4000, b'"' * 8000, b'"' + b'\\"' * 3000 + b"<sip:a@b>",
                    b"<" * 4000 + b'"' * 100 + b">" * 4000):
        err = rejected(request(b"Contact: " + contact))
        assert err.request is not None and err.status == 400


def test_many_commas_inside_quotes_still_hit_the_element_limit() -> None:
    value = ", ".join(f'"a,b" <sip:{i}@h>' for i in range(MAX_LIST_ELEMENTS + 1))
    with pytest.raises(SipParseError) as info:
        split_header_list(value)
    assert info.value.reason == f"over {MAX_LIST_ELEMENTS} elements in a header"
    assert len(split_header_list(value.rsplit(", ", 1)[0])) == MAX_LIST_ELEMENTS


def test_list_elements_are_limited_per_message_not_only_per_line() -> None:
    lines = [b"Contact: " + b", ".join(b"<sip:%d@h>" % i for i in range(100))] * 3
    err = rejected(request(*lines))
    assert err.reason == f"over {MAX_LIST_ELEMENTS} elements in a header"


def test_many_params_in_uri_and_header() -> None:
    with pytest.raises(SipParseError) as info:
        parse_params(";p" * (MAX_PARAMS + 1), "URI parameter")
    assert info.value.reason == f"over {MAX_PARAMS} URI parameters"
    with pytest.raises(SipParseError):
        parse_params(';q="x"' * (MAX_PARAMS + 1), "header parameter")
    assert len(parse_params(";p" * MAX_PARAMS)) == 1  # same name
    assert len(parse_params("".join(f";p{i}" for i in range(MAX_PARAMS)))) == MAX_PARAMS
    # ';' inside a quoted value is not a parameter
    assert parse_params(';q="' + ";" * 200 + '"') == {"q": '"' + ";" * 200 + '"'}
    # answered at the source address (as every malformed Via is, RFC 4475 §3.1.2.1)
    err = rejected(request().replace(b";rport", b";rport" + b";x" * 4000))
    assert err.request is not None
    assert err.phrase == f"Bad Request (over {MAX_PARAMS} Via parameters)"


def test_uri_over_the_limit() -> None:
    with pytest.raises(SipParseError) as info:
        SipUri.parse("sip:" + "a." * MAX_URI_LENGTH + "com")
    assert "over 1024 characters" in info.value.reason


def test_auth_header_with_a_long_token_and_no_equals_is_refused() -> None:
    for value in ("Digest " + "a" * 60000, 'Digest username="' + "b" * 60000,
                  "Digest " + "a=b," * 10000 + "c" * 20000):
        with pytest.raises(SipParseError):
            parse_auth_params(value)


def test_sdp_with_huge_numbers_is_an_sdp_error_not_a_crash() -> None:
    body = ("v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n"
            "m=audio {port} RTP/AVP {fmt}\r\na=rtpmap:{fmt} PCMU/8000\r\na=fmtp:{fmt} x\r\n")
    with pytest.raises(SdpParseError):
        SessionDescription.parse(body.format(port="4" * 5000, fmt="0"))
    with pytest.raises(SdpParseError):
        SessionDescription.parse(body.format(port="4000/" + "2" * 5000, fmt="0"))
    sdp = SessionDescription.parse(body.format(port="4000", fmt="9" * 5000))
    (m,) = sdp.media
    assert m.rtpmap == {} and m.fmtp == {}  # a payload type that big names nothing
    sdp = SessionDescription.parse(body.format(port="4000", fmt="²"))
    assert sdp.media[0].rtpmap == {} and sdp.media[0].fmtp == {}


def test_small_int() -> None:
    assert small_int("0") == 0 and small_int("4294967295") == 4294967295
    assert small_int("12345678901") is None and small_int("") is None
    assert small_int("²") is None and small_int("１２") is None and small_int("-1") is None


# -- the stream framer ------------------------------------------------------------------


def test_framer_fed_one_byte_at_a_time_frames_a_large_message() -> None:
    msg = request(b"Subject: " + b"s" * 8000, body=b"b" * 40000)
    framer = StreamFramer()
    out: list[bytes | str] = []
    for i in range(len(msg)):
        out += framer.feed(msg[i : i + 1])
    assert out == [msg]


def test_framer_refuses_endless_headers_with_the_request_when_readable() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError) as info:
        for _ in range(10):
            framer.feed(HEAD + b"X-Junk: " + b"j" * 8000 + b"\r\n" * 1)
            framer.feed(b"X-More: " + b"m" * 8000 + b"\r\n")
    assert info.value.reason == "headers too large on stream"


def test_framer_many_small_messages_in_one_read() -> None:
    one = request()
    framer = StreamFramer()
    assert framer.feed(one * 500) == [one] * 500


# -- hypothesis: adversarial shapes and arbitrary bytes ---------------------------------

UNITS = st.sampled_from([b"X", b",", b";p", b"<", b">", b'"', b'\\"', b" ", b"\t", b":",
                         b"a=", b"\r\n ", b"\x00", b"\xff", b"9", b"%", b"sip:", b"=\""])
HEADER_NAMES = st.sampled_from([b"", b"Contact: ", b"Via: ", b"To: ", b"From: ",
                                b"Content-Length: ", b"l: ", b"Authorization: Digest ",
                                b"Route: ", b"Expires: ", b"X-H: ", b"CSeq: 1 "])


@st.composite
def adversarial(draw: st.DrawFn) -> bytes:
    """A readable request head with hostile lines: a name, then a unit repeated up to
    ~20 KB, possibly several such lines, sometimes a hostile body or start line."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(HEADER_NAMES)
        unit = draw(st.lists(UNITS, min_size=1, max_size=3).map(b"".join))
        lines.append(name + unit * draw(st.integers(0, 20_000 // len(unit))))
    data = request(*lines, body=draw(st.binary(max_size=64)))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        data = data[:start] + draw(UNITS) * draw(st.integers(0, 5000)) + data[start:]
    return data


def _outcome(data: bytes, stream: bool) -> None:
    try:
        msg = parse_message(data, stream=stream)
    except SipParseError as exc:
        assert exc.status in (400, 414, 505, 513)
        if exc.request is not None:
            bytes(exc.request.create_response(exc.status, exc.phrase))
        return
    _ = (msg.via, msg.from_, msg.to, msg.call_id, msg.cseq)
    for read in (lambda: msg.contacts, lambda: msg.routes, lambda: msg.expires,
                 lambda: msg.max_forwards, lambda: msg.get_all("Allow")):
        try:
            read()
        except SipParseError:
            pass
    assert parse_message(bytes(msg)) is not None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=adversarial(), stream=st.booleans())
def test_adversarial_shapes_parse_or_raise_sip_parse_error(data: bytes, stream: bool) -> None:
    _outcome(data, stream)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), stream=st.booleans())
def test_any_bytes_parse_or_raise_sip_parse_error(data: bytes, stream: bool) -> None:
    _outcome(data, stream)
    try:
        StreamFramer().feed(data)
    except SipParseError:
        pass


@settings(max_examples=200, deadline=None)
@given(value=st.text(max_size=3000))
def test_header_helpers_raise_only_sip_parse_error(value: str) -> None:
    for parse in (split_header_list, parse_auth_params, Address.parse, SipUri.parse,
                  lambda v: parse_params(";" + v)):
        try:
            parse(value)
        except SipParseError:
            pass
