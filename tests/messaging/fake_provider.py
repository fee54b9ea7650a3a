"""A General SMS API provider (omnichannel.md §3.9) as a local aiohttp server the tests
start: it records the send requests it gets and answers them from a script of
(status, body) pairs (then 200 with a fresh data.id), and answers verification from
``verify_answer``."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Request:
    authorization: str | None
    content_type: str
    body: dict[str, Any]


@dataclass
class FakeProvider:
    script: list[tuple[int, bytes]] = field(default_factory=list)
    verify_answer: tuple[int, bytes] | None = None  # None: echo the challenge
    sent: list[Request] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeProvider:
        app = web.Application()
        app.router.add_post("/sendmessage", self._send)
        app.router.add_get("/verify", self._verify)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        self.sent.append(Request(request.headers.get("Authorization"), request.content_type,
                                 json.loads(await request.read())))
        if self.script:
            status, body = self.script.pop(0)
            return web.Response(status=status, body=body, content_type="application/json")
        return web.json_response({"data": {"id": f"msg-{next(self._ids)}"}})

    async def _verify(self, request: web.Request) -> web.Response:
        challenge = request.query.get("challenge", "")
        self.verified.append(challenge)
        if self.verify_answer is None:
            return web.Response(text=challenge)
        status, body = self.verify_answer
        return web.Response(status=status, body=body)
