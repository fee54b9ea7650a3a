"""Live Chat (omnichannel.md §3.12): the website widget's channel.

A web page includes ``<script src="http(s)://{switch}/live_chat.v1.0.0.js?channelNumber=
LC00000"></script>`` (the manual's embed code; softswitch/web/static/livechat/). The script
opens a websocket to ``/api/v1/livechat/{LC#####}/ws``; the switch checks the page's
``Origin`` against the channel's domains before the upgrade (403 otherwise: the widget never
shows), then speaks the JSON frames below. Visitor messages enter the sessions core like any
channel's (softswitch.messaging.sessions through softswitch.messaging.service): the agents
see, take over and answer them with the REST/websocket API; an agent's reply goes out
through the service's outbox to this module's sender, which pushes it to the visitor's open
sockets.

YAML (``message_channels``)::

    - name: Livechat
      type: livechat
      number: LC00000                  # LC + 5 digits
      domains: [www.yeasar.com]        # the website domain(s)
      destination: {type: message_queue, target: Tech Support}
      visitor_message_types: text_and_images   # or text (default)
      language: en                     # en | zh: the widget's texts, default messages
      time_zone: Asia/Shanghai         # business hours and holidays of this zone (optional)
      auto_close_days: 1
      max_active_sessions: 20
      show_agent_info: name_and_avatar  # none (default) | name | name_and_avatar
      pre_chat_form:
        - {field: name, label: Your name, required: true}
        - {field: email}
      messages: {online_greeting: ..., offline_greeting: ..., first_reply: ...,
                 session_end: ...}

Frames (visitor -> switch, text frames are JSON objects of at most 8 KiB)::

    {"type": "hello", "visitor": token|null, "form": {...}|null}   first; resumes a token
    {"type": "open"}                                               the chat window opened
    {"type": "form", "form": {"name": ..., "email": ...}}          the pre-chat form
    {"type": "message", "text": ..., "id": client id}
    {"type": "close"}                                              the visitor ends the chat
    {"type": "call", "sdp": offer} / {"type": "hangup"}            a call (chat_and_call)
    {"type": "accept", "sdp": offer} / {"type": "decline"}         an agent's call
    binary frame                                                   one image (png/jpeg)

(switch -> visitor): ``welcome`` (the token, form fields, limits, the current session's
history, the visitor's call in progress), ``auto`` (kind online_greeting /
offline_greeting / first_reply / session_end), ``ack`` (the visitor's own message as
stored), ``message`` (from an agent, or the visitor's own from another tab), ``closed``,
``call`` (a widget call's state, to every tab), ``error`` (code, message: nothing was
stored).

Decisions (§12 and the manual's gaps):

* Domains: host names without scheme, port or path; the Origin's host must equal one
  (case-insensitive), any scheme and port. Several are allowed (staging next to production).
* The visitor's identity is a random token the switch issues at the first ``hello`` and the
  widget keeps in localStorage (resumed after a reload or a restart of the switch). The
  session's customer address is ``visitor-`` + 16 hex digits of SHA-256(number, token):
  the token itself is never stored or shown to agents, and no row exists until the visitor
  sends a message.
* Consultation mode: ``chat`` (default) or ``chat_and_call``: the widget then shows a call
  button and the visitor calls over WebRTC (frames ``call`` with the SDP offer, ``hangup``;
  the switch answers with ``call`` frames of state calling (with the SDP answer) /
  ringing / connected / ended):
  softswitch.webrtc.calls has the rules (``call_destination``: any destination of the
  destination router but hangup, checked by ``softswitch check`` with the others;
  ``max_concurrent_calls`` 1 to 10, default 5). A reload (softswitch.reload) applies
  these three to the calls that start after it, the calls in progress go on (and count
  against the new maximum); the channel's other keys wait for a restart, as
  ``message_channels`` does.
* Greetings (sent when the window opens; not stored: there is no session yet): offline on a
  holiday of ``time_zone`` or outside its business hours (the ACD's ``business_hours`` and
  ``holidays`` entries of that zone; without ``time_zone``, or without a business-hours entry
  for it, always in business hours); otherwise online for a message queue, and for an
  extension that is logged in (a SIP registration or a live API websocket: the Linkus
  client) with presence ``available``; offline otherwise.
* First reply: after the first visitor message of each session. First reply and session
  end are written into the session's history as PBX system messages (the agents see what
  the visitor was told); the visitor's history shows them, and not the other system
  messages (routing, take-over).
* Pre-chat form fields: ``name``, ``email``, ``phone`` (the manual shows them only in a
  screenshot). When a form is configured the visitor must fill it before the first message;
  the answers are written into the new session's history as a system message.
* Limits: text up to 2000 characters; an image is one binary frame of at most 10 MB, PNG or
  JPEG by its content (its name does not count), only with ``text_and_images``; larger
  frames close the socket (1009). Flooding: a token bucket per visitor (5 frames, refilled
  1 per second, on the injected clock) for messages, images and forms, and one for images
  (5, refilled 1 per minute: they fill the disk); past 50 refusals on one socket it is
  closed (1008). At most 4 sockets per visitor. The form's answers are kept while the
  visitor has a socket open (the widget sends them again in its ``hello``).
* "20 active sessions" (§12.7): per channel, ``max_active_sessions`` (default 20, 1 to
  5000) open sessions; a new visitor's first message beyond it is refused (``busy``),
  nothing stored.
* Show agent info: softswitch.messaging.agentcard has the rules; an agent's and a system
  message's frames (and a call's ``connected``) carry ``agent: {name, avatar}``.
* Images are files under ``{config dir}/var/livechat/`` served at ``/livechat/files/{name}``
  (the name is 32 random hex digits: unguessable, no log-in). Retention 72 h (§3.12): an
  hourly sweep on the injected clock deletes older files (by their modification time); the
  history keeps the message, whose image then answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import re
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from softswitch.clock import Clock
from softswitch.log import get_logger
from softswitch.messaging.agentcard import (
    AVATARS,
    DEFAULT_AVATAR,
    SHOW_AGENT_INFO,
    AgentCards,
    image_kind,
)
from softswitch.messaging.config import (
    ChannelConfig,
    ChannelNumber,
    MessagingConfigError,
    _destination,
    _int,
    _mapping,
    _text,
)
from softswitch.messaging.files import HourlySweep, expire
from softswitch.messaging.general import Job, SendResult
from softswitch.messaging.sessions import (
    Direction,
    Effect,
    Inbox,
    Message,
    Refused,
    SaveEvent,
    Session,
)

log = get_logger("messaging")

Path_ = tuple[str | int, ...]

LC_NUMBER = re.compile(r"^LC[0-9]{5}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]"
                    r"{0,61}[a-z0-9])?)*$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{1,30}$")
IMAGE_MAX = 10 * 1024 * 1024
TEXT_MAX = 2000
FRAME_MAX = 8192
CALL_FRAME_MAX = 40 * 1024  # a call frame carries the browser's SDP offer (webrtc.offer)
FIELD_MAX = 200
BURST = 5.0
REFILL = 1.0  # frames per second
IMAGE_BURST = 5.0
IMAGE_REFILL = 1.0 / 60.0  # images per second
MAX_REFUSALS = 50
MAX_SOCKETS = 4
SCRIPT = "/live_chat.v1.0.0.js"
FILES = "/livechat/files"
STATIC = Path(__file__).resolve().parents[1] / "web" / "static" / "livechat"
FORM_FIELDS = ("name", "email", "phone")
LANGUAGES = ("en", "zh")

DEFAULT_MESSAGES = {
    "zh": {"online_greeting": "您好！请问有什么可以帮您的吗？",
           "offline_greeting": "当前客服不在线，请您留言，我们会尽快和您联系。",
           "first_reply": "您好，感谢您的联系。您的消息已收到，请稍等。",
           "session_end": "本次聊天已结束。如果您还有其他问题，请随时联系我们。"},
    "en": {"online_greeting": "Hello! How can we help you?",
           "offline_greeting": "No agent is online now. Please leave a message and we will "
                               "contact you as soon as possible.",
           "first_reply": "Hello, thank you for contacting us. We have received your "
                          "message; please wait a moment.",
           "session_end": "This chat has ended. If you have any other questions, feel free "
                          "to contact us."},
}


@dataclass(frozen=True, slots=True)
class FormField:
    field: str  # name | email | phone
    label: str
    required: bool


@dataclass(frozen=True, slots=True)
class LiveChatOptions:
    domains: tuple[str, ...]
    images: bool
    language: str
    form: tuple[FormField, ...]
    online_greeting: str
    offline_greeting: str
    first_reply: str | None  # optional (§3.12): None = not sent
    session_end: str
    time_zone: str | None = None
    max_active_sessions: int = 20
    calls: bool = False  # consultation_mode chat_and_call
    max_concurrent_calls: int = 5
    call_destination: Any = None  # acd.config.Destination (softswitch.destinations) when calls
    show_agent_info: str = "none"  # none | name | name_and_avatar (messaging.agentcard)


# --- configuration -----------------------------------------------------------------------


def _call_destination(value: object, path: Path_) -> Any:
    """A widget call's destination: an acd.config.Destination of any type but hangup; its
    target is checked by the destination router (softswitch.destinations.references)."""
    from acd.config import AcdConfigError, DestinationType, parse_destination

    try:
        dest = parse_destination(value, path)
    except AcdConfigError as exc:
        raise _err(tuple(exc.path), exc.message) from None
    if dest.type is DestinationType.HANGUP:
        raise _err((*path, "type"), "a widget call needs somewhere to go, not hangup")
    return dest


def _err(path: Path_, message: str) -> MessagingConfigError:
    return MessagingConfigError(path, message)


_KEYS = ("name", "type", "number", "domains", "destination", "consultation_mode",
         "visitor_message_types", "language", "time_zone", "auto_close_days",
         "max_active_sessions", "pre_chat_form", "messages", "call_destination",
         "max_concurrent_calls", "show_agent_info")


def parse_livechat(value: object, path: Path_, extensions: frozenset[str],
                   queues: frozenset[str]) -> ChannelConfig:
    m = _mapping(value, path, _KEYS, ("name", "type", "number", "domains", "destination"))
    number = _text(m["number"], (*path, "number"))
    if not LC_NUMBER.match(number):
        raise _err((*path, "number"), f"expected LC and 5 digits like LC00000, got {number!r}")
    raw_domains = m["domains"]
    if isinstance(raw_domains, str):
        raw_domains = [raw_domains]
    if not isinstance(raw_domains, list) or not raw_domains:
        raise _err((*path, "domains"), "expected a list of at least one website domain")
    domains = []
    for i, d in enumerate(raw_domains):
        text = _text(d, (*path, "domains", i)).lower()
        if not DOMAIN.match(text):
            raise _err((*path, "domains", i), f"expected a host name like www.example.com "
                                              f"(no scheme, port or path), got {text!r}")
        domains.append(text)
    mode = _text(m.get("consultation_mode", "chat"), (*path, "consultation_mode"))
    if mode not in ("chat", "chat_and_call"):
        raise _err((*path, "consultation_mode"), f"expected chat or chat_and_call, got "
                                                 f"{mode!r}")
    calls = mode == "chat_and_call"
    call_destination = None
    if calls:
        if "call_destination" not in m:
            raise _err((*path, "consultation_mode"), "chat_and_call needs call_destination "
                                                     "(where the visitors' calls ring)")
        call_destination = _call_destination(m["call_destination"],
                                             (*path, "call_destination"))
    else:
        for key in ("call_destination", "max_concurrent_calls"):
            if key in m:
                raise _err((*path, key), "only with consultation_mode: chat_and_call")
    kinds = _text(m.get("visitor_message_types", "text"), (*path, "visitor_message_types"))
    if kinds not in ("text", "text_and_images"):
        raise _err((*path, "visitor_message_types"),
                   f"expected text or text_and_images, got {kinds!r}")
    language = _text(m.get("language", "en"), (*path, "language"))
    if language not in LANGUAGES:
        raise _err((*path, "language"), f"expected one of {', '.join(LANGUAGES)}, "
                                        f"got {language!r}")
    tz = None
    if "time_zone" in m:
        tz = _text(m["time_zone"], (*path, "time_zone"))
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise _err((*path, "time_zone"), f"unknown time zone {tz!r}") from None
    form = _form(m.get("pre_chat_form", []), (*path, "pre_chat_form"))
    show = _text(m.get("show_agent_info", "none"), (*path, "show_agent_info"))
    if show not in SHOW_AGENT_INFO:
        raise _err((*path, "show_agent_info"), f"expected one of {', '.join(SHOW_AGENT_INFO)}"
                                               f", got {show!r}")
    texts = dict(DEFAULT_MESSAGES[language])
    first_reply: str | None = texts["first_reply"]
    if "messages" in m:
        mpath = (*path, "messages")
        given = _mapping(m["messages"], mpath, tuple(texts), ())
        for key, raw in given.items():
            if key == "first_reply" and raw is None:
                first_reply = None
                continue
            text = _text(raw, (*mpath, key))
            if len(text) > TEXT_MAX:
                raise _err((*mpath, key), f"at most {TEXT_MAX} characters")
            texts[key] = text
            if key == "first_reply":
                first_reply = text
    options = LiveChatOptions(
        domains=tuple(dict.fromkeys(domains)), images=kinds == "text_and_images",
        language=language, form=form, online_greeting=texts["online_greeting"],
        offline_greeting=texts["offline_greeting"], first_reply=first_reply,
        session_end=texts["session_end"], time_zone=tz,
        max_active_sessions=_int(m.get("max_active_sessions", 20),
                                 (*path, "max_active_sessions"), 1, 5000),
        calls=calls, call_destination=call_destination, show_agent_info=show,
        max_concurrent_calls=_int(m.get("max_concurrent_calls", 5),
                                  (*path, "max_concurrent_calls"), 1, 10))
    dest = _destination(m["destination"], (*path, "destination"), extensions, queues)
    return ChannelConfig(
        name=_text(m["name"], (*path, "name")), type="livechat", provider="", token="",
        api_key="", send_url="", numbers=(ChannelNumber(number, dest),),
        auto_close_days=(_int(m["auto_close_days"], (*path, "auto_close_days"), 1, 365)
                         if "auto_close_days" in m else None),
        options=options)


def _form(value: object, path: Path_) -> tuple[FormField, ...]:
    if not isinstance(value, list):
        raise _err(path, "expected a list of fields like {field: name, required: true}")
    out: list[FormField] = []
    for i, raw in enumerate(value):
        fpath = (*path, i)
        f = _mapping(raw, fpath, ("field", "label", "required"), ("field",))
        kind = _text(f["field"], (*fpath, "field"))
        if kind not in FORM_FIELDS:
            raise _err((*fpath, "field"), f"expected one of {', '.join(FORM_FIELDS)}, "
                                          f"got {kind!r}")
        if any(o.field == kind for o in out):
            raise _err((*fpath, "field"), f"{kind} is listed twice")
        required = f.get("required", False)
        if not isinstance(required, bool):
            raise _err((*fpath, "required"), f"expected true or false, got {required!r}")
        label = _text(f.get("label", kind.capitalize()), (*fpath, "label"))
        out.append(FormField(kind, label, required))
    return tuple(out)


# --- the sans-IO rules -------------------------------------------------------------------


class FrameError(Exception):
    """A refused frame: ``code`` and a message for the visitor; nothing was stored."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


CALL_SETTINGS = ("calls", "call_destination", "max_concurrent_calls")


def with_call_settings(running: Iterable[ChannelConfig],
                       new: Iterable[ChannelConfig]) -> tuple[ChannelConfig, ...]:
    """``running`` with the widget-call settings (consultation mode, ``call_destination``,
    ``max_concurrent_calls``) of ``new`` applied to each Live Chat channel of both (same
    name and number): what a reload changes live (softswitch.reload; `LiveChat.
    reconfigure`). Every other channel key waits for a restart."""
    fresh = {(c.name, c.numbers[0].number): c for c in new if c.type == "livechat"}
    out = []
    for c in running:
        n = fresh.get((c.name, c.numbers[0].number)) if c.type == "livechat" else None
        if n is not None:
            changes = {k: getattr(n.options, k) for k in CALL_SETTINGS}
            c = replace(c, options=replace(c.options, **changes))
        out.append(c)
    return tuple(out)


def origin_allowed(options: LiveChatOptions, origin: str | None) -> bool:
    if not origin:
        return False
    try:
        parts = urlsplit(origin)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host is not None \
        and host.lower() in options.domains


def visitor_address(number: str, token: str) -> str:
    return "visitor-" + hashlib.sha256(f"{number}:{token}".encode()).hexdigest()[:16]


def parse_frame(raw: str) -> dict[str, Any]:
    """A text frame: at most FRAME_MAX bytes, a ``call`` or ``accept`` frame (its SDP
    offer) at most CALL_FRAME_MAX."""
    if len(raw) > CALL_FRAME_MAX:
        raise FrameError("too_large", f"a text frame is at most {FRAME_MAX} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("bad_json", "the frame is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise FrameError("bad_frame", "expected a JSON object with a type")
    if len(raw) > FRAME_MAX and data["type"] not in ("call", "accept"):
        raise FrameError("too_large", f"a text frame is at most {FRAME_MAX} bytes")
    return data


def check_text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FrameError("bad_frame", "the message needs a text")
    if len(value) > TEXT_MAX:
        raise FrameError("too_long", f"a message is at most {TEXT_MAX} characters")
    return value


def check_form(fields: tuple[FormField, ...], values: object) -> dict[str, str]:
    if not isinstance(values, dict):
        raise FrameError("bad_form", "the form is an object of field values")
    out: dict[str, str] = {}
    for f in fields:
        raw = values.get(f.field, "")
        if not isinstance(raw, str):
            raise FrameError("bad_form", f"{f.label}: expected a text")
        text = raw.strip()
        if not text:
            if f.required:
                raise FrameError("bad_form", f"{f.label} is required")
            continue
        if len(text) > FIELD_MAX:
            raise FrameError("bad_form", f"{f.label}: at most {FIELD_MAX} characters")
        if f.field == "email" and not EMAIL.match(text):
            raise FrameError("bad_form", f"{f.label}: not an email address")
        if f.field == "phone" and not PHONE.match(text):
            raise FrameError("bad_form", f"{f.label}: not a phone number")
        out[f.field] = text
    unknown = set(values) - {f.field for f in fields}
    if unknown:
        raise FrameError("bad_form", f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    return out


def image_type(data: bytes) -> str:
    """``png`` or ``jpg`` by the content; FrameError otherwise (§3.12: png/jpg/jpeg)."""
    if len(data) > IMAGE_MAX:
        raise FrameError("too_large", "an image is at most 10 MB")
    kind = image_kind(data)
    if kind is None:
        raise FrameError("bad_image", "only .png, .jpg and .jpeg images are accepted")
    return kind


class RateLimit:
    """A token bucket per key on the injected monotonic clock."""

    def __init__(self, clock: Callable[[], float], burst: float = BURST,
                 refill: float = REFILL) -> None:
        self.clock = clock
        self.burst = burst
        self.refill = refill
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.refill)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > 100_000:  # forget the oldest (full again by now)
            self._buckets.pop(next(iter(self._buckets)))
        return True


def greeting(options: LiveChatOptions, route: str, target: str, when: dt.datetime,
             hours: Iterable[Any], holidays: Iterable[Any], online: Callable[[str], bool],
             presence: Callable[[str], str]) -> tuple[str, str]:
    """(kind, text): the online or offline greeting (§3.12 table, §13.15)."""
    offline = ("offline_greeting", options.offline_greeting)
    if options.time_zone is not None:
        local = when.astimezone(zoneinfo.ZoneInfo(options.time_zone))
        if any(h.time_zone == options.time_zone and h.start <= local.date() <= h.end
               for h in holidays):
            return offline
        bh = next((b for b in hours if b.time_zone == options.time_zone), None)
        if bh is not None and not bh.is_open(local):
            return offline
    if route in ("message_queue", "api"):  # a queue, or the platform (always there)
        return ("online_greeting", options.online_greeting)
    if online(target) and presence(target) == "available":
        return ("online_greeting", options.online_greeting)
    return offline


def visitor_json(m: Message, options: LiveChatOptions) -> dict[str, Any] | None:
    """A message as the visitor sees it (None: not shown to the visitor)."""
    if m.direction is Direction.RECEIVED:
        who = "visitor"
    elif m.direction is Direction.SENT:
        who = "agent"
    elif m.text in (options.first_reply, options.session_end):
        who = "system"
    else:
        return None
    return {"id": m.id, "from": who, "text": m.text, "media": list(m.media), "time": m.time}


# --- the shell ---------------------------------------------------------------------------


@dataclass
class Visitor:
    """A visitor's state while the switch runs (form answers, sockets)."""

    token: str
    address: str
    form: dict[str, str] | None = None
    sockets: set[web.WebSocketResponse] = field(default_factory=set)


class LiveChat:
    """The Live Chat channels on the messaging service (``service``: Messaging)."""

    def __init__(self, service: Any, clock: Clock, files: Path,
                 online: Callable[[str], bool] = lambda ext: False,
                 presence: Callable[[str], str] = lambda ext: "available",
                 hours: Callable[[], tuple[Any, ...]] = lambda: (),
                 holidays: Callable[[], tuple[Any, ...]] = lambda: (),
                 extension: Callable[[str], Any] = lambda number: None) -> None:
        self.service = service
        self.clock = clock
        self.files = files
        self.online = online
        self.presence = presence
        self.hours = hours
        self.holidays = holidays
        self.cards = AgentCards(extension)  # "show agent info"
        self.channels: dict[str, ChannelConfig] = {
            c.numbers[0].number: c for c in service.channels.values() if c.type == "livechat"}
        self._by_name = {c.name: c for c in self.channels.values()}
        self.visitors: dict[tuple[str, str], Visitor] = {}  # (channel name, address)
        self.limiter = RateLimit(clock.monotonic)
        self.image_limiter = RateLimit(clock.monotonic, IMAGE_BURST, IMAGE_REFILL)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper = HourlySweep(clock, self._sweep_files)
        self.calls: Any = None  # softswitch.webrtc.calls.WidgetCalls (chat_and_call channels)
        service.senders["livechat"] = self._send
        service.observers.append(self._observe)

    def start(self) -> None:
        """The 72-hour retention of the images: a sweep now and every hour after, on the
        injected clock."""
        self._sweeper.start()

    def stop(self) -> None:
        self._sweeper.stop()

    def reconfigure(self, channels: Iterable[ChannelConfig], router: Any) -> None:
        """A reload (softswitch.reload): the channels as they now run, of which only the
        widget-call settings changed (`with_call_settings`). They apply to the calls that
        start from now on (a socket looks its channel up at each call); calls in progress
        go on as they started. The first channel to take calls starts the widget calls."""
        for c in channels:
            number = c.numbers[0].number
            if c.type == "livechat" and number in self.channels:
                self.channels[number] = c  # the same dict as the widget calls' routes
                self._by_name[c.name] = c
        if self.calls is None and any(c.options.calls for c in self.channels.values()):
            from softswitch.webrtc.calls import WidgetCalls

            self.calls = WidgetCalls(router, self.service, self.channels, self)

    def current(self, channel: ChannelConfig) -> ChannelConfig:
        """The channel's configuration in force (a reload may have changed its calls)."""
        return self.channels.get(channel.numbers[0].number, channel)

    async def _sweep_files(self) -> None:
        gone = await asyncio.to_thread(expire, self.files, self.clock.wall())
        if gone:
            log.info("live chat images expired", files=len(gone))

    @property
    def inbox(self) -> Inbox:
        inbox: Inbox = self.service.inbox
        return inbox

    # --- agents -> visitor ----------------------------------------------------------------

    async def _send(self, channel: ChannelConfig, job: Job) -> SendResult:
        """An agent's reply: pushed to the visitor's sockets; it is in the session's
        history either way (the widget reads it at its next hello)."""
        m = next((m for m in self.inbox.messages.get(job.session, ()) if m.id == job.message),
                 None)
        if m is not None:
            self._push(channel, job.to, {"type": "message", "message": self.shown(channel, m)})
        return SendResult(f"livechat-{job.message}")

    def _observe(self, effects: list[Effect]) -> None:
        for e in effects:
            if isinstance(e, SaveEvent) and e.event.kind == "close":
                s = self.inbox.sessions.get(e.event.session)
                if s is not None and s.channel in self._by_name:
                    asyncio.get_running_loop().call_soon(self._ended, s)

    def _ended(self, s: Session) -> None:
        """§3.12: the session-end message, after a close by the agent, the visitor or the
        auto-close timer."""
        channel = self._by_name[s.channel]
        options: LiveChatOptions = channel.options
        m = self.service.run(lambda inbox, now: inbox.note(s.id, options.session_end, now))
        self._spawn(self.service.store.flush())
        self._push(channel, s.customer, {"type": "auto", "kind": "session_end",
                                         "message": self.shown(channel, m)})
        self._push(channel, s.customer, {"type": "closed", "session": s.id})

    def _push(self, channel: ChannelConfig, address: str, frame: dict[str, Any],
              skip: web.WebSocketResponse | None = None) -> None:
        visitor = self.visitors.get((channel.name, address))
        if visitor is None:
            return
        text = json.dumps(frame, ensure_ascii=False)
        for ws in list(visitor.sockets):
            if ws is not skip and not ws.closed:
                self._spawn(ws.send_str(text))

    # --- what the visitor sees of the agents ("show agent info") ---------------------------

    def shown(self, channel: ChannelConfig, m: Message) -> dict[str, Any] | None:
        """``visitor_json`` with the card of the agent behind an agent's or a system
        message (softswitch.messaging.agentcard)."""
        out = visitor_json(m, channel.options)
        if out is not None and out["from"] != "visitor":
            agent = m.sender if m.direction is Direction.SENT else \
                self.handling_agent(m.session)
            out["agent"] = self.agent_card(channel, agent)
        return out

    def handling_agent(self, session: int) -> str | None:
        """Who handles the chat: its owner, else the last agent who replied."""
        s = self.inbox.sessions.get(session)
        if s is None:
            return None
        if s.owner:
            return s.owner
        for m in reversed(self.inbox.messages.get(session, ())):
            if m.direction is Direction.SENT:
                return m.sender
        return None

    def agent_card(self, channel: ChannelConfig, agent: str | None) -> dict[str, str]:
        options: LiveChatOptions = channel.options
        return self.cards.card(options.show_agent_info, options.language, agent)

    def push_call(self, channel: ChannelConfig, address: str, frame: dict[str, Any],
                  skip: object) -> None:
        """A widget call's frame to the visitor's tabs but ``skip`` (softswitch.webrtc)."""
        self._push(channel, address, frame,
                   skip if isinstance(skip, web.WebSocketResponse) else None)

    def open_tabs(self, channel: ChannelConfig, address: str) -> int:
        visitor = self.visitors.get((channel.name, address))
        return 0 if visitor is None else sum(1 for ws in visitor.sockets if not ws.closed)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- visitor -> switch ----------------------------------------------------------------

    def latest(self, channel: ChannelConfig, address: str) -> Session | None:
        found = self.inbox.open_session(channel.name, channel.numbers[0].number, address)
        if found is not None:
            return found
        best: Session | None = None
        for s in self.inbox.sessions.values():
            if s.channel == channel.name and s.customer == address and \
                    (best is None or s.id > best.id):
                best = s
        return best

    def handler(self, channel: ChannelConfig) -> Callable[[web.Request],
                                                          Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.handle(request, channel)

        return handle

    async def handle(self, request: web.Request, channel: ChannelConfig) -> web.StreamResponse:
        channel = self.current(channel)
        options: LiveChatOptions = channel.options
        origin = request.headers.get("Origin")
        if not origin_allowed(options, origin):
            log.warning("live chat refused", channel=channel.name, origin=origin,
                        source=request.remote)
            return web.json_response({"error": {"code": "forbidden", "message":
                                                "this website may not use the chat"}},
                                     status=403)
        ws = web.WebSocketResponse(max_msg_size=IMAGE_MAX, heartbeat=30.0)
        await ws.prepare(request)
        conn = _Connection(self, channel, ws)
        try:
            await conn.run()
        finally:
            visitor = conn.visitor
            if visitor is not None:
                visitor.sockets.discard(ws)
                if not visitor.sockets:  # the widget sends its form again at its next hello
                    self.visitors.pop((channel.name, visitor.address), None)
                if self.calls is not None:  # the page with the call's audio is gone
                    self.calls.tab_closed(channel, visitor.address, ws,
                                          last=not visitor.sockets)
        return ws


class _Connection:
    def __init__(self, chat: LiveChat, channel: ChannelConfig,
                 ws: web.WebSocketResponse) -> None:
        self.chat = chat
        self.channel = channel
        self.options: LiveChatOptions = channel.options
        self.ws = ws
        self.visitor: Visitor | None = None
        self.refusals = 0
        self.greeted = False

    async def run(self) -> None:
        async for msg in self.ws:
            try:
                if msg.type == WSMsgType.TEXT:
                    await self.text(parse_frame(msg.data))
                elif msg.type == WSMsgType.BINARY:
                    await self.image(msg.data)
                else:
                    break
            except FrameError as exc:
                self.refusals += 1
                await self.send({"type": "error", "code": exc.code, "message": exc.message})
                if self.refusals > MAX_REFUSALS:
                    await self.ws.close(code=WSCloseCode.POLICY_VIOLATION,
                                        message=b"too many refused frames")
                    break
        if self.ws.exception() is not None:
            log.info("live chat socket ended", channel=self.channel.name,
                     reason=str(self.ws.exception()))

    async def send(self, frame: dict[str, Any]) -> None:
        if not self.ws.closed:
            with contextlib.suppress(ConnectionError):
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))

    async def text(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "hello":
            await self.hello(frame)
            return
        visitor = self.visitor
        if visitor is None:
            raise FrameError("hello_first", "send hello first")
        if kind == "open":
            if not self.greeted:
                self.greeted = True
                await self.greet()
        elif kind == "form":
            self.limit(visitor)
            visitor.form = check_form(self.options.form, frame.get("form"))
            await self.send({"type": "form_ok"})
        elif kind == "message":
            text = check_text(frame.get("text"))
            client_id = frame.get("id")
            if not isinstance(client_id, str | None) or (client_id and len(client_id) > 64):
                raise FrameError("bad_frame", "id: a text of at most 64 characters")
            self.limit(visitor)
            await self.receive(visitor, text, (), client_id)
        elif kind == "call":
            await self.call(visitor, frame.get("sdp"))
        elif kind == "accept":
            await self.accept(visitor, frame.get("sdp"))
        elif kind == "decline":
            if self.chat.calls is None or not self.chat.calls.decline(self.channel,
                                                                      visitor.address):
                raise FrameError("no_call", "there is no call to decline")
        elif kind == "hangup":
            if self.chat.calls is None or not self.chat.calls.hang_up(self.channel,
                                                                      visitor.address):
                raise FrameError("no_call", "there is no call to hang up")
        elif kind == "close":
            s = self.chat.inbox.open_session(self.channel.name, self.channel.numbers[0].number,
                                             visitor.address)
            if s is None:
                raise FrameError("no_session", "there is no open chat to end")
            self.chat.service.run(lambda inbox, now: inbox.close(s.id, None, now,
                                                                 by=visitor.address))
            await self.chat.service.store.flush()
        else:
            raise FrameError("bad_frame", f"unknown frame type {str(kind)[:40]!r}")

    async def call(self, visitor: Visitor, sdp: object) -> None:
        """A call from the widget (consultation mode chat_and_call: softswitch.webrtc)."""
        from softswitch.webrtc.calls import CallRefused

        self.limit(visitor)
        channel = self.chat.current(self.channel)  # its call settings as now (a reload)
        if not channel.options.calls or self.chat.calls is None:
            raise FrameError("calls_off", "this chat takes no calls")
        s = self.chat.inbox.open_session(channel.name, channel.numbers[0].number,
                                         visitor.address)
        try:
            await self.chat.calls.start(channel, visitor.address, visitor.form,
                                        None if s is None else s.id, sdp, self.send,
                                        self.ws)
        except CallRefused as exc:
            raise FrameError(exc.code, exc.message) from None

    async def accept(self, visitor: Visitor, sdp: object) -> None:
        """The visitor accepts an agent's call (softswitch.webrtc.calls)."""
        from softswitch.webrtc.calls import CallRefused

        if self.chat.calls is None:
            raise FrameError("no_call", "there is no call to accept")
        try:
            await self.chat.calls.accept(self.chat.current(self.channel), visitor.address,
                                         sdp, self.send, self.ws)
        except CallRefused as exc:
            raise FrameError(exc.code, exc.message) from None

    def limit(self, visitor: Visitor) -> None:
        if not self.chat.limiter.allow(f"{self.channel.name}:{visitor.address}"):
            raise FrameError("rate_limited", "too many messages; wait a moment")

    async def hello(self, frame: dict[str, Any]) -> None:
        if self.visitor is not None:
            raise FrameError("bad_frame", "hello was already sent")
        token = frame.get("visitor")
        if not isinstance(token, str) or not TOKEN.match(token):
            token = secrets.token_urlsafe(24)
        address = visitor_address(self.channel.numbers[0].number, token)
        key = (self.channel.name, address)
        visitor = self.chat.visitors.get(key)
        if visitor is None:
            visitor = self.chat.visitors[key] = Visitor(token, address)
        if len(visitor.sockets) >= MAX_SOCKETS:
            raise FrameError("too_many_tabs", f"at most {MAX_SOCKETS} chat windows at once")
        if frame.get("form") is not None and visitor.form is None:
            with contextlib.suppress(FrameError):
                visitor.form = check_form(self.options.form, frame.get("form"))
        self.visitor = visitor
        visitor.sockets.add(self.ws)
        await self.chat.service.recall_latest(self.channel.name, address)  # if closed
        s = self.chat.latest(self.channel, address)
        history = []
        if s is not None:
            for m in self.chat.inbox.messages.get(s.id, ()):
                shown = self.chat.shown(self.channel, m)
                if shown is not None:
                    history.append(shown)
        await self.send({
            "type": "welcome", "visitor": token, "language": self.options.language,
            "form": [{"field": f.field, "label": f.label, "required": f.required}
                     for f in self.options.form],
            "form_done": visitor.form is not None or not self.options.form,
            "images": self.options.images, "calls": self.options.calls, "max_text": TEXT_MAX,
            "max_image": IMAGE_MAX,
            "session": None if s is None else {"id": s.id, "open": s.open},
            "call": None if self.chat.calls is None else
            self.chat.calls.status(self.channel, address),
            "history": history})

    async def greet(self) -> None:
        chat = self.chat
        dest = self.channel.numbers[0].destination
        when = dt.datetime.fromtimestamp(chat.clock.wall(), dt.UTC)
        kind, text = greeting(self.options, dest.type, dest.target, when, chat.hours(),
                              chat.holidays(), chat.online, chat.presence)
        s = chat.inbox.open_session(self.channel.name, self.channel.numbers[0].number,
                                    self.visitor.address) if self.visitor else None
        agent = chat.handling_agent(s.id) if s is not None else \
            dest.target if dest.type == "extension" else None
        await self.send({"type": "auto", "kind": kind,
                         "message": {"id": None, "from": "system", "text": text, "media": [],
                                     "time": chat.clock.wall(),
                                     "agent": chat.agent_card(self.channel, agent)}})

    async def image(self, data: bytes) -> None:
        visitor = self.visitor
        if visitor is None:
            raise FrameError("hello_first", "send hello first")
        if not self.options.images:
            raise FrameError("no_images", "this chat takes text only")
        ext = image_type(data)
        self.limit(visitor)
        if not self.chat.image_limiter.allow(f"{self.channel.name}:{visitor.address}"):
            raise FrameError("rate_limited", "too many images; wait a minute")
        self.ready(visitor)
        name = f"{secrets.token_hex(16)}.{ext}"
        path = self.chat.files / name
        await asyncio.to_thread(_write, path, data)
        try:
            await self.receive(visitor, "", (f"{FILES}/{name}",), None)
        except FrameError:
            path.unlink(missing_ok=True)
            raise

    def ready(self, visitor: Visitor) -> None:
        if self.options.form and visitor.form is None and \
                any(f.required for f in self.options.form):
            raise FrameError("form_required", "fill in the form first")
        number = self.channel.numbers[0].number
        if self.chat.inbox.open_session(self.channel.name, number, visitor.address) is None:
            active = sum(1 for s in self.chat.inbox.sessions.values()
                         if s.open and s.channel == self.channel.name)
            if active >= self.options.max_active_sessions:
                raise FrameError("busy", "all our agents are busy; please try again later")

    async def receive(self, visitor: Visitor, text: str, media: tuple[str, ...],
                      client_id: str | None) -> None:
        self.ready(visitor)
        chat, channel, number = self.chat, self.channel, self.channel.numbers[0].number
        try:
            m: Message = chat.service.run(lambda inbox, now: inbox.receive(
                channel.name, number, visitor.address, text, media, None, now))
        except Refused as exc:
            raise FrameError(exc.code, exc.message) from None
        first = [x for x in chat.inbox.messages.get(m.session, ())
                 if x.direction is Direction.RECEIVED]
        auto: Message | None = None
        if len(first) == 1:  # a new session
            if visitor.form:
                labels = {f.field: f.label for f in self.options.form}
                note = "; ".join(f"{labels[k]}: {v}" for k, v in visitor.form.items())
                chat.service.run(lambda inbox, now: inbox.note(
                    m.session, f"预聊天表单 / Pre-chat form: {note}", now))
            if self.options.first_reply is not None:
                reply = self.options.first_reply
                auto = chat.service.run(lambda inbox, now: inbox.note(m.session, reply, now))
        await chat.service.store.flush()
        shown = self.chat.shown(channel, m)
        await self.send({"type": "ack", "id": client_id, "session": m.session,
                         "message": shown})
        chat._push(channel, visitor.address, {"type": "message", "message": shown},
                   skip=self.ws)
        if auto is not None:
            chat._push(channel, visitor.address, {
                "type": "auto", "kind": "first_reply",
                "message": chat.shown(channel, auto)})


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# --- routes ------------------------------------------------------------------------------


async def _script(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "live_chat.js", headers={
        "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "no-cache"})


LIVECHAT = web.AppKey("livechat", LiveChat)


def attach(app: web.Application, service: Any, router: Any, public: set[str],
           prefix: str) -> LiveChat | None:
    """The Live Chat channels on the switch's app: the widget script, each channel's
    websocket, the visitors' images. None when no channel is a livechat one."""
    if not any(c.type == "livechat" for c in service.channels.values()):
        return None
    from softswitch.web import ws as live_ws
    from softswitch.web.api import BOARD

    files = Path(router.config.config_dir) / "var" / "livechat"

    def online(ext: str) -> bool:
        if router.registrar.targets(ext, router.loop.time()):
            return True
        return any(c.principal.extension == ext and c.dropped is None
                   for c in app.get(live_ws.CLIENTS, ()))

    def presence(ext: str) -> str:
        board = app.get(BOARD)
        states = getattr(board, "presence", None)
        return str(states.status(ext)) if states is not None else "available"

    def acd_part(name: str) -> tuple[Any, ...]:
        acd = router.config.acd
        return tuple(getattr(acd, name, ())) if acd is not None else ()

    chat = LiveChat(service, router.clock, files, online, presence,
                    lambda: acd_part("business_hours"), lambda: acd_part("holidays"),
                    lambda number: router.config.extension(number))
    app[LIVECHAT] = chat
    router.livechat = chat  # a reload's widget-call settings (softswitch.reload)
    if any(c.options.calls for c in chat.channels.values()):
        from softswitch.webrtc.calls import WidgetCalls

        chat.calls = WidgetCalls(router, service, chat.channels, chat)
    app.router.add_get(SCRIPT, _script)
    for number, channel in chat.channels.items():
        path = f"{prefix}/livechat/{number}/ws"
        app.router.add_get(path, chat.handler(channel))
        public.add(path)
    async def file(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not re.fullmatch(r"[0-9a-f]{32}\.(png|jpg)", name):
            raise web.HTTPNotFound()
        target = files / name
        if not target.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(target, headers={"Cache-Control": "private, max-age=3600",
                                                 "X-Content-Type-Options": "nosniff"})

    app.router.add_get(FILES + "/{name}", file)

    async def default_avatar(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "avatar.svg", headers={
            "Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400",
            "X-Content-Type-Options": "nosniff"})

    async def avatar(request: web.Request) -> web.StreamResponse:
        path = chat.cards.file(request.match_info["key"])
        if path is None or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=3600",
                                               "X-Content-Type-Options": "nosniff"})

    app.router.add_get(DEFAULT_AVATAR, default_avatar)
    app.router.add_get(AVATARS + "/{key}", avatar)

    async def on_startup(app: web.Application) -> None:
        chat.start()

    async def on_cleanup(app: web.Application) -> None:
        chat.stop()
        if chat.calls is not None:
            await chat.calls.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return chat
