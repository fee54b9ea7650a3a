"""The browser console (issue 18; queue-manager-agent.md §2-§12): static files served by the
switch at ``/`` and one small read-only endpoint the console needs beside the live API.

    GET /                          the console (softswitch/web/static/console/index.html)
    GET /console/{file}            its ES modules, style sheet (no build step)
    GET /api/v1/console/settings   (authenticated) the pause reasons (§7.1 menu, §2.5.2 filter)

Everything else the console shows comes from the live API (REST, the websocket of
PROTOCOL.md): it computes no figure itself.

Decisions:
- The pause reasons are global configuration (``pause_reasons``) that no other endpoint
  returns, and the agent's status menu needs them: this module returns them, read from the
  configuration in force (a reload applies), to any logged-in user.
- Wallboard layouts and the chosen language are kept in the browser's localStorage, per
  extension (static/console/store.js says why); no server-side storage was added.
- The console is a handful of files read once; they are served with ``no-cache`` so a new
  version of the switch is picked up at the next load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from softswitch.web.api import BOARD, Endpoint, add_routes

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


def add_console(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_get("/console/{name}", asset)
    add_routes(app, [Endpoint("GET", "/console/settings", settings,
                              "The browser console's settings: the pause reasons",
                              tag="console")])
