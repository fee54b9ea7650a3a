"""The named providers through a running switch (in the test's loop) and a local fake of
their APIs: each webhook in its provider's format with good and bad signatures (stored
before the answer; refused ones store nothing), Meta's handshakes, agents' replies out
exactly as the provider expects with its refusals shown to the agent, a provider that is
down retried from the outbox after a restart, and the WhatsApp/Messenger rules at the
API (templates outside the window, no agent-started Messenger chats)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import switchproc
import yaml
from fake_providers import FakeApis
from switch_harness import Harness, started
from test_providers_protocol import TEMPLATES, bw_events, bw_received, fr_body, telnyx_event

from softswitch.config import parse_config
from softswitch.messaging.providers import ed25519, meta, telnyx, twilio

TW_TOKEN, TX_TOKEN, BW_TOKEN, FR_TOKEN = "1" * 32, "2" * 32, "5" * 32, "6" * 32
BW_NUMBER, FR_NUMBER = "+14155550300", "+14155550400"
WA_TOKEN, FB_TOKEN = "3" * 32, "4" * 32
SID = "AC" + "ab" * 16
TW_NUMBER, TX_NUMBER, WA_NUMBER = "+14155550100", "+14155550200", "+15559871234"
PAGE, PSID = "334079033132769", "6543210987654321"
TX_SECRET = bytes(range(1, 33))


def config(tmp_path: Path, base: str) -> Any:
    cfg = switchproc.base_config(tmp_path)
    cfg["message_queues"] = [{"name": "Tech Support", "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    ext = {"type": "extension", "target": "1001"}
    cfg["message_channels"] = [
        {"name": "Twilio", "provider": "twilio", "token": TW_TOKEN, "account_sid": SID,
         "auth_token": "tw-auth", "base_url": base,
         "numbers": [{"number": TW_NUMBER, "destination": ext, "allowed_extensions": ["1001"]}]},
        {"name": "Telnyx", "type": "sms", "provider": "telnyx", "token": TX_TOKEN,
         "api_key": "KEYtx", "public_key": base64.b64encode(ed25519.public_key(TX_SECRET))
         .decode(), "base_url": base,
         "numbers": [{"number": TX_NUMBER, "destination": {"type": "message_queue",
                                                           "target": "Tech Support"}}]},
        {"name": "WhatsApp", "type": "whatsapp", "token": WA_TOKEN, "verify_token": "wa-verify",
         "access_token": "wa-access", "app_secret": "wa-secret", "number": WA_NUMBER,
         "number_id": "123", "waba_id": "456", "destination": ext,
         "allowed_extensions": ["1001"], "base_url": base},
        {"name": "Messenger", "type": "messenger", "token": FB_TOKEN, "verify_token": "fb-verify",
         "access_token": "fb-access", "app_secret": "fb-secret", "page_id": PAGE,
         "page_name": "Yeastar", "destination": ext, "base_url": base},
        {"name": "Bandwidth", "provider": "bandwidth", "token": BW_TOKEN,
         "application_id": "93de2206-9669-4e07-948d-329f4b722ee2", "account_id": "9900000",
         "username": "bw-user", "password": "bw-pass", "callback_username": "cb",
         "callback_password": "cb-pw", "base_url": base,
         "numbers": [{"number": BW_NUMBER, "destination": ext}]},
        {"name": "Flowroute", "provider": "flowroute", "token": FR_TOKEN,
         "access_key": "fr-access", "secret_key": "fr-secret", "base_url": base,
         "numbers": [{"number": FR_NUMBER, "destination": ext}]}]
    cfg["admins"] = ["1002"]
    return parse_config(yaml.safe_dump(cfg, allow_unicode=True), "c.yaml", tmp_path)


@pytest.fixture
async def apis() -> AsyncIterator[FakeApis]:
    server = await FakeApis(templates=list(TEMPLATES)).start()
    yield server
    await server.stop()


async def post(h: Harness, provider: str, token: str, raw: bytes, headers: dict[str, str],
               ) -> tuple[int, str]:
    async with h.http.post(f"{h.base}/api/v1/webhooks/{provider}/{token}", data=raw,
                           headers=headers) as resp:
        return resp.status, await resp.text()


async def twilio_post(h: Harness, fields: dict[str, str], sign_with: str = "tw-auth",
                      content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str]:
    raw = urlencode(fields).encode()
    url = f"{h.base}/api/v1/webhooks/twilio/{TW_TOKEN}"
    sig = twilio.signature(sign_with, url, list(fields.items()))
    return await post(h, "twilio", TW_TOKEN, raw, {"Content-Type": content_type,
                                                   "X-Twilio-Signature": sig})


def tw_fields(sid: str, text: str = "Hi from Twilio") -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": SID, "From": "+8618012121222", "To": TW_NUMBER,
            "Body": text, "NumMedia": "0"}


async def test_twilio_in_and_out_errors_and_a_provider_down(tmp_path: Path,
                                                            apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            # hostile first: nothing stored
            assert (await twilio_post(h, tw_fields("SM1"), sign_with="wrong"))[0] == 403
            assert (await twilio_post(h, tw_fields("SM1"), content_type="application/json")
                    )[0] == 415
            assert (await twilio_post(h, {**tw_fields("SM1"), "To": "+19999999999"}))[0] == 400
            assert (await twilio_post(h, {**tw_fields("SM1"), "AccountSid": "AC" + "0" * 32})
                    )[0] == 400
            assert (await twilio_post(h, tw_fields("SM1", text="x" * 70_000)))[0] == 413
            assert await h.stored() == 0
            status, text = await twilio_post(h, tw_fields("SM1"))
            assert status == 200 and "<Response></Response>" in text
            count = await h.stored()
            assert count >= 1  # committed before the answer
            assert (await twilio_post(h, tw_fields("SM1")))[0] == 200  # redelivered
            assert await h.stored() == count  # ... and not stored twice
            [sid] = await h.sessions("1001")
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            assert data["messages"][-1]["text"] == "Hi from Twilio"
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                    {"text": "Hello back"})
            assert status == 202
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("twilio")
            assert req.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
            assert req.form == [("To", "+8618012121222"), ("From", TW_NUMBER),
                                ("Body", "Hello back")]
            # a Twilio refusal shown to the agent
            apis.script["twilio"] = [(400, {"code": 21211, "status": 400,
                                            "message": "The 'To' number is not valid."})]
            await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "again"})
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert (last["status"], last["error"]) == ("failed", "Invalid number")
            _, data = await h.api("1002", "GET", "/channels")
            rows = {c["name"]: c for c in data["channels"]}
            assert rows["Twilio"]["status"] == "connected"
            assert rows["Twilio"]["webhook_path"] == f"/api/v1/webhooks/twilio/{TW_TOKEN}"
    finally:
        await switch.stop()
    # Twilio is down: the reply stays pending, and goes once it is back (after a restart)
    await apis.stop()
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "later"})
            last = await h.last_message("1001", sid, lambda m: bool(m["error"]))
            assert (last["status"], last["error"]) == (
                "pending", "Third-party platform service unavailable")
    finally:
        await switch.stop()
    await apis.start()
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            last = await h.last_message("1001", sid, lambda m: m["status"] == "sent")
            assert (last["text"], last["status"]) == ("later", "sent")
            assert apis.sent("twilio")[-1].form[-1] == ("Body", "later")
    finally:
        await switch.stop()


async def test_telnyx_signed_events_into_a_queue(tmp_path: Path, apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            raw = telnyx_event(to=[{"phone_number": TX_NUMBER}])
            now = str(int(time.time()))  # the switch runs on the real wall clock

            def headers(stamp: str, secret: bytes = TX_SECRET) -> dict[str, str]:
                return {"Content-Type": "application/json", "telnyx-timestamp": stamp,
                        "telnyx-signature-ed25519": telnyx.sign(secret, stamp, raw)}

            assert (await post(h, "telnyx", TX_TOKEN, raw, headers(now, bytes(32))))[0] == 403
            assert (await post(h, "telnyx", TX_TOKEN, raw, headers(str(int(now) - 600)))
                    )[0] == 403  # replayed from 10 minutes ago
            assert (await post(h, "telnyx", TX_TOKEN, raw, {}))[0] in (403, 415)
            assert await h.stored() == 0
            assert (await post(h, "telnyx", TX_TOKEN, raw, headers(now)))[0] == 200
            [sid] = await h.sessions("1002")  # the queue's agents see it
            assert await h.sessions("1001") == [sid]
            status, _ = await h.api("1002", "POST", f"/sessions/{sid}/take_over")
            assert status == 200
            await h.api("1002", "POST", f"/sessions/{sid}/messages", {"text": "On it"})
            last = await h.last_message("1002", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("telnyx")
            assert req.headers["Authorization"] == "Bearer KEYtx"
            assert req.json == {"from": TX_NUMBER, "to": "+8618012121222", "text": "On it"}
    finally:
        await switch.stop()


def wa_text(mid: str, text: str = "hello") -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "456", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15559871234", "phone_number_id": "123"},
            "contacts": [{"profile": {"name": "Kerry"}, "wa_id": "8613912345678"}],
            "messages": [{"from": "8613912345678", "id": mid, "timestamp": "1700000000",
                          "type": "text", "text": {"body": text}}]}}]}]}).encode()


async def test_whatsapp_handshake_templates_and_window(tmp_path: Path, apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            url = f"{h.base}/api/v1/webhooks/whatsapp/{WA_TOKEN}"
            q = {"hub.mode": "subscribe", "hub.verify_token": "wa-verify",
                 "hub.challenge": "1158201444"}
            async with http.get(url, params=q) as resp:
                assert (resp.status, await resp.text()) == (200, "1158201444")
            async with http.get(url, params={**q, "hub.verify_token": "nope"}) as resp:
                assert resp.status == 403
            # the templates were synced at start (two pages of the fake Graph API)
            status, data = await h.api("1001", "GET", "/channels/WhatsApp/templates")
            assert status == 200
            assert {t["name"] for t in data["templates"]} == {"order_update", "welcome"}
            assert (await h.api("1001", "POST", "/channels/WhatsApp/templates/refresh"))[0] \
                == 403
            assert (await h.api("1002", "POST", "/channels/WhatsApp/templates/refresh"))[0] \
                == 200
            assert (await h.api("1001", "GET", "/channels/Twilio/templates"))[0] == 404
            # an agent starts a WhatsApp session: outside the window, templates only
            status, data = await h.api("1001", "POST", "/sessions", {
                "channel": "WhatsApp", "number": WA_NUMBER, "customer": "+8613912345678"})
            assert status == 200
            sid = data["session"]["id"]
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                       {"text": "free text"})
            assert status == 409 and "24-hour customer service window" in json.dumps(data)
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages", {
                "template": {"name": "order_update", "language": "en_US",
                             "variables": {"name": "Leo", "order": "A-7"}}})
            assert status == 202, data
            assert data["message"]["text"] == "Order\nHi Leo, order A-7 shipped."
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("graph")
            assert req.path == "/123/messages"
            assert req.headers["Authorization"] == "Bearer wa-access"
            assert req.json["type"] == "template"
            assert req.json["to"] == "8613912345678"
            # hostile webhooks store nothing
            raw = wa_text("wamid.A")
            before = await h.stored()
            assert (await post(h, "whatsapp", WA_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("other", raw)}))[0] == 403
            assert (await post(h, "whatsapp", WA_TOKEN, raw, {
                "Content-Type": "application/json"}))[0] == 403
            assert await h.stored() == before
            # the customer writes: the window opens, free text goes
            assert (await post(h, "whatsapp", WA_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("wa-secret", raw)}))[0] == 200
            assert await h.sessions("1001") == [sid]  # the same open session
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                    {"text": "free text"})
            assert status == 202
            await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert apis.sent("graph")[-1].json["text"] == {"preview_url": False,
                                                           "body": "free text"}
    finally:
        await switch.stop()


async def test_messenger_handshake_inbound_reply_and_no_agent_start(
        tmp_path: Path, apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            url = f"{h.base}/api/v1/webhooks/messenger/{FB_TOKEN}"
            async with http.get(url, params={"hub.mode": "subscribe",
                                             "hub.verify_token": "fb-verify",
                                             "hub.challenge": "CHALLENGE"}) as resp:
                assert (resp.status, await resp.text()) == (200, "CHALLENGE")
            status, _ = await h.api("1001", "POST", "/sessions", {
                "channel": "Messenger", "number": PAGE, "customer": "+8613912345678"})
            assert status == 403  # agents cannot start Messenger chats
            raw = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "message": {"mid": "m_1", "text": "hi page"}}]}]}).encode()
            assert (await post(h, "messenger", FB_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("wa-secret", raw)}))[0] == 403
            assert await h.stored() == 0
            assert (await post(h, "messenger", FB_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("fb-secret", raw)}))[0] == 200
            [sid] = await h.sessions("1001")
            # the session details' facts: a Messenger channel's type and Page; a PSID is
            # no phone number, so never a company contact
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            s = data["session"]
            assert (s["channel_type"], s["channel_page"], s["number"], s["customer"],
                    s["customer_contact"]) == ("messenger", "Yeastar", PAGE, PSID, None)
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/contact",
                                       {"new": {"name": "A Facebook user"}})
            assert (status, data["error"]) == (409, "not_a_number")
            await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "hello"})
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("graph")
            assert req.path == f"/{PAGE}/messages"
            assert req.query == {"access_token": "fb-access"}
            assert req.json == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                                "message": {"text": "hello"}}
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages", {
                "template": {"name": "order_update", "language": "en_US"}})
            assert status == 400  # templates are WhatsApp's
    finally:
        await switch.stop()


async def test_bandwidth_callbacks_in_and_a_reply_out(tmp_path: Path, apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            event = bw_received()
            event["to"] = BW_NUMBER
            raw = bw_events(event)
            good = {"Content-Type": "application/json",
                    "Authorization": "Basic " + base64.b64encode(b"cb:cb-pw").decode()}
            assert (await post(h, "bandwidth", BW_TOKEN, raw, {
                **good, "Authorization": "Basic " + base64.b64encode(b"cb:x").decode()}))[0] \
                == 403
            assert (await post(h, "bandwidth", BW_TOKEN, raw, {
                **good, "Content-Type": "text/plain"}))[0] == 415
            assert await h.stored() == 0
            assert (await post(h, "bandwidth", BW_TOKEN, raw, good))[0] == 200
            count = await h.stored()
            assert (await post(h, "bandwidth", BW_TOKEN, raw, good))[0] == 200  # at least once
            assert await h.stored() == count
            [sid] = await h.sessions("1001")
            await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "Hi BW"})
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("bandwidth")
            assert req.json == {"applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
                                "to": ["+8618012121222"], "from": BW_NUMBER, "text": "Hi BW"}
    finally:
        await switch.stop()


async def test_flowroute_callback_in_and_a_reply_out(tmp_path: Path, apis: FakeApis) -> None:
    """Flowroute signs nothing: the URL's token is the check (another token: 401)."""
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            raw = fr_body(to=FR_NUMBER[1:])
            json_type = {"Content-Type": "application/json"}
            assert (await post(h, "flowroute", "7" * 32, raw, json_type))[0] == 401
            assert (await post(h, "flowroute", FR_TOKEN, fr_body(to="19999999999"),
                               json_type))[0] == 400
            assert await h.stored() == 0
            assert (await post(h, "flowroute", FR_TOKEN, raw, json_type))[0] == 200
            [sid] = await h.sessions("1001")
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            assert data["session"]["customer"] == "+18553569768"
            await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "Hi FR"})
            last = await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            assert last["status"] == "sent"
            [req] = apis.sent("flowroute")
            assert req.json == {"data": {"type": "message", "attributes": {
                "to": "18553569768", "from": FR_NUMBER[1:], "body": "Hi FR"}}}
    finally:
        await switch.stop()


async def test_a_pending_whatsapp_template_is_resent_as_a_template_after_a_restart(
        tmp_path: Path, apis: FakeApis) -> None:
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            _, data = await h.api("1001", "POST", "/sessions", {
                "channel": "WhatsApp", "number": WA_NUMBER, "customer": "+8613912345678"})
            sid = data["session"]["id"]
            apis.script["graph"] = [(503, {"error": {"code": 131016,
                                                     "message": "Service unavailable"}})]
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages", {
                "template": {"name": "welcome", "language": "zh_CN",
                             "variables": {"1": "Leo", "2": "Yeastar"}}})
            assert status == 202
            last = await h.last_message("1001", sid, lambda m: bool(m["error"]))
            assert (last["status"], last["error"]) == (
                "pending", "Third-party platform service unavailable")
    finally:
        await switch.stop()
    switch = await started(config(tmp_path, apis.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            last = await h.last_message("1001", sid, lambda m: m["status"] == "sent")
            assert (last["status"], last["text"]) == ("sent", "您好 Leo，欢迎 Yeastar")
            first, again = apis.sent("graph")
            assert first.json == again.json
            assert again.json["template"] == {
                "name": "welcome", "language": {"code": "zh_CN"}, "components": [
                    {"type": "body", "parameters": [{"type": "text", "text": "Leo"},
                                                    {"type": "text", "text": "Yeastar"}]}]}
    finally:
        await switch.stop()
