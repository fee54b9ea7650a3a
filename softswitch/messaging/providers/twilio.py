"""Twilio Programmable Messaging (omnichannel.md §3.8) in Twilio's own formats.

Inbound: Twilio POSTs ``application/x-www-form-urlencoded`` to the number's messaging
webhook (``/api/v1/webhooks/twilio/{token}``) with ``MessageSid``, ``AccountSid``,
``From``, ``To``, ``Body``, ``NumMedia`` and ``MediaUrl{i}``/``MediaContentType{i}``. The
``X-Twilio-Signature`` header is base64(HMAC-SHA1(auth token, URL + each POST parameter's
name and value, sorted by name)). The answer is empty TwiML (``<Response/>``, text/xml):
the switch replies through the API, not through TwiML.

Decisions: the URL signed is ``public_url`` when configured (the address Twilio was given,
when a proxy or TLS terminator sits in front of the switch), else the URL of the request
as it arrived. A webhook whose ``AccountSid`` is not the channel's is refused (400): the
number belongs to another (sub-)account (§3.8: use the account that bought the number).

Outbound: ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json``, HTTP Basic
auth (Account SID, Auth Token), form fields ``From``, ``To``, ``Body`` and one
``MediaUrl`` per file (Twilio takes at most 10). 201 with ``sid`` is accepted; errors are
JSON ``{"code", "message", "more_info", "status"}`` mapped by `classify`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from softswitch.messaging.config import E164, SENDER_ID
from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers.base import (
    UNREACHABLE,
    ProviderAdapter,
    WebhookRefused,
    json_object,
)

MAX_MEDIA = 10
SID = "MessageSid"

# Twilio error codes (twilio.com/docs/api/errors) -> (prompt, retry)
CODES: dict[int, tuple[Prompt, bool]] = {
    20003: (Prompt.AUTH_FAILED, False),  # authentication error
    20005: (Prompt.AUTH_FAILED, False),  # account not active
    21211: (Prompt.INVALID_NUMBER, False),  # invalid 'To' phone number
    21212: (Prompt.INVALID_NUMBER, False),  # invalid 'From' phone number
    21606: (Prompt.INVALID_NUMBER, False),  # 'From' is not a valid SMS-capable number
    21614: (Prompt.INVALID_NUMBER, False),  # 'To' is not a valid mobile number
    21659: (Prompt.INVALID_NUMBER, False),  # 'From' is not a Twilio number
    21602: (Prompt.INVALID_PARAM, False),  # body required
    21617: (Prompt.INVALID_PARAM, False),  # body too long
    21620: (Prompt.INVALID_PARAM, False),  # invalid media URL
    21623: (Prompt.INVALID_PARAM, False),  # too many media
    12300: (Prompt.MEDIA_RESTRICTED, False),  # invalid content type
    21612: (Prompt.MEDIA_RESTRICTED, False),  # 'To' not reachable by this message type
    11751: (Prompt.TOO_LARGE, False),  # media exceeds the size limit
    20429: (Prompt.TOO_FREQUENT, True),  # too many requests
    14107: (Prompt.TOO_FREQUENT, True),  # SMS send rate limit exceeded
    20500: (Prompt.UNAVAILABLE, True),  # internal server error
    20503: (Prompt.UNAVAILABLE, True),  # service unavailable
}


def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's X-Twilio-Signature of a form POST to ``url``."""
    # by name, then value; a repeated pair counts once (Twilio's own validators)
    data = url + "".join(k + v for k, v in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def classify(status: int | None, body: bytes) -> SendResult:
    if status is None:
        return UNREACHABLE
    doc = json_object(body)
    if status in (200, 201):
        sid = doc.get("sid")
        if isinstance(sid, str) and sid:
            return SendResult(sid)
        return SendResult(None, Prompt.SEND_FAILED.value)
    code = doc.get("code")
    if isinstance(code, int) and code in CODES:
        prompt, retry = CODES[code]
        return SendResult(None, prompt.value, retry)
    if status == 401:
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 429:
        return SendResult(None, Prompt.TOO_FREQUENT.value, retry=True)
    if status >= 500:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    message = doc.get("message")
    if isinstance(message, str) and message:
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {message}")
    return SendResult(None, Prompt.SEND_FAILED.value)


class TwilioAdapter(ProviderAdapter):
    content_type = "application/x-www-form-urlencoded"

    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        given = headers.get("X-Twilio-Signature")
        if not given:
            raise WebhookRefused(403, "X-Twilio-Signature is missing")
        params = self._params(raw)
        signed_url = self.config.cred("public_url") or url
        expected = signature(self.config.cred("auth_token"), signed_url, params)
        if not hmac.compare_digest(expected.encode(), given.strip().encode()):
            raise WebhookRefused(403, "X-Twilio-Signature does not match")
        self.status = ChannelStatus.CONNECTED

    @staticmethod
    def _params(raw: bytes) -> list[tuple[str, str]]:
        try:
            return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw),
                             max_num_fields=200)
        except (UnicodeDecodeError, ValueError):
            raise WebhookRefused(400, "the body is not a form") from None

    def parse(self, raw: bytes) -> list[Inbound]:
        form: dict[str, str] = {}
        for k, v in self._params(raw):
            if k in form:
                raise WebhookRefused(400, f"{k} is given twice")
            form[k] = v
        if form.get("AccountSid") != self.config.cred("account_sid"):
            raise WebhookRefused(400, "AccountSid is not this channel's account")
        sid = form.get(SID) or form.get("SmsSid") or ""
        if not 1 <= len(sid) <= 64:
            raise WebhookRefused(400, "MessageSid is required")
        source, to = form.get("From", ""), form.get("To", "")
        if not E164.match(source) and not SENDER_ID.match(source):
            raise WebhookRefused(400, f"From must be E.164, got {source!r}")
        if not E164.match(to):
            raise WebhookRefused(400, f"To must be E.164, got {to!r}")
        self.check_to(to)
        try:
            count = int(form.get("NumMedia", "0"))
        except ValueError:
            raise WebhookRefused(400, "NumMedia must be a number") from None
        if not 0 <= count <= MAX_MEDIA:
            raise WebhookRefused(400, f"NumMedia must be 0 to {MAX_MEDIA}")
        media = []
        for i in range(count):
            url = form.get(f"MediaUrl{i}", "")
            if not url.startswith(("https://", "http://")):
                raise WebhookRefused(400, f"MediaUrl{i} must be an http(s) URL")
            media.append(url)
        text = form.get("Body", "")
        if not text and not media:
            raise WebhookRefused(400, "Body or media is required")
        return [Inbound(sid, source, to, text, tuple(media), "")]

    def accepted(self) -> web.Response:
        return web.Response(status=200, content_type="text/xml",
                            text='<?xml version="1.0" encoding="UTF-8"?><Response></Response>')

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        if len(media) > MAX_MEDIA:
            return SendResult(None, Prompt.INVALID_PARAM.value)
        sid = self.config.cred("account_sid")
        form: list[tuple[str, str]] = [("To", to), ("From", source)]
        if text:
            form.append(("Body", text))
        form.extend(("MediaUrl", url) for url in media)
        status, body = await self.request(
            "POST", f"{self.config.base_url}/2010-04-01/Accounts/{sid}/Messages.json",
            data=form, headers={"Authorization": "Basic " + base64.b64encode(
                f"{sid}:{self.config.cred('auth_token')}".encode()).decode()})
        return self.seen(classify(status, body))
