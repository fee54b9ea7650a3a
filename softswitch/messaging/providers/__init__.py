"""The named channel providers beside the General SMS API (softswitch.messaging.general):
each an adapter (softswitch.messaging.providers.base) in its own module, speaking the
provider's documented webhook and send formats, with its base URL configurable.

    twilio     SMS/MMS, form webhook with X-Twilio-Signature, Messages.json (§3.8)
    telnyx     SMS/MMS, v2 JSON events with Ed25519 signatures, /v2/messages (§3.7)
    bandwidth  SMS/MMS, Messaging v2 callback arrays (Basic auth), /api/v2/users/../messages
    flowroute  SMS/MMS, API v2.1 JSON:API callbacks (unsigned), /v2.1/messages
    whatsapp   WhatsApp Cloud API: handshake, signature, templates, 24-hour window (§3.11)
    messenger  Messenger Platform: handshake, signature, HUMAN_AGENT tag (§3.10)
    meta       what WhatsApp and Messenger share (Graph API webhooks and errors)
    ed25519    RFC 8032 verification for Telnyx

`attach` registers each channel's webhook at ``/api/v1/webhooks/{provider}/{token}``
(POST, and GET for Meta's verification handshake). A webhook is answered only after its
messages are committed (softswitch.messaging.service.Messaging.receive).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from softswitch.clock import Clock
from softswitch.log import get_logger
from softswitch.messaging.config import ChannelConfig
from softswitch.messaging.providers.bandwidth import BandwidthAdapter
from softswitch.messaging.providers.base import (
    LastInbound,
    ProviderAdapter,
    ReplyRefused,
    WebhookRefused,
)
from softswitch.messaging.providers.flowroute import FlowrouteAdapter
from softswitch.messaging.providers.messenger import MessengerAdapter
from softswitch.messaging.providers.telnyx import TelnyxAdapter
from softswitch.messaging.providers.twilio import TwilioAdapter
from softswitch.messaging.providers.whatsapp import WhatsAppAdapter

__all__ = ["ADAPTERS", "ProviderAdapter", "ReplyRefused", "WebhookRefused", "make_adapter",
           "webhook_routes"]

log = get_logger("messaging")

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    "twilio": TwilioAdapter, "telnyx": TelnyxAdapter, "whatsapp": WhatsAppAdapter,
    "messenger": MessengerAdapter, "bandwidth": BandwidthAdapter,
    "flowroute": FlowrouteAdapter,
}


def make_adapter(config: ChannelConfig, clock: Clock,
                 last_inbound: LastInbound | None = None) -> ProviderAdapter:
    return ADAPTERS[config.provider](config, clock, last_inbound)


Receive = Callable[[ChannelConfig, Any], Any]  # Messaging.receive


def webhook_routes(adapter: ProviderAdapter, receive: Receive) -> tuple[Any, Any]:
    """The (POST, GET) handlers of one channel's webhook."""
    channel = adapter.config

    async def post(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            if request.content_type != adapter.content_type:
                raise WebhookRefused(415, f"Content-Type must be {adapter.content_type}, "
                                          f"got {request.content_type!r}")
            adapter.authenticate(str(request.url), request.headers, raw)
            inbound = adapter.parse(raw)  # all of it checked before anything is stored
        except WebhookRefused as exc:
            log.warning("webhook refused", channel=channel.name, status=exc.status,
                        reason=exc.reason, source=request.remote)
            return web.json_response({"error": exc.reason}, status=exc.status)
        for message in inbound:
            try:
                await receive(channel, message)
            except KeyError:  # the provider's redelivery of a stored message
                log.info("webhook duplicate", channel=channel.name,
                         provider_id=message.provider_id)
        return adapter.accepted()

    async def get(request: web.Request) -> web.Response:
        answer = adapter.handshake(request.query)
        if answer is None:
            return web.Response(status=405, headers={"Allow": "POST"})
        if answer.status != 200:
            log.warning("webhook verification refused", channel=channel.name,
                        source=request.remote)
        return answer

    return post, get
