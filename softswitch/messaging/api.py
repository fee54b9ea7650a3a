"""Messaging on the live API: the channels' webhooks and the agents' endpoints
(omnichannel.md §9.3, §9.6; PROTOCOL.md §7 lists them with the websocket deltas).

    POST /api/v1/webhooks/general/{token}               the General SMS provider (public,
                                                         signed; softswitch.messaging.general)
    GET  /api/v1/livechat/{LC#####}/ws                   a Live Chat visitor's websocket
                                                         (public, Origin-checked; and the
                                                         widget script, its images:
                                                         softswitch.messaging.livechat)
    POST /api/v1/webhooks/{provider}/{token}            twilio, telnyx, bandwidth, flowroute,
                                                         whatsapp, messenger
    GET  /api/v1/webhooks/{whatsapp|messenger}/{token}  Meta's verify-token handshake
                                                         (softswitch.messaging.providers)
    GET  /api/v1/messaging/sessions?list=recent|archived|campaign&limit=N&cursor=C
                                                         my sessions, a page (next_cursor)
    POST /api/v1/messaging/sessions                      start one (§9.2, allowed extensions)
    GET  /api/v1/messaging/sessions/{id}                 one session with its history
    POST /api/v1/messaging/sessions/{id}/messages        reply
    POST /api/v1/messaging/sessions/{id}/files           reply with a file (raw body;
                                                         softswitch.messaging.files)
    POST /api/v1/messaging/sessions/{id}/call            call the customer (agent's phone
                                                         first; softswitch.messaging.voice)
    POST /api/v1/messaging/sessions/{id}/take_over
    POST /api/v1/messaging/sessions/{id}/transfer        {"extension"} or {"queue"}
    POST /api/v1/messaging/sessions/{id}/archive         {"archived": true|false}
    POST /api/v1/messaging/sessions/{id}/close
    POST /api/v1/messaging/sessions/{id}/remove
    POST /api/v1/messaging/sessions/{id}/read            {"message": id}: read up to it
    POST /api/v1/messaging/sessions/{id}/contact         the customer as a company contact,
                                                         new or existing (softswitch.web
                                                         .contacts)
    GET  /api/v1/messaging/me                            what the caller may do: senders,
                                                         message queues, colleagues
    GET  /api/v1/messaging/channels                      admins: status and counters (§2.5)
    GET  /api/v1/messaging/channels/{name}/templates     a WhatsApp channel's synced templates
    POST /api/v1/messaging/channels/{name}/templates/refresh   admins: sync them now (§3.11)

Permissions (§9.6): an agent acts on the sessions it sees (softswitch.messaging.sessions);
a session it cannot see is 404 (its existence is not disclosed). Admins read any session
(``GET /sessions/{id}``: the chat logs' view, §6.5) but act only as the agents they are.

Unread counts (the inbox's, §9.1): per agent and session, the customer's messages after
the last one the agent marked read (``POST .../read``, which the console sends when it shows
the chat). The list rows carry ``unread`` and ``last_message`` (the list's preview).
Decisions: only received (customer) messages count, not system messages nor colleagues'
replies; a mark only moves forward; the marks are the agent's, the same on every client,
kept in ``console_settings`` (name ``messaging_read``: one JSON object per agent) and
loaded at start-up; marks of sessions the agent no longer sees are dropped when it marks
another.

``GET /messaging/me`` gives the console what its dialogs offer: the channel numbers the
caller may start sessions from (§9.2: listed in ``allowed_extensions``), the message queues
(name and chat assignment mode: the console offers Take over only where the mode has it)
and the colleagues (extension and name, the caller left out) a session can be transferred
to (§6.2). Decision: every logged-in user may read the colleagues' numbers and names, as
Linkus shows its users the company directory; nothing else of an extension is given.
``platform`` tells whether the third-party platform is offered as a transfer target
(§13.35: only while ``messaging_api`` lists an integration).

The third-party platform (§4; softswitch.messaging.sessions): its API integrations log in
with their extensions (``messaging_api.integrations``) and use these same endpoints: they
list and read the platform's sessions, receive each customer message on the live websocket
as ``messaging.api.message`` with ``event: 30031``, and reply, transfer and close.

Decision: the webhook routes are registered per configured channel token when the app is
built; a changed ``message_channels`` applies at the next start (softswitch.reload already
lists it as a start-time section). An unknown token is refused like any path that needs a
log-in (401), before the body is read.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from softswitch.log import get_logger
from softswitch.messaging import admin_api
from softswitch.messaging.appkey import MESSAGING
from softswitch.messaging.config import ChannelConfig
from softswitch.messaging.general import GeneralSmsClient, WebhookError, parse_webhook, signature_ok
from softswitch.messaging.providers import ReplyRefused, webhook_routes
from softswitch.messaging.providers.whatsapp import WhatsAppAdapter
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import Direction, Inbox, Refused
from softswitch.web.api import PREFIX, PUBLIC, Endpoint, add_routes, body, principal
from softswitch.web.contacts import CONTACTS, E164, ContactError, ContactFields, digits
from softswitch.web.errors import ApiError
from softswitch.web.models import Strict, parse

log = get_logger("messaging")



class StartSessionRequest(Strict):
    """§9.2: the sender (a channel number the agent may use) and the customer (E.164)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"channel": "General SMS Channel", "number": "+14102161183",
         "customer": "+8613899990000"}]})
    channel: str = Field(min_length=1, max_length=200)
    number: str = Field(min_length=1, max_length=20)
    customer: str = Field(pattern=r"^\+[1-9][0-9]{1,14}$")


class TemplateRequest(Strict):
    """A synced WhatsApp template (§3.11) and its variables' values; a template whose
    header shows an image, video or document needs ``header_media`` (the file's http(s)
    URL), one with a location header ``header_location`` (coordinates or a Google Maps
    link, and the typed address): softswitch.messaging.providers.whatsapp
    `header_parameter`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=15)
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)
    header_media: str | None = Field(default=None, max_length=2048)
    header_location: admin_api.HeaderLocation | None = None


class ReplyRequest(Strict):
    """An agent's message (text, and/or media URLs the provider fetches), or a WhatsApp
    template alone (``{"template": {"name", "language", "variables": {name: value}}}``,
    one of ``GET /messaging/channels/{channel}/templates``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "Hello, World!"}]})
    text: str = Field(default="", max_length=2000)
    media: list[str] = Field(default_factory=list, max_length=10)
    template: TemplateRequest | None = None


class SessionTransferRequest(Strict):
    """§6.2: to a colleague (``extension``), a message queue (``queue``, its name) or the
    third-party platform (``platform: true``; only with an API integration, §4)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"extension": "1002"}, {"queue": "Tech Support"}, {"platform": True}]})
    extension: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    queue: str | None = Field(default=None, min_length=1, max_length=200)
    platform: bool = Field(default=False, strict=True)


class ArchiveRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"archived": True}]})
    archived: bool = True


class ReadRequest(Strict):
    """The last message the agent has seen (default: the session's last one)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"message": 42}]})
    message: int | None = Field(default=None, ge=1)


class ReadMarks:
    """Per agent, per session: the id of the last message read (module docstring)."""

    NAME = "messaging_read"

    def __init__(self, store: Any, wall: Any) -> None:
        self.store = store
        self.wall = wall
        self.marks: dict[str, dict[int, int]] = {}

    async def load(self) -> None:
        rows = await self.store.fetch(
            "SELECT extension, value FROM console_settings WHERE name = ?", (self.NAME,))
        for ext, value in rows:
            self.marks[str(ext)] = {int(k): int(v) for k, v in json.loads(value).items()}

    def unread(self, agent: str, messages: list[Any]) -> int:
        seen = self.marks.get(agent, {})
        return sum(1 for m in messages if m.direction is Direction.RECEIVED
                   and m.id > seen.get(m.session, 0))

    def mark(self, agent: str, session: int, message: int, keep: set[int]) -> None:
        old = self.marks.get(agent, {})
        marks = {sid: mid for sid, mid in old.items() if sid in keep}
        marks[session] = max(message, old.get(session, 0))
        if marks == old:
            return
        self.marks[agent] = marks
        self.store.write(
            "INSERT INTO console_settings (extension, name, value, updated_at) VALUES "
            "(?, ?, ?, ?) ON CONFLICT (extension, name) DO UPDATE SET "
            "value = excluded.value, updated_at = excluded.updated_at",
            (agent, self.NAME, json.dumps({str(k): v for k, v in marks.items()}),
             round(self.wall(), 3)))


READ_MARKS = web.AppKey("messaging_read", ReadMarks)
class Directory:
    """The configuration in force (a reload applies): channels, message queues, colleagues."""

    def __init__(self, router: Any) -> None:
        self.router = router

    def read(self) -> tuple[Any, list[dict[str, str]], list[dict[str, str]]]:
        cfg = self.router.config
        acd = cfg.acd
        return (cfg.message_channels,
                [{"name": q.name, "mode": q.chat_assignment_mode.value}
                 for q in acd.message_queues] if acd is not None else [],
                [{"extension": e.number, "name": e.name} for e in cfg.extensions])

    def platform(self) -> tuple[str, ...]:
        """The third-party platform's API integrations (``messaging_api``, §4)."""
        return tuple(self.router.config.messaging_api)


DIRECTORY = web.AppKey("messaging_directory", Directory)


class ListQuery(Strict):
    """``list``: recent (default), archived, or campaign (the sessions campaigns created,
    open or closed: the Campaign filter); ``limit`` rows per page (1-500, default 100, as
    the call logs' lists); ``cursor``: the previous page's ``next_cursor``."""

    list: str = Field(default="recent", pattern=r"^(recent|archived|campaign)$")
    limit: int = Field(default=100, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=64)


def _cursor(text: str | None) -> tuple[float, int] | None:
    """``{last_activity}:{id}`` of a page's last row (the list's order), as `_next` makes
    it; anything else is 400."""
    if text is None:
        return None
    at, _, sid = text.partition(":")
    try:
        value = (float(at), int(sid))
    except ValueError:
        raise ApiError(400, "invalid_field", "cursor: the next_cursor of the previous "
                                             "page", "cursor") from None
    if value[0] != value[0] or value[1] < 1:  # NaN
        raise ApiError(400, "invalid_field", "cursor: the next_cursor of the previous page",
                       "cursor")
    return value


def _service(request: web.Request) -> Messaging:
    return request.app[MESSAGING]


def _id(request: web.Request) -> int:
    raw = request.match_info["session"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no session {raw}")
    return int(raw)


async def _sid(request: web.Request) -> int:
    """The session of the path, read back from the store when it is a closed one no
    longer in memory (softswitch.messaging.sessions: closed sessions leave memory)."""
    sid = _id(request)
    await _service(request).recall(sid)
    return sid


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
    return web.json_response({"session": _service(request).session_json(session, me),
                              "messages": _service(request).history(session)})


async def list_sessions(request: web.Request) -> web.Response:
    query = parse(ListQuery, dict(request.query), "query")
    which = query.list
    me = principal(request).extension
    service = _service(request)
    # closed sessions are listed in Archived and Campaign: this page of them read back
    listed, more = await service.page(me, which, query.limit, _cursor(query.cursor))
    inbox = service.inbox
    marks = request.app[READ_MARKS]
    rows = []
    for s in listed:
        messages = inbox.messages.get(s.id, [])
        row = service.session_json(s, me)
        row["unread"] = marks.unread(me, messages)
        row["last_message"] = messages[-1].as_json() if messages else None
        rows.append(row)
    last = listed[-1] if listed and more else None
    return web.json_response({"list": which, "sessions": rows, "next_cursor":
                              None if last is None else f"{last.last_activity!r}:{last.id}"})


async def mark_read(request: web.Request) -> web.Response:
    req = await body(request, ReadRequest)
    me, sid = principal(request).extension, await _sid(request)
    inbox = _service(request).inbox
    s = await _run(request, lambda inbox, now: inbox.session_for(sid, me))
    messages = inbox.messages.get(s.id, [])
    last = messages[-1].id if messages else 0
    upto = last if req.message is None else min(req.message, last)
    # the marks of the sessions the agent sees, and of those not in memory (closed)
    keep = {x.id for x in inbox.sessions.values() if inbox.sees(x, me)} | \
        {sid for sid in request.app[READ_MARKS].marks.get(me, {}) if sid not in inbox.sessions}
    marks = request.app[READ_MARKS]
    marks.mark(me, s.id, upto, keep)
    await _service(request).store.flush()
    return web.json_response({"session": s.id, "read": marks.marks[me][s.id],
                              "unread": marks.unread(me, messages)})


async def my_options(request: web.Request) -> web.Response:
    """What the caller's inbox dialogs offer (module docstring)."""
    me = principal(request).extension
    channels, queues, colleagues = request.app[DIRECTORY].read()
    senders = [{"channel": c.name, "type": c.type, "number": n.number}
               for c in channels for n in c.numbers if me in n.allowed_extensions]
    return web.json_response({"senders": senders, "queues": queues,
                              "colleagues": [x for x in colleagues if x["extension"] != me],
                              "platform": bool(request.app[DIRECTORY].platform())})


async def start_session(request: web.Request) -> web.Response:
    req = await body(request, StartSessionRequest)
    me = principal(request).extension
    s = await _run(request, lambda inbox, now: inbox.start(me, req.channel, req.number,
                                                     req.customer, now))
    return _session_reply(request, s)


async def get_session(request: web.Request) -> web.Response:
    who = principal(request)
    sid = await _sid(request)
    s = await _run(request, lambda inbox, now: inbox.session_for(sid, who.extension,
                                                                 who.admin))
    return _session_reply(request, s)


async def reply(request: web.Request) -> web.Response:
    req = await body(request, ReplyRequest)
    if not req.text and not req.media and req.template is None:
        raise ApiError(400, "invalid_field", "text or media is required", "text")
    me, sid = principal(request).extension, await _sid(request)
    service = _service(request)
    session = service.inbox.sessions.get(sid)
    if session is not None and not service.inbox.sees(session, me):
        raise ApiError(404, "not_found", f"no session {sid}")
    try:  # the channel's rules (WhatsApp's and Messenger's windows, templates)
        text, media = service.prepare_reply(
            sid, req.text, tuple(req.media),
            req.template.model_dump(exclude_none=True) if req.template is not None
            else None)
    except ReplyRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
    # as queued: the outbox may have delivered it by the time the rows are committed
    m = await _run(request, lambda inbox, now: inbox.reply(
        sid, me, text, media, now).as_json())
    return web.json_response({"message": m}, status=202)


async def take_over(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, await _sid(request)
    s = await _run(request, lambda inbox, now: inbox.take_over(sid, me, now))
    return _session_reply(request, s)


async def transfer(request: web.Request) -> web.Response:
    req = await body(request, SessionTransferRequest)
    me, sid = principal(request).extension, await _sid(request)
    exists = _service(request).extension_exists

    def op(inbox: Inbox, now: float) -> Any:
        return inbox.transfer(sid, me, now, extension=req.extension, queue=req.queue,
                              platform=req.platform, extension_exists=exists)

    s = await _run(request, op)
    return web.json_response({"session": _service(request).session_json(s, me)})


async def archive(request: web.Request) -> web.Response:
    req = await body(request, ArchiveRequest)
    me, sid = principal(request).extension, await _sid(request)
    s = await _run(request, lambda inbox, now: inbox.archive(sid, me, req.archived))
    return web.json_response({"session": _service(request).session_json(s, me)})


async def close(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, await _sid(request)
    s = await _run(request, lambda inbox, now: inbox.close(sid, me, now))
    return web.json_response({"session": _service(request).session_json(s, me)})


async def remove(request: web.Request) -> web.Response:
    me, sid = principal(request).extension, await _sid(request)
    await _run(request, lambda inbox, now: inbox.remove(sid, me))
    return web.json_response({"removed": sid})


class SessionContactRequest(Strict):
    """§6.2 "Add customer as contact": the session's customer number into a new company
    contact (``new``: its fields; the number is added to its ``numbers`` as ``type``) or
    into an existing one (``existing``: its id, one of ``GET /contacts``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"new": {"name": "Kristin Hale", "company": "Hale & Co"}, "type": "mobile"}]})
    new: ContactFields | None = None
    existing: str | None = Field(default=None, min_length=1, max_length=40)
    type: str = Field(default="mobile", pattern=r"^(business|mobile|home|other)$")


async def add_contact(request: web.Request) -> web.Response:
    """The session's customer as a company contact (softswitch.web.contacts): whoever sees
    the session (404 otherwise); the customer must be a phone number (SMS, WhatsApp: 409
    ``not_a_number`` for a Live Chat visitor, a Messenger user or a SIP phone)."""
    req = await body(request, SessionContactRequest)
    if (req.new is None) == (req.existing is None):
        raise ApiError(400, "invalid_field", "give one of new or existing", "new")
    me, sid = principal(request).extension, await _sid(request)
    service = _service(request)
    s = await _run(request, lambda inbox, now: inbox.session_for(sid, me))
    config = service.channels.get(s.channel)
    if config is None or config.type not in ("sms", "whatsapp") \
            or not re.fullmatch(E164, s.customer):
        raise ApiError(409, "not_a_number", f"the customer {s.customer} is not a phone "
                                            "number (SMS and WhatsApp customers are)")
    book = request.app[CONTACTS]
    try:
        if req.new is not None:
            numbers = req.new.number_pairs()
            if all(digits(n) != digits(s.customer) for _, n in numbers):
                numbers = (*numbers, (req.type, s.customer))
            contact = book.create(me, req.new.name, req.new.company, req.new.email, numbers)
        else:
            assert req.existing is not None
            contact = book.add_number(req.existing, req.type, s.customer)
    except ContactError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    await book.flush()
    return web.json_response({"contact": contact.as_json(),
                              "session": service.session_json(s, me)})


async def channels(request: web.Request) -> web.Response:
    if not principal(request).admin:
        raise ApiError(403, "forbidden", "only admins see the message channels")
    return web.json_response({"channels": await _service(request).channel_rows()})


def _whatsapp(request: web.Request) -> WhatsAppAdapter:
    name = request.match_info["channel"]
    client = _service(request).clients.get(name)
    if not isinstance(client, WhatsAppAdapter):
        raise ApiError(404, "not_found", f"no WhatsApp channel {name!r}")
    return client


async def templates(request: web.Request) -> web.Response:
    """Agents pick a template here to start or reopen a WhatsApp conversation."""
    client = _whatsapp(request)
    return web.json_response({"channel": client.config.name, "synced_at": client.synced_at,
                              "templates": [t.as_json() for t in client.templates.values()]})


async def refresh_templates(request: web.Request) -> web.Response:
    if not principal(request).admin:
        raise ApiError(403, "forbidden", "only admins refresh the templates")
    client = _whatsapp(request)
    try:
        await client.sync_templates()
    except ReplyRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return await templates(request)


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
    Endpoint("POST", "/messaging/sessions/{session}/contact", add_contact,
             "Add the customer as a company contact: a new one or an existing one (§6.2)",
             SessionContactRequest, tag="messaging"),
    Endpoint("POST", "/messaging/sessions/{session}/read", mark_read,
             "Mark the session read up to a message (the inbox's unread counts)",
             ReadRequest, tag="messaging"),
    Endpoint("GET", "/messaging/me", my_options,
             "The numbers I may start sessions from, the message queues and colleagues I "
             "may transfer to", tag="messaging"),
    Endpoint("GET", "/messaging/channels", channels,
             "Message channels, their status and counters (admins, §2.5)", tag="messaging"),
    Endpoint("GET", "/messaging/channels/{channel}/templates", templates,
             "A WhatsApp channel's synced message templates (§3.11)", tag="messaging"),
    Endpoint("POST", "/messaging/channels/{channel}/templates/refresh", refresh_templates,
             "Sync a WhatsApp channel's templates now (admins, §3.11)", tag="messaging"),
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

    directory = Directory(router)
    service = Messaging(tuple(config.message_channels), queues, router.store, router.clock,
                        lambda kind, data, agent: publish(kind, (), data, agent=agent), name,
                        directory.platform)
    app[MESSAGING] = service
    marks = ReadMarks(router.store, router.clock.wall)
    app[READ_MARKS] = marks
    app[DIRECTORY] = directory
    service.extension_exists = lambda ext: router.config.extension(ext) is not None
    reports = getattr(router.agentdesk, "reports", None)
    if reports is not None:  # the queue reports: a waiting chat's row goes on at a restart
        service.resume_report_rows = reports.rows.resume_calls
    add_routes(app, ENDPOINTS)
    from softswitch.messaging.livechat import attach as attach_livechat

    attach_livechat(app, service, router, app[PUBLIC], PREFIX)  # the website widget (§3.12)
    from softswitch.messaging import files, voice

    add_routes(app, voice.ENDPOINTS)  # a voice call to the session's customer (§6.2)

    service.sip_send = router.send_message
    router.message_sink = service.sip_message
    for c in config.message_channels:  # not in the OpenAPI document: the token is secret
        client = service.clients.get(c.name)  # none for SIP and Live Chat channels
        if client is None:
            continue
        path = f"{PREFIX}/webhooks/{c.provider}/{c.token}"
        if isinstance(client, GeneralSmsClient):
            app.router.add_post(path, _webhook(c))
        else:
            post, get = webhook_routes(client, service.receive)
            app.router.add_post(path, post)
            app.router.add_get(path, get, allow_head=False)
        app[PUBLIC].add(path)

    async def on_startup(app: web.Application) -> None:
        await service.start()
        await marks.load()

    async def on_cleanup(app: web.Application) -> None:
        router.message_sink = None
        await service.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    # agents' replies with a file, served to the providers for 72 h (§3.1, §3.2); its
    # start-up sweep after the service's start, which queued the messages not yet sent
    files.attach(app, Path(router.config.config_dir) / "var" / "messaging-files",
                 router.clock, service.outbox.media)
    # campaigns and chat logs (admins), started after the service
    book = app[CONTACTS]  # company contacts, the configuration's and the API's
    service.contact_name = book.name
    service.contact_id = book.match
    book.listeners.append(service.contacts_changed)
    admin_api.attach(app, service, book.entries,
                     Path(config.config_dir) / "var" / "campaign-files")
