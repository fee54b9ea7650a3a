"""What WhatsApp Cloud API and Messenger share, both being Meta Graph API webhooks:

* The verification handshake: Meta GETs the webhook URL with ``hub.mode=subscribe``,
  ``hub.verify_token`` and ``hub.challenge``; the switch answers 200 with the challenge as
  plain text when the token is the channel's ``verify_token``, else 403.
* ``X-Hub-Signature-256: sha256={hex}``: HMAC-SHA256 of the raw body with the App Secret.
* Graph API errors ``{"error": {"message", "type", "code", "error_subcode",
  "fbtrace_id"}}`` mapped to the agent prompts by `classify`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from aiohttp import web

from softswitch.messaging.general import Prompt, SendResult
from softswitch.messaging.providers.base import UNREACHABLE, WebhookRefused

DAY = 86400.0

# Graph API error codes -> (prompt, retry); the window codes are the adapters' own.
CODES: dict[int, tuple[Prompt, bool]] = {
    190: (Prompt.AUTH_FAILED, False),  # access token expired or invalid
    102: (Prompt.AUTH_FAILED, False),  # session key invalid
    200: (Prompt.AUTH_FAILED, False),  # permission error
    4: (Prompt.TOO_FREQUENT, True),  # application request limit
    17: (Prompt.TOO_FREQUENT, True),  # user request limit
    32: (Prompt.TOO_FREQUENT, True),  # page request limit
    613: (Prompt.TOO_FREQUENT, True),  # calls exceeded the rate
    80007: (Prompt.TOO_FREQUENT, True),  # WhatsApp account rate limit
    130429: (Prompt.TOO_FREQUENT, True),  # WhatsApp throughput reached
    131056: (Prompt.TOO_FREQUENT, True),  # pair rate limit
    1: (Prompt.UNAVAILABLE, True),  # unknown API error
    2: (Prompt.UNAVAILABLE, True),  # temporary service error
    131000: (Prompt.UNAVAILABLE, True),  # something went wrong
    131016: (Prompt.UNAVAILABLE, True),  # service unavailable
    100: (Prompt.INVALID_PARAM, False),  # invalid parameter
    132000: (Prompt.INVALID_PARAM, False),  # template parameter count mismatch
    131030: (Prompt.INVALID_NUMBER, False),  # recipient not in the allowed list
    131051: (Prompt.MEDIA_RESTRICTED, False),  # unsupported message type
    131052: (Prompt.MEDIA_RESTRICTED, False),  # media download error
    131053: (Prompt.MEDIA_RESTRICTED, False),  # media upload error
}


def handshake(verify_token: str, query: Mapping[str, str]) -> web.Response:
    token = query.get("hub.verify_token", "")
    if query.get("hub.mode") == "subscribe" and token and \
            hmac.compare_digest(token.encode(), verify_token.encode()) and \
            query.get("hub.challenge"):
        return web.Response(text=query["hub.challenge"], content_type="text/plain")
    return web.Response(status=403, text="verification refused")


def signature(app_secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), raw, hashlib.sha256).hexdigest()


def authenticate(app_secret: str, headers: Mapping[str, str], raw: bytes) -> None:
    given = headers.get("X-Hub-Signature-256", "").strip()
    if not given:
        raise WebhookRefused(403, "X-Hub-Signature-256 is missing")
    if not hmac.compare_digest(signature(app_secret, raw).encode(), given.encode()):
        raise WebhookRefused(403, "X-Hub-Signature-256 does not match the body")


def body(raw: bytes, obj: str) -> list[dict[str, object]]:
    """The ``entry`` list of a webhook body for ``object == obj``."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused(400, "the body is not JSON") from None
    if not isinstance(doc, dict) or doc.get("object") != obj:
        raise WebhookRefused(400, f"object must be {obj}")
    entries = doc.get("entry")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise WebhookRefused(400, "entry must be a list of objects")
    return entries


def error_of(body_raw: bytes) -> dict[str, object]:
    try:
        doc = json.loads(body_raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, dict) else {}


def classify(status: int | None, error: Mapping[str, object],
             window: Mapping[tuple[int, int | None], str]) -> SendResult:
    """A failed Graph API answer (``window``: (code, subcode or None) -> the window
    prompt of the channel)."""
    if status is None:
        return UNREACHABLE
    code, sub = error.get("code"), error.get("error_subcode")
    if isinstance(code, int):
        for key in ((code, sub if isinstance(sub, int) else None), (code, None)):
            if key in window:
                return SendResult(None, window[key])
        if code in CODES:
            prompt, retry = CODES[code]
            return SendResult(None, prompt.value, retry)
    if status == 401:
        return SendResult(None, Prompt.AUTH_FAILED.value)
    if status == 429:
        return SendResult(None, Prompt.TOO_FREQUENT.value, retry=True)
    if status >= 500:
        return SendResult(None, Prompt.UNAVAILABLE.value, retry=True)
    message = error.get("message")
    if isinstance(message, str) and message:
        return SendResult(None, f"{Prompt.SEND_FAILED.value}: {message}")
    return SendResult(None, Prompt.SEND_FAILED.value)


def media_type(url: str) -> str:
    """The attachment type of a media URL, by its file extension."""
    path = url.split("?", 1)[0].lower()
    if path.endswith((".jpg", ".jpeg", ".png", ".gif", ".webp")):
        return "image"
    if path.endswith((".mp4", ".3gp", ".mov")):
        return "video"
    if path.endswith((".mp3", ".ogg", ".aac", ".amr", ".m4a", ".opus")):
        return "audio"
    return "file"
