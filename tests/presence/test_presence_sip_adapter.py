"""SUBSCRIBE in as SIP bytes, 200 and NOTIFY out as SIP bytes (softswitch.sip messages)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from blf_helpers import DI, Switch

from softswitch.presence.sip_adapter import notify_request, subscribe_request, subscribe_response
from softswitch.sip import Request, Response, SipParseError, parse_message
from softswitch.sip.dialog import Dialog


def subscribe_bytes(user: str, *, event: str | None = "dialog", expires: str = "600",
                    accept: str | None = "application/dialog-info+xml",
                    to_tag: str = "") -> bytes:
    lines = [
        f"SUBSCRIBE sip:{user}@pbx.example SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport",
        "From: <sip:1001@pbx.example>;tag=phone-tag",
        f"To: <sip:{user}@pbx.example>{to_tag}",
        "Call-ID: blf-call-1",
        "CSeq: 1 SUBSCRIBE",
        "Contact: <sip:1001@127.0.0.1:5070>",
        "Max-Forwards: 70",
        f"Expires: {expires}",
    ]
    if event is not None:
        lines.append(f"Event: {event}")
    if accept is not None:
        lines.append(f"Accept: {accept}")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def test_subscribe_to_notify_over_sip_messages() -> None:
    sw = Switch()
    req = parse_message(subscribe_bytes("*76400"))
    assert isinstance(req, Request)
    result = sw.notifier.handle_subscribe(subscribe_request(req, "1001"), now=0.0)
    resp = subscribe_response(req, result.response, "<sip:pbx@127.0.0.1:5060>")
    wire = parse_message(bytes(resp))
    assert isinstance(wire, Response)
    assert (wire.status, wire.get("Expires"), wire.to.tag) == (200, "600", "srv1")
    assert wire.get("Contact") == "<sip:pbx@127.0.0.1:5060>"

    dialog = Dialog.create_uas(req, resp)
    [n] = result.notifies
    out = notify_request(dialog, n)
    out.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1", first=True)  # endpoint's job
    notify = parse_message(bytes(out))
    assert isinstance(notify, Request) and notify.method == "NOTIFY"
    assert str(notify.uri) == "sip:1001@127.0.0.1:5070"
    assert notify.get("Event") == "dialog"
    assert notify.get("Subscription-State") == "active;expires=600"
    assert notify.content_type == "application/dialog-info+xml"
    assert (notify.call_id, notify.from_.tag, notify.to.tag) == (
        "blf-call-1", "srv1", "phone-tag")
    root = ET.fromstring(notify.body)
    assert root.get("entity") == "sip:*76400@pbx.example"
    assert root.find(f"{DI}dialog/{DI}state").text == "confirmed"  # type: ignore[union-attr]


def test_percent_escaped_star_and_compact_event() -> None:
    req = parse_message(subscribe_bytes("%2A76400", event=None).replace(
        b"Expires: 600", b"o: dialog\r\nExpires: 600"))
    assert isinstance(req, Request)
    sub = subscribe_request(req, "1001")
    assert (sub.resource, sub.event, sub.accept) == (
        "*76400", "dialog", ("application/dialog-info+xml",))


def test_errors_become_sip_responses() -> None:
    sw = Switch()
    req = parse_message(subscribe_bytes("1002", event="conference"))
    assert isinstance(req, Request)
    r = sw.notifier.handle_subscribe(subscribe_request(req, "1001"), now=0.0)
    wire = subscribe_response(req, r.response, "<sip:pbx@127.0.0.1>")
    assert wire.status == 489
    assert wire.get("Allow-Events") == "dialog, presence, message-summary"
    assert wire.get("Contact") is None
    no_event = parse_message(subscribe_bytes("1002", event=None))
    assert isinstance(no_event, Request)
    with pytest.raises(SipParseError, match="without Event"):
        subscribe_request(no_event, "1001")
    no_accept = parse_message(subscribe_bytes("1002", accept=None))
    assert isinstance(no_accept, Request)
    assert subscribe_request(no_accept, "1001").accept is None
