"""Campaigns (omnichannel.md §7) and the external chat logs (§8) on the live API, for admins
only (403 for anybody else: §1.2, these are the management portal's pages).

    GET    /api/v1/messaging/campaigns                       the list (§7.5), newest first
    POST   /api/v1/messaging/campaigns                       create (send now|schedule|draft)
    POST   /api/v1/messaging/campaigns/import?file_name=F    a CSV file as the body (<= 50 MB):
                                                              the contacts and the rejected rows
    POST   /api/v1/messaging/campaigns/files?file_name=F     a file for an SMS campaign (<= 100
                                                              MB): its URL (campaign_files)
    GET    /messaging/files/{hex}/{name}                     that file (no log-in: the provider
                                                              downloads it)
    GET    /api/v1/messaging/campaigns/{id}?page=N           one campaign with its Details page
                                                              (10 contacts per page)
    PUT    /api/v1/messaging/campaigns/{id}                  edit (draft, scheduled)
    DELETE /api/v1/messaging/campaigns/{id}
    POST   /api/v1/messaging/campaigns/{id}/send             send a draft now
    POST   /api/v1/messaging/campaigns/{id}/retry            resend the failed contacts
    POST   /api/v1/messaging/campaigns/{id}/copy             a new draft like it
    GET    /api/v1/messaging/chat-logs?start&end&sender&recipient&relation&channel_type
                                       &time_zone&page        the session list (§8.2, §8.3)
    GET    /api/v1/messaging/chat-logs/download?...|all=1     the zip of the two CSV files
    DELETE /api/v1/messaging/chat-logs                       {"ids": [...]} sessions
    GET    /api/v1/messaging/chat-logs/{id}/timeline         the operation record (§8.4)
    GET    /api/v1/messaging/chat-logs/{id}/messages?page=N  the chat history (§8.5)
    DELETE /api/v1/messaging/chat-logs/{id}/messages         {"ids": [...]} (§8.6)

The CSV upload is the one body larger than the API's 64 KiB: it is read from the stream, up
to 50 MB and one byte (that byte makes it 413)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ConfigDict, Field

from softswitch.messaging import campaigns as campaigns_mod
from softswitch.messaging import chatlogs as chatlogs_mod
from softswitch.messaging.campaign_files import FILES as FILES_PATH
from softswitch.messaging.campaign_files import CampaignFiles, FileRefused
from softswitch.messaging.campaigns import MAX_FILE_BYTES, CampaignError, Campaigns
from softswitch.messaging.chatlogs import ChatLogError, ChatLogs, Filter
from softswitch.messaging.config import E164
from softswitch.web.api import Endpoint, add_routes, body, principal
from softswitch.web.errors import ApiError
from softswitch.web.models import Strict

CAMPAIGNS = web.AppKey("campaigns", Campaigns)
FILES = web.AppKey("campaign_files", CampaignFiles)
CHATLOGS = web.AppKey("chatlogs", ChatLogs)
Contacts = Callable[[], tuple[tuple[str, str], ...]]
COMPANY_CONTACTS: web.AppKey[Contacts] = web.AppKey("company_contacts")
DETAILS_PAGE = 10


class ContactItem(Strict):
    number: str = Field(min_length=2, max_length=16)
    name: str = Field(default="", max_length=127)


class AssignTo(Strict):
    type: str = Field(pattern=r"^(extension|message_queue)$")
    target: str = Field(min_length=1, max_length=200)


class HeaderLocation(Strict):
    """The place a template's location header shows (§7.3): ``latitude`` and
    ``longitude``, or a Google Maps link (``maps_link``) they are read from (with the
    place's name when the link has one); the ``address`` is always typed."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"maps_link": "https://www.google.com/maps/place/Eiffel+Tower/@48.8583701,"
                      "2.2944813,17z", "address": "Av. Gustave Eiffel, 75007 Paris"},
        {"latitude": 48.8583701, "longitude": 2.2944813, "name": "Eiffel Tower",
         "address": "Av. Gustave Eiffel, 75007 Paris"}]})
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = Field(default=None, max_length=1000)
    address: str | None = Field(default=None, max_length=1000)
    maps_link: str | None = Field(default=None, max_length=2048)


class TemplateChoice(Strict):
    """A WhatsApp campaign's template: every variable filled; ``header_media`` the URL of
    the image, video or document its header shows (a URL of an uploaded file too);
    ``header_location`` the place a location header shows."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=1, max_length=20)
    variables: dict[str, str] = Field(default_factory=dict)
    header_media: str | None = Field(default=None, max_length=2048)
    header_location: HeaderLocation | None = None


class CampaignRequest(Strict):
    """§7.3. ``send_at`` is ``YYYY/MM/DD HH:MM:SS`` in ``time_zone`` (IANA, default UTC);
    ``assign`` is required with mode ``session``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "短信营销活动", "channel": "General SMS Channel", "sender": "+14102161183",
        "contacts": [{"number": "+18300002001", "name": "客户 B"}, "+18300002002"],
        "text": "亲爱的客户您好😊", "send_time": "schedule",
        "send_at": "2035/08/31 09:00:00", "time_zone": "Asia/Shanghai", "mode": "session",
        "assign": {"type": "message_queue", "target": "Tech Support"}}]})
    name: str = Field(min_length=1, max_length=127)
    channel: str = Field(min_length=1, max_length=255)
    sender: str = Field(min_length=1, max_length=32)
    recipients: str | None = Field(default=None, max_length=255)
    contacts: list[ContactItem | str] = Field(default_factory=list, max_length=1000)
    company_contacts: bool = False  # add every company contact stored in E.164 (§7.3 3.)
    text: str = Field(default="", max_length=1600)
    media: list[str] = Field(default_factory=list, max_length=10)
    template: TemplateChoice | None = None  # WhatsApp channels: the template sent
    content_type: str = Field(default="text", pattern=r"^(text|file)$")  # SMS (§7.3)
    file: str | None = Field(default=None, max_length=2048)  # content_type file: its URL
    send_time: str = Field(default="now", pattern=r"^(now|schedule|draft)$")
    send_at: str | None = None
    time_zone: str = "UTC"
    mode: str = Field(default="direct", pattern=r"^(session|direct)$")
    assign: AssignTo | None = None


class IdsRequest(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": [2]}]})
    ids: list[int] = Field(min_length=1, max_length=1000)


def _admin(request: web.Request) -> None:
    if not principal(request).admin:
        raise ApiError(403, "forbidden", "only admins manage campaigns and chat logs")


def _num(request: web.Request, key: str) -> int:
    raw = request.match_info[key]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not_found", f"no {key} {raw}")
    return int(raw)


def _page(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    if not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise ApiError(400, "invalid_field", "page: a number from 1", "page")
    return int(raw)


def _campaigns(request: web.Request) -> Campaigns:
    _admin(request)
    return request.app[CAMPAIGNS]


async def _answer(request: web.Request, op: Any, status: int = 200) -> web.Response:
    c = request.app[CAMPAIGNS]
    try:
        result = op()
    except CampaignError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.field) from None
    await c.store.flush()
    if result is None:
        return web.json_response({}, status=status)
    row = result.as_json()
    row["reply_rate"] = await c.reply_rate(result)
    return web.json_response({"campaign": row}, status=status)


def _fields(request: web.Request, req: CampaignRequest) -> dict[str, Any]:
    """The core's fields; ``company_contacts`` adds the company contacts (the switch's
    ``contacts.entries``) whose number is stored in E.164, as §7.3 requires (decision: the
    others are left out, not refused; the switch has no contact groups, so the whole list
    is the one group)."""
    data = req.model_dump(exclude_none=True)
    data["contacts"] = [c if isinstance(c, str) else {"number": c["number"],
                                                      "name": c.get("name", "")}
                        for c in data["contacts"]]
    if data.pop("company_contacts", False):
        given = {c if isinstance(c, str) else c["number"] for c in data["contacts"]}
        for number, name in request.app[COMPANY_CONTACTS]():
            if E164.match(number) and number not in given:
                given.add(number)
                data["contacts"].append({"number": number, "name": name})
        data.setdefault("recipients", "Company contacts")
    return data


async def list_campaigns(request: web.Request) -> web.Response:
    return web.json_response({"campaigns": await _campaigns(request).rows()})


async def create_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    req = await body(request, CampaignRequest)
    return await _answer(request, lambda: c.create(_fields(request, req)), 201)


async def get_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid, page = _num(request, "campaign"), _page(request)
    try:
        campaign = c.get(cid)
    except CampaignError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    row = campaign.as_json()
    row["reply_rate"] = await c.reply_rate(campaign)
    failed, ok, total = campaign.counts()
    contacts = campaign.contacts[(page - 1) * DETAILS_PAGE:page * DETAILS_PAGE]
    return web.json_response({"campaign": row, "details": {
        "send_time": row["sent_at"], "failed": failed, "succeeded": ok, "total": total,
        "page": page, "page_size": DETAILS_PAGE,
        "contacts": [k.as_json() for k in contacts]}})


async def update_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid = _num(request, "campaign")
    req = await body(request, CampaignRequest)
    return await _answer(request, lambda: c.update(cid, _fields(request, req)))


async def delete_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid = _num(request, "campaign")
    return await _answer(request, lambda: c.delete(cid))


async def send_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid = _num(request, "campaign")
    return await _answer(request, lambda: c.send_now(cid))


async def retry_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid = _num(request, "campaign")
    return await _answer(request, lambda: c.retry(cid))


async def copy_campaign(request: web.Request) -> web.Response:
    c = _campaigns(request)
    cid = _num(request, "campaign")
    return await _answer(request, lambda: c.copy(cid), 201)


async def upload_file(request: web.Request) -> web.Response:
    """§7.3 SMS content type File: the body is the file (<= 100 MB), read from the stream
    to the disk; the answer's ``url`` is what a campaign's ``file`` names."""
    campaigns = _campaigns(request)
    files = request.app[FILES]
    base = f"{request.scheme}://{request.host}"
    try:
        stored = await files.save(request.query.get("file_name", ""),
                                  request.content.iter_chunked(1 << 16), base)
    except FileRefused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    files.sweep(u for c in campaigns.campaigns.values() for u in c.media)
    return web.json_response({"file": stored.as_json()}, status=201)


async def import_contacts(request: web.Request) -> web.Response:
    _admin(request)
    name = request.query.get("file_name", "")
    data = bytearray()
    async for chunk in request.content.iter_chunked(1 << 16):
        data += chunk
        if len(data) > MAX_FILE_BYTES:
            raise ApiError(413, "file_size", "the file is larger than 50 MB")
    try:
        imported = campaigns_mod.import_csv(name, bytes(data))
    except CampaignError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return web.json_response({
        "contacts": [{"number": n, "name": cname} for n, cname in imported.contacts],
        "rejected": [r.as_json() for r in imported.rejected]})


# --- chat logs ---------------------------------------------------------------------------


def _logs(request: web.Request) -> ChatLogs:
    _admin(request)
    return request.app[CHATLOGS]


def _filter(request: web.Request) -> tuple[Filter, ZoneInfo]:
    try:
        return Filter.parse(dict(request.query))
    except ChatLogError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


async def list_chats(request: web.Request) -> web.Response:
    logs = _logs(request)
    where, zone = _filter(request)
    page = _page(request)
    rows = await logs.sessions(where)
    size = chatlogs_mod.PAGE
    return web.json_response({"total": len(rows), "page": page, "page_size": size,
                              "sessions": [r.as_json(zone) for r in
                                           rows[(page - 1) * size:page * size]]})


async def download_chats(request: web.Request) -> web.Response:
    logs = _logs(request)
    where, zone = _filter(request)
    data = await logs.download(None if request.query.get("all") == "1" else where, zone)
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": 'attachment; filename="chat_logs.zip"'})


async def _logs_op(op: Any) -> Any:
    try:
        return await op
    except ChatLogError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None


async def delete_chats(request: web.Request) -> web.Response:
    logs = _logs(request)
    req = await body(request, IdsRequest)
    return web.json_response({"deleted": await _logs_op(logs.delete_sessions(req.ids))})


async def chat_timeline(request: web.Request) -> web.Response:
    logs = _logs(request)
    sid = _num(request, "session")
    _, zone = _filter(request)
    return web.json_response({"timeline": await _logs_op(logs.timeline(sid, zone))})


async def chat_history(request: web.Request) -> web.Response:
    logs = _logs(request)
    sid, page = _num(request, "session"), _page(request)
    _, zone = _filter(request)
    return web.json_response(await _logs_op(logs.history(sid, zone, page)))


async def delete_messages(request: web.Request) -> web.Response:
    logs = _logs(request)
    sid = _num(request, "session")
    req = await body(request, IdsRequest)
    return web.json_response({"deleted": await _logs_op(logs.delete_messages(sid, req.ids))})


_FILTERS = (("start", "MM/DD/YYYY HH:MM:SS (session creation, inclusive)"),
            ("end", "MM/DD/YYYY HH:MM:SS"), ("sender", "substring"),
            ("recipient", "substring"), ("relation", "and (default) | or"),
            ("channel_type", "all (default) | SMS | ..."), ("time_zone", "IANA, default UTC"),
            ("page", "20 per page"))
def endpoints() -> list[Endpoint]:
    t = "messaging-admin"
    return [
        Endpoint("GET", "/messaging/campaigns", list_campaigns, "Campaigns (admins, §7.5)",
                 tag=t),
        Endpoint("POST", "/messaging/campaigns", create_campaign,
                 "Create a campaign: send now, schedule or draft (§7.3)", CampaignRequest,
                 tag=t),
        Endpoint("POST", "/messaging/campaigns/import", import_contacts,
                 "Read a CSV file of contacts (the body; <= 50 MB, §7.3)",
                 query=(("file_name", "the file's name (<= 127 characters, .csv)"),), tag=t),
        Endpoint("POST", "/messaging/campaigns/files", upload_file,
                 "Upload a file for an SMS campaign (the body; <= 100 MB, §7.3 File): its "
                 "URL, which the provider downloads",
                 query=(("file_name", "the file's name (<= 127 characters)"),), tag=t),
        Endpoint("GET", "/messaging/campaigns/{campaign}", get_campaign,
                 "A campaign and a page of its results (§7.5 Details)",
                 query=(("page", "10 contacts per page"),), tag=t),
        Endpoint("PUT", "/messaging/campaigns/{campaign}", update_campaign,
                 "Edit a draft or scheduled campaign", CampaignRequest, tag=t),
        Endpoint("DELETE", "/messaging/campaigns/{campaign}", delete_campaign,
                 "Delete a campaign that is not sending", tag=t),
        Endpoint("POST", "/messaging/campaigns/{campaign}/send", send_campaign,
                 "Send a draft now", tag=t),
        Endpoint("POST", "/messaging/campaigns/{campaign}/retry", retry_campaign,
                 "Resend the failed messages of a completed campaign", tag=t),
        Endpoint("POST", "/messaging/campaigns/{campaign}/copy", copy_campaign,
                 "Copy a campaign as a new draft", tag=t),
        Endpoint("GET", "/messaging/chat-logs", list_chats,
                 "External chat logs: the sessions (§8.2, §8.3)", query=_FILTERS, tag=t),
        Endpoint("GET", "/messaging/chat-logs/download", download_chats,
                 "Session_Record.csv and Chat_Data_Record.csv in a zip (§8.7)",
                 query=(*_FILTERS[:-1], ("all", "1: every record")), tag=t),
        Endpoint("DELETE", "/messaging/chat-logs", delete_chats,
                 "Delete sessions and their messages (§8.6)", IdsRequest, tag=t),
        Endpoint("GET", "/messaging/chat-logs/{session}/timeline", chat_timeline,
                 "The operation record (§8.4)", tag=t),
        Endpoint("GET", "/messaging/chat-logs/{session}/messages", chat_history,
                 "The chat history, newest first (§8.5)", tag=t),
        Endpoint("DELETE", "/messaging/chat-logs/{session}/messages", delete_messages,
                 "Delete messages (never the PBX system's, §8.6)", IdsRequest, tag=t),
    ]


def attach(app: web.Application, service: Any,
           company_contacts: Contacts = tuple, files_root: Path | None = None) -> None:
    """On the messaging service of the app (softswitch.messaging.api.attach calls this);
    ``company_contacts()``: the (number, name) pairs of the configuration in force;
    ``files_root``: where campaign files are kept (softswitch.messaging.campaign_files;
    None: a ``campaign-files`` folder in the working directory)."""
    app[COMPANY_CONTACTS] = company_contacts
    campaigns = campaigns_mod.for_messaging(service)
    files = CampaignFiles(files_root or Path("campaign-files"), service.clock.wall)
    campaigns.file_exists = files.exists
    app[CAMPAIGNS] = campaigns
    app[FILES] = files
    app.router.add_get(FILES_PATH + "/{token}/{name}", files.serve)  # no log-in
    app[CHATLOGS] = chatlogs_mod.for_messaging(service)
    add_routes(app, endpoints())

    async def on_startup(app: web.Application) -> None:
        await campaigns.start()
        files.sweep(u for c in campaigns.campaigns.values() for u in c.media)

    async def on_cleanup(app: web.Application) -> None:
        await campaigns.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.insert(0, on_cleanup)  # before the service's clients close
