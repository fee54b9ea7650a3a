"""The aiohttp application key under which the messaging service is found by the messaging
endpoints (api, files, voice): its own module, so those modules need not import each other."""

from __future__ import annotations

from aiohttp import web

from softswitch.messaging.service import Messaging

MESSAGING = web.AppKey("messaging", Messaging)
