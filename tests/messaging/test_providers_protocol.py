"""The named providers' rules as functions and adapters against a local fake API
(softswitch.messaging.providers): signatures against the providers' published vectors,
webhook parsing, send requests exactly as documented, errors mapped to the agent
prompts, the WhatsApp and Messenger windows in explicit time, template sync."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fake_providers import FakeApis

from softswitch.clock import VirtualClock
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import ChannelStatus, Prompt, SendResult
from softswitch.messaging.providers import (
    ReplyRefused,
    WebhookRefused,
    bandwidth,
    ed25519,
    flowroute,
    make_adapter,
    meta,
    telnyx,
    twilio,
)
from softswitch.messaging.providers.messenger import WINDOW_PROMPT as FB_WINDOW
from softswitch.messaging.providers.messenger import MessengerAdapter
from softswitch.messaging.providers.whatsapp import WINDOW_PROMPT as WA_WINDOW
from softswitch.messaging.providers.whatsapp import WhatsAppAdapter, parse_template

DEST = Destination("extension", "1001")
SID = "AC" + "0" * 31 + "1"
TELNYX_SECRET = bytes(range(32))
TELNYX_PUBLIC = base64.b64encode(ed25519.public_key(TELNYX_SECRET)).decode()


def channel(provider: str, base: str, number: str = "+14155550100",
            **creds: str) -> ChannelConfig:
    return ChannelConfig(f"{provider} channel", "sms" if provider in ("twilio", "telnyx")
                         else provider, provider, "4f9664096f524cc79d7b8fed69ec9b17", "", "",
                         (ChannelNumber(number, DEST),), base_url=base,
                         credentials=tuple(creds.items()))


def twilio_channel(base: str = "http://127.0.0.1:9") -> ChannelConfig:
    return channel("twilio", base, account_sid=SID, auth_token="12345")


def whatsapp_channel(base: str = "http://127.0.0.1:9") -> ChannelConfig:
    return channel("whatsapp", base, "+15559871234", verify_token="38owndego8ugcinx",
                   access_token="EAAG-token", app_secret="app-secret", number_id="123",
                   waba_id="456")


def messenger_channel(base: str = "http://127.0.0.1:9") -> ChannelConfig:
    return channel("messenger", base, "334079033132769", verify_token="vt",
                   access_token="page-token", app_secret="app-secret",
                   page_id="334079033132769", page_name="Yeastar")


@pytest.fixture
async def apis() -> AsyncIterator[FakeApis]:
    server = await FakeApis().start()
    yield server
    await server.stop()


# --- signatures ---------------------------------------------------------------------------


def test_ed25519_rfc8032_vectors() -> None:
    # RFC 8032 §7.1, TEST 1 and TEST 2
    for secret, public, message, sig in [
        ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
         "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
         "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
         "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
        ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
         "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
         "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
         "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")]:
        sk, pk, msg, sg = (bytes.fromhex(x) for x in (secret, public, message, sig))
        assert ed25519.public_key(sk) == pk
        assert ed25519.sign(sk, msg) == sg
        assert ed25519.verify(pk, msg, sg)
        assert not ed25519.verify(pk, msg + b"x", sg)
        assert not ed25519.verify(pk, msg, sg[:-1] + bytes([sg[-1] ^ 1]))
    assert not ed25519.verify(b"\x00" * 31, b"", b"\x00" * 64)


def test_twilio_signature_matches_twilios_published_vectors() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"),
              ("Digits", "1234"), ("From", "+14158675309"), ("To", "+18005551212")]
    assert twilio.signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio.signature("12345", url, list(reversed(params))) == \
        "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    repeated = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"),
                ("Digits", "1234"), ("Digits", "1234")]
    assert twilio.signature("12345", url, repeated) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def twilio_form(**fields: str) -> bytes:
    from urllib.parse import urlencode
    base = {"MessageSid": "SM" + "a" * 32, "AccountSid": SID, "From": "+8618012121222",
            "To": "+14155550100", "Body": "Hello", "NumMedia": "0"}
    base.update(fields)
    return urlencode({k: v for k, v in base.items() if v != "-"}).encode()


def test_twilio_webhook_authentication_and_fields() -> None:
    adapter = make_adapter(twilio_channel(), VirtualClock())
    url = "https://pbx.example.com/api/v1/webhooks/twilio/4f9664096f524cc79d7b8fed69ec9b17"
    raw = twilio_form(NumMedia="1", MediaUrl0="https://api.twilio.com/media/ME1",
                      MediaContentType0="image/png")
    good = twilio.signature("12345", url, twilio.TwilioAdapter._params(raw))
    adapter.authenticate(url, {"X-Twilio-Signature": good}, raw)
    [m] = adapter.parse(raw)
    assert (m.provider_id, m.source, m.to, m.text, m.media) == (
        "SM" + "a" * 32, "+8618012121222", "+14155550100", "Hello",
        ("https://api.twilio.com/media/ME1",))
    for headers, body, where in [({}, raw, url), ({"X-Twilio-Signature": good}, raw + b"&x=1", url),
                                 ({"X-Twilio-Signature": good}, raw, url + "?x=1")]:
        with pytest.raises(WebhookRefused) as err:
            adapter.authenticate(where, headers, body)
        assert err.value.status == 403
    for bad in (twilio_form(AccountSid="AC" + "f" * 32), twilio_form(To="+19999999999"),
                twilio_form(Body="", NumMedia="0"), twilio_form(MessageSid="-"),
                twilio_form(NumMedia="11"), twilio_form(NumMedia="1"),
                twilio_form(From="not a number!"), b"Body=%ff%fe", twilio_form() + b"&To=x"):
        with pytest.raises(WebhookRefused) as err:
            adapter.parse(bad)
        assert err.value.status == 400


def test_twilio_signs_the_public_url_when_configured() -> None:
    """Behind a proxy the switch sees another URL than the one Twilio signed."""
    public = "https://pbx.example.com/api/v1/webhooks/twilio/4f9664096f524cc79d7b8fed69ec9b17"
    config = channel("twilio", "http://127.0.0.1:9", account_sid=SID, auth_token="12345",
                     public_url=public)
    adapter = make_adapter(config, VirtualClock())
    raw = twilio_form()
    params = twilio.TwilioAdapter._params(raw)
    seen_as = "http://10.0.0.5:8080/api/v1/webhooks/twilio/4f9664096f524cc79d7b8fed69ec9b17"
    adapter.authenticate(seen_as, {"X-Twilio-Signature": twilio.signature("12345", public,
                                                                          params)}, raw)
    with pytest.raises(WebhookRefused):
        adapter.authenticate(seen_as, {"X-Twilio-Signature": twilio.signature(
            "12345", seen_as, params)}, raw)


@pytest.mark.parametrize(("status", "answer", "expected"), [
    (201, {"sid": "SM1", "status": "queued"}, SendResult("SM1")),
    (400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
     SendResult(None, Prompt.INVALID_NUMBER.value)),
    (401, {"code": 20003, "message": "Authenticate", "status": 401},
     SendResult(None, Prompt.AUTH_FAILED.value)),
    (400, {"code": 11751, "message": "Media exceeds size", "status": 400},
     SendResult(None, Prompt.TOO_LARGE.value)),
    (400, {"code": 12300, "message": "Invalid Content-Type", "status": 400},
     SendResult(None, Prompt.MEDIA_RESTRICTED.value)),
    (429, {"code": 20429, "message": "Too Many Requests", "status": 429},
     SendResult(None, Prompt.TOO_FREQUENT.value, True)),
    (400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"},
     SendResult(None, "Send failed: Attempt to send to unsubscribed recipient")),
    (503, None, SendResult(None, Prompt.UNAVAILABLE.value, True)),
    (None, None, SendResult(None, Prompt.UNAVAILABLE.value, True)),
])
def test_twilio_answers_map_to_prompts(status: int | None, answer: Any,
                                       expected: SendResult) -> None:
    assert twilio.classify(status, json.dumps(answer).encode()) == expected


async def test_twilio_send_is_the_documented_request(apis: FakeApis) -> None:
    adapter = make_adapter(twilio_channel(apis.base), VirtualClock())
    try:
        result = await adapter.send("+14155550100", "+8618012121222", "Hi there",
                                    ("https://pbx.example/m/a.png", "https://pbx.example/b.pdf"))
        assert result.provider_id is not None and result.provider_id.startswith("SM")
        [req] = apis.sent("twilio")
        assert req.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
        assert req.content_type == "application/x-www-form-urlencoded"
        assert req.headers["Authorization"] == "Basic " + base64.b64encode(
            f"{SID}:12345".encode()).decode()
        assert req.form == [("To", "+8618012121222"), ("From", "+14155550100"),
                            ("Body", "Hi there"), ("MediaUrl", "https://pbx.example/m/a.png"),
                            ("MediaUrl", "https://pbx.example/b.pdf")]
    finally:
        await adapter.close()


def telnyx_event(event_type: str = "message.received", **payload: Any) -> bytes:
    p = {"id": "b0c7e8cb-6227-4c74-9f32-c7f80c30934b", "record_type": "message",
         "direction": "inbound", "from": {"phone_number": "+8618012121222", "carrier": "T"},
         "to": [{"phone_number": "+14155550100", "status": "webhook_delivered"}],
         "text": "Hello from Telnyx", "media": [], "received_at": "2026-12-03T09:00:00Z",
         "type": "SMS"}
    p.update(payload)
    return json.dumps({"data": {"event_type": event_type, "id": "ev-1",
                                "occurred_at": "2026-12-03T09:00:00Z", "record_type": "event",
                                "payload": p}, "meta": {"attempt": 1}}).encode()


def telnyx_headers(raw: bytes, stamp: int, secret: bytes = TELNYX_SECRET) -> dict[str, str]:
    return {"telnyx-timestamp": str(stamp),
            "telnyx-signature-ed25519": telnyx.sign(secret, str(stamp), raw)}


def test_telnyx_webhook_ed25519_timestamp_and_fields() -> None:
    clock = VirtualClock()
    adapter = make_adapter(channel("telnyx", "http://127.0.0.1:9", api_key="KEY",
                                   public_key=TELNYX_PUBLIC), clock)
    now = int(clock.wall())
    raw = telnyx_event(media=[{"url": "https://media.telnyx.com/a.jpg",
                               "content_type": "image/jpeg", "size": 1234}])
    adapter.authenticate("", telnyx_headers(raw, now), raw)
    [m] = adapter.parse(raw)
    assert (m.source, m.to, m.text, m.media) == (
        "+8618012121222", "+14155550100", "Hello from Telnyx",
        ("https://media.telnyx.com/a.jpg",))
    assert adapter.parse(telnyx_event("message.finalized")) == []  # a delivery report
    for headers in ({}, telnyx_headers(raw, now, bytes(32)),  # another key
                    telnyx_headers(raw + b" ", now),  # another body
                    telnyx_headers(raw, now - 301),  # a replay: too old
                    {**telnyx_headers(raw, now), "telnyx-timestamp": str(now + 1)},
                    {**telnyx_headers(raw, now), "telnyx-signature-ed25519": "!!"}):
        with pytest.raises(WebhookRefused) as err:
            adapter.authenticate("", headers, raw)
        assert err.value.status == 403
    for bad in (telnyx_event(to=[{"phone_number": "+19999999999"}]), telnyx_event(text=""),
                telnyx_event(media=[{"url": "https://x/a", "size": 100 * 1024 * 1024 + 1}]),
                telnyx_event(record_type="call"), b"[]", b"nope"):
        with pytest.raises(WebhookRefused):
            adapter.parse(bad)


@pytest.mark.parametrize(("status", "answer", "expected"), [
    (200, {"data": {"id": "40385f64-5717-4562-b3fc-2c963f66afa6"}},
     SendResult("40385f64-5717-4562-b3fc-2c963f66afa6")),
    (400, {"errors": [{"code": "40310", "title": "Invalid 'to' address", "detail": "x"}]},
     SendResult(None, Prompt.INVALID_NUMBER.value)),
    (401, {"errors": [{"code": "10009", "title": "Authentication failed", "detail": "x"}]},
     SendResult(None, Prompt.AUTH_FAILED.value)),
    (429, {"errors": [{"code": "10011", "title": "Too many requests", "detail": "x"}]},
     SendResult(None, Prompt.TOO_FREQUENT.value, True)),
    (400, {"errors": [{"code": "40300", "title": "Blocked", "detail": "Blocked due to STOP"}]},
     SendResult(None, "Send failed: Blocked due to STOP")),
    (502, {}, SendResult(None, Prompt.UNAVAILABLE.value, True)),
])
def test_telnyx_answers_map_to_prompts(status: int, answer: Any, expected: SendResult) -> None:
    assert telnyx.classify(status, json.dumps(answer).encode()) == expected


async def test_telnyx_send_is_the_documented_request(apis: FakeApis) -> None:
    adapter = make_adapter(channel("telnyx", apis.base, api_key="KEY0123",
                                   public_key=TELNYX_PUBLIC), VirtualClock())
    try:
        assert (await adapter.send("+14155550100", "+8618012121222", "Hi", ())).provider_id
        await adapter.send("+14155550100", "+8618012121222", "", ("https://pbx.example/a.png",))
        first, mms = apis.sent("telnyx")
        assert first.headers["Authorization"] == "Bearer KEY0123"
        assert first.content_type == "application/json"
        assert first.json == {"from": "+14155550100", "to": "+8618012121222", "text": "Hi"}
        assert mms.json == {"from": "+14155550100", "to": "+8618012121222",
                            "media_urls": ["https://pbx.example/a.png"]}
    finally:
        await adapter.close()


# --- Meta ---------------------------------------------------------------------------------


def test_meta_handshake_and_signature() -> None:
    ok = meta.handshake("38owndego8ugcinx", {"hub.mode": "subscribe",
                                             "hub.verify_token": "38owndego8ugcinx",
                                             "hub.challenge": "1158201444"})
    assert ok.status == 200 and ok.text == "1158201444"
    for query in ({"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
                  {"hub.mode": "unsubscribe", "hub.verify_token": "38owndego8ugcinx",
                   "hub.challenge": "1"}, {}):
        assert meta.handshake("38owndego8ugcinx", query).status == 403
    raw = b'{"object":"page"}'
    meta.authenticate("s", {"X-Hub-Signature-256": meta.signature("s", raw)}, raw)
    for headers in ({}, {"X-Hub-Signature-256": meta.signature("other", raw)},
                    {"X-Hub-Signature-256": meta.signature("s", raw).upper()}):
        with pytest.raises(WebhookRefused):
            meta.authenticate("s", headers, raw)


def wa_body(messages: list[dict[str, Any]], number_id: str = "123") -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "456", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15559871234", "phone_number_id": number_id},
            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "8613912345678"}],
            "messages": messages}}]}]}).encode()


def test_whatsapp_inbound_messages() -> None:
    adapter = make_adapter(whatsapp_channel("https://graph.example/v21.0"), VirtualClock())
    got = adapter.parse(wa_body([
        {"from": "8613912345678", "id": "wamid.1", "timestamp": "1700000000", "type": "text",
         "text": {"body": "hello"}},
        {"from": "8613912345678", "id": "wamid.2", "timestamp": "1700000001", "type": "image",
         "image": {"id": "1234567", "mime_type": "image/jpeg", "caption": "look"}}]))
    assert [(m.provider_id, m.source, m.to, m.text, m.media) for m in got] == [
        ("wamid.1", "+8613912345678", "+15559871234", "hello", ()),
        ("wamid.2", "+8613912345678", "+15559871234", "look",
         ("https://graph.example/v21.0/1234567",))]
    statuses = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "456",
                           "changes": [{"field": "messages", "value": {
                               "metadata": {"phone_number_id": "123"},
                               "statuses": [{"id": "wamid.x", "status": "read"}]}}]}]})
    assert adapter.parse(statuses.encode()) == []
    for bad in (wa_body([{"from": "8613912345678", "id": "w", "type": "text",
                          "text": {"body": "x"}}], number_id="999"),
                wa_body([{"from": "+86 139", "id": "w", "type": "text", "text": {"body": "x"}}]),
                wa_body([{"from": "8613912345678", "type": "text", "text": {"body": "x"}}]),
                b'{"object":"page","entry":[]}'):
        with pytest.raises(WebhookRefused):
            adapter.parse(bad)


TEMPLATES: list[dict[str, Any]] = [
    {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "HEADER", "format": "TEXT", "text": "Order"},
                    {"type": "BODY", "text": "Hi {{name}}, order {{order}} shipped."}]},
    {"name": "pending_one", "language": "en_US", "status": "PENDING", "category": "UTILITY",
     "components": [{"type": "BODY", "text": "x"}]},
    {"name": "catalog", "language": "en_US", "status": "APPROVED", "category": "MARKETING",
     "components": [{"type": "BODY", "text": "See"},
                    {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View"}]}]},
    {"name": "bad_vars", "language": "en_US", "status": "APPROVED", "category": "UTILITY",
     "components": [{"type": "BODY", "text": "Hi {{first_name}}"}]},
    {"name": "welcome", "language": "zh_CN", "status": "APPROVED", "category": "MARKETING",
     "components": [{"type": "BODY", "text": "您好 {{1}}，欢迎 {{2}}"}]},
]


def test_template_filter() -> None:
    assert [t.name if t else None for t in map(parse_template, TEMPLATES)] == [
        "order_update", None, None, None, "welcome"]


async def test_whatsapp_templates_window_and_send_requests(apis: FakeApis) -> None:
    apis.templates = TEMPLATES
    clock = VirtualClock()
    last: dict[tuple[str, str], float] = {}
    adapter = make_adapter(whatsapp_channel(apis.base), clock,
                           lambda number, customer: last.get((number, customer)))
    assert isinstance(adapter, WhatsAppAdapter)
    customer, number = "+8613912345678", "+15559871234"
    try:
        assert await adapter.sync_templates() == 2  # of two pages
        first, second = apis.sent("templates")
        assert first.path == "/456/message_templates"
        assert first.headers["Authorization"] == "Bearer EAAG-token"
        assert second.query == {"after": "page2"}
        # no customer message yet: free text refused, templates only
        with pytest.raises(ReplyRefused) as err:
            adapter.prepare(number, customer, "hi", (), None)
        assert (err.value.status, err.value.code, err.value.message) == (
            409, "window_closed", WA_WINDOW)
        assert (await adapter.send(number, customer, "hi", ())).prompt == WA_WINDOW
        assert apis.sent("graph") == []
        text, media = adapter.prepare(number, customer, "", (), {
            "name": "order_update", "language": "en_US",
            "variables": {"name": "Leo", "order": "A-7"}})
        assert text == "Order\nHi Leo, order A-7 shipped."
        result = await adapter.send(number, customer, text, media)
        assert result.provider_id is not None and result.provider_id.startswith("wamid.")
        [req] = apis.sent("graph")
        assert req.path == "/123/messages"
        assert req.headers["Authorization"] == "Bearer EAAG-token"
        assert req.json == {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": "8613912345678", "type": "template", "template": {
                                "name": "order_update", "language": {"code": "en_US"},
                                "components": [{"type": "body", "parameters": [
                                    {"type": "text", "parameter_name": "name", "text": "Leo"},
                                    {"type": "text", "parameter_name": "order",
                                     "text": "A-7"}]}]}}
        text, media = adapter.prepare(number, customer, "", (), {
            "name": "welcome", "language": "zh_CN", "variables": {"2": "B", "1": "A"}})
        await adapter.send(number, customer, text, media)
        assert apis.sent("graph")[-1].json["template"]["components"][0]["parameters"] == [
            {"type": "text", "text": "A"}, {"type": "text", "text": "B"}]
        for bad in ({"name": "order_update", "language": "en_US", "variables": {"name": "x"}},
                    {"name": "pending_one", "language": "en_US"},
                    {"name": "order_update", "language": "de"}):
            with pytest.raises(ReplyRefused):
                adapter.prepare(number, customer, "", (), bad)
        # the customer writes: free text for 24 hours
        last[(number, customer)] = clock.wall()
        assert adapter.prepare(number, customer, "hi", (), None) == ("hi", ())
        await adapter.send(number, customer, "hi", ("https://pbx.example/a.jpg",))
        text_req, image_req = apis.sent("graph")[-2:]
        assert text_req.json == {"messaging_product": "whatsapp", "recipient_type": "individual",
                                 "to": "8613912345678", "type": "text",
                                 "text": {"preview_url": False, "body": "hi"}}
        assert image_req.json["type"] == "image"
        assert image_req.json["image"] == {"link": "https://pbx.example/a.jpg"}
        clock.advance(24 * 3600 - 1)
        adapter.prepare(number, customer, "still", (), None)
        clock.advance(1)
        with pytest.raises(ReplyRefused):
            adapter.prepare(number, customer, "late", (), None)
    finally:
        await adapter.close()


@pytest.mark.parametrize(("status", "error", "expected"), [
    (400, {"code": 131047, "message": "Re-engagement message"}, SendResult(None, WA_WINDOW)),
    (401, {"code": 190, "message": "token expired", "type": "OAuthException"},
     SendResult(None, Prompt.AUTH_FAILED.value)),
    (429, {"code": 130429, "message": "Rate limit hit"},
     SendResult(None, Prompt.TOO_FREQUENT.value, True)),
    (400, {"code": 131030, "message": "Recipient not in allowed list"},
     SendResult(None, Prompt.INVALID_NUMBER.value)),
    (400, {"code": 131026, "message": "Message undeliverable"},
     SendResult(None, "Send failed: Message undeliverable")),
    (500, {"code": 131000, "message": "Something went wrong"},
     SendResult(None, Prompt.UNAVAILABLE.value, True)),
])
async def test_whatsapp_errors_map_to_prompts(apis: FakeApis, status: int,
                                              error: dict[str, Any],
                                              expected: SendResult) -> None:
    clock = VirtualClock()
    adapter = make_adapter(whatsapp_channel(apis.base), clock, lambda n, c: clock.wall())
    apis.script["graph"] = [(status, {"error": error})]
    try:
        assert await adapter.send("+15559871234", "+8613912345678", "hi", ()) == expected
    finally:
        await adapter.close()


async def test_messenger_window_tags_and_requests(apis: FakeApis) -> None:
    clock = VirtualClock()
    wrote: list[float] = []
    adapter = make_adapter(messenger_channel(apis.base), clock,
                           lambda page, psid: wrote[-1] if wrote else None)
    assert isinstance(adapter, MessengerAdapter)
    page, psid = "334079033132769", "6543210987654321"
    try:
        with pytest.raises(ReplyRefused) as err:  # never wrote: nothing may be sent
            adapter.prepare(page, psid, "hi", (), None)
        assert err.value.code == "window_closed"
        wrote.append(clock.wall())
        assert (await adapter.send(page, psid, "hi", ("https://pbx.example/a.png",))).provider_id
        text_req, image_req = apis.sent("graph")
        assert text_req.path == f"/{page}/messages"
        assert text_req.query == {"access_token": "page-token"}
        assert text_req.json == {"recipient": {"id": psid}, "messaging_type": "RESPONSE",
                                 "message": {"text": "hi"}}
        assert image_req.json["message"] == {"attachment": {"type": "image", "payload": {
            "url": "https://pbx.example/a.png", "is_reusable": True}}}
        clock.advance(24 * 3600)  # past 24 hours: the human-agent tag
        adapter.prepare(page, psid, "later", (), None)
        await adapter.send(page, psid, "later", ())
        assert apis.sent("graph")[-1].json == {
            "recipient": {"id": psid}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
            "message": {"text": "later"}}
        clock.advance(6 * 24 * 3600)  # 7 days: nothing more
        with pytest.raises(ReplyRefused):
            adapter.prepare(page, psid, "too late", (), None)
        assert await adapter.send(page, psid, "too late", ()) == SendResult(None, FB_WINDOW)
        with pytest.raises(ReplyRefused):
            adapter.prepare(page, psid, "", (), {"name": "x", "language": "en"})
        wrote.append(clock.wall())
        apis.script["graph"] = [(400, {"error": {"code": 10, "error_subcode": 2018278,
                                                 "message": "outside the allowed window"}})]
        assert await adapter.send(page, psid, "x", ()) == SendResult(None, FB_WINDOW)
    finally:
        await adapter.close()


def test_messenger_inbound() -> None:
    adapter = make_adapter(messenger_channel(), VirtualClock())
    page = "334079033132769"

    def body(*events: dict[str, Any], entry_id: str = page) -> bytes:
        return json.dumps({"object": "page", "entry": [
            {"id": entry_id, "time": 1700000000000, "messaging": list(events)}]}).encode()

    msg = {"sender": {"id": "6543210987654321"}, "recipient": {"id": page},
           "timestamp": 1700000000000, "message": {"mid": "m_1", "text": "hello", "attachments": [
               {"type": "image", "payload": {"url": "https://scontent.example/a.jpg"}}]}}
    echo = {**msg, "message": {"mid": "m_2", "text": "ours", "is_echo": True}}
    read = {"sender": {"id": "6543210987654321"}, "recipient": {"id": page},
            "read": {"watermark": 1}}
    [m] = adapter.parse(body(msg, echo, read))
    assert (m.provider_id, m.source, m.to, m.text, m.media) == (
        "m_1", "6543210987654321", page, "hello", ("https://scontent.example/a.jpg",))
    for bad in (body(msg, entry_id="111"), body({**msg, "recipient": {"id": "111"}}),
                body({**msg, "sender": {"id": "x y"}}),
                body({**msg, "message": {"text": "no mid"}})):
        with pytest.raises(WebhookRefused):
            adapter.parse(bad)


# --- Bandwidth ----------------------------------------------------------------------------


def bandwidth_channel(base: str = "http://127.0.0.1:9", **extra: str) -> ChannelConfig:
    return channel("bandwidth", base, application_id="93de2206-9669-4e07-948d-329f4b722ee2",
                   account_id="9900000", username="bw-user", password="bw-pass", **extra)


def bw_events(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


def bw_received(mid: str = "14762070468292kw2fuqty55yp2b2", **message: Any) -> dict[str, Any]:
    m = {"id": mid, "owner": "+14155550100", "applicationId":
         "93de2206-9669-4e07-948d-329f4b722ee2", "time": "2026-12-03T09:00:00.000Z",
         "segmentCount": 1, "direction": "in", "to": ["+14155550100"],
         "from": "+8618012121222", "text": "Hello from Bandwidth"}
    m.update(message)
    return {"type": "message-received", "time": "2026-12-03T09:00:00Z",
            "description": "Incoming message received", "to": "+14155550100", "message": m}


def test_bandwidth_callbacks() -> None:
    adapter = make_adapter(bandwidth_channel(callback_username="cb", callback_password="pw"),
                           VirtualClock())
    raw = bw_events(bw_received(media=[
        "https://messaging.bandwidth.com/api/v2/users/9900000/media/a.jpg",
        "https://messaging.bandwidth.com/api/v2/users/9900000/media/0.smil"]),
        {"type": "message-delivered", "to": "+8618012121222", "message": {"id": "x"}})
    adapter.authenticate("", {"Authorization": "Basic " + base64.b64encode(b"cb:pw").decode()},
                         raw)
    [m] = adapter.parse(raw)
    assert (m.source, m.to, m.text, m.media) == (
        "+8618012121222", "+14155550100", "Hello from Bandwidth",
        ("https://messaging.bandwidth.com/api/v2/users/9900000/media/a.jpg",))
    for headers in ({}, {"Authorization": "Basic " + base64.b64encode(b"cb:no").decode()}):
        with pytest.raises(WebhookRefused) as err:
            adapter.authenticate("", headers, raw)
        assert err.value.status == 403
    for bad in (bw_events(bw_received(applicationId="other")),
                bw_events({**bw_received(), "to": "+19999999999"}),
                bw_events(bw_received(text="")), b'{"type": "message-received"}',
                bw_events(bw_received(media=["file:///etc/passwd"]))):
        with pytest.raises(WebhookRefused):
            adapter.parse(bad)


@pytest.mark.parametrize(("status", "answer", "expected"), [
    (202, {"id": "1589228074636lm4k2je7j7jklbn2"}, SendResult("1589228074636lm4k2je7j7jklbn2")),
    (400, {"type": "request-validation", "description": "Your request could not be accepted.",
           "fieldErrors": [{"fieldName": "to", "description": "not E164"}]},
     SendResult(None, Prompt.INVALID_NUMBER.value)),
    (401, {"type": "authentication-error", "description": "x"},
     SendResult(None, Prompt.AUTH_FAILED.value)),
    (429, {"type": "too-many-requests", "description": "x"},
     SendResult(None, Prompt.TOO_FREQUENT.value, True)),
    (400, {"type": "request-validation", "description": "Application not found"},
     SendResult(None, "Send failed: Application not found")),
    (503, {}, SendResult(None, Prompt.UNAVAILABLE.value, True)),
])
def test_bandwidth_answers_map_to_prompts(status: int, answer: Any,
                                          expected: SendResult) -> None:
    assert bandwidth.classify(status, json.dumps(answer).encode()) == expected


async def test_bandwidth_send_is_the_documented_request(apis: FakeApis) -> None:
    adapter = make_adapter(bandwidth_channel(apis.base), VirtualClock())
    try:
        result = await adapter.send("+14155550100", "+8618012121222", "Hi",
                                    ("https://pbx.example/a.png",))
        assert result.provider_id is not None and result.provider_id.startswith("bw-")
        [req] = apis.sent("bandwidth")
        assert req.path == "/api/v2/users/9900000/messages"
        assert req.headers["Authorization"] == "Basic " + base64.b64encode(
            b"bw-user:bw-pass").decode()
        assert req.json == {"applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
                            "to": ["+8618012121222"], "from": "+14155550100", "text": "Hi",
                            "media": ["https://pbx.example/a.png"]}
    finally:
        await adapter.close()


# --- Flowroute ----------------------------------------------------------------------------


def flowroute_channel(base: str = "http://127.0.0.1:9") -> ChannelConfig:
    return channel("flowroute", base, access_key="fr-access", secret_key="fr-secret")


def fr_body(mdr: str = "mdr2-39cadeace66e11e8aa0a6b6a2b0e0d4d", included: Any = None,
            **attrs: Any) -> bytes:
    a = {"body": "Hello from Flowroute", "direction": "inbound", "from": "18553569768",
         "to": "14155550100", "is_mms": False, "message_type": "longcode",
         "status": "delivered", "timestamp": "2026-12-03T09:00:00.00Z"}
    a.update(attrs)
    doc: dict[str, Any] = {"data": {"type": "message", "id": mdr, "attributes": a}}
    if included is not None:
        doc["included"] = included
    return json.dumps(doc).encode()


def test_flowroute_callbacks() -> None:
    adapter = make_adapter(flowroute_channel(), VirtualClock())
    [m] = adapter.parse(fr_body(included=[{"type": "media", "id": "x", "attributes": {
        "url": "https://mms-media.flowroute.com/a.png", "file_size": 1234,
        "mime_type": "image/png", "file_name": "a.png"}}], is_mms=True))
    assert (m.provider_id, m.source, m.to, m.text, m.media) == (
        "mdr2-39cadeace66e11e8aa0a6b6a2b0e0d4d", "+18553569768", "+14155550100",
        "Hello from Flowroute", ("https://mms-media.flowroute.com/a.png",))
    for bad in (fr_body(to="19999999999"), fr_body(body=""), fr_body(**{"from": "abc"}),
                fr_body(included=[{"type": "media", "attributes": {
                    "url": "https://x/a", "file_size": 100 * 1024 * 1024 + 1}}]),
                b'{"data": {"type": "call"}}', b"[]"):
        with pytest.raises(WebhookRefused):
            adapter.parse(bad)


@pytest.mark.parametrize(("status", "answer", "expected"), [
    (202, {"data": {"type": "message", "id": "mdr2-1"}}, SendResult("mdr2-1")),
    (401, {"errors": [{"status": 401, "title": "Unauthorized", "detail": "x"}]},
     SendResult(None, Prompt.AUTH_FAILED.value)),
    (400, {"errors": [{"status": 400, "detail": "Invalid 'to' phone number"}]},
     SendResult(None, Prompt.INVALID_NUMBER.value)),
    (400, {"errors": [{"status": 400, "detail": "Messaging is not enabled on this DID"}]},
     SendResult(None, "Send failed: Messaging is not enabled on this DID")),
    (429, {}, SendResult(None, Prompt.TOO_FREQUENT.value, True)),
    (500, {}, SendResult(None, Prompt.UNAVAILABLE.value, True)),
])
def test_flowroute_answers_map_to_prompts(status: int, answer: Any,
                                          expected: SendResult) -> None:
    assert flowroute.classify(status, json.dumps(answer).encode()) == expected


async def test_flowroute_send_is_the_documented_request(apis: FakeApis) -> None:
    adapter = make_adapter(flowroute_channel(apis.base), VirtualClock())
    try:
        assert (await adapter.send("+14155550100", "+18553569768", "Hi", ())).provider_id
        await adapter.send("+14155550100", "+18553569768", "", ("https://pbx.example/a.png",))
        sms, mms = apis.sent("flowroute")
        assert sms.content_type == "application/vnd.api+json"
        assert sms.headers["Authorization"] == "Basic " + base64.b64encode(
            b"fr-access:fr-secret").decode()
        assert sms.json == {"data": {"type": "message", "attributes": {
            "to": "18553569768", "from": "14155550100", "body": "Hi"}}}
        assert mms.json == {"data": {"type": "message", "attributes": {
            "to": "18553569768", "from": "14155550100", "is_mms": True,
            "media_urls": ["https://pbx.example/a.png"]}}}
    finally:
        await adapter.close()


async def test_refused_credentials_show_as_the_channel_status(apis: FakeApis) -> None:
    """§2.5: unknown until the provider answered, then connected or unauthorized; a
    template sync Meta refuses keeps the templates synced before (502 to the admin)."""

    tw = make_adapter(twilio_channel(apis.base), VirtualClock())
    wa = make_adapter(whatsapp_channel(apis.base), VirtualClock())
    assert isinstance(wa, WhatsAppAdapter)
    apis.templates = TEMPLATES
    try:
        assert tw.status is ChannelStatus.UNKNOWN
        await tw.send("+14155550100", "+8618012121222", "hi", ())
        assert tw.status is ChannelStatus.CONNECTED
        apis.script["twilio"] = [(401, {"code": 20003, "message": "Authenticate"})]
        await tw.send("+14155550100", "+8618012121222", "hi", ())
        assert tw.status is ChannelStatus.UNAUTHORIZED
        await wa.sync_templates()
        apis.script["templates"] = [(401, {"error": {"code": 190, "message": "expired"}})]
        with pytest.raises(ReplyRefused) as err:
            await wa.sync_templates()
        assert (err.value.status, err.value.message) == (
            502, "template sync failed: Authentication failed")
        assert wa.status is ChannelStatus.UNAUTHORIZED
        assert len(wa.templates) == 2
    finally:
        await tw.close()
        await wa.close()
