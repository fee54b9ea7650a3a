"""What every named provider's adapter is (softswitch.messaging.providers): the inbound
webhook's authentication and parsing, the outbound send, and the agent-facing checks
before a reply is queued.

Decisions shared by the adapters:

* Webhook answers: a missing or wrong signature (or a Telnyx timestamp outside the
  tolerance: a replay) is 403, a wrong Content-Type 415, a body that is not the
  provider's documented format or names a number or Page the channel does not have 400;
  nothing is stored for any of them. A message id already stored (the provider's own
  at-least-once redelivery) is answered as accepted with nothing stored, so the provider
  stops retrying. Events that are no inbound message (delivery receipts, statuses, echoes)
  are accepted and ignored.
* Send answers map to the §3.9.4 prompts (softswitch.messaging.general.Prompt) by each
  provider's documented error codes; what the provider cannot take now (no answer, 5xx,
  rate limits) is retried by the outbox like the General API's.
* Channel status (§2.5, "a successful setup shows connected"): ``unknown`` until the
  provider has answered; ``connected`` after a signed webhook or an accepted send,
  ``unauthorized`` after the provider refused our credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from softswitch.clock import Clock
from softswitch.log import get_logger
from softswitch.messaging.config import ChannelConfig
from softswitch.messaging.general import (
    SEND_TIMEOUT,
    ChannelStatus,
    Inbound,
    Prompt,
    SendResult,
)

log = get_logger("messaging")

LastInbound = Callable[[str, str], float | None]  # (number, customer) -> wall time


class WebhookRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ReplyRefused(Exception):
    """A reply the agent must change before it can be queued (window rules, templates)."""

    def __init__(self, status: int, code: str, message: str,
                 field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field  # the request field to change, when there is one


class ProviderAdapter:
    """One channel's provider. Subclasses set ``content_type`` and implement
    `authenticate`, `parse` and `send`."""

    content_type = "application/json"

    def __init__(self, config: ChannelConfig, clock: Clock,
                 last_inbound: LastInbound | None = None) -> None:
        self.config = config
        self.clock = clock
        self.status = ChannelStatus.UNKNOWN
        self.last_inbound: LastInbound = last_inbound or (lambda number, customer: None)
        self._http: aiohttp.ClientSession | None = None

    # --- inbound -------------------------------------------------------------------------

    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        """Raise `WebhookRefused` unless the request is signed by the provider."""
        raise NotImplementedError

    def parse(self, raw: bytes) -> list[Inbound]:
        """The inbound messages of an authenticated body (raise WebhookRefused(400))."""
        raise NotImplementedError

    def accepted(self) -> web.Response:
        return web.Response(status=200)

    def handshake(self, query: Mapping[str, str]) -> web.Response | None:
        """A GET on the webhook URL (Meta's verification); None: no such thing here."""
        return None

    def check_to(self, number: str) -> None:
        if self.config.number(number) is None:
            raise WebhookRefused(400, f"{number} is not a number of this channel")

    # --- outbound ------------------------------------------------------------------------

    def prepare(self, number: str, customer: str, text: str, media: tuple[str, ...],
                template: Mapping[str, Any] | None) -> tuple[str, tuple[str, ...]]:
        """An agent's reply as it will be stored and queued; `ReplyRefused` when it
        cannot be sent on this channel."""
        if template is not None:
            raise ReplyRefused(400, "invalid_field",
                               "message templates exist only on WhatsApp channels")
        return text, media

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        raise NotImplementedError

    async def run(self) -> None:
        """Background work for the life of the channel (WhatsApp's template sync)."""

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT))
        return self._http

    async def request(self, method: str, url: str, **kwargs: Any) -> tuple[int | None, bytes]:
        """One HTTP exchange with the provider; (None, b"") when it did not answer."""
        try:
            async with self._session().request(method, url, **kwargs) as resp:
                return resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.warning("provider unreachable", channel=self.config.name, error=repr(exc))
            return None, b""

    def seen(self, result: SendResult) -> SendResult:
        """Track the channel status from a send's outcome."""
        if result.provider_id is not None:
            self.status = ChannelStatus.CONNECTED
        elif result.prompt == Prompt.AUTH_FAILED.value:
            self.status = ChannelStatus.UNAUTHORIZED
        return result

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()


UNREACHABLE = SendResult(None, Prompt.UNAVAILABLE.value, retry=True)


def json_object(body: bytes) -> dict[str, Any]:
    """A provider's answer body as a JSON object; {} when it is not one (empty, HTML, an
    array): the answer is then judged by its status alone."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}
