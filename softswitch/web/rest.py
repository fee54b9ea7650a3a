"""REST endpoints of the live API (queue-manager-agent.md §2-§9, §15; queue-admin.md §7.4).
Every body is JSON; errors are softswitch.web.errors' shape. The table `ENDPOINTS` is the
single list the router and the OpenAPI document (softswitch.web.openapi) are built from."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from softswitch.web import callback, callops, presence_state
from softswitch.web import operations as ops
from softswitch.web.api import BOARD, CREDENTIALS, Endpoint, access, body, principal
from softswitch.web.errors import ApiError
from softswitch.web.models import (
    AgentStateRequest,
    DispositionRequest,
    LoginRequest,
    NoteRequest,
    PeriodQuery,
    PresenceRequest,
    parse,
)
from softswitch.web.permissions import require_admin


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def login(request: web.Request) -> web.Response:
    req = await body(request, LoginRequest)
    creds = request.app[CREDENTIALS]
    session = creds.log_in(req.extension, req.password, request.remote or "")
    board = request.app[BOARD]
    from softswitch.web.permissions import Access

    roles = Access(session.principal, board.desk.queues.acd.config).roles()
    return _json({"token": session.token, "extension": req.extension,
                  "expires_in": creds.lifetime, "roles": roles})


async def logout(request: web.Request) -> web.Response:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        request.app[CREDENTIALS].log_out(token.strip())
    return _json({"logged_out": True})


async def me(request: web.Request) -> web.Response:
    a = access(request)
    panels = request.app[BOARD].panels
    acd = panels.acd()
    return _json({"extension": a.extension, "roles": a.roles(),
                  "memberships": [panels.member(a.extension, q) for q in acd.queues()
                                  if acd.is_member(a.extension, q)],
                  "calls": [c.as_json(panels.contact(c.caller))
                            for c in panels.tracker.agent_calls(a.extension)]})


def _period(request: web.Request) -> str:
    return parse(PeriodQuery, dict(request.query), "query").period


async def list_queues(request: web.Request) -> web.Response:
    a = access(request)
    period = _period(request)
    panels = request.app[BOARD].panels
    queues = a.viewable()
    await panels.load_periods(queues)
    return _json({"period": period,
                  "queues": [{"number": q, "name": a.config.queue(q).name,
                              "kpis": panels.kpis(q, period=period),
                              "periods": panels.period_figures(q, [q])} for q in queues],
                  "all": panels.all_row(queues, period), "server_time": time.time()})


async def get_queue(request: web.Request) -> web.Response:
    queue = request.match_info["queue"]
    access(request).require_view(queue)
    period = _period(request)
    panels = request.app[BOARD].panels
    await panels.load_periods([queue])
    return _json(panels.queue_state(queue, period))


async def set_agent_state(request: web.Request) -> web.Response:
    req = await body(request, AgentStateRequest)
    return _json(ops.set_agent_state(request.app[BOARD], access(request),
                                     request.match_info["queue"], request.match_info["agent"],
                                     req))


def _limit(request: web.Request) -> int:
    text = request.query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 500:
        raise ApiError(400, "invalid_field", "limit: a number from 1 to 500", "limit")
    return int(text)


async def call_logs(request: web.Request) -> web.Response:
    return _json(await ops.call_logs(request.app[BOARD], access(request),
                                     request.match_info["queue"], request.query.get("type"),
                                     _limit(request)))


async def set_disposition(request: web.Request) -> web.Response:
    req = await body(request, DispositionRequest)
    return _json(await ops.set_disposition(request.app[BOARD], access(request),
                                           request.match_info["queue"],
                                           request.match_info["record"], req))


async def delete_record(request: web.Request) -> web.Response:
    return _json(await ops.delete_record(request.app[BOARD], access(request),
                                         request.match_info["queue"],
                                         request.match_info["record"]))


async def call_back(request: web.Request) -> web.Response:
    return _json(await callback.call_back(request.app[BOARD], access(request),
                                          request.match_info["queue"],
                                          request.match_info["record"]))


async def disposition_history(request: web.Request) -> web.Response:
    return _json(await ops.disposition_history(request.app[BOARD], access(request),
                                               request.match_info["queue"],
                                               request.match_info["record"]))


async def save_note(request: web.Request) -> web.Response:
    req = await body(request, NoteRequest)
    return _json(await ops.save_note(request.app[BOARD], access(request),
                                     request.match_info["queue"], request.match_info["call"],
                                     req))


def _call_endpoint(op: callops.CallOperation) -> Endpoint:
    """The REST endpoint of one call operation (callops.CALL_OPERATIONS): the body
    validated by its model, then the one implementation with the path's queue and call."""
    model = op.model

    async def handler(request: web.Request) -> web.Response:
        req = await body(request, model) if model is not None else None
        args = (request.app[BOARD], access(request), request.match_info["queue"],
                request.match_info["call"])
        return _json(op.run(*args) if req is None else op.run(*args, req))

    handler.__name__ = handler.__qualname__ = f"call_{op.name}"
    return Endpoint("POST", f"/queues/{{queue}}/calls/{{call}}/{op.name}", handler,
                    op.summary, model)


async def call_agent(request: web.Request) -> web.Response:
    return _json(callops.call_agent(request.app[BOARD], access(request),
                                    request.match_info["queue"], request.match_info["agent"]))


async def registrations(request: web.Request) -> web.Response:
    """Operators (admins): every live registration."""
    require_admin(principal(request))
    router = request.app[BOARD].desk.router
    now = router.loop.time()
    rows = [{"extension": b.aor, "contact": b.contact, "transport": b.transport,
             "source": f"{b.received_host}:{b.received_port}", "user_agent": b.user_agent,
             "expires_in": b.remaining(now)}
            for b in router.registrar.location.all_bindings() if b.expires_at > now]
    return _json({"registrations": rows})


async def calls(request: web.Request) -> web.Response:
    """Operators (admins): queue calls waiting and connected, and the switch's call count."""
    require_admin(principal(request))
    board = request.app[BOARD]
    panels = board.panels
    return _json({"active_calls": board.desk.router.calls.active_count(),
                  "waiting": [c.as_json(None) for c in panels.tracker.waiting.values()],
                  "connected": [c.as_json(None) for c in panels.tracker.active.values()]})


async def get_presence(request: web.Request) -> web.Response:
    return _json(presence_state.get_presence(request.app[BOARD], access(request),
                                             request.match_info["extension"]))


async def set_presence(request: web.Request) -> web.Response:
    req = await body(request, PresenceRequest)
    return _json(presence_state.set_presence(request.app[BOARD], access(request),
                                             request.match_info["extension"], req.status))


async def agents(request: web.Request) -> web.Response:
    """Every agent of every queue the caller may see."""
    a = access(request)
    panels = request.app[BOARD].panels
    acd = panels.acd()
    return _json({"agents": [panels.member(agent, q) for q in a.viewable()
                             for agent, _ in acd.queue_members(q)]})


ENDPOINTS = (
    Endpoint("POST", "/login", login, "Log in with an extension's number and SIP password",
             LoginRequest, public=True),
    Endpoint("POST", "/logout", logout, "End this token's session"),
    Endpoint("GET", "/me", me, "The caller's roles, agent memberships and calls"),
    Endpoint("GET", "/queues", list_queues,
             "The queues the caller may see, with the 16 wallboard KPIs and the All row",
             query_model=PeriodQuery),
    Endpoint("GET", "/queues/{queue}", get_queue,
             "One queue: KPIs, waiting calls, active calls, agents", query_model=PeriodQuery),
    Endpoint("POST", "/queues/{queue}/agents/{agent}/state", set_agent_state,
             "Sign an agent in or out, pause (reason) or resume it (own, or P1)",
             AgentStateRequest),
    Endpoint("GET", "/queues/{queue}/calls", call_logs,
             "Queue call logs: managers (P9) all, agents (P10) their scope",
             query=(("type", "inbound or missed"), ("limit", "1-500, default 100"))),
    Endpoint("PUT", "/queues/{queue}/records/{record}/disposition", set_disposition,
             "Set a missed or abandoned call's disposition", DispositionRequest),
    Endpoint("DELETE", "/queues/{queue}/records/{record}", delete_record,
             "Delete a call-log record: for everyone (a missed record, P9 "
             "delete_missed_calls), else from the caller's own view"),
    Endpoint("POST", "/queues/{queue}/records/{record}/callback", call_back,
             "Call back a call-log record's number: the caller's own phone rings, then "
             "the number (P9 or P10, the record in the caller's view)"),
    Endpoint("GET", "/queues/{queue}/records/{record}/disposition", disposition_history,
             "A record's disposition changes (who, when, from, to)"),
    Endpoint("PUT", "/queues/{queue}/calls/{call}/note", save_note,
             "Save the call tags and note of an answered queue call", NoteRequest),
    *(_call_endpoint(op) for op in callops.CALL_OPERATIONS),
    Endpoint("POST", "/queues/{queue}/agents/{agent}/call", call_agent,
             "Call an agent: the caller's own phone rings, then the agent's (§4.10)"),
    Endpoint("GET", "/extensions/{extension}/presence", get_presence,
             "An extension's presence status and agent states (own, admin, or P1)"),
    Endpoint("PUT", "/extensions/{extension}/presence", set_presence,
             "Set an extension's presence status; its auto-switch rule runs (own, admin, "
             "or P1 in every queue of the agent)", PresenceRequest),
    Endpoint("GET", "/agents", agents, "Every agent of the queues the caller may see"),
    Endpoint("GET", "/registrations", registrations, "Live registrations (admins)"),
    Endpoint("GET", "/calls", calls, "Queue calls waiting and connected (admins)"),
)
