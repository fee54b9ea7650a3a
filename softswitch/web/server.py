"""Assembly of the switch's HTTP application: `build_app(router)` (softswitch.app calls it
once) returns the aiohttp app with the live API, the websocket, /metrics, the security
API and the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from softswitch.web import metrics, openapi, rest, security, ws
from softswitch.web.api import (
    BOARD,
    CREDENTIALS,
    ENDPOINTS,
    MAX_BODY,
    PREFIX,
    PUBLIC,
    Endpoint,
    add_routes,
    authenticate,
)
from softswitch.web.auth import Credentials
from softswitch.web.calllogs import CallLogs
from softswitch.web.console import add_console
from softswitch.web.errors import json_errors
from softswitch.web.operations import Switchboard
from softswitch.web.panels import Panels

PANELS = web.AppKey("panels", Panels)


def build_app(router: Any) -> web.Application:
    """The app for `router` (softswitch.app.SipRouter, started or about to be)."""
    app = web.Application(client_max_size=MAX_BODY)
    app[ENDPOINTS] = []
    app[PUBLIC] = set()
    app.middlewares.extend([json_errors, authenticate])
    credentials = Credentials(
        password=lambda ext: getattr(router.config.extension(ext), "password", None),
        admins=lambda: frozenset(router.config.admins), bans=router.bans)
    desk = router.agentdesk

    def registered(ext: str) -> bool:
        return bool(router.registrar.targets(ext, router.loop.time()))

    from softswitch.web import contacts

    # company contacts: the configuration's and those added through the API (§6.9, §6.2)
    book = contacts.ContactBook(lambda: router.config.contacts,
                                router.store if hasattr(router.store, "fetch") else None,
                                router.clock.wall)
    def name(ext: str) -> str:
        extension = router.config.extension(ext)  # the config in force (reloads apply)
        return extension.name if extension is not None else ""

    store = router.store if hasattr(router.store, "fetch") else None
    panels = Panels(router.events, lambda: desk.queues.acd, registered=registered,
                    name=name,
                    contact=book.name,
                    clock=router.loop.time, source=store)
    router.registrar.listeners.append(panels.presence_changed)
    logs = CallLogs(store, panels.publish_record) if store is not None else None
    app[CREDENTIALS] = credentials
    from softswitch.web.presence_state import PresenceStates

    presence = PresenceStates(lambda: router.config.presence, desk, store,
                              changed=panels.presence_changed)
    panels.presence_of = presence.status
    app[BOARD] = Switchboard(desk, panels, logs, presence=presence)
    from softswitch.web.console_state import CONSOLE, ConsoleState

    console_state = ConsoleState(store, desk.notifier.agents)
    app[CONSOLE] = console_state
    app[PANELS] = panels
    app[ws.CLIENTS] = set()
    collector = metrics.SwitchCollector(router, panels, lambda: len(app[ws.CLIENTS]))
    app[metrics.REGISTRY] = metrics.registry_for(collector)
    add_routes(app, rest.ENDPOINTS)
    contacts.attach(app, book)
    add_routes(app, [Endpoint("GET", "/openapi.json", openapi.serve,
                              "This document", public=True)])
    app.router.add_get(PREFIX + "/ws", ws.handle)
    app.router.add_get("/metrics", metrics.serve)
    security.add_routes(app, router.bans, credentials=credentials)
    add_console(app)  # the browser console at / (softswitch.web.console)
    if store is not None:  # chat sessions, channels' webhooks (softswitch.messaging.api)
        from softswitch.messaging.api import attach as attach_messaging

        attach_messaging(app, router, panels.feed.publish)

    async def on_cleanup(app: web.Application) -> None:
        panels.close()
        collector.close()
        if panels.presence_changed in router.registrar.listeners:
            router.registrar.listeners.remove(panels.presence_changed)

    async def on_startup(app: web.Application) -> None:
        await presence.load()  # the statuses survive restarts (no rule runs)
        await console_state.load()  # queue groups, last signed-in queues (console_state)
        # the stored part of today's, this week's and this month's figures (web.periods)
        await panels.load_periods(list(desk.queues.acd.queues()))

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.on_shutdown.append(_close_sockets)
    return app


async def _close_sockets(app: web.Application) -> None:
    clients: set[ws.WsClient] = app[ws.CLIENTS]
    await asyncio.gather(*(c.close(1001, "switch shutting down") for c in list(clients)))
