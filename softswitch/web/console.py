"""The browser console (issue 18; queue-manager-agent.md §2-§12): static files served by the
switch at ``/`` and one small read-only endpoint the console needs beside the live API.

    GET /                          the console (softswitch/web/static/console/index.html)
    GET /console/{file}            its ES modules, style sheet (no build step)
    GET /api/v1/console/settings   (authenticated) the pause reasons (§7.1 menu, §2.5.2 filter)
    GET/PUT /api/v1/console/queue-groups, GET /api/v1/agents/{agent}/last-queues,
    POST /api/v1/agents/{agent}/last-queues/signin     (softswitch.web.console_state)

Everything else the console shows comes from the live API (REST, the websocket of
PROTOCOL.md): it computes no figure itself. The agents' inbox (External Chat,
static/console/inbox.js) works on the messaging API (softswitch.messaging.api, PROTOCOL.md
§7), which keeps the read marks behind its unread counts.

Decisions:
- The pause reasons are global configuration (``pause_reasons``) that no other endpoint
  returns, and the agent's status menu needs them: this module returns them, read from the
  configuration in force (a reload applies), to any logged-in user.
- Wallboard layouts and the chosen language are kept in the browser's localStorage, per
  extension (static/console/store.js says why). Queue groups and the last signed-in queues
  are kept by the switch (softswitch.web.console_state): they are the user's work set, the
  same on every browser, and the last queues are the agent's state, not the screen's.
- The console is a handful of files read once; they are served with ``no-cache`` so a new
  version of the switch is picked up at the next load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from softswitch.web import console_state
from softswitch.web.api import BOARD, Endpoint, access, add_routes, body
from softswitch.web.console_state import CONSOLE
from softswitch.web.errors import ApiError

STATIC = Path(__file__).resolve().parent / "static" / "console"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
         ".svg": "image/svg+xml"}


async def index(request: web.Request) -> web.StreamResponse:
    return _file(STATIC / "index.html")


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file() or path.suffix not in TYPES:
        raise web.HTTPNotFound()
    return _file(path)


def _file(path: Path) -> web.Response:
    return web.Response(body=path.read_bytes(), content_type=TYPES[path.suffix],
                        charset="utf-8", headers={"Cache-Control": "no-cache"})


async def settings(request: web.Request) -> web.Response:
    config = request.app[BOARD].desk.queues.acd.config
    reasons: list[dict[str, Any]] = [{"code": r.code, "reason": r.reason}
                                     for r in config.pause_reasons]
    return web.json_response({"pause_reasons": reasons})


async def get_groups(request: web.Request) -> web.Response:
    return web.json_response({"groups": request.app[CONSOLE].groups(access(request).extension)})


async def put_groups(request: web.Request) -> web.Response:
    req = await body(request, console_state.QueueGroupsRequest)
    return web.json_response({"groups": await request.app[CONSOLE].set_groups(access(request),
                                                                                req)})


async def group_figures(request: web.Request) -> web.Response:
    """§3.2 / §3.3.1: a queue group's Call Statistics, the "All" row's figures (sums, and
    rates and averages over the union of the calls) over the group's queues."""
    a = access(request)
    queues = [q for q in request.query.get("queues", "").split(",") if q]
    if not queues or len(queues) > 200:
        raise ApiError(400, "invalid_field", "queues: 1 to 200 queue numbers, comma-separated",
                       "queues")
    for q in queues:
        a.require_view(q, "queues")
    panels = request.app[BOARD].panels
    queues = list(dict.fromkeys(queues))
    await panels.load_periods(queues)
    return web.json_response({"queues": queues, "figures": panels.all_row(queues)})


async def last_queues(request: web.Request) -> web.Response:
    return web.json_response(console_state.last_queues(request.app[BOARD], access(request),
                                                       request.match_info["agent"]))


async def sign_in_last(request: web.Request) -> web.Response:
    return web.json_response(console_state.sign_in_last(request.app[BOARD], access(request),
                                                        request.match_info["agent"]))


def add_console(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/console/{name}", asset)
    add_routes(app, [
        Endpoint("GET", "/console/settings", settings,
                 "The browser console's settings: the pause reasons", tag="console"),
        Endpoint("GET", "/console/queue-groups", get_groups,
                 "The caller's queue groups (§3.2)", tag="console"),
        Endpoint("PUT", "/console/queue-groups", put_groups,
                 "Replace the caller's queue groups (§3.2; queues it may see)",
                 console_state.QueueGroupsRequest, tag="console"),
        Endpoint("GET", "/console/figures", group_figures,
                 "A queue group's figures: the All row over the given queues (P8 each)",
                 query=(("queues", "comma-separated queue numbers"),), tag="console"),
        Endpoint("GET", "/agents/{agent}/last-queues", last_queues,
                 "The queues 'sign in to last signed-in queues' signs the agent in to "
                 "(own, admin, or P1)", tag="console"),
        Endpoint("POST", "/agents/{agent}/last-queues/signin", sign_in_last,
                 "Sign the agent in to its last signed-in queues, as *78 does (own, admin, "
                 "or P1)", tag="console")])
