"""WhatsApp Cloud API (omnichannel.md §3.11) in Meta's own formats.

Webhook ``/api/v1/webhooks/whatsapp/{token}``: GET is Meta's verify-token handshake
(softswitch.messaging.providers.meta); POST carries ``X-Hub-Signature-256`` and
``{"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field":
"messages", "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number",
"phone_number_id"}, "contacts": [...], "messages": [{"from", "id", "timestamp", "type",
"text": {"body"} | "image": {"id", "mime_type", "caption"} | ...}], "statuses": [...]}}]}]}``.
A change whose ``phone_number_id`` is not the channel's ``number_id`` is refused (400).

Send: ``POST {base_url}/{number_id}/messages`` with ``Authorization: Bearer
{access_token}`` and ``{"messaging_product": "whatsapp", "recipient_type": "individual",
"to": wa_id, "type": "text", "text": {"preview_url": false, "body"}}``, a media message
``{"type": "image"|"video"|"audio"|"document", "<type>": {"link": url}}`` per file, or a
template ``{"type": "template", "template": {"name", "language": {"code"}, "components":
[{"type": "header", "parameters": [...]}?, {"type": "body", "parameters": [{"type":
"text", "parameter_name"?, "text"}]}]}}``.
The answer ``{"messages": [{"id": "wamid..."}]}`` is accepted.

Templates: ``GET {base_url}/{waba_id}/message_templates`` (all pages) at start, once a
day, and on the admin's refresh; only ``APPROVED`` ones, no catalog templates (a
``CATALOG`` or ``MPM`` button), no template whose variable names are not ``[a-z0-9]``
(§3.11), at most 250.

Decisions:

* One Meta app per channel (the manual's setup gives each channel its own webhook, verify
  token and App Secret): a change for another ``phone_number_id`` is refused (400, logged)
  as the misconfiguration it is, not dropped in silence.
* Customers are kept in E.164 (``+`` and the ``wa_id``), like SMS, so an agent starts a
  WhatsApp session with the same kind of number (§9.2); the ``to`` of a send is the
  ``wa_id`` (the digits).
* The 24-hour customer-service window is counted from the customer's last message on
  this channel number, any session. Outside it only a template can be sent: a free-form
  reply is refused at the API (409 ``window_closed``, "Outside the 24-hour customer
  service window: only a message template can be sent"), and a queued one that finds the
  window closed when it is sent (after retries) fails with the same text; Meta's own
  131047 maps to it too.
* A template reply is stored with its rendered text (what the customer reads) and its
  reference as one ``template:`` media entry (``template:{name}?language=..&var.{v}=..``),
  so a restart resends it as the template, not as free text.
* Inbound media are stored as their Graph media URL (``{base_url}/{media id}``, fetched
  with the channel's token); a caption becomes the text. Locations, button replies and
  interactive replies become text; other types (reactions, unsupported) are stored as a
  bracketed note so the agent knows something came.
* The header's parameters go in their own ``header`` component before the body's, as the
  Cloud API documents: a TEXT header's variable (at most one) as ``{"type": "text",
  "parameter_name"?, "text"}`` (kept in the reference as ``hvar.{v}``, the body's as
  ``var.{v}``); a media header (IMAGE, VIDEO, DOCUMENT) by link, ``{"type": "image",
  "image": {"link": url}}`` (kept as ``header.{image|video|document}=url``); a LOCATION
  header as ``{"type": "location", "location": {"latitude", "longitude", "name"?,
  "address"}}`` (strings, kept as ``header.location={json}``). A variable name used in both
  the header and the body takes one value (the request's ``variables`` is one map): with
  positional templates, whose header and body each count from ``{{1}}``, both ``{{1}}``
  get the same value.
* `header_parameter` checks what a template's header needs, for agents (`prepare`) and
  campaigns alike (§7.3, §9.2): ``header_media``, an http(s) URL of the file (one uploaded
  to the switch included: softswitch.messaging.campaign_files), for an image, video or
  document header; ``header_location`` for a location header: ``{latitude, longitude,
  name?, address}``, or ``{maps_link, address, name?}`` where the coordinates (and the
  place's name, when the link has one) are read from a Google Maps link (`maps_location`);
  the address is always typed (the manual: "you need to enter the detailed address by
  hand"). Anything missing or wrong is refused (400) naming the field
  (``template.header_media``, ``template.header_location...``); a short link
  (``maps.app.goo.gl``) carries no coordinates and is refused with that reason.
* Sends go at most 80 per second (the channel's ``send_rate``, §3.11); a text with files
  is sent as one message per part and stops at the first refused part (not retried when
  an earlier part was already delivered, so nothing is sent twice).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit

from aiohttp import web

from softswitch.log import get_logger
from softswitch.messaging.general import ChannelStatus, Inbound, Prompt, SendResult
from softswitch.messaging.providers import meta
from softswitch.messaging.providers.base import (
    ProviderAdapter,
    ReplyRefused,
    WebhookRefused,
)

log = get_logger("messaging")

WINDOW = meta.DAY  # the customer-service window, seconds
WINDOW_PROMPT = ("Outside the 24-hour customer service window: only a message template "
                 "can be sent")
MAX_TEMPLATES = 250
SYNC_EVERY = meta.DAY
VARIABLE = re.compile(r"\{\{([^{}]*)\}\}")
VARIABLE_NAME = re.compile(r"^[a-z0-9]+$")
TEMPLATE_SCHEME = "template:"
HEADER_MEDIA = ("IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
MAX_LINK = 2048
MAX_PLACE_TEXT = 1000


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str
    category: str
    components: tuple[tuple[str, str], ...]  # (component type, text) of HEADER/BODY texts
    header: str = ""  # a media header's format: IMAGE, VIDEO, DOCUMENT, LOCATION; "": none

    @property
    def variables(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for _, text in self.components:
            for v in VARIABLE.findall(text):
                seen[v.strip()] = None
        return tuple(seen)

    @property
    def header_variables(self) -> tuple[str, ...]:
        """The variables of the TEXT header (sent in the ``header`` component)."""
        return tuple(dict.fromkeys(v.strip() for kind, text in self.components
                                   if kind == "HEADER" for v in VARIABLE.findall(text)))

    @property
    def body_variables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip() for kind, text in self.components
                                   if kind != "HEADER" for v in VARIABLE.findall(text)))

    @property
    def positional(self) -> bool:
        return all(v.isdigit() for v in self.variables)

    def render(self, values: Mapping[str, str]) -> str:
        return "\n".join(VARIABLE.sub(lambda m: values.get(m.group(1).strip(), ""), text)
                         for _, text in self.components)

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "language": self.language, "category": self.category,
                "variables": list(self.variables), "header": self.header.lower() or None,
                "components": [{"type": k, "text": t} for k, t in self.components]}


def parse_template(raw: object) -> Template | None:
    """One entry of Graph's ``message_templates`` list; None when it is not synced."""
    if not isinstance(raw, dict) or raw.get("status") != "APPROVED":
        return None
    name, language = raw.get("name"), raw.get("language")
    comps = raw.get("components")
    if not isinstance(name, str) or not isinstance(language, str) or \
            not isinstance(comps, list):
        return None
    texts: list[tuple[str, str]] = []
    header = ""
    for c in comps:
        if not isinstance(c, dict):
            return None
        kind = str(c.get("type", "")).upper()
        if kind == "BUTTONS":
            buttons = c.get("buttons")
            if isinstance(buttons, list) and any(
                    isinstance(b, dict) and str(b.get("type", "")).upper() in
                    ("CATALOG", "MPM") for b in buttons):
                return None  # §3.11: catalog templates are not synced
        if kind in ("HEADER", "BODY") and isinstance(c.get("text"), str):
            texts.append((kind, c["text"]))
        if kind == "HEADER" and str(c.get("format", "TEXT")).upper() in HEADER_MEDIA:
            header = str(c.get("format")).upper()
    template = Template(name, language, str(raw.get("category", "")), tuple(texts), header)
    variables = template.variables
    if not all(VARIABLE_NAME.match(v) for v in variables):
        return None  # §3.11: variable names are [a-z0-9] only
    if not (template.positional or not any(v.isdigit() for v in variables)):
        return None  # mixed styles cannot be sent
    return template


def template_ref(t: Template, values: Mapping[str, str],
                 header: tuple[str, str] | None = None) -> str:
    """The stored reference of a template message; ``header``: the media or location
    header's parameter as `header_parameter` gives it, ``(kind, value)``."""
    extra = [(f"header.{header[0]}", header[1])] if header is not None else []
    return f"{TEMPLATE_SCHEME}{quote(t.name)}?" + urlencode(
        [("language", t.language)]
        + [(f"hvar.{v}", values[v]) for v in t.header_variables]
        + [(f"var.{v}", values[v]) for v in t.body_variables] + extra)


@dataclass(frozen=True, slots=True)
class TemplateRef:
    name: str
    language: str
    values: tuple[tuple[str, str], ...]  # the body's (variable, value) in its order
    header: tuple[str, str] | None  # (image|video|document, link) or (location, json)
    header_values: tuple[tuple[str, str], ...] = ()  # the TEXT header's (variable, value)

    @property
    def variables(self) -> dict[str, str]:
        """Every variable's value, as the request gave them."""
        return {**dict(self.header_values), **dict(self.values)}

    @property
    def location(self) -> dict[str, str] | None:
        if self.header is None or self.header[0] != "location":
            return None
        doc = json.loads(self.header[1])
        return {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else None


def parse_ref(ref: str) -> TemplateRef:
    """A stored ``template:`` reference read back (`template_ref`'s inverse)."""
    parts = urlsplit(ref[len(TEMPLATE_SCHEME):])
    query = parse_qsl(parts.query, keep_blank_values=True)
    language = next((v for k, v in query if k == "language"), "")
    values = tuple((k[4:], v) for k, v in query if k.startswith("var."))
    header_values = tuple((k[5:], v) for k, v in query if k.startswith("hvar."))
    header = next(((k[7:], v) for k, v in query if k.startswith("header.")), None)
    return TemplateRef(unquote(parts.path), language, values, header, header_values)


# a Google Maps link's coordinates: the place's own (``!3d{lat}!4d{lng}``), the map's
# centre (``/@{lat},{lng}``), or a query (``q=``, ``query=``, ``ll=``, ``center=``,
# ``destination=``: ``{lat},{lng}``)
_PLACE_COORDS = re.compile(r"!3d(-?\d+(?:\.\d+)?)!4d(-?\d+(?:\.\d+)?)")
_AT_COORDS = re.compile(r"/@(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")
_PAIR = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_MAPS_HOSTS = re.compile(r"^((www|maps)\.)?google\.[a-z.]{2,6}$|^maps\.app\.goo\.gl$"
                         r"|^goo\.gl$")


def maps_location(link: str) -> tuple[float, float, str]:
    """(latitude, longitude, place name or "") of a Google Maps link; `ValueError` with
    the reason when the link is not one or has no coordinates (a short link has none)."""
    parts = urlsplit(link.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not _MAPS_HOSTS.match(host):
        raise ValueError("not a Google Maps link")
    if host in ("maps.app.goo.gl", "goo.gl"):
        raise ValueError("a short link has no coordinates: open it and paste the full "
                         "link from the address bar")
    if not host.startswith("maps.") and not parts.path.startswith("/maps"):
        raise ValueError("not a Google Maps link")
    path = unquote(parts.path)
    found = _PLACE_COORDS.search(path) or _AT_COORDS.search(path)
    coords: tuple[str, str] | None = (found.group(1), found.group(2)) if found else None
    if coords is None:
        for key, value in parse_qsl(parts.query):
            pair = _PAIR.match(value)
            if key in ("q", "query", "ll", "center", "destination") and pair:
                coords = (pair.group(1), pair.group(2))
                break
    if coords is None:
        raise ValueError("the link has no coordinates")
    name = ""
    segments = parts.path.split("/")
    if "place" in segments:
        i = segments.index("place")
        if i + 1 < len(segments) and not segments[i + 1].startswith("@"):
            name = unquote_plus(segments[i + 1]).strip()
    return float(coords[0]), float(coords[1]), name


def _location(raw: object, field: str) -> str:
    """A ``header_location`` request checked -> the reference's JSON value."""
    if not isinstance(raw, Mapping):
        raise ReplyRefused(400, "missing_location",
                           f"{field}: give the place as {{latitude, longitude, name, "
                           "address}} or {maps_link, address}", field=field)
    unknown = sorted(set(raw) - {"latitude", "longitude", "name", "address", "maps_link"})
    if unknown:
        raise ReplyRefused(400, "invalid_field",
                           f"{field}: unknown field(s): {', '.join(unknown)}", field=field)
    name = raw.get("name")
    link = raw.get("maps_link")
    lat, lng = raw.get("latitude"), raw.get("longitude")
    if link is not None:
        if lat is not None or lng is not None:
            raise ReplyRefused(400, "invalid_field",
                               f"{field}: give either maps_link or latitude and longitude",
                               field=field)
        if not isinstance(link, str) or len(link) > MAX_LINK:
            raise ReplyRefused(400, "invalid_field", f"{field}.maps_link: a Google Maps link",
                               field=f"{field}.maps_link")
        try:
            lat, lng, place = maps_location(link)
        except ValueError as exc:
            raise ReplyRefused(400, "invalid_location", f"{field}.maps_link: {exc}",
                               field=f"{field}.maps_link") from None
        if name is None:
            name = place
    coords: list[float] = []
    for key, value, limit in (("latitude", lat, 90.0), ("longitude", lng, 180.0)):
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not -limit <= float(value) <= limit:
            raise ReplyRefused(400, "invalid_location",
                               f"{field}.{key}: a number from {-limit:g} to {limit:g}",
                               field=f"{field}.{key}")
        coords.append(float(value))
    address = raw.get("address")
    if not isinstance(address, str) or not address.strip() or \
            len(address) > MAX_PLACE_TEXT:
        raise ReplyRefused(400, "missing_location",
                           f"{field}.address: type the place's address (a map link does not "
                           "carry it)", field=f"{field}.address")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_PLACE_TEXT):
        raise ReplyRefused(400, "invalid_field", f"{field}.name: text", field=f"{field}.name")
    doc = {"latitude": repr(coords[0]), "longitude": repr(coords[1])}
    if name and name.strip():
        doc["name"] = name.strip()
    doc["address"] = address.strip()
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def header_parameter(t: Template, media: object, location: object,
                     prefix: str = "template") -> tuple[str, str] | None:
    """What the template's header needs, checked: ``(kind, value)`` for `template_ref`
    (None for a text header or none); raises `ReplyRefused` (400) naming the field."""
    media_field, location_field = f"{prefix}.header_media", f"{prefix}.header_location"
    if t.header != "LOCATION" and location is not None:
        raise ReplyRefused(400, "invalid_field", f"{location_field}: template {t.name} has "
                                                 "no location header", field=location_field)
    if t.header == "LOCATION":
        if media is not None:
            raise ReplyRefused(400, "invalid_field",
                               f"{media_field}: template {t.name} shows a location, not a "
                               "file", field=media_field)
        return "location", _location(location, location_field)
    if t.header:
        kind = t.header.lower()
        if not isinstance(media, str) or not media.startswith(("http://", "https://")) or \
                len(media) > MAX_LINK:
            raise ReplyRefused(400, "missing_media",
                               f"{media_field}: template {t.name} shows "
                               f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} header: give "
                               "the file's http(s) URL or upload the file", field=media_field)
        return kind, media
    if media is not None:
        raise ReplyRefused(400, "invalid_field",
                           f"{media_field}: template {t.name} has no media header",
                           field=media_field)
    return None


def _text_params(values: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    if all(k.isdigit() for k, _ in values):  # {{1}}, {{2}}: by position
        return [{"type": "text", "text": v}
                for _, v in sorted(values, key=lambda kv: int(kv[0]))]
    return [{"type": "text", "parameter_name": k, "text": v} for k, v in values]


def _wa_id(customer: str) -> str:
    return customer[1:] if customer.startswith("+") else customer


class WhatsAppAdapter(ProviderAdapter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.templates: dict[tuple[str, str], Template] = {}
        self.synced_at: float | None = None

    # --- inbound -------------------------------------------------------------------------

    def handshake(self, query: Mapping[str, str]) -> web.Response | None:
        return meta.handshake(self.config.cred("verify_token"), query)

    def authenticate(self, url: str, headers: Mapping[str, str], raw: bytes) -> None:
        meta.authenticate(self.config.cred("app_secret"), headers, raw)
        self.status = ChannelStatus.CONNECTED

    def parse(self, raw: bytes) -> list[Inbound]:
        out: list[Inbound] = []
        number = self.config.numbers[0].number
        for entry in meta.body(raw, "whatsapp_business_account"):
            changes = entry.get("changes")
            if not isinstance(changes, list):
                raise WebhookRefused(400, "entry.changes must be a list")
            for change in changes:
                if not isinstance(change, dict) or change.get("field") != "messages":
                    continue
                value = change.get("value")
                if not isinstance(value, dict):
                    raise WebhookRefused(400, "changes.value must be an object")
                md = value.get("metadata")
                pnid = md.get("phone_number_id") if isinstance(md, dict) else None
                if pnid != self.config.cred("number_id"):
                    raise WebhookRefused(400, f"phone_number_id {pnid!r} is not this "
                                              "channel's number")
                messages = value.get("messages") or []
                if not isinstance(messages, list):
                    raise WebhookRefused(400, "value.messages must be a list")
                for m in messages:
                    out.append(self._message(m, number))
        return out

    def _message(self, m: object, number: str) -> Inbound:
        if not isinstance(m, dict):
            raise WebhookRefused(400, "a message must be an object")
        source, mid, kind = m.get("from"), m.get("id"), m.get("type")
        if not isinstance(source, str) or not re.match(r"^[1-9][0-9]{1,14}$", source):
            raise WebhookRefused(400, "message.from must be a WhatsApp ID (digits)")
        if not isinstance(mid, str) or not 1 <= len(mid) <= 255:
            raise WebhookRefused(400, "message.id is required")
        if not isinstance(kind, str):
            raise WebhookRefused(400, "message.type is required")
        text: str = ""
        media: tuple[str, ...] = ()
        part = m.get(kind)
        part = part if isinstance(part, dict) else {}
        if kind == "text":
            body = part.get("body")
            text = body if isinstance(body, str) else ""
            if not text:
                raise WebhookRefused(400, "text.body is required")
        elif kind in ("image", "video", "audio", "document", "sticker"):
            media_id = part.get("id")
            if not isinstance(media_id, str) or not media_id.isalnum():
                raise WebhookRefused(400, f"{kind}.id is required")
            media = (f"{self.config.base_url}/{media_id}",)
            caption = part.get("caption")
            text = caption if isinstance(caption, str) else ""
        elif kind == "location":
            text = f"[location] {part.get('latitude')},{part.get('longitude')}" + (
                f" {part['name']}" if isinstance(part.get("name"), str) else "")
        elif kind == "button":
            text = str(part.get("text", ""))
        elif kind == "interactive":
            reply = part.get("button_reply") or part.get("list_reply")
            text = str(reply.get("title", "")) if isinstance(reply, dict) else ""
        if not text and not media:
            text = f"[{kind} message]"
        return Inbound(mid, f"+{source}", number, text, media, str(m.get("timestamp", "")))

    # --- outbound ------------------------------------------------------------------------

    def _open(self, number: str, customer: str) -> bool:
        last = self.last_inbound(number, customer)
        return last is not None and self.clock.wall() - last < WINDOW

    def prepare(self, number: str, customer: str, text: str, media: tuple[str, ...],
                template: Mapping[str, Any] | None) -> tuple[str, tuple[str, ...]]:
        if any(u.startswith(TEMPLATE_SCHEME) for u in media):
            raise ReplyRefused(400, "invalid_field", "media must be http(s) URLs")
        if template is None:
            if not self._open(number, customer):
                raise ReplyRefused(409, "window_closed", WINDOW_PROMPT)
            return text, media
        if text or media:
            raise ReplyRefused(400, "invalid_field",
                               "a template is sent alone (no text or media with it)")
        name, language = str(template.get("name", "")), str(template.get("language", ""))
        t = self.templates.get((name, language))
        if t is None:
            raise ReplyRefused(404, "unknown_template",
                               f"no approved template {name!r} ({language}) is synced "
                               f"on {self.config.name}")
        raw_values = template.get("variables") or {}
        values = {str(k): str(v) for k, v in dict(raw_values).items()}
        wanted = set(t.variables)
        if set(values) != wanted or not all(values.values()):
            raise ReplyRefused(400, "invalid_field",
                               f"template {name} needs the variables "
                               f"{', '.join(t.variables) or '(none)'}, each non-empty")
        header = header_parameter(t, template.get("header_media"),
                                  template.get("header_location"))
        return t.render(values), (template_ref(t, values, header),)

    def _payload(self, to: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": to, "type": kind, kind: body}

    async def send(self, source: str, to: str, text: str,
                   media: tuple[str, ...]) -> SendResult:
        refs = [u for u in media if u.startswith(TEMPLATE_SCHEME)]
        wa_id = _wa_id(to)
        parts: list[dict[str, Any]] = []
        if refs:
            parts.append(self._template_payload(wa_id, refs[0]))
        else:
            if not self._open(source, to):
                return SendResult(None, WINDOW_PROMPT)
            if text:
                parts.append(self._payload(wa_id, "text", {"preview_url": False,
                                                           "body": text}))
            for url in media:
                kind = meta.media_type(url)
                kind = "document" if kind == "file" else kind
                parts.append(self._payload(wa_id, kind, {"link": url}))
        result = SendResult(None, Prompt.SEND_FAILED.value)
        for i, part in enumerate(parts):
            result = await self._post(part)
            if result.provider_id is None:
                if i > 0:  # an earlier part is delivered: no retry of the whole
                    result = SendResult(None, result.prompt)
                break
        return self.seen(result)

    def _template_payload(self, to: str, ref: str) -> dict[str, Any]:
        parsed = parse_ref(ref)
        values = list(parsed.values)
        template: dict[str, Any] = {"name": parsed.name,
                                    "language": {"code": parsed.language}}
        components: list[dict[str, Any]] = []
        if parsed.header is not None and parsed.header[0] == "location":
            components.append({"type": "header", "parameters": [
                {"type": "location", "location": parsed.location}]})
        elif parsed.header is not None:  # the media header's parameter, by link
            kind, link = parsed.header
            components.append({"type": "header", "parameters": [
                {"type": kind, kind: {"link": link}}]})
        elif parsed.header_values:  # the TEXT header's variable
            components.append({"type": "header",
                               "parameters": _text_params(parsed.header_values)})
        if values:
            components.append({"type": "body", "parameters": _text_params(tuple(values))})
        if components:
            template["components"] = components
        return self._payload(to, "template", template)

    async def _post(self, payload: dict[str, Any]) -> SendResult:
        status, answer = await self.request(
            "POST", f"{self.config.base_url}/{self.config.cred('number_id')}/messages",
            json=payload, headers=self._auth())
        if status == 200:
            try:
                doc = json.loads(answer)
                mid = doc["messages"][0]["id"]
            except (ValueError, UnicodeDecodeError, KeyError, IndexError, TypeError):
                mid = None
            return SendResult(mid) if isinstance(mid, str) and mid else \
                SendResult(None, Prompt.SEND_FAILED.value)
        return meta.classify(status, meta.error_of(answer), {(131047, None): WINDOW_PROMPT})

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.cred('access_token')}"}

    # --- templates -------------------------------------------------------------------------

    async def sync_templates(self) -> int:
        """Replace the synced templates with the WABA's approved ones (all pages);
        returns how many. Raises `ReplyRefused` (502) when Meta did not answer well; the
        templates synced before stay."""
        url: str | None = f"{self.config.base_url}/{self.config.cred('waba_id')}" \
                          "/message_templates"
        params: dict[str, str] | None = {
            "fields": "name,language,status,category,components", "limit": "100"}
        found: dict[tuple[str, str], Template] = {}
        pages = 0
        while url is not None and len(found) < MAX_TEMPLATES and pages < 50:
            pages += 1
            status, answer = await self.request("GET", url, params=params,
                                                headers=self._auth())
            if status != 200:
                result = meta.classify(status, meta.error_of(answer), {})
                if result.prompt == Prompt.AUTH_FAILED.value:
                    self.status = ChannelStatus.UNAUTHORIZED
                raise ReplyRefused(502, "provider_error",
                                   f"template sync failed: {result.prompt}")
            try:
                doc = json.loads(answer)
            except (ValueError, UnicodeDecodeError):
                raise ReplyRefused(502, "provider_error",
                                   "template sync failed: not JSON") from None
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                raise ReplyRefused(502, "provider_error", "template sync failed: no data")
            for raw in data:
                t = parse_template(raw)
                if t is not None and len(found) < MAX_TEMPLATES:
                    found[(t.name, t.language)] = t
            paging = doc.get("paging")
            nxt = paging.get("next") if isinstance(paging, dict) else None
            # follow only links to the configured API (never where a body points)
            url = nxt if isinstance(nxt, str) and \
                nxt.startswith(self.config.base_url + "/") else None
            params = None
        self.templates = found
        self.synced_at = self.clock.wall()
        log.info("whatsapp templates synced", channel=self.config.name, templates=len(found))
        return len(found)

    async def run(self) -> None:
        """Sync at start and then once a day (§3.11) on the injected clock."""
        while True:
            try:
                await self.sync_templates()
            except ReplyRefused as exc:
                log.warning("whatsapp template sync failed", channel=self.config.name,
                            reason=exc.message)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            handle = self.clock.call_later(
                SYNC_EVERY, lambda f=done: f.done() or f.set_result(None))
            try:
                await done
            finally:
                handle.cancel()
