"""RFC 4475 torture messages: each parsed or rejected as the RFC says (§3.1.1 valid, §3.1.2
invalid, §3.2/3.3 parse fine and leave the decision to the TU)."""

from __future__ import annotations

import pytest

from softswitch.sip import SipParseError, SipUri, parse_message
from softswitch.sip.headers import Address
from softswitch.sip.message import Request, Response

from . import rfc4475 as R

# -- §3.1.1 valid messages -------------------------------------------------------------


def test_wsinv_short_tortuous_invite() -> None:
    m = parse_message(R.WSINV)
    assert isinstance(m, Request)
    assert m.method == "INVITE"
    assert m.uri.user == "vivekg" and m.uri.host == "chair-dnrc.example.com"
    assert "unknownparam" in m.uri.params
    assert m.to.tag == "1918181833n"
    assert m.to.uri.user == "vivekg"
    assert m.from_.tag == "98asjd8"
    assert m.from_.display_name == 'J Rosenberg \\"'
    assert m.max_forwards == 68
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (m.cseq.number, m.cseq.method) == (9, "INVITE")
    vias = m.vias
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert m.get("Subject") == ""
    assert m.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert [str(r.uri) for r in m.routes] == [
        "sip:services.example.com;lr;unknownwith=value;unknown-no-value"
    ]
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert m.content_type == "application/sdp"
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_wsinv_serialises_to_a_message_that_parses_the_same() -> None:
    m = parse_message(R.WSINV)
    again = parse_message(bytes(m))
    assert again.call_id == m.call_id
    assert [v.branch for v in again.vias] == [v.branch for v in m.vias]
    assert again.to.tag == m.to.tag and again.from_.tag == m.from_.tag
    assert again.body == m.body


def test_intmeth_wide_range_of_valid_characters() -> None:
    m = parse_message(R.INTMETH)
    assert isinstance(m, Request)
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert m.cseq.method == m.method
    assert m.uri.host == "example.com"
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert m.from_.tag == "_token~1'+`*%!-."
    assert m.from_.params["fromparam''~+*_!.-%"] == '"работающий"'
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.max_forwards == 255
    assert m.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escaped_uris() -> None:
    m = parse_message(R.ESC01)
    assert m.uri.user == "sips%3Auser%40example.com" and m.uri.host == "example.net"
    assert m.to.uri.user == "%75se%72"
    assert SipUri.parse("sip:user@example.com") == m.to.uri  # escapes compare unescaped
    assert m.from_.uri.user == "I%20have%20spaces"
    assert m.call_id == "esc01.239409asdfakjkn23onasd0-3234"
    assert m.content_type == "application/sdp"
    (c,) = m.contacts
    assert c.uri.user == "cal%6Cer"
    assert c.uri.params == {"%6c%72": None, "n%61me": "v%61lue%25%34%31"}


def test_escnull_escaped_nul_characters() -> None:
    m = parse_message(R.ESCNULL)
    assert m.to.uri.user == "null-%00-null"
    assert [c.uri.user for c in m.contacts] == ["%00", "%00%00"]


def test_esc02_escaped_method_and_unknown_header_name() -> None:
    m = parse_message(R.ESC02)
    assert m.method == "RE%47IST%45R"  # not REGISTER: escapes are not decoded in tokens
    assert m.to.display_name == "%Z%45"
    # "C%6Fntact" is an unknown header, so there are two Contacts, not three.
    assert [c.uri.user for c in m.contacts] == ["alias1", "alias3"]
    assert m.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_no_lws_between_display_name_and_laquot() -> None:
    m = parse_message(R.LWSDISP)
    assert m.from_.display_name == "caller" and m.from_.tag == "323"


def test_longreq_long_values() -> None:
    m = parse_message(R.LONGREQ)
    assert len(m.vias) == 34
    assert m.vias[0].host == "sip33.example.com"
    assert m.vias[-1].received == "192.0.2.5"
    assert m.to.uri.port == 6000
    assert m.from_.tag == "12" + "982" * 50 + "424"
    assert len(m.call_id) > 100
    assert len(m.body) == 150


def test_dblreq_second_message_in_a_datagram_is_discarded() -> None:
    m = parse_message(R.DBLREQ)
    assert isinstance(m, Request) and m.method == "REGISTER"
    assert m.body == b""


def test_semiuri_semicolon_in_user_part_and_folded_accept() -> None:
    m = parse_message(R.SEMIURI)
    assert m.uri.user == "user;par=u%40example.net" and m.uri.host == "example.com"
    assert m.uri.params == {}
    assert len(m.get_all("Accept")) == 6


def test_transports_unknown_transports_in_via() -> None:
    m = parse_message(R.TRANSPORTS)
    assert [v.transport for v in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01_binary_body_kept_octet_for_octet() -> None:
    m = parse_message(R.MPART01)
    assert m.body == R.MPART01_BODY
    assert bytes(m).endswith(R.MPART01_BODY)


def test_unreason_utf8_reason_phrase() -> None:
    m = parse_message(R.UNREASON)
    assert isinstance(m, Response)
    assert m.status == 200 and m.reason == R.UNREASON_PHRASE
    assert R.UNREASON_PHRASE.encode() in bytes(m)


def test_noreason_empty_reason_phrase() -> None:
    m = parse_message(R.NOREASON)
    assert isinstance(m, Response) and m.status == 100 and m.reason == ""


# -- §3.1.2 invalid messages -----------------------------------------------------------

# (message, expected status, fragment of the reason) for requests the RFC says to answer
# with an error response.
ANSWERED = {
    "badinv01": (R.BADINV01, 400, "Via"),  # §3.1.2.1 extraneous separators
    "clerr": (R.CLERR, 400, "Content-Length"),  # §3.1.2.2 over UDP
    "ncl": (R.NCL, 400, "Content-Length"),  # §3.1.2.3 negative
    "scalar02": (R.SCALAR02, 400, "CSeq"),  # §3.1.2.4 overlarge scalars
    "quotbal": (R.QUOTBAL, 400, "display name"),  # §3.1.2.6 unterminated quote
    "ltgtruri": (R.LTGTRURI, 400, "URI"),  # §3.1.2.7 <> around Request-URI
    "lwsruri": (R.LWSRURI, 400, "request line"),  # §3.1.2.8 LWS in Request-URI
    "lwsstart": (R.LWSSTART, 400, "request line"),  # §3.1.2.9 multiple SP
    "trws": (R.TRWS, 400, "request line"),  # §3.1.2.10 trailing whitespace
    "escruri": (R.ESCRURI, 400, "Request-URI"),  # §3.1.2.11 headers in Request-URI
    "regbadct": (R.REGBADCT, 400, "address"),  # §3.1.2.13 '?' in an addr-spec Contact
    "badaspec": (R.BADASPEC, 400, "URI"),  # §3.1.2.14 spaces inside <>
    "baddn": (R.BADDN, 400, "display name"),  # §3.1.2.15 unquoted ','
    "badvers": (R.BADVERS, 505, "version"),  # §3.1.2.16 SIP/7.0
    "mismatch01": (R.MISMATCH01, 400, "CSeq method"),  # §3.1.2.17
    "mismatch02": (R.MISMATCH02, 400, "CSeq method"),  # §3.1.2.18
    "insuf": (R.INSUF, 400, "From"),  # §3.3.1 missing From/To/Call-ID
    "multi01": (R.MULTI01, 400, "more than one"),  # §3.3.9 multiple singletons
    "mcl01": (R.MCL01, 400, "Content-Length"),  # §3.3.10 conflicting lengths
}


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_invalid_request_is_answered_with_an_error(name: str) -> None:
    data, status, fragment = ANSWERED[name]
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    err = info.value
    assert err.status == status
    assert fragment in err.reason
    assert err.request is not None
    # The error response can be built from what arrived (the client's Via, CSeq, Call-ID
    # copied as they were, so its transaction matches the answer).
    wire = bytes(err.request.create_response(err.status))
    assert wire.startswith(f"SIP/2.0 {status} ".encode())
    for name in ("Via", "CSeq"):
        assert f"{name}: {err.request.get(name)}\r\n".encode() in wire


@pytest.mark.parametrize("name,data", [("scalarlg", R.SCALARLG), ("bigcode", R.BIGCODE)])
def test_invalid_responses_are_dropped(name: str, data: bytes) -> None:
    """§3.1.2.5 and §3.1.2.19: a response with overlarge scalars or a status code beyond
    3 digits cannot be answered; it is dropped (request is None)."""
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert info.value.request is None


def test_baddate_is_accepted_liberally() -> None:
    """§3.1.2.12 allows ignoring a non-GMT Date; we never interpret Date."""
    m = parse_message(R.BADDATE)
    assert m.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_clerr_over_a_stream_waits_for_more_data() -> None:
    """Over TCP a Content-Length larger than what arrived means "not complete yet"."""
    from softswitch.sip import StreamFramer

    assert StreamFramer().feed(R.CLERR) == []


def test_ncl_over_a_stream_loses_framing() -> None:
    from softswitch.sip import StreamFramer

    with pytest.raises(SipParseError):
        StreamFramer().feed(R.NCL)


# -- §3.2 / §3.3: parse fine; the TU decides ----------------------------------------------


def test_badbranch_is_just_a_branch() -> None:
    m = parse_message(R.BADBRANCH)
    assert m.via.branch == "z9hG4bK"


def test_unknown_schemes_parse_for_a_416() -> None:
    for data, scheme in ((R.UNKSCM, "nobodyknowsthisscheme"), (R.NOVELSC, "soap.beep")):
        m = parse_message(data)
        assert isinstance(m, Request)
        assert m.uri.scheme == scheme and not m.uri.is_sip


def test_unksm2_non_sip_to_and_contact() -> None:
    m = parse_message(R.UNKSM2)
    assert m.to.uri.scheme == "isbn" and not m.to.uri.is_sip
    assert m.contacts[0].uri.scheme == "name"


def test_application_layer_cases_parse() -> None:
    for data in (R.BEXT01, R.INVUT, R.REGAUT01, R.BCAST, R.ZEROMF, R.SDP01):
        parse_message(data)
    assert parse_message(R.ZEROMF).max_forwards == 0
    assert parse_message(R.BEXT01).get_all("Require") == [
        "nothingSupportsThis", "nothingSupportsThisEither"
    ]
    assert parse_message(R.INVUT).content_type == "application/unknownformat"


def test_cparam_contact_parameters_belong_where_the_brackets_say() -> None:
    c1 = parse_message(R.CPARAM01).contacts[0]
    assert c1.params == {"unknownparam": None} and c1.uri.params == {}
    c2 = parse_message(R.CPARAM02).contacts[0]
    assert c2.params == {} and c2.uri.params == {"unknownparam": None}


def test_regescrt_escaped_headers_in_contact_uri() -> None:
    c = parse_message(R.REGESCRT).contacts[0]
    assert c.uri.headers == "Route=%3Csip:sip.example.com%3E"


def test_inv2543_rfc2543_request() -> None:
    m = parse_message(R.INV2543)
    assert m.via.branch is None
    assert m.from_.tag is None
    assert m.max_forwards is None
    assert m.body.endswith(b"m=audio 49217 RTP/AVP 0\r\n")
    assert isinstance(m.record_routes[0], Address)
