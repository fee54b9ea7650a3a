"""The live API's application plumbing: typed app keys, the authentication middleware, the
endpoint table (one home for routing and the OpenAPI document), and `add_routes` for other
modules' authenticated endpoints (see softswitch/web/__init__.py)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from softswitch.web.auth import Credentials, Principal
from softswitch.web.errors import ApiError, Handler
from softswitch.web.models import M, parse
from softswitch.web.operations import Switchboard
from softswitch.web.permissions import Access

PREFIX = "/api/v1"
MAX_BODY = 64 * 1024  # bytes of a request body; more is 413

CREDENTIALS = web.AppKey("credentials", Credentials)
BOARD = web.AppKey("board", Switchboard)
ENDPOINTS = web.AppKey("endpoints", list["Endpoint"])  # for the OpenAPI document
PUBLIC = web.AppKey("public_paths", set[str])  # route paths that need no log-in
PRINCIPAL = web.RequestKey("principal", Principal)


@dataclass(frozen=True)
class Endpoint:
    """One REST route: ``public`` ones need no log-in; ``body`` validates the JSON body;
    ``query`` documents query parameters (name -> description)."""

    method: str
    path: str  # under PREFIX, e.g. "/queues/{queue}"
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    body: type[BaseModel] | None = None
    public: bool = False
    query: tuple[tuple[str, str], ...] = ()
    tag: str = "live"
    query_model: type[BaseModel] | None = None  # validates and documents the query string


def add_routes(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Register endpoints on the switch's app: every non-public one requires a log-in (the
    middleware sets `principal(request)`), and each appears in /api/v1/openapi.json."""
    table = app[ENDPOINTS]
    for ep in endpoints:
        app.router.add_route(ep.method, PREFIX + ep.path, ep.handler)
        table.append(ep)
        if ep.public:
            app[PUBLIC].add(PREFIX + ep.path)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def access(request: web.Request) -> Access:
    """The caller's permissions under the ACD configuration in force (reloads apply)."""
    board = request.app[BOARD]
    return Access(request[PRINCIPAL], board.desk.queues.acd.config)


def require_queue(request: web.Request, queue: str, permission: str) -> Access:
    """The role check for other modules' endpoints: 404 for an unknown queue, 403 naming
    the permission (softswitch.web.permissions) when the caller lacks it."""
    a = access(request)
    if a.principal.admin and queue in {q.number for q in a.config.queues}:
        return a
    a.require(queue, permission)
    return a


async def body(request: web.Request, model: type[M]) -> M:
    """The request's JSON body validated by ``model``; 400 naming the field otherwise."""
    raw = await request.read()
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"the body is not JSON: {exc}") from None
    return parse(model, data)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route under PREFIX needs a log-in, except the public endpoints, the websocket
    (it authenticates itself, softswitch.web.ws) and the security API (its own check)."""
    path = request.path
    if (path.startswith(PREFIX + "/") and path not in request.app[PUBLIC]
            and not path.startswith(PREFIX + "/security/") and path != PREFIX + "/ws"):
        creds = request.app[CREDENTIALS]
        request[PRINCIPAL] = creds.from_header(request.headers.get("Authorization"),
                                               request.remote or "")
    return await handler(request)
