"""Messaging on the live API: the channels' webhooks and the agents' endpoints
(omnichannel.md §9.3, §9.6; PROTOCOL.md §7 lists them with the websocket deltas).

    POST /api/v1/webhooks/general/{token}               the General SMS provider (public,
                                                         signed; softswitch.messaging.general)
    GET  /api/v1/messaging/sessions?list=recent|archived my sessions
    POST /api/v1/messaging/sessions                      start one (§9.2, allowed extensions)
    GET  /api/v1/messaging/sessions/{id}                 one session with its history
    POST /api/v1/messaging/sessions/{id}/messages        reply
    POST /api/v1/messaging/sessions/{id}/take_over
    POST /api/v1/messaging/sessions/{id}/transfer        {"extension"} or {"queue"}
    POST /api/v1/messaging/sessions/{id}/archive         {"archived": true|false}
    POST /api/v1/messaging/sessions/{id}/close
    POST /api/v1/messaging/sessions/{id}/remove
    GET  /api/v1/messaging/channels                      admins: status and counters (§2.5)

Permissions (§9.6): an agent acts on the sessions it sees (softswitch.messaging.sessions);
a session it cannot see is 404 (its existence is not disclosed). Admins read any session
(``GET /sessions/{id}``: the chat logs' view, §6.5) but act only as the agents they are.

Decision: the webhook routes are registered per configured channel token when the app is
built; a changed ``message_channels`` applies at the next start (softswitch.reload already
lists it as a start-time section). An unknown token is refused like any path that needs a
log-in (401), before the body is read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from softswitch.log import get_logger
from softswitch.messaging import admin_api
from softswitch.messaging.config import ChannelConfig
from softswitch.messaging.general import WebhookError, parse_webhook, signature_ok
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import Inbox, Refused
from softswitch.web.api import PREFIX, PUBLIC, Endpoint, add_routes, body, principal
from softswitch.web.errors import ApiError
from softswitch.web.models import Strict, parse

log = get_logger("messaging")

MESSAGING = web.AppKey("messaging", Messaging)


class StartSessionRequest(Strict):
    """§9.2: the sender (a channel number the agent may use) and the customer (E.164)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"channel": "General SMS Channel", "number": "+14102161183",
         "customer": "+8613899990000"}]})
    channel: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=1, max_length=20)
    customer: str = Field(pattern=r"^\+[1-9][0-9]{1,14}$")


class ReplyRequest(Strict):
    """An agent's message (text, and/or media URLs the provider fetches)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Hello, World!"}]})
    text: str = Field(default="", max_length=2000)
    media: list[str] = Field(default_factory=list, max_length=10)


class SessionTransferRequest(Strict):
    """§6.2: to a colleague (``extension``) or a message queue (``queue``, its name)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"extension": "1002"}, {"queue": "Tech Support"}]})
    extension: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    queue: str | None = Field(default=None, min_length=1, max_length=200)


class ArchiveRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"archived": True}]})
    archived: bool = True


class ListQuery(Strict):
    """``list``: recent (default) or archived."""

    list: str = Field(default="recent", pattern=r"^(recent|archived)$")


def _service(request: web.Request) -> Messaging:
    return request.app[MESSAGING]


def _id(request: web.Request) -> int:
    raw = request.match_info["session"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no session {raw}")
    return int(raw)


async def _run(request: web.Request, op: Any) -> Any:
    """One operation on the sessions; what it changed is committed before the answer (an
    acknowledged reply or take-over survives a crash)."""
    service = _service(request)
    try:
        result = service.run(op)
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    await service.store.flush()
    return result


def _session_reply(request: web.Request, session: Any) -> web.Response:
    me = principal(request).extension
    return web.json_response({"session": session.as_json(me),
                              "messages": _service(request).history(session)})


async def list_sessions(request: web.Request) -> web.Response:
    which = parse(ListQuery, dict(request.query), "query").list
    me = principal(request).extension
    inbox = _service(request).inbox
    return web.json_response({"list": which, "sessions": [
        s.as_json(me) for s in inbox.list_for(me, which == "archived")]})


async def start_session(request: web.Request) -> web.Response:
    req = await body(request, StartSessionRequest)
    me = principal(request).extension
    s = await _run(request, lambda inbox, now: inbox.start(me, req.channel, req.number,
                                                     req.customer, now))
    return _session_reply(request, s)


async def get_session(request: web.Request) -> web.Response:
    who = principal(request)
    sid = _id(request)
    s = await _run(request, lambda inbox, now: inbox.session_for(sid, who.extension,
                                                                 who.admin))
    return _session_reply(request, s)


async def reply(request: web.Request) -> web.Response:
    req = await body(request, ReplyRequest)
    if not req.text and not req.media:
        raise ApiError(400, "invalid_field", "text or media is required", "text")
    me, sid = principal(request).extension, _id(request)
    # as queued: the outbox may have delivered it by the time the rows are committed
    m = await _run(request, lambda inbox, now: inbox.reply(
        sid, me, req.text, tuple(req.media), now).as_json())
    return web.json_response({"message": m}, status=202)


async def take_over(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, _id(request)
    s = await _run(request, lambda inbox, now: inbox.take_over(sid, me, now))
    return _session_reply(request, s)


async def transfer(request: web.Request) -> web.Response:
    req = await body(request, SessionTransferRequest)
    me, sid = principal(request).extension, _id(request)
    exists = _service(request).extension_exists

    def op(inbox: Inbox, now: float) -> Any:
        return inbox.transfer(sid, me, now, extension=req.extension, queue=req.queue,
                              extension_exists=exists)

    s = await _run(request, op)
    return web.json_response({"session": s.as_json(me)})


async def archive(request: web.Request) -> web.Response:
    req = await body(request, ArchiveRequest)
    me, sid = principal(request).extension, _id(request)
    s = await _run(request, lambda inbox, now: inbox.archive(sid, me, req.archived))
    return web.json_response({"session": s.as_json(me)})


async def close(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, _id(request)
    s = await _run(request, lambda inbox, now: inbox.close(sid, me, now))
    return web.json_response({"session": s.as_json(me)})


async def remove(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, _id(request)
    await _run(request, lambda inbox, now: inbox.remove(sid, me))
    return web.json_response({"removed": sid})


async def channels(request: web.Request) -> web.Response:
    if not principal(request).admin:
        raise ApiError(403, "forbidden", "only admins see the message channels")
    return web.json_response({"channels": _service(request).channel_rows()})


def _webhook(channel: ChannelConfig) -> Any:
    async def handle(request: web.Request) -> web.Response:
        service = _service(request)
        raw = await request.read()
        try:
            if request.content_type != "application/json":
                raise WebhookError(f"Content-Type must be application/json, got "
                                   f"{request.content_type!r}")
            if channel.secret is not None and not signature_ok(
                    channel.secret, raw, request.headers.get("X-Signature-256")):
                raise WebhookError("X-Signature-256 does not match the body")
            inbound = parse_webhook(raw)
            if channel.number(inbound.to) is None:
                raise WebhookError(f"{inbound.to} is not a number of this channel")
            try:
                await service.receive(channel, inbound)
            except KeyError:
                raise WebhookError(f"message {inbound.provider_id} was already received "
                                   "(replay)") from None
        except WebhookError as exc:
            log.warning("webhook refused", channel=channel.name, reason=str(exc),
                        source=request.remote)
            return web.json_response({"errors": [{"code": "10002", "title": "Invalid "
                                                  "parameter", "detail": str(exc)}]},
                                     status=400)
        return web.Response(status=204)

    return handle


ENDPOINTS = [
    Endpoint("GET", "/messaging/sessions", list_sessions, "My chat sessions (§9.3)",
             tag="messaging", query_model=ListQuery),
    Endpoint("POST", "/messaging/sessions", start_session,
             "Start a session from a channel number (§9.2)", StartSessionRequest,
             tag="messaging"),
    Endpoint("GET", "/messaging/sessions/{session}", get_session,
             "A session and its history", tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/messages", reply,
             "Reply (queued for the channel; its delivery state follows as deltas)",
             ReplyRequest, tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/take_over", take_over,
             "Take over a message-queue session (§5.3)", tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/transfer", transfer,
             "Transfer to a colleague or a message queue (§6.2)", SessionTransferRequest,
             tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/archive", archive,
             "Archive or unarchive (§6.2)", ArchiveRequest, tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/close", close,
             "End the session (§6.2)", tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/remove", remove,
             "Remove it from my lists (§6.2)", tag="messaging"),
    Endpoint("GET", "/messaging/channels", channels,
             "Message channels, their status and counters (admins, §2.5)", tag="messaging"),
]


def attach(app: web.Application, router: Any, publish: Any) -> None:
    """Messaging on the switch's app (softswitch.web.server.build_app): the service on the
    router's ACD, store and clock, its routes, its start and stop with the app.
    ``publish(kind, queues, body, agent=...)``: the live feed's (softswitch.web.live)."""
    config = router.config
    controller = router.agentdesk.queues
    queues = AcdQueues(lambda: controller.acd, controller.execute, router.clock.monotonic)

    def name(ext: str) -> str:
        extension = router.config.extension(ext)
        return extension.name if extension is not None else ext

    service = Messaging(tuple(config.message_channels), queues, router.store, router.clock,
                        lambda kind, data, agent: publish(kind, (), data, agent=agent), name)
    app[MESSAGING] = service
    service.extension_exists = lambda ext: router.config.extension(ext) is not None
    add_routes(app, ENDPOINTS)
    service.sip_send = router.send_message
    router.message_sink = service.sip_message
    for c in config.message_channels:  # not in the OpenAPI document: the token is secret
        if c.type != "sms":
            continue
        path = f"{PREFIX}/webhooks/{c.provider}/{c.token}"
        app.router.add_post(path, _webhook(c))
        app[PUBLIC].add(path)

    async def on_startup(app: web.Application) -> None:
        await service.start()

    async def on_cleanup(app: web.Application) -> None:
        router.message_sink = None
        await service.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    # campaigns and chat logs (admins), started after the service
    admin_api.attach(app, service, lambda: router.config.contacts.entries)
