"""Flowroute Messaging API v2.1 (omnichannel.md §3.5: the portal's "SMS Webhook Version"
must be v2.1) in Flowroute's own formats.

Inbound: Flowroute POSTs to the DID's (or the account's) SMS callback URL,
``/api/v1/webhooks/flowroute/{token}``, a JSON:API document ``{"data": {"type": "message",
"id": "mdr2-...", "attributes": {"to", "from", "body", "direction": "inbound", "is_mms",
...}}, "included": [{"type": "media", "attributes": {"url", "file_size", "mime_type",
"file_name"}}]}`` (numbers as 11 digits, ``1NPANXXXXXX``, no ``+``), and resends it until
it gets a 200. Flowroute does not sign callbacks (its documentation protects them by source
address): the secret token of the URL is the check (decision), and the body must name a
number of the channel.

Outbound: ``POST {base_url}/v2.1/messages`` with HTTP Basic (access key, secret key) and
``Content-Type: application/vnd.api+json``, ``{"data": {"type": "message", "attributes":
{"to", "from", "body", "is_mms"?, "media_urls"?}}}`` (numbers without ``+``); 202 with
``data.id`` is accepted; JSON:API ``errors`` are mapped by status (`classify`).

Decision: numbers are kept in E.164 with ``+`` in the switch, like every channel; the
adapter adds or strips the ``+`` at the border. An inbound file over 100 MB by its
``file_size`` is refused (400).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping

from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers.base import (
    UNREACHABLE,
    ProviderAdapter,
    WebhookRefused,
    json_object,
)

CONTENT_TYPE = "application/vnd.api+json"
MAX_FILE = 100 * 1024 * 1024
DIGITS = re.compile(r"^\+?([1-9][0-9]{1,14})$")


def _e164(value: object, where: str) -> str:
    match = DIGITS.match(value) if isinstance(value, str) else None
    if match is None:
        raise WebhookRefused(400, f"{where} must be a phone number (E.164 digits)")
    return "+" + match.group(1)


def classify(status: int | None, body: bytes) -> SendResult:
    if status is None:
        return UNREACHABLE
    doc = json_object(body)
    if status in (200, 202):
        data = doc.get("data")
        mid = data.get("id") if isinstance(data, dict) else None
        return SendResult(mid) if isinstance(mid, str) and mid else \
            SendResult(None, Prompt.SEND_FAILED.value)
    if status in (401, 403):
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 413:
        return SendResult(None, Prompt.TOO_LARGE.value)
    if status == 415:
        return SendResult(None, Prompt.MEDIA_RESTRICTED.value)
    if status == 429:
        return SendResult(None, Prompt.TOO_FREQUENT.value, retry=True)
    if status >= 500:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    errors = doc.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and \
        isinstance(errors[0], dict) else {}
    detail = first.get("detail") or first.get("title")
    if isinstance(detail, str) and detail:
        if re.search(r"\b(to|from)\b.*number|phone number", detail, re.IGNORECASE):
            return SendResult(None, Prompt.INVALID_NUMBER.value)
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {detail}")
    return SendResult(None, Prompt.SEND_FAILED.value)


class FlowrouteAdapter(ProviderAdapter):
    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        """No signature exists: the URL's token already matched this channel."""
        self.status = ChannelStatus.CONNECTED

    def parse(self, raw: bytes) -> list[Inbound]:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRefused(400, "the body is not JSON") from None
        data = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(data, dict) or data.get("type") != "message":
            raise WebhookRefused(400, "data must be a message")
        attrs = data.get("attributes")
        mid = data.get("id")
        if not isinstance(attrs, dict) or not isinstance(mid, str) or \
                not 1 <= len(mid) <= 255:
            raise WebhookRefused(400, "data.id and data.attributes are required")
        if attrs.get("direction", "inbound") != "inbound":
            return []
        source = _e164(attrs.get("from"), "data.attributes.from")
        to = _e164(attrs.get("to"), "data.attributes.to")
        self.check_to(to)
        text = attrs.get("body") or ""
        if not isinstance(text, str):
            raise WebhookRefused(400, "data.attributes.body must be a string")
        media = []
        included = doc.get("included") or []
        if not isinstance(included, list):
            raise WebhookRefused(400, "included must be a list")
        for i, item in enumerate(included):
            if not isinstance(item, dict) or item.get("type") != "media":
                continue
            a = item.get("attributes")
            url = a.get("url") if isinstance(a, dict) else None
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise WebhookRefused(400, f"included[{i}].attributes.url must be a URL")
            size = a.get("file_size") if isinstance(a, dict) else None
            if isinstance(size, int) and size > MAX_FILE:
                raise WebhookRefused(400, f"included[{i}] is over 100 MB")
            media.append(url)
        if not text and not media:
            raise WebhookRefused(400, "body or media is required")
        return [Inbound(mid, source, to, text, tuple(media), str(attrs.get("timestamp", "")))]

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        attrs: dict[str, object] = {"to": to.lstrip("+"), "from": source.lstrip("+")}
        if text:
            attrs["body"] = text
        if media:
            attrs.update(is_mms=True, media_urls=list(media))
        key = f"{self.config.cred('access_key')}:{self.config.cred('secret_key')}"
        status, answer = await self.request(
            "POST", f"{self.config.base_url}/v2.1/messages",
            data=json.dumps({"data": {"type": "message", "attributes": attrs}}).encode(),
            headers={"Content-Type": CONTENT_TYPE,
                     "Authorization": "Basic " + base64.b64encode(key.encode()).decode()})
        return self.seen(classify(status, answer))
