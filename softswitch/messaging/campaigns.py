"""Broadcast campaigns (omnichannel.md §7): one message sent to up to 1,000 numbers through
a channel's send interface (the General SMS channel, or any channel whose client has the
same ``send(source, to, text, media) -> SendResult``), now, at a scheduled time or later
from a draft, one campaign at a time, paced to the channel's ``send_rate``.

Model (§7.3-§7.5): a `Campaign` holds its fields and one `Contact` per recipient with its
result. Statuses: draft, scheduled, pending (another campaign is running), in_progress,
completed, stopped, retrying. Operations: create, edit (draft/scheduled only), delete (not
while sending), send a draft now, retry the failed contacts of a completed campaign, copy.

Contacts from a CSV file (`import_csv`, §7.3): UTF-8 (a BOM is accepted), at most 50 MB,
file name at most 127 characters ending in ``.csv``, a header row with a column headed
``Number`` (E.164 numbers); an optional column headed ``Name`` gives the contact name the
Details dialog shows. A file that breaks a file rule is refused whole; a row that breaks a
row rule (not E.164, a duplicate, beyond the 1,000th contact) is rejected with its line
number (the header is line 1) and reason, the others are kept. Empty rows and empty columns
(the manual's fixture has nothing in columns B-D) are ignored.

Sending and restarts: before a contact's request goes out its row is committed as
``sending``; the provider's answer is committed as ``success``/``failed`` (with the
agent-facing prompt as the failure reason), together with the session message in the
"create session" mode. A restart resumes the campaign that was running at the first
contact still ``waiting``: nobody is skipped. Decision: a contact found ``sending`` at
start-up (the switch died between the request and the commit of its answer) is marked
failed with the reason `IN_DOUBT` and not resent, because the provider may have taken it
and nobody must get the message twice; the admin's Retry resends it. A graceful stop
(`Campaigns.close`) lets the request in flight finish first, so it leaves no such contact.

SMS content (§7.3): ``content_type`` ``text`` (the default: ``text``, and optionally media
URLs as ``media``) or ``file``: ``file`` is the URL of a file uploaded for campaigns
(softswitch.messaging.campaign_files, <= 100 MB), sent as each message's MMS media (the
provider downloads it from the switch), with the optional ``text``; refused (400
``media_unsupported``) where MMS cannot go: a provider whose send carries no media, or an
alphanumeric sender ID (carriers take MMS from phone numbers only).

WhatsApp campaigns (§7.3, §3.11): the content is a template synced and approved on the
channel, ``template: {name, language, variables, header_media?}``, never free text or media
(a campaign reaches customers outside the 24-hour window). Saving checks that the template
is synced, that every variable is filled (the error names the first empty one:
``template.variables.{v}``, code ``missing_variable``) and that a template whose header is
an image, video or document has the file's URL (``header_media``: any http(s) URL, or the
URL of a file uploaded with ``POST /messaging/campaigns/files``), and that a template
with a location header has its place, ``header_location``: ``{latitude, longitude, name?,
address}``, or ``{maps_link, address, name?}`` whose coordinates and place name are read
from the pasted Google Maps link; the address is always typed (§7.3), a link without
coordinates (a short ``maps.app.goo.gl`` one) is refused saying so. The campaign keeps the
rendered text as its ``text`` (the Details' ``preview``: what the customer reads) and the
template reference as its one media entry (softswitch.messaging.providers.whatsapp
`template_ref`), so the sender and a restart send it as the template message of the
Cloud API, paced at the channel's ``send_rate`` (80/s at most, §3.11); Graph errors fail
the contact with the agent prompt (code 131030 "Invalid number", a refused token stops
the campaign), the retry and restart rules are the SMS ones.

Decisions on the manual's gaps (§12):

* Pacing: at most ``send_rate`` requests per second per channel (one every 1/rate s),
  agents' replies on the channel included (the outbox and the campaign share the slots); an
  answer that says "not now" (no answer, 5xx, 429, codes 10006/10007) is retried for that
  contact after 1, 2, 4, 8 s (five tries), then the contact fails with the prompt.
* "Stopped" (a system problem): the campaign's channel or sender number left the
  configuration, or the channel's provider refuses our credentials (401, 10004, 10005:
  every further send would fail the same way). A restart is not a reason to stop: the
  campaign carries on (issue 21 asks that a switch killed mid-campaign finishes it; this
  overrides omnichannel.md §13 item 50, where a reboot leaves it Stopped). Retry on a
  stopped campaign resends its failed contacts and goes on with the ones not reached.
* Scheduled time: ``YYYY/MM/DD HH:MM:SS`` in the admin's IANA ``time_zone`` (default UTC),
  stored as epoch seconds; a time in the past is refused. The campaign starts when the
  injected clock's wall time reaches it (at start-up when it passed while the switch was
  down).
* Send mode "create session": the session is created (or the open one joined) only for a
  message the provider accepted; the message's sender in the chat history is
  ``群发活动<{name}>``. A failed send leaves no session. "Send directly" records nothing
  in the sessions (the message does not appear in the chat logs); a reply to it opens a
  session routed by the number's destination (§6.1), as any inbound message does.
* Reply rate: the share of succeeded contacts that sent a message to the sender number
  after their campaign message, in percent rounded to an integer ("-" before any
  success).
* Copy: a new draft with the same fields and recipients (results cleared), named
  "{name} (copy)"; the copy's name is cut to the name limit.
* Edit: draft and scheduled campaigns only (a sent campaign's results stay its own).
  Delete: any campaign not in progress or retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from softswitch.clock import Clock, TimerHandle, sleep
from softswitch.log import get_logger
from softswitch.messaging.campaign_files import parts_of
from softswitch.messaging.config import E164, SENDER_ID, ChannelConfig
from softswitch.messaging.general import Prompt, SendResult
from softswitch.messaging.providers.base import ReplyRefused
from softswitch.messaging.providers.whatsapp import (
    TEMPLATE_SCHEME,
    Template,
    header_parameter,
    parse_ref,
    template_ref,
)

log = get_logger("messaging")

MAX_CAMPAIGNS = 1000
MAX_CONTACTS = 1000
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_FILE_NAME = 127
MAX_NAME = 127
MAX_TEXT = 1600
TRIES = 5
IN_DOUBT = "Unknown: the switch stopped while this message was being sent (not resent)"
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"
_AUTH_PROMPTS = frozenset({Prompt.AUTH_FAILED.value})


class Status(Enum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    STOPPED = "stopped"
    RETRYING = "retrying"


class SendTime(Enum):
    NOW = "now"
    SCHEDULE = "schedule"
    DRAFT = "draft"


class SendMode(Enum):
    SESSION = "session"  # create session and send message
    DIRECT = "direct"  # send directly without creating a session


class Result(Enum):
    WAITING = "waiting"
    SENDING = "sending"
    SUCCESS = "success"
    FAILED = "failed"


RUNNING = (Status.IN_PROGRESS, Status.RETRYING)
Templates = Callable[[str], Mapping[tuple[str, str], Template]]
# the SMS providers whose send carries media URLs (softswitch.messaging.general, .providers)
MEDIA_PROVIDERS = frozenset({"general", "twilio", "telnyx", "bandwidth", "flowroute"})


class CampaignError(Exception):
    """A refused request: ``status`` for the API (400, 404, 409, 413), ``rows`` the
    rejected CSV rows when there are any."""

    def __init__(self, status: int, code: str, message: str,
                 rows: tuple[RejectedRow, ...] = (), field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.rows = rows
        self.field = field  # the request field at fault (the API's "field")


# --- CSV import ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedRow:
    line: int
    value: str
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "value": self.value, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Imported:
    contacts: tuple[tuple[str, str], ...]  # (number, name)
    rejected: tuple[RejectedRow, ...]


def import_csv(filename: str, data: bytes, limit: int = MAX_CONTACTS) -> Imported:
    """The contacts of an uploaded CSV file (rules in the module docstring); ``limit``: how
    many more contacts the campaign can take."""
    if not filename or len(filename) > MAX_FILE_NAME:
        raise CampaignError(400, "file_name",
                            f"the file name must be 1 to {MAX_FILE_NAME} characters")
    if not filename.lower().endswith(".csv"):
        raise CampaignError(400, "file_type", "the file must be a .csv file")
    if len(data) > MAX_FILE_BYTES:
        raise CampaignError(413, "file_size", "the file is larger than 50 MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CampaignError(400, "encoding",
                            f"the file is not UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CampaignError(400, "csv", f"line 1: {exc}") from None
    columns = [h.strip() for h in header] if header else []
    if "Number" not in columns:
        raise CampaignError(400, "no_number_column",
                            "the first row must have a column headed Number")
    at = columns.index("Number")
    name_at = columns.index("Name") if "Name" in columns else None
    contacts: list[tuple[str, str]] = []
    rejected: list[RejectedRow] = []
    first_line: dict[str, int] = {}
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise CampaignError(400, "csv", f"line {line}: {exc}") from None
        line = reader.line_num  # the row's last physical line
        if not any(cell.strip() for cell in row):
            continue
        number = row[at].strip() if at < len(row) else ""
        name = row[name_at].strip() if name_at is not None and name_at < len(row) else ""
        if not number:
            rejected.append(RejectedRow(line, number, "the Number cell is empty"))
        elif not E164.match(number):
            rejected.append(RejectedRow(line, number,
                                        "not an E.164 number (+ country code, digits)"))
        elif number in first_line:
            rejected.append(RejectedRow(line, number,
                                        f"duplicate of line {first_line[number]}"))
        elif len(contacts) >= limit:
            rejected.append(RejectedRow(
                line, number, f"over the limit of {MAX_CONTACTS} contacts per campaign"))
        else:
            first_line[number] = line
            contacts.append((number, name))
    return Imported(tuple(contacts), tuple(rejected))


# --- the model ---------------------------------------------------------------------------


@dataclass(slots=True)
class Contact:
    number: str
    name: str = ""
    result: Result = Result.WAITING
    reason: str = ""
    provider_id: str | None = None
    attempts: int = 0
    sent_at: float | None = None

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "number": self.number, "result": self.result.value,
                "reason": self.reason, "attempts": self.attempts, "sent_at": self.sent_at}


@dataclass(slots=True)
class Campaign:
    id: int
    name: str
    channel: str
    sender: str
    recipients: str  # the label of the list's Recipients column
    contacts: list[Contact]
    text: str
    media: tuple[str, ...]
    send_time: SendTime
    send_at: float | None
    time_zone: str
    mode: SendMode
    assign_type: str = ""
    assign_target: str = ""
    status: Status = Status.DRAFT
    retry: bool = False
    created: float = 0.0
    started: float | None = None
    finished: float | None = None
    queued_at: float | None = None
    stop_reason: str = ""

    def counts(self) -> tuple[int, int, int]:
        """(failed, succeeded, total)."""
        failed = sum(c.result is Result.FAILED for c in self.contacts)
        ok = sum(c.result is Result.SUCCESS for c in self.contacts)
        return failed, ok, len(self.contacts)

    def as_json(self) -> dict[str, object]:
        failed, ok, total = self.counts()
        zone = ZoneInfo(self.time_zone)
        shown = self.started if self.started is not None else self.send_at
        return {
            "id": self.id, "name": self.name, "status": self.status.value,
            "channel": self.channel, "sender": self.sender, "recipients": self.recipients,
            "text": self.text, "media": [u for u in self.media
                                         if not u.startswith(TEMPLATE_SCHEME)],
            "content_type": ("template" if self.media and self.media[0].startswith(
                TEMPLATE_SCHEME) else "file" if self.media and parts_of(self.media[0])
                else "text"),
            "template": template_json(self.media),
            "preview": self.text if self.media and self.media[0].startswith(
                TEMPLATE_SCHEME) else None,
            "send_time": self.send_time.value, "time_zone": self.time_zone,
            "send_at": (datetime.fromtimestamp(self.send_at, zone).strftime(TIME_FORMAT)
                        if self.send_at is not None else None),
            "sent_at": (datetime.fromtimestamp(shown, zone).strftime(TIME_FORMAT)
                        if shown is not None else None),
            "mode": self.mode.value,
            "assign": ({"type": self.assign_type, "target": self.assign_target}
                       if self.mode is SendMode.SESSION else None),
            "result": {"failed": failed, "succeeded": ok, "total": total},
            "stop_reason": self.stop_reason,
        }


def _text(fields: dict[str, Any], key: str, limit: int, required: bool = True) -> str:
    value = fields.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise CampaignError(400, "invalid_field",
                            f"{key} must be a string of 1 to {limit} characters")
    return value


def parse_fields(fields: dict[str, Any], channels: dict[str, ChannelConfig], now: float,
                 target_exists: Callable[[str, str], bool],
                 templates: Templates = lambda channel: {},
                 file_exists: Callable[[str], bool] = lambda url: False) -> Campaign:
    """A campaign from the API's fields (id 0, status set by `Campaigns`). Raises
    `CampaignError` naming the first bad field. ``templates(channel)``: the approved
    templates synced on a WhatsApp channel; ``file_exists(url)``: an uploaded campaign
    file's URL (softswitch.messaging.campaign_files)."""
    allowed = {"name", "channel", "sender", "recipients", "contacts", "text", "media",
               "send_time", "send_at", "time_zone", "mode", "assign", "template",
               "content_type", "file"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise CampaignError(400, "invalid_field", f"unknown field(s): {', '.join(unknown)}")
    name = _text(fields, "name", MAX_NAME)
    channel = _text(fields, "channel", 255)
    config = channels.get(channel)
    if config is None or config.type not in ("sms", "whatsapp"):
        raise CampaignError(400, "invalid_field",
                            f"channel: no SMS or WhatsApp channel {channel!r}")
    sender = _text(fields, "sender", 32)
    if config.number(sender) is None:
        raise CampaignError(400, "invalid_field", f"sender: {sender} is not a number of "
                                                  f"{channel}")
    raw = fields.get("contacts")
    if not isinstance(raw, list) or not raw:
        raise CampaignError(400, "invalid_field", "contacts: give at least one recipient")
    if len(raw) > MAX_CONTACTS:
        raise CampaignError(400, "too_many_contacts",
                            f"contacts: at most {MAX_CONTACTS} per campaign, got {len(raw)}")
    contacts: list[Contact] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        if isinstance(item, str):
            number, cname = item, ""
        elif isinstance(item, dict) and isinstance(item.get("number"), str) and \
                isinstance(item.get("name", ""), str):
            number, cname = item["number"], item.get("name", "")
        else:
            raise CampaignError(400, "invalid_field",
                                f"contacts[{i}]: a number or {{number, name}}")
        number = number.strip()
        if not E164.match(number):
            raise CampaignError(400, "invalid_field",
                                f"contacts[{i}]: {number!r} is not an E.164 number")
        if number in seen:
            raise CampaignError(400, "invalid_field", f"contacts[{i}]: {number} twice")
        seen.add(number)
        contacts.append(Contact(number, cname.strip()))
    recipients = fields.get("recipients")
    if recipients is None:
        recipients = ", ".join(c.number for c in contacts[:3]) + \
            (f" (+{len(contacts) - 3})" if len(contacts) > 3 else "")
    elif not isinstance(recipients, str) or len(recipients) > 255:
        raise CampaignError(400, "invalid_field", "recipients: a label of at most 255 "
                                                  "characters")
    if config.type == "whatsapp":
        if fields.get("text") or fields.get("media") or fields.get("file") or \
                fields.get("content_type", "text") != "text":
            raise CampaignError(400, "invalid_field",
                                "text: a WhatsApp campaign sends a template only (no text "
                                "or media: give template)")
        text, media = whatsapp_template(fields.get("template"), channel,
                                        templates(channel))
    elif fields.get("content_type", "text") == "file":
        text, media = sms_file(fields, config, sender, file_exists)
    else:
        if fields.get("content_type", "text") != "text":
            raise CampaignError(400, "invalid_field", "content_type: text or file")
        if fields.get("template") is not None:
            raise CampaignError(400, "invalid_field",
                                "template: message templates exist only on WhatsApp channels")
        if fields.get("file") is not None:
            raise CampaignError(400, "invalid_field",
                                "file: only with content_type file")
        text = _text(fields, "text", MAX_TEXT, required=False)
        media_raw = fields.get("media", [])
        if not isinstance(media_raw, list) or not all(
                isinstance(u, str) and u.startswith(("http://", "https://"))
                for u in media_raw):
            raise CampaignError(400, "invalid_field", "media: a list of http(s) URLs")
        if not text.strip() and not media_raw:
            raise CampaignError(400, "invalid_field",
                                "text: the message needs text or media")
        media = tuple(media_raw)
    try:
        send_time = SendTime(fields.get("send_time", "now"))
    except ValueError:
        raise CampaignError(400, "invalid_field",
                            "send_time: one of now, schedule, draft") from None
    zone_name = fields.get("time_zone", "UTC")
    try:
        if not isinstance(zone_name, str):
            raise ValueError
        zone = ZoneInfo(zone_name)
    except (ValueError, ZoneInfoNotFoundError):
        raise CampaignError(400, "invalid_field",
                            f"time_zone: no time zone {zone_name!r}") from None
    send_at: float | None = None
    if send_time is SendTime.SCHEDULE:
        at = fields.get("send_at")
        try:
            if not isinstance(at, str):
                raise ValueError
            send_at = datetime.strptime(at, TIME_FORMAT).replace(tzinfo=zone).timestamp()
        except ValueError:
            raise CampaignError(400, "invalid_field",
                                "send_at: YYYY/MM/DD HH:MM:SS in time_zone") from None
        if send_at <= now:
            raise CampaignError(400, "invalid_field", f"send_at: {at} is in the past")
    try:
        mode = SendMode(fields.get("mode", "direct"))
    except ValueError:
        raise CampaignError(400, "invalid_field", "mode: session or direct") from None
    assign_type = assign_target = ""
    if mode is SendMode.SESSION:
        assign = fields.get("assign")
        if not isinstance(assign, dict) or assign.get("type") not in (
                "extension", "message_queue") or not isinstance(assign.get("target"), str):
            raise CampaignError(400, "invalid_field", "assign: {type: extension|"
                                                      "message_queue, target}")
        assign_type, assign_target = assign["type"], assign["target"]
        if not target_exists(assign_type, assign_target):
            raise CampaignError(400, "invalid_field",
                                f"assign: no {assign_type} {assign_target!r}")
    return Campaign(0, name, channel, sender, recipients, contacts, text,
                    media, send_time, send_at, zone_name, mode, assign_type,
                    assign_target)


def sms_file(fields: dict[str, Any], config: ChannelConfig, sender: str,
             file_exists: Callable[[str], bool]) -> tuple[str, tuple[str, ...]]:
    """§7.3 SMS content type File: ``file`` is the URL of a file uploaded for campaigns,
    sent as the MMS media of each message (``text``, optional, goes with it); refused
    where MMS cannot go: a channel whose provider sends no media, or an alphanumeric
    sender ID (carriers take MMS from phone numbers only)."""
    if fields.get("template") is not None or fields.get("media"):
        raise CampaignError(400, "invalid_field",
                            "content_type file: give the uploaded file's URL as file (no "
                            "template or media)")
    if config.provider not in MEDIA_PROVIDERS:
        raise CampaignError(400, "media_unsupported",
                            f"content_type: {config.name} cannot send files (MMS)")
    if SENDER_ID.match(sender):
        raise CampaignError(400, "media_unsupported",
                            f"content_type: {sender} is an alphanumeric sender ID, which "
                            "cannot send files (MMS): choose a phone number or send text")
    url = fields.get("file")
    if not isinstance(url, str) or not file_exists(url):
        raise CampaignError(400, "invalid_field",
                            "file: the URL of a file uploaded with POST "
                            "/api/v1/messaging/campaigns/files (kept 72 hours unless a "
                            "campaign uses it)")
    return _text(fields, "text", MAX_TEXT, required=False), (url,)


def whatsapp_template(raw: object, channel: str,
                      synced: Mapping[tuple[str, str], Template]) -> tuple[str, tuple[str, ...]]:
    """§7.3 WhatsApp content: ``{"name", "language", "variables": {name: value},
    "header_media"?: url, "header_location"?: place}`` of a template synced on the
    channel -> (the preview: the rendered text the customer reads, (its ``template:``
    reference,)). Every variable must be filled; a media header needs its file's URL (an
    uploaded file's URL included), a location header its place (whatsapp
    `header_parameter`: coordinates or a Google Maps link, and the typed address)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or \
            not isinstance(raw.get("language"), str):
        raise CampaignError(400, "invalid_field", "template: a WhatsApp campaign needs "
                                                  "{name, language, variables} of a template")
    unknown = sorted(set(raw) - {"name", "language", "variables", "header_media",
                                 "header_location"})
    if unknown:
        raise CampaignError(400, "invalid_field",
                            f"template: unknown field(s): {', '.join(unknown)}")
    name, language = raw["name"], raw["language"]
    t = synced.get((name, language))
    if t is None:
        raise CampaignError(400, "unknown_template",
                            f"template: no approved template {name!r} ({language}) is synced "
                            f"on {channel} (refresh the channel's templates)")
    values_raw = raw.get("variables") or {}
    if not isinstance(values_raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values_raw.items()):
        raise CampaignError(400, "invalid_field",
                            "template.variables: an object of variable name -> text")
    extra = sorted(set(values_raw) - set(t.variables))
    if extra:
        raise CampaignError(400, "invalid_field",
                            f"template.variables.{extra[0]}: template {name} has no variable "
                            f"{{{{{extra[0]}}}}} (it has {', '.join(t.variables) or 'none'})",
                            field=f"template.variables.{extra[0]}")
    for v in t.variables:
        if not values_raw.get(v, "").strip():
            raise CampaignError(400, "missing_variable",
                                f"template.variables.{v}: fill in the variable {{{{{v}}}}} of "
                                f"template {name} before saving",
                                field=f"template.variables.{v}")
    values = {v: values_raw[v] for v in t.variables}
    try:
        header = header_parameter(t, raw.get("header_media"), raw.get("header_location"))
    except ReplyRefused as exc:
        raise CampaignError(exc.status, exc.code, exc.message, field=exc.field) from None
    return t.render(values), (template_ref(t, values, header),)


def template_json(media: tuple[str, ...]) -> dict[str, object] | None:
    """The template a WhatsApp campaign sends, read back from its reference."""
    ref = next((u for u in media if u.startswith(TEMPLATE_SCHEME)), None)
    if ref is None:
        return None
    r = parse_ref(ref)
    return {"name": r.name, "language": r.language, "variables": r.variables,
            "header_media": r.header[1] if r.header and r.header[0] != "location" else None,
            "header_location": r.location}


# --- rows ----------------------------------------------------------------------------------

_CAMPAIGN_COLUMNS = ("id", "name", "channel", "sender", "recipients", "body", "media",
                     "send_time", "send_at", "time_zone", "mode", "assign_type",
                     "assign_target", "status", "retry", "created", "started", "finished",
                     "queued_at", "stop_reason")
_SAVE_CAMPAIGN = (
    f"INSERT INTO messaging_campaigns ({', '.join(_CAMPAIGN_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_CAMPAIGN_COLUMNS))})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _CAMPAIGN_COLUMNS[1:]))
_CONTACT_COLUMNS = ("campaign", "idx", "number", "name", "result", "reason", "provider_id",
                    "attempts", "sent_at")
_SAVE_CONTACT = (
    f"INSERT INTO messaging_campaign_contacts ({', '.join(_CONTACT_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_CONTACT_COLUMNS))})"
    " ON CONFLICT (campaign, idx) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _CONTACT_COLUMNS[2:]))


def _campaign_row(c: Campaign) -> tuple[Any, ...]:
    return (c.id, c.name, c.channel, c.sender, c.recipients, c.text, json.dumps(list(c.media)),
            c.send_time.value, c.send_at, c.time_zone, c.mode.value, c.assign_type,
            c.assign_target, c.status.value, int(c.retry), c.created, c.started, c.finished,
            c.queued_at, c.stop_reason)


def _contact_row(c: Campaign, i: int) -> tuple[Any, ...]:
    k = c.contacts[i]
    return (c.id, i, k.number, k.name, k.result.value, k.reason, k.provider_id, k.attempts,
            k.sent_at)


async def load(store: Any) -> list[Campaign]:
    campaigns: dict[int, Campaign] = {}
    for r in await store.fetch(f"SELECT {', '.join(_CAMPAIGN_COLUMNS)} FROM "
                               "messaging_campaigns ORDER BY id"):
        campaigns[int(r[0])] = Campaign(
            int(r[0]), r[1], r[2], r[3], r[4], [], r[5], tuple(json.loads(r[6])),
            SendTime(r[7]), r[8], r[9], SendMode(r[10]), r[11], r[12], Status(r[13]),
            bool(r[14]), float(r[15]), r[16], r[17], r[18], r[19])
    for r in await store.fetch(f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM "
                               "messaging_campaign_contacts ORDER BY campaign, idx"):
        c = campaigns.get(int(r[0]))
        if c is not None:
            c.contacts.append(Contact(r[2], r[3], Result(r[4]), r[5], r[6], int(r[7]), r[8]))
    return list(campaigns.values())


# --- the shell -------------------------------------------------------------------------------


class Sender(Protocol):
    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult: ...


Record = Callable[[Campaign, Contact, str], None]  # session mode: record an accepted message
Replies = Callable[[Campaign], Any]  # awaitable: {number: its last message's time}


class Campaigns:
    """The campaigns of the switch and their one sender task.

    ``senders(channel)`` is the channel's client (None: gone); ``record`` writes an
    accepted message into the sessions (softswitch.messaging.service does it through the
    inbox); ``replies(campaign)`` reads who answered; ``target_exists(type, target)``
    checks an assignment target. ``slots``: each channel's next free send slot
    (monotonic), shared with the agents' outbox so that together they keep the rate."""

    def __init__(self, channels: Iterable[ChannelConfig], store: Any, clock: Clock,
                 senders: Callable[[str], Sender | None], record: Record,
                 replies: Replies,
                 target_exists: Callable[[str, str], bool] = lambda t, n: True,
                 slots: dict[str, float] | None = None,
                 templates: Templates = lambda channel: {},
                 file_exists: Callable[[str], bool] = lambda url: False) -> None:
        self.channels = {c.name: c for c in channels}
        self.store = store
        self.clock = clock
        self.senders = senders
        self.record = record
        self.replies = replies
        self.target_exists = target_exists
        self.templates = templates
        self.file_exists = file_exists
        self.campaigns: dict[int, Campaign] = {}
        self.next_id = 1
        self.waiting_until: float | None = None  # the sender task waits for this time
        self.slots: dict[str, float] = {} if slots is None else slots
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._timers: dict[int, TimerHandle] = {}
        self.idle = asyncio.Event()  # set while nothing is pending or running

    # --- life -------------------------------------------------------------------------

    async def start(self) -> None:
        for c in await load(self.store):
            self.campaigns[c.id] = c
            self.next_id = max(self.next_id, c.id + 1)
            for i, k in enumerate(c.contacts):
                if k.result is Result.SENDING:  # died between request and answer
                    k.result, k.reason = Result.FAILED, IN_DOUBT
                    self.store.write(_SAVE_CONTACT, _contact_row(c, i))
            if c.status is Status.SCHEDULED and c.send_at is not None:
                self._arm(c)
        await self.store.flush()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="campaigns")
        self._wake.set()
        log.info("campaigns started", campaigns=len(self.campaigns))

    async def close(self) -> None:
        """Stop sending; the request in flight finishes and is committed first."""
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight is not None and not self._inflight.done():
            with contextlib.suppress(asyncio.CancelledError):
                await self._inflight
        await self.store.flush()

    # --- operations (admins, through the API) --------------------------------------------

    def get(self, campaign_id: int) -> Campaign:
        c = self.campaigns.get(campaign_id)
        if c is None:
            raise CampaignError(404, "not_found", f"no campaign {campaign_id}")
        return c

    def create(self, fields: dict[str, Any]) -> Campaign:
        if len(self.campaigns) >= MAX_CAMPAIGNS:
            raise CampaignError(409, "too_many_campaigns",
                                f"at most {MAX_CAMPAIGNS} campaigns can be created")
        c = parse_fields(fields, self.channels, self.clock.wall(), self.target_exists,
                         self.templates, self.file_exists)
        c.id = self.next_id
        self.next_id += 1
        c.created = self.clock.wall()
        self.campaigns[c.id] = c
        self._save(c, contacts=True)
        self._submit(c)
        return c

    def update(self, campaign_id: int, fields: dict[str, Any]) -> Campaign:
        old = self.get(campaign_id)
        if old.status not in (Status.DRAFT, Status.SCHEDULED):
            raise CampaignError(409, "not_editable",
                                f"a {old.status.value} campaign cannot be edited")
        c = parse_fields(fields, self.channels, self.clock.wall(), self.target_exists,
                         self.templates, self.file_exists)
        c.id, c.created = old.id, old.created
        self._disarm(old)
        if len(old.contacts) > len(c.contacts):
            self.store.write("DELETE FROM messaging_campaign_contacts WHERE campaign=?"
                             " AND idx>=?", (c.id, len(c.contacts)))
        self.campaigns[c.id] = c
        self._save(c, contacts=True)
        self._submit(c)
        return c

    def delete(self, campaign_id: int) -> None:
        c = self.get(campaign_id)
        if c.status in RUNNING:
            raise CampaignError(409, "running", "a campaign cannot be deleted while sending")
        self._disarm(c)
        del self.campaigns[c.id]
        self.store.write("DELETE FROM messaging_campaign_contacts WHERE campaign=?", (c.id,))
        self.store.write("DELETE FROM messaging_campaigns WHERE id=?", (c.id,))

    def send_now(self, campaign_id: int) -> Campaign:
        """A draft (or a scheduled campaign) sent now."""
        c = self.get(campaign_id)
        if c.status not in (Status.DRAFT, Status.SCHEDULED):
            raise CampaignError(409, "not_sendable",
                                f"a {c.status.value} campaign cannot be sent now")
        self._disarm(c)
        c.send_time, c.send_at = SendTime.NOW, None
        self._submit(c)
        return c

    def retry(self, campaign_id: int) -> Campaign:
        """§7.5: resend the failed contacts of a completed campaign (only those); a stopped
        one also carries on with the contacts it had not reached."""
        c = self.get(campaign_id)
        if c.status not in (Status.COMPLETED, Status.STOPPED):
            raise CampaignError(409, "not_retryable",
                                "only a completed or stopped campaign can be retried")
        failed = [i for i, k in enumerate(c.contacts) if k.result is Result.FAILED]
        if not failed and all(k.result is not Result.WAITING for k in c.contacts):
            raise CampaignError(409, "nothing_failed", "no message of this campaign failed")
        c.stop_reason = ""
        for i in failed:
            k = c.contacts[i]
            k.result, k.reason = Result.WAITING, ""
        c.retry = True
        self._enqueue(c)
        self._save(c, contacts=True)
        return c

    def copy(self, campaign_id: int) -> Campaign:
        c = self.get(campaign_id)
        if len(self.campaigns) >= MAX_CAMPAIGNS:
            raise CampaignError(409, "too_many_campaigns",
                                f"at most {MAX_CAMPAIGNS} campaigns can be created")
        new = replace(c, id=self.next_id, name=(c.name + " (copy)")[:MAX_NAME],
                      contacts=[Contact(k.number, k.name) for k in c.contacts],
                      status=Status.DRAFT, send_time=SendTime.DRAFT, send_at=None,
                      retry=False, created=self.clock.wall(), started=None, finished=None,
                      queued_at=None, stop_reason="")
        self.next_id += 1
        self.campaigns[new.id] = new
        self._save(new, contacts=True)
        return new

    async def reply_rate(self, c: Campaign) -> int | None:
        sent = {k.number: k.sent_at for k in c.contacts
                if k.result is Result.SUCCESS and k.sent_at is not None}
        if not sent:
            return None
        last: dict[str, float] = await self.replies(c)
        replied = sum(1 for n, at in sent.items() if n in last and last[n] >= at)
        return round(100 * replied / len(sent))

    async def rows(self) -> list[dict[str, object]]:
        """§7.5's list, newest first."""
        out = []
        for c in sorted(self.campaigns.values(), key=lambda c: -c.id):
            row = c.as_json()
            row["reply_rate"] = await self.reply_rate(c)
            out.append(row)
        return out

    # --- scheduling ------------------------------------------------------------------------

    def _submit(self, c: Campaign) -> None:
        if c.send_time is SendTime.DRAFT:
            c.status = Status.DRAFT
        elif c.send_time is SendTime.SCHEDULE:
            c.status = Status.SCHEDULED
            self._arm(c)
        else:
            self._enqueue(c)
        self._save(c)

    def _arm(self, c: Campaign) -> None:
        assert c.send_at is not None
        self._timers[c.id] = self.clock.call_later(max(0.0, c.send_at - self.clock.wall()),
                                                   self._due, c.id)

    def _disarm(self, c: Campaign) -> None:
        timer = self._timers.pop(c.id, None)
        if timer is not None:
            timer.cancel()

    def _due(self, campaign_id: int) -> None:
        self._timers.pop(campaign_id, None)
        c = self.campaigns.get(campaign_id)
        if c is not None and c.status is Status.SCHEDULED:
            self._enqueue(c)
            self._save(c)

    def _enqueue(self, c: Campaign) -> None:
        """In progress at once when nothing else runs or waits, else pending (§7.4)."""
        c.queued_at = self.clock.wall()
        busy = any(o.status in (*RUNNING, Status.PENDING) for o in self.campaigns.values()
                   if o is not c)
        c.status = Status.PENDING if busy else \
            (Status.RETRYING if c.retry else Status.IN_PROGRESS)
        self.idle.clear()
        self._wake.set()

    def _next(self) -> Campaign | None:
        running = [c for c in self.campaigns.values() if c.status in RUNNING]
        if running:
            return running[0]
        pending = sorted((c for c in self.campaigns.values() if c.status is Status.PENDING),
                         key=lambda c: (c.queued_at or 0.0, c.id))
        if not pending:
            return None
        c = pending[0]
        c.status = Status.RETRYING if c.retry else Status.IN_PROGRESS
        self._save(c)
        return c

    # --- sending -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while (c := self._next()) is not None:
                try:
                    await self._execute(c)
                except Exception as exc:  # noqa: BLE001 - a bug stops this campaign only
                    log.exception("campaign failed", campaign=c.id, error=repr(exc))
                    for k in c.contacts:
                        if k.result is Result.SENDING:
                            k.result, k.reason = Result.FAILED, IN_DOUBT
                    self._save(c, contacts=True)
                    self._stop(c, f"internal error: {exc!r}")
                await self.store.flush()
            self.idle.set()

    async def _execute(self, c: Campaign) -> None:
        if c.started is None or c.finished is not None:  # a new run, not a resumed one
            if c.started is None:  # the list's send time: the first run's start
                c.started = self.clock.wall()
            c.finished = None
            self._save(c)
        config = self.channels.get(c.channel)
        sender = self.senders(c.channel)
        if config is None or sender is None or config.number(c.sender) is None:
            self._stop(c, "the channel or its sender number is no longer configured")
            return
        interval = 1.0 / config.send_rate if config.send_rate else 0.0
        for i, k in enumerate(c.contacts):
            tries = 0
            while k.result is Result.WAITING:
                await self._pace(c.channel, interval)
                self._inflight = asyncio.get_running_loop().create_task(
                    self._send_one(c, i, sender, interval))
                await asyncio.shield(self._inflight)
                tries += 1
                if k.result is Result.WAITING:  # "not now": back off, same contact
                    if tries >= TRIES:
                        k.result = Result.FAILED
                        self._save_contact(c, i)
                        break
                    await self._wait(self.clock.monotonic() + 2.0 ** (tries - 1))
                elif k.result is Result.FAILED and k.reason in _AUTH_PROMPTS:
                    self._stop(c, f"the provider refused the credentials: {k.reason}")
                    return
        c.status, c.retry, c.finished = Status.COMPLETED, False, self.clock.wall()
        self._save(c)
        log.info("campaign completed", campaign=c.id, failed=c.counts()[0])

    def _stop(self, c: Campaign, reason: str) -> None:
        c.status, c.stop_reason, c.finished = Status.STOPPED, reason, self.clock.wall()
        self._save(c)
        log.warning("campaign stopped", campaign=c.id, reason=reason)

    async def _send_one(self, c: Campaign, i: int, sender: Sender, interval: float) -> None:
        k = c.contacts[i]
        k.result = Result.SENDING
        k.attempts += 1
        self._save_contact(c, i)
        await self.store.flush()  # committed before the request goes out
        # the next request's slot counts from this one's start, after the commit: a slow
        # commit never brings two requests closer than the interval
        self.slots[c.channel] = max(self.slots.get(c.channel, 0.0),
                                    self.clock.monotonic() + interval)
        result = await sender.send(c.sender, k.number, c.text, c.media)
        k.sent_at = self.clock.wall()
        if result.provider_id is not None:
            k.result, k.reason, k.provider_id = Result.SUCCESS, "", result.provider_id
            if c.mode is SendMode.SESSION:
                self.record(c, k, result.provider_id)
        elif result.retry:
            k.result, k.reason = Result.WAITING, result.prompt
        else:
            k.result, k.reason = Result.FAILED, result.prompt
        self._save_contact(c, i)
        await self.store.flush()

    async def _pace(self, channel: str, interval: float) -> None:
        """Wait for the channel's slot and take it (the outbox waits from now on)."""
        while (slot := self.slots.get(channel, float("-inf"))) > self.clock.monotonic():
            await self._wait(slot)
        self.slots[channel] = self.clock.monotonic() + interval

    async def _wait(self, until: float) -> None:
        self.waiting_until = until
        try:
            await sleep(self.clock, until - self.clock.monotonic())
        finally:
            self.waiting_until = None

    # --- rows ----------------------------------------------------------------------------

    def _save(self, c: Campaign, contacts: bool = False) -> None:
        if c.id not in self.campaigns:
            return
        self.store.write(_SAVE_CAMPAIGN, _campaign_row(c))
        if contacts:
            for i in range(len(c.contacts)):
                self.store.write(_SAVE_CONTACT, _contact_row(c, i))

    def _save_contact(self, c: Campaign, i: int) -> None:
        self.store.write(_SAVE_CONTACT, _contact_row(c, i))


# --- wiring -------------------------------------------------------------------------------------


def for_messaging(service: Any) -> Campaigns:
    """The campaigns of a `softswitch.messaging.service.Messaging`: its channels' clients,
    its inbox for the "create session" mode, its store for the replies."""

    def record(c: Campaign, k: Contact, provider_id: str) -> None:
        service.run(lambda inbox, now: inbox.campaign_message(
            c.channel, c.sender, k.number, c.text, c.media, c.assign_type, c.assign_target,
            f"群发活动<{c.name}>", provider_id, now))

    async def replies(c: Campaign) -> dict[str, float]:
        if c.started is None:
            return {}
        rows = await service.store.fetch(
            "SELECT m.sender, MAX(m.sent_at) FROM messaging_messages m"
            " JOIN messaging_sessions s ON m.session = s.id"
            " WHERE s.channel=? AND s.number=? AND m.direction='received' AND m.sent_at>=?"
            " GROUP BY m.sender", (c.channel, c.sender, c.started))
        return {r[0]: float(r[1]) for r in rows}

    def target_exists(kind: str, target: str) -> bool:
        if kind == "extension":
            return bool(service.extension_exists(target))
        return bool(service.inbox.queues.exists(target))

    def templates(channel: str) -> Mapping[tuple[str, str], Template]:
        synced = getattr(service.clients.get(channel), "templates", None)
        return synced if isinstance(synced, dict) else {}

    return Campaigns(service.channels.values(), service.store, service.clock,
                     service.clients.get, record, replies, target_exists,
                     service.outbox.slots, templates)
