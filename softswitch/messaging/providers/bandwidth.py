"""Bandwidth Messaging API v2 (omnichannel.md §3.4) in Bandwidth's own formats.

Inbound: the messaging application's callback URL is ``/api/v1/webhooks/bandwidth/
{token}``; Bandwidth POSTs a JSON *array* of events ``[{"type": "message-received",
"time", "description", "to", "message": {"id", "time", "to": [...], "from", "text",
"applicationId", "media": [urls], "owner", "direction": "in", "segmentCount"}}]`` and
retries each until it gets a 2xx (at least once: duplicates are expected). Delivery
events of our own sends (``message-delivered``, ``message-failed``, ``message-sending``)
are accepted and ignored.

Bandwidth does not sign callbacks; it sends HTTP Basic credentials when the application
has callback credentials. Decision: with ``callback_username`` and ``callback_password``
configured (recommended), a callback without exactly those credentials is 403; without
them, the secret token of the URL is the only check (the four fields of §3.4 are all the
manual asks for). An event for another ``applicationId`` is refused (400).

Outbound: ``POST {base_url}/api/v2/users/{account_id}/messages`` with HTTP Basic
(username, password) and ``{"applicationId", "to": [number], "from", "text", "media"?}``;
202 with ``id`` is accepted. Errors ``{"type", "description", "fieldErrors"?}`` are mapped
by status and type (`classify`).
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Mapping

from softswitch.messaging.config import E164, SENDER_ID
from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers.base import (
    UNREACHABLE,
    ProviderAdapter,
    WebhookRefused,
    json_object,
)

MAX_MEDIA = 10


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def classify(status: int | None, body: bytes) -> SendResult:
    if status is None:
        return UNREACHABLE
    doc = json_object(body)
    if status in (200, 202):
        mid = doc.get("id")
        return SendResult(mid) if isinstance(mid, str) and mid else \
            SendResult(None, Prompt.SEND_FAILED.value)
    if status in (401, 403):
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 415:
        return SendResult(None, Prompt.MEDIA_RESTRICTED.value)
    if status == 429:
        return SendResult(None, Prompt.TOO_FREQUENT.value, retry=True)
    if status >= 500:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    fields = doc.get("fieldErrors")
    if isinstance(fields, list):
        names = {f.get("fieldName") for f in fields if isinstance(f, dict)}
        if names & {"to", "from"}:
            return SendResult(None, Prompt.INVALID_NUMBER.value)
        if names:
            return SendResult(None, Prompt.INVALID_PARAM.value)
    description = doc.get("description")
    if isinstance(description, str) and description:
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {description}")
    return SendResult(None, Prompt.SEND_FAILED.value)


class BandwidthAdapter(ProviderAdapter):
    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        user = self.config.cred("callback_username")
        if user:
            expected = basic(user, self.config.cred("callback_password"))
            given = headers.get("Authorization", "")
            if not hmac.compare_digest(expected.encode(), given.encode()):
                raise WebhookRefused(403, "the callback credentials do not match")
        self.status = ChannelStatus.CONNECTED

    def parse(self, raw: bytes) -> list[Inbound]:
        try:
            events = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WebhookRefused(400, "the body is not JSON") from None
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise WebhookRefused(400, "the body must be an array of events")
        out = []
        for i, event in enumerate(events):
            if event.get("type") != "message-received":
                continue  # delivery reports of our own sends
            m = event.get("message")
            if not isinstance(m, dict):
                raise WebhookRefused(400, f"[{i}].message is required")
            if m.get("applicationId") != self.config.cred("application_id"):
                raise WebhookRefused(400, f"[{i}].message.applicationId is not this "
                                          "channel's application")
            mid, source, to = m.get("id"), m.get("from"), event.get("to")
            if not isinstance(mid, str) or not 1 <= len(mid) <= 255:
                raise WebhookRefused(400, f"[{i}].message.id is required")
            if not isinstance(source, str) or not (E164.match(source)
                                                   or SENDER_ID.match(source)):
                raise WebhookRefused(400, f"[{i}].message.from must be E.164")
            if not isinstance(to, str) or not E164.match(to):
                raise WebhookRefused(400, f"[{i}].to must be E.164")
            self.check_to(to)
            text = m.get("text") or ""
            media_raw = m.get("media") or []
            if not isinstance(text, str) or not isinstance(media_raw, list) or \
                    len(media_raw) > MAX_MEDIA or not all(
                        isinstance(u, str) and u.startswith(("https://", "http://"))
                        for u in media_raw):
                raise WebhookRefused(400, f"[{i}].message.text/media are malformed")
            # Bandwidth lists the SMIL part of an MMS among the media: not a file
            media = tuple(u for u in media_raw if not u.lower().endswith(".smil"))
            if not text and not media:
                raise WebhookRefused(400, f"[{i}].message needs text or media")
            out.append(Inbound(mid, source, to, text, media, str(m.get("time", ""))))
        return out

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        body: dict[str, object] = {"applicationId": self.config.cred("application_id"),
                                   "to": [to], "from": source}
        if text:
            body["text"] = text
        if media:
            body["media"] = list(media)
        status, answer = await self.request(
            "POST", f"{self.config.base_url}/api/v2/users/{self.config.cred('account_id')}"
                    "/messages", json=body,
            headers={"Authorization": basic(self.config.cred("username"),
                                            self.config.cred("password"))})
        return self.seen(classify(status, answer))
