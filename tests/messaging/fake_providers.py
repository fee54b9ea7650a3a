"""The named providers' APIs as one local aiohttp server the tests start (each test
points a channel's ``base_url`` at it): it records every request and answers from a
script per route (FIFO of (status, JSON body)), else with the provider's documented
success answer.

Routes: Twilio ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (201 ``{"sid"}``),
Telnyx ``POST /v2/messages`` (200 ``{"data": {"id"}}``), Bandwidth ``POST
/api/v2/users/{account}/messages`` (202 ``{"id", ...}``), Flowroute ``POST /v2.1/messages``
(202 ``{"data": {"id"}}``), Graph ``POST /{id}/messages``
(WhatsApp ``{"messages": [{"id"}]}`` or Messenger ``{"recipient_id", "message_id"}``) and
``GET /{waba}/message_templates`` (``templates`` in two pages)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    content_type: str
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw.decode(), keep_blank_values=True)


@dataclass
class FakeApis:
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)  # route -> answers
    templates: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    clock: Any = None  # a test clock: each request's ``monotonic()`` goes into ``times``
    times: list[float] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def sent(self, route: str) -> list[Seen]:
        return [s for s in self.seen if self._route(s.method, s.path) == route]

    async def start(self) -> FakeApis:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    def _route(method: str, path: str) -> str:
        if path.endswith("/Messages.json"):
            return "twilio"
        if path == "/v2/messages":
            return "telnyx"
        if path == "/v2.1/messages":
            return "flowroute"
        if path.startswith("/api/v2/users/") and path.endswith("/messages"):
            return "bandwidth"
        if path.endswith("/message_templates"):
            return "templates"
        if path.endswith("/messages"):
            return "graph"
        return "unknown"

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.clock is not None:
            self.times.append(self.clock.monotonic())
        self.seen.append(Seen(request.method, request.path, dict(request.query),
                              dict(request.headers), request.content_type, raw))
        route = self._route(request.method, request.path)
        queue = self.script.get(route)
        if queue:
            status, body = queue.pop(0)
            return web.json_response(body, status=status)
        n = next(self._ids)
        if route == "twilio":
            return web.json_response({"sid": f"SM{n:032x}", "status": "queued"}, status=201)
        if route == "telnyx":
            return web.json_response({"data": {"id": f"tx-{n}", "record_type": "message"}})
        if route == "flowroute":
            mdr = f"mdr2-{n:032x}"
            return web.json_response({"data": {"type": "message", "id": mdr, "links": {
                "self": f"https://api.flowroute.com/v2.1/messages/{mdr}"}}}, status=202)
        if route == "bandwidth":
            doc = json.loads(raw)
            return web.json_response({"id": f"bw-{n}", "owner": doc["from"], "direction": "out",
                                      "applicationId": doc["applicationId"], "to": doc["to"],
                                      "from": doc["from"], "segmentCount": 1}, status=202)
        if route == "graph":
            doc = json.loads(raw)
            if doc.get("messaging_product") == "whatsapp":
                return web.json_response({"messaging_product": "whatsapp", "contacts": [
                    {"input": doc["to"], "wa_id": doc["to"]}], "messages": [{"id": f"wamid.{n}"}]})
            return web.json_response({"recipient_id": doc["recipient"]["id"],
                                      "message_id": f"m_{n}"})
        if route == "templates":
            if request.query.get("after") == "page2":
                return web.json_response({"data": self.templates[2:], "paging": {}})
            return web.json_response({"data": self.templates[:2], "paging": {
                "cursors": {"after": "page2"},
                "next": f"{self.base}{request.path}?after=page2"}})
        return web.json_response({"error": "no such route"}, status=404)
