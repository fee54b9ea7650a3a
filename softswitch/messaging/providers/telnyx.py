"""Telnyx Messaging API v2 (omnichannel.md §3.7) in Telnyx's own formats.

Inbound: the messaging profile's webhook POSTs JSON events to
``/api/v1/webhooks/telnyx/{token}``: ``{"data": {"event_type": "message.received",
"id", "occurred_at", "record_type": "event", "payload": {"id", "from": {"phone_number"},
"to": [{"phone_number"}], "text", "media": [{"url", "content_type", "size"}],
"record_type": "message", ...}}, "meta": {...}}``. Each request carries
``telnyx-timestamp`` (Unix seconds) and ``telnyx-signature-ed25519``: base64 Ed25519 over
``{timestamp}|{raw body}`` with the key pair whose public half the admin copied from the
portal (the channel's ``public_key``). A timestamp more than ``timestamp_tolerance``
seconds (default 300, Telnyx's SDKs' value) from our clock is a replay: 403. Other events
(``message.sent``, ``message.finalized``: delivery reports of our sends) are accepted and
ignored.

Outbound: ``POST {base_url}/v2/messages`` with ``Authorization: Bearer {api_key}`` and
``{"from", "to", "text"?, "media_urls"?}``; 200 with ``data.id`` is accepted. Errors are
``{"errors": [{"code", "title", "detail"}]}`` with Telnyx's own codes (API errors
100xx, messaging 40xxx), mapped by `classify`.

Decision: MMS media (§3.2: up to 100 MB per file at most; Telnyx's MMS limits are far
lower) are sent as URLs Telnyx fetches; an inbound file larger than 100 MB by its
``size`` is refused (400).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from softswitch.messaging.config import E164, SENDER_ID
from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers import ed25519
from softswitch.messaging.providers.base import (
    UNREACHABLE,
    ProviderAdapter,
    WebhookRefused,
    json_object,
)

TOLERANCE = 300
MAX_FILE = 100 * 1024 * 1024  # §3.1, SMS providers
MAX_MEDIA = 10

CODES: dict[str, tuple[Prompt, bool]] = {
    "10009": (Prompt.AUTH_FAILED, False),  # authentication failed
    "10010": (Prompt.AUTH_FAILED, False),  # authorization failed
    "10011": (Prompt.TOO_FREQUENT, True),  # too many requests
    "10007": (Prompt.UNAVAILABLE, True),  # unexpected error
    "10008": (Prompt.UNAVAILABLE, True),  # request timeout
    "10002": (Prompt.INVALID_NUMBER, False),  # invalid phone number
    "10016": (Prompt.INVALID_NUMBER, False),  # not +E.164
    "40310": (Prompt.INVALID_NUMBER, False),  # invalid 'to' address
    "40305": (Prompt.INVALID_NUMBER, False),  # invalid 'from' address
    "10004": (Prompt.INVALID_PARAM, False),  # missing required parameter
    "10015": (Prompt.INVALID_PARAM, False),  # bad request
    "10014": (Prompt.MEDIA_RESTRICTED, False),  # unsupported media type
    "40011": (Prompt.TOO_FREQUENT, True),  # messaging rate limit
}


def sign(secret: bytes, timestamp: str, raw: bytes) -> str:
    """The ``telnyx-signature-ed25519`` value (the tests' fake Telnyx)."""
    return base64.b64encode(ed25519.sign(secret, timestamp.encode() + b"|" + raw)).decode()


def classify(status: int | None, body: bytes) -> SendResult:
    if status is None:
        return UNREACHABLE
    doc = json_object(body)
    if status == 200:
        data = doc.get("data")
        pid = data.get("id") if isinstance(data, dict) else None
        if isinstance(pid, str) and pid:
            return SendResult(pid)
        return SendResult(None, Prompt.SEND_FAILED.value)
    errors = doc.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and \
        isinstance(errors[0], dict) else {}
    code = str(first.get("code", ""))
    if code in CODES:
        prompt, retry = CODES[code]
        return SendResult(None, prompt.value, retry)
    if status == 401 or status == 403:
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 429:
        return SendResult(None, Prompt.TOO_FREQUENT.value, retry=True)
    if status >= 500:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    detail = first.get("detail") or first.get("title")
    if isinstance(detail, str) and detail:
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {detail}")
    return SendResult(None, Prompt.SEND_FAILED.value)


def _number(value: object, where: str) -> str:
    number = value.get("phone_number") if isinstance(value, dict) else None
    if not isinstance(number, str) or not (E164.match(number) or SENDER_ID.match(number)):
        raise WebhookRefused(400, f"{where}.phone_number must be E.164")
    return number


class TelnyxAdapter(ProviderAdapter):
    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        stamp = headers.get("telnyx-timestamp", "")
        given = headers.get("telnyx-signature-ed25519", "")
        if not stamp or not given:
            raise WebhookRefused(403, "telnyx-timestamp and telnyx-signature-ed25519 are "
                                      "required")
        try:
            sig = base64.b64decode(given, validate=True)
            when = int(stamp)
        except (binascii.Error, ValueError):
            raise WebhookRefused(403, "malformed Telnyx signature headers") from None
        key = base64.b64decode(self.config.cred("public_key"))
        if not ed25519.verify(key, stamp.encode() + b"|" + raw, sig):
            raise WebhookRefused(403, "telnyx-signature-ed25519 does not match")
        tolerance = int(self.config.cred("timestamp_tolerance", str(TOLERANCE)))
        if abs(self.clock.wall() - when) > tolerance:
            raise WebhookRefused(403, f"telnyx-timestamp is more than {tolerance} s away "
                                      "(a replay)")
        self.status = ChannelStatus.CONNECTED

    def parse(self, raw: bytes) -> list[Inbound]:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRefused(400, "the body is not JSON") from None
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
            raise WebhookRefused(400, "data.event_type is required")
        if data["event_type"] != "message.received":
            return []  # delivery reports of our own sends
        p = data.get("payload")
        if not isinstance(p, dict) or p.get("record_type") != "message":
            raise WebhookRefused(400, "data.payload must be a message")
        pid = p.get("id")
        if not isinstance(pid, str) or not 1 <= len(pid) <= 255:
            raise WebhookRefused(400, "data.payload.id is required")
        source = _number(p.get("from"), "data.payload.from")
        to_raw = p.get("to")
        if isinstance(to_raw, list):
            if len(to_raw) != 1:
                raise WebhookRefused(400, "data.payload.to must name one number")
            to_raw = to_raw[0]
        to = _number(to_raw, "data.payload.to")
        self.check_to(to)
        text = p.get("text") or ""
        if not isinstance(text, str):
            raise WebhookRefused(400, "data.payload.text must be a string")
        media_raw = p.get("media") or []
        if not isinstance(media_raw, list) or len(media_raw) > MAX_MEDIA:
            raise WebhookRefused(400, f"data.payload.media must be a list of at most "
                                      f"{MAX_MEDIA}")
        media = []
        for i, item in enumerate(media_raw):
            url = item.get("url") if isinstance(item, dict) else None
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise WebhookRefused(400, f"data.payload.media[{i}].url must be a URL")
            size = item.get("size") if isinstance(item, dict) else None
            if isinstance(size, int) and size > MAX_FILE:
                raise WebhookRefused(400, f"data.payload.media[{i}] is over 100 MB")
            media.append(url)
        if not text and not media:
            raise WebhookRefused(400, "text or media is required")
        received = p.get("received_at")
        return [Inbound(pid, source, to, text, tuple(media),
                        received if isinstance(received, str) else "")]

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        body: dict[str, object] = {"from": source, "to": to}
        if text:
            body["text"] = text
        if media:
            body["media_urls"] = list(media)
        status, answer = await self.request(
            "POST", f"{self.config.base_url}/v2/messages", json=body,
            headers={"Authorization": f"Bearer {self.config.cred('api_key')}"})
        return self.seen(classify(status, answer))
