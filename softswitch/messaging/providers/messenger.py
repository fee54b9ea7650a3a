"""Facebook Messenger (omnichannel.md §3.10) through the Messenger Platform, in Meta's own
formats; one Facebook Page per channel.

Webhook ``/api/v1/webhooks/messenger/{token}``: GET is Meta's verify-token handshake
(softswitch.messaging.providers.meta); POST carries ``X-Hub-Signature-256`` and
``{"object": "page", "entry": [{"id": PAGE_ID, "time", "messaging": [{"sender": {"id":
PSID}, "recipient": {"id": PAGE_ID}, "timestamp", "message": {"mid", "text",
"attachments": [{"type", "payload": {"url"}}]}}]}]}``. An entry for another Page is
refused (400); echoes of the Page's own messages, deliveries, reads and postbacks are
accepted and ignored.

Send: ``POST {base_url}/{page_id}/messages?access_token={Page access token}`` with
``{"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text"}}`` or
``{"message": {"attachment": {"type": "image"|"video"|"audio"|"file", "payload": {"url",
"is_reusable": true}}}}`` per file; the answer ``{"recipient_id", "message_id"}`` is
accepted.

Decisions:

* The window is counted from the customer's last message on this Page (any session):
  within 24 hours a reply goes as ``RESPONSE``; from 24 hours to 7 days it goes as
  ``MESSAGE_TAG`` with ``tag: HUMAN_AGENT`` (§3.10, [inferred] in the digest: the manual's
  app-review steps need exactly this); beyond 7 days nothing can be sent: the reply is
  refused at the API (409 ``window_closed``) and a queued one that reaches the limit fails
  with the same text, as does Meta's own answer (code 10, subcode 2018278).
* One Meta app and one Page per channel: an entry for another Page is refused (400,
  logged) as a misconfiguration, not dropped in silence.
* Agents cannot start Messenger chats (§3.10): the Page has no allowed extensions, so the
  sessions core refuses a start (403).
* Customers are the PSIDs Meta sends (digits). At most 40 sends per second (the channel's
  ``send_rate``); files up to 25 MB are Meta's rule on the URL it fetches. A text with
  files is one message per part, stopping at the first refused part (not retried when an
  earlier part was delivered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers import meta
from softswitch.messaging.providers.base import (
    ProviderAdapter,
    ReplyRefused,
    WebhookRefused,
)

STANDARD = meta.DAY
HUMAN_AGENT = 7 * meta.DAY
WINDOW_PROMPT = ("More than 7 days since the customer's last message: Facebook allows no "
                 "reply")
PSID = re.compile(r"^[0-9]{1,32}$")


class MessengerAdapter(ProviderAdapter):
    def handshake(self, query: Mapping[str, str]) -> web.Response | None:
        return meta.handshake(self.config.cred("verify_token"), query)

    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        meta.authenticate(self.config.cred("app_secret"), headers, raw)
        self.status = ChannelStatus.CONNECTED

    def parse(self, raw: bytes) -> list[Inbound]:
        page = self.config.cred("page_id")
        out: list[Inbound] = []
        for entry in meta.body(raw, "page"):
            if str(entry.get("id")) != page:
                raise WebhookRefused(400, f"entry.id {entry.get('id')!r} is not this "
                                          "channel's Page")
            events = entry.get("messaging") or []
            if not isinstance(events, list):
                raise WebhookRefused(400, "entry.messaging must be a list")
            for event in events:
                m = self._event(event, page)
                if m is not None:
                    out.append(m)
        return out

    def _event(self, event: object, page: str) -> Inbound | None:
        if not isinstance(event, dict):
            raise WebhookRefused(400, "a messaging event must be an object")
        message = event.get("message")
        if not isinstance(message, dict) or message.get("is_echo"):
            return None  # delivery, read, postback, or our own message echoed
        sender, recipient = event.get("sender"), event.get("recipient")
        psid = sender.get("id") if isinstance(sender, dict) else None
        to = recipient.get("id") if isinstance(recipient, dict) else None
        if not isinstance(psid, str) or not PSID.match(psid):
            raise WebhookRefused(400, "sender.id must be a PSID")
        if to != page:
            raise WebhookRefused(400, "recipient.id is not this channel's Page")
        mid = message.get("mid")
        if not isinstance(mid, str) or not 1 <= len(mid) <= 255:
            raise WebhookRefused(400, "message.mid is required")
        text = message.get("text") or ""
        if not isinstance(text, str):
            raise WebhookRefused(400, "message.text must be a string")
        media = []
        attachments = message.get("attachments") or []
        if not isinstance(attachments, list):
            raise WebhookRefused(400, "message.attachments must be a list")
        for i, a in enumerate(attachments):
            payload = a.get("payload") if isinstance(a, dict) else None
            url = payload.get("url") if isinstance(payload, dict) else None
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                media.append(url)
            elif not isinstance(payload, dict):
                raise WebhookRefused(400, f"message.attachments[{i}].payload is required")
        if not text and not media:
            text = "[unsupported message]"
        return Inbound(mid, psid, page, text, tuple(media), str(event.get("timestamp", "")))

    # --- outbound ------------------------------------------------------------------------

    def _age(self, page: str, customer: str) -> float | None:
        last = self.last_inbound(page, customer)
        return None if last is None else self.clock.wall() - last

    def prepare(self, number: str, customer: str, text: str, media: tuple[str, ...],
                template: Mapping[str, Any] | None) -> tuple[str, tuple[str, ...]]:
        text, media = super().prepare(number, customer, text, media, template)
        age = self._age(number, customer)
        if age is None or age >= HUMAN_AGENT:
            raise ReplyRefused(409, "window_closed", WINDOW_PROMPT)
        return text, media

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        age = self._age(source, to)
        if age is None or age >= HUMAN_AGENT:
            return SendResult(None, WINDOW_PROMPT)
        head: dict[str, Any] = {"recipient": {"id": to}}
        if age < STANDARD:
            head["messaging_type"] = "RESPONSE"
        else:
            head.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        parts: list[dict[str, Any]] = []
        if text:
            parts.append({**head, "message": {"text": text}})
        for url in media:
            parts.append({**head, "message": {"attachment": {
                "type": meta.media_type(url), "payload": {"url": url, "is_reusable": True}}}})
        result = SendResult(None, Prompt.SEND_FAILED.value)
        for i, part in enumerate(parts):
            result = await self._post(part)
            if result.provider_id is None:
                if i > 0:
                    result = SendResult(None, result.prompt)
                break
        return self.seen(result)

    async def _post(self, payload: dict[str, Any]) -> SendResult:
        status, answer = await self.request(
            "POST", f"{self.config.base_url}/{self.config.cred('page_id')}/messages",
            params={"access_token": self.config.cred("access_token")}, json=payload)
        if status == 200:
            try:
                mid = json.loads(answer).get("message_id")
            except (ValueError, UnicodeDecodeError, AttributeError):
                mid = None
            return SendResult(mid) if isinstance(mid, str) and mid else \
                SendResult(None, Prompt.SEND_FAILED.value)
        return meta.classify(status, meta.error_of(answer),
                             {(10, 2018278): WINDOW_PROMPT, (10, 2018065): WINDOW_PROMPT})
