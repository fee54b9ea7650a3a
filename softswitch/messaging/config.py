"""The ``message_channels`` section: channels, their numbers and each number's routing
(omnichannel.md §2.3, §2.4, §3.9.6, §5.1).

Every problem raises `MessagingConfigError(path, message)`; ``path`` names the key like
acd.config's (``message_channels[0].numbers[1].number``) and softswitch.config maps it to
the file's line.

Decisions:

* ``type: sms`` with ``provider: general`` (§3.9, softswitch.messaging.general), or a named
  provider of ``NAMED_PROVIDERS`` (softswitch.messaging.providers: Twilio, Telnyx,
  Bandwidth, Flowroute) with its own credential keys (``PROVIDER_KEYS``) instead of
  ``api_key``/``secret``/``send_url``, and an optional ``base_url`` (the provider's API
  root; tests and staging point it at a local server). The other providers of §3.1
  (Apidaze, SIPTRUNK, VoiceMeUp) are refused by ``softswitch check`` until they are built.
* ``type: whatsapp`` (§3.11) and ``type: messenger`` (§3.10): one number (WhatsApp) or one
  Page (Messenger) per channel, with its ``destination`` (and, WhatsApp only,
  ``allowed_extensions``) at the channel level; the Page ID stands in the channel's number
  list, with no allowed extensions (agents cannot start Messenger chats). ``send_rate``
  defaults to the platform maximum (80/s, 40/s) and cannot exceed it.
* ``type: livechat`` (§3.12, the website widget): its keys are softswitch.messaging.livechat's;
  its one number is the channel number ``LC`` + 5 digits.
* ``type: sip``: SIP MESSAGE (RFC 3428) from the switch's own phones into sessions. Its
  numbers are what the phones send to (2 to 20 digits, not an extension's), each with a
  destination; the customer is the sending extension and the agents' replies go back to
  its phone as MESSAGEs. It has no provider keys, and no ``allowed_extensions`` (an agent
  writes to a colleague's phone directly, phone to phone).
* The webhook token (the last path segment of the webhook URL, §2.3) is part of the
  configuration (32 lowercase hex digits), so the URL the admin gives the provider is
  stable across restarts; the URL is ``{http}/api/v1/webhooks/general/{token}``.
* A number is E.164 (``+`` then 2 to 15 digits, no separators, §13.1) or an alphanumeric
  sender ID (1 to 11 letters and digits, at least one letter).
* A destination is ``{type: extension, target: "1001"}``,
  ``{type: message_queue, target: <message queue name>}`` or ``{type: api}``: the
  third-party platform (§4, §5.1; softswitch.messaging.sessions), which needs the API
  integration: the top-level ``messaging_api`` section with at least one integration
  (softswitch.config), else refused at the destination's ``type``.
* ``auto_close_days`` (§2.4.2): absent = no auto-close; otherwise 1 to 365 days.
* ``verify_interval`` (§3.9.3, "periodically"): seconds between two verifications, default
  300, only with ``verify_url``.
* ``send_rate`` (§2.4.1): messages per second, 1 to 1000; absent = no limit of ours (the
  next message goes when the provider answered the previous one). Faster sends are queued.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Path = tuple[str | int, ...]

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
TOKEN = re.compile(r"^[0-9a-f]{32}$")
PROVIDERS = ("general", "twilio", "telnyx", "bandwidth", "flowroute")
NAMED_PROVIDERS = ("twilio", "telnyx", "bandwidth", "flowroute")
# provider: (required credential keys, optional ones, default base_url)
PROVIDER_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "twilio": (("account_sid", "auth_token"), ("public_url",), "https://api.twilio.com"),
    "telnyx": (("api_key", "public_key"), ("timestamp_tolerance",), "https://api.telnyx.com"),
    "bandwidth": (("application_id", "account_id", "username", "password"),
                  ("callback_username", "callback_password"), "https://messaging.bandwidth.com"),
    "flowroute": (("access_key", "secret_key"), (), "https://api.flowroute.com"),
}
META_BASE_URL = "https://graph.facebook.com/v21.0"
API = "api"  # the third-party platform destination (§4) and its party in the chat logs
META_RATE = {"whatsapp": 80, "messenger": 40}  # §3.10, §3.11: messages per second at most


class MessagingConfigError(Exception):
    def __init__(self, path: Path, message: str) -> None:
        self.path = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
                            for i, p in enumerate(path))
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True, slots=True)
class Destination:
    type: str  # "extension" | "message_queue" | "api" (the third-party platform, §4)
    target: str  # "api" for the platform


@dataclass(frozen=True, slots=True)
class ChannelNumber:
    number: str
    destination: Destination
    allowed_extensions: tuple[str, ...] = ()  # may start sessions from this number (§2.4.3)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    type: str  # "sms" | "sip"
    provider: str  # "general" ("" for sip)
    token: str  # the provider fields are "" for sip
    api_key: str
    send_url: str
    numbers: tuple[ChannelNumber, ...]
    secret: str | None = None
    verify_url: str | None = None
    verify_interval: float = 300.0
    auto_close_days: int | None = None
    send_rate: int | None = None  # messages per second (§2.4.1); None: as fast as answered
    options: Any = None  # the type's own settings (livechat: livechat.LiveChatOptions)
    base_url: str = ""  # a named provider's API root (no trailing slash)
    credentials: tuple[tuple[str, str], ...] = ()  # a named provider's own keys

    def cred(self, key: str, default: str = "") -> str:
        for k, v in self.credentials:
            if k == key:
                return v
        return default

    def number(self, number: str) -> ChannelNumber | None:
        for n in self.numbers:
            if n.number == number:
                return n
        return None


def _err(path: Path, message: str) -> MessagingConfigError:
    return MessagingConfigError(path, message)


def _mapping(value: object, path: Path, allowed: tuple[str, ...],
             required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _err(path, f"expected a mapping with keys {', '.join(allowed)}")
    for key in value:
        if key not in allowed:
            raise _err((*path, str(key)),
                       f"unknown key '{key}' (expected one of: {', '.join(allowed)})")
    for key in required:
        if key not in value:
            raise _err((*path, key), "required key is missing")
    return value


def _text(value: object, path: Path) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise _err(path, f"expected a text, got {value!r}")
    return str(value)


def _url(value: object, path: Path) -> str:
    text = _text(value, path)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _err(path, f"expected an http(s) URL, got {text!r}")
    return text


def _int(value: object, path: Path, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _err(path, f"expected a whole number from {low} to {high}, got {value!r}")
    return value


def channel_number(value: object, path: Path) -> str:
    """§2.4.3 / §13.1: E.164 or an alphanumeric sender ID."""
    text = _text(value, path)
    if E164.match(text) or SENDER_ID.match(text):
        return text
    raise _err(path, f"expected an E.164 number like +865925503309 (+[country code]"
                     f"[number], no spaces or dashes) or an alphanumeric sender ID, got {text!r}")


def _destination(value: object, path: Path, extensions: frozenset[str],
                 queues: frozenset[str]) -> Destination:
    m = _mapping(value, path, ("type", "target"), ("type",))
    kind = _text(m["type"], (*path, "type"))
    if kind == API:
        if "target" in m and m["target"] != API:
            raise _err((*path, "target"), "the third-party platform has no target (leave "
                                          "it out)")
        return Destination(API, API)
    if "target" not in m:
        raise _err((*path, "target"), "required key is missing")
    target = _text(m["target"], (*path, "target"))
    if kind == "extension":
        if target not in extensions:
            raise _err((*path, "target"), f"no extension {target} is defined")
    elif kind == "message_queue":
        if target not in queues:
            raise _err((*path, "target"), f"no message queue {target!r} is defined in "
                                          "message_queues")
    else:
        raise _err((*path, "type"), f"expected extension, message_queue or api, got "
                                    f"{kind!r}")
    return Destination(kind, target)


def _number(value: object, path: Path, extensions: frozenset[str],
            queues: frozenset[str]) -> ChannelNumber:
    m = _mapping(value, path, ("number", "destination", "allowed_extensions"),
                 ("number", "destination"))
    allowed_raw = m.get("allowed_extensions", [])
    if not isinstance(allowed_raw, list):
        raise _err((*path, "allowed_extensions"), "expected a list of extension numbers")
    allowed = []
    for i, ext in enumerate(allowed_raw):
        text = _text(ext, (*path, "allowed_extensions", i))
        if text not in extensions:
            raise _err((*path, "allowed_extensions", i), f"no extension {text} is defined")
        allowed.append(text)
    return ChannelNumber(channel_number(m["number"], (*path, "number")),
                         _destination(m["destination"], (*path, "destination"), extensions,
                                      queues),
                         tuple(dict.fromkeys(allowed)))


_CHANNEL_KEYS = ("name", "type", "provider", "token", "api_key", "secret", "send_url",
                 "verify_url", "verify_interval", "auto_close_days", "send_rate", "numbers")


def _channel(value: object, path: Path, extensions: frozenset[str],
             queues: frozenset[str]) -> ChannelConfig:
    kind = _text(value.get("type"), (*path, "type")) if isinstance(value, Mapping) \
        and "type" in value else "sms"
    if kind not in ("sms", "sip", "livechat", "whatsapp", "messenger"):
        raise _err((*path, "type"), f"expected sms, sip, livechat, whatsapp or messenger, got "
                                    f"{kind!r}")
    if kind == "livechat":
        from softswitch.messaging.livechat import parse_livechat

        return parse_livechat(value, path, extensions, queues)
    if kind == "sip":
        return _sip_channel(value, path, extensions, queues)
    if kind in META_RATE:
        return _meta_channel(value, path, kind, extensions, queues)
    if isinstance(value, Mapping) and value.get("provider") in NAMED_PROVIDERS:
        return _provider_channel(value, path, str(value["provider"]), extensions, queues)
    m = _mapping(value, path, _CHANNEL_KEYS,
                 ("name", "type", "provider", "token", "api_key", "send_url", "numbers"))
    provider = _text(m["provider"], (*path, "provider"))
    if provider not in PROVIDERS:
        raise _err((*path, "provider"), f"expected one of {', '.join(PROVIDERS)}, got "
                                        f"{provider!r} (Apidaze, SIPTRUNK and "
                                        "VoiceMeUp are not built yet)")
    token = _text(m["token"], (*path, "token"))
    if not TOKEN.match(token):
        raise _err((*path, "token"), "expected 32 lowercase hex digits (the webhook URL's "
                                     "last segment)")
    numbers_raw = m["numbers"]
    if not isinstance(numbers_raw, list) or not numbers_raw:
        raise _err((*path, "numbers"), "expected a list of at least one number")
    numbers = tuple(_number(n, (*path, "numbers", i), extensions, queues)
                    for i, n in enumerate(numbers_raw))
    seen: set[str] = set()
    for i, n in enumerate(numbers):
        if n.number in seen:
            raise _err((*path, "numbers", i, "number"), f"{n.number} is listed twice")
        seen.add(n.number)
    verify_url = _url(m["verify_url"], (*path, "verify_url")) if "verify_url" in m else None
    if "verify_interval" in m and verify_url is None:
        raise _err((*path, "verify_interval"), "only with verify_url")
    secret = _text(m["secret"], (*path, "secret")) if "secret" in m else None
    return ChannelConfig(
        name=_text(m["name"], (*path, "name")), type=kind, provider=provider, token=token,
        api_key=_text(m["api_key"], (*path, "api_key")),
        send_url=_url(m["send_url"], (*path, "send_url")), numbers=numbers, secret=secret,
        verify_url=verify_url,
        verify_interval=float(_int(m.get("verify_interval", 300),
                                   (*path, "verify_interval"), 10, 86400)),
        auto_close_days=(_int(m["auto_close_days"], (*path, "auto_close_days"), 1, 365)
                         if "auto_close_days" in m else None),
        send_rate=(_int(m["send_rate"], (*path, "send_rate"), 1, 1000)
                   if "send_rate" in m else None))


def _token(value: object, path: Path) -> str:
    token = _text(value, path)
    if not TOKEN.match(token):
        raise _err(path, "expected 32 lowercase hex digits (the webhook URL's last segment)")
    return token


def _numbers(raw: object, path: Path, extensions: frozenset[str],
             queues: frozenset[str]) -> tuple[ChannelNumber, ...]:
    if not isinstance(raw, list) or not raw:
        raise _err(path, "expected a list of at least one number")
    numbers = tuple(_number(n, (*path, i), extensions, queues) for i, n in enumerate(raw))
    seen: set[str] = set()
    for i, n in enumerate(numbers):
        if n.number in seen:
            raise _err((*path, i, "number"), f"{n.number} is listed twice")
        seen.add(n.number)
    return numbers


def _rate(m: Mapping[str, Any], path: Path, high: int, default: int | None) -> int | None:
    if "send_rate" not in m:
        return default
    return _int(m["send_rate"], (*path, "send_rate"), 1, high)


def _auto_close(m: Mapping[str, Any], path: Path) -> int | None:
    return (_int(m["auto_close_days"], (*path, "auto_close_days"), 1, 365)
            if "auto_close_days" in m else None)


def _base_url(m: Mapping[str, Any], path: Path, default: str) -> str:
    return _url(m["base_url"], (*path, "base_url")).rstrip("/") if "base_url" in m \
        else default


def _provider_channel(value: Mapping[str, Any], path: Path, provider: str,
                      extensions: frozenset[str], queues: frozenset[str]) -> ChannelConfig:
    """A named SMS provider (softswitch.messaging.providers): its credentials, checked in
    form here (a wrong one shows at the first send or webhook)."""
    required, optional, default_base = PROVIDER_KEYS[provider]
    common = ("name", "type", "provider", "token", "base_url", "auto_close_days",
              "send_rate", "numbers")
    m = _mapping(value, path, common + required + optional,
                 ("name", "provider", "token", "numbers") + required)
    creds = {k: _text(m[k], (*path, k)) for k in required + optional if k in m}
    if provider == "twilio":
        if not re.match(r"^AC[0-9a-f]{32}$", creds["account_sid"]):
            raise _err((*path, "account_sid"), "expected AC and 32 lowercase hex digits")
        if "public_url" in creds:
            creds["public_url"] = _url(creds["public_url"], (*path, "public_url"))
    if provider == "bandwidth" and \
            ("callback_username" in creds) != ("callback_password" in creds):
        raise _err((*path, "callback_password" if "callback_username" in creds
                    else "callback_username"),
                   "callback_username and callback_password go together")
    if provider == "telnyx":
        import base64
        import binascii
        try:
            key = base64.b64decode(creds["public_key"], validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise _err((*path, "public_key"), "expected the base64 Ed25519 public key "
                                              "(32 bytes) of the Telnyx portal")
        if "timestamp_tolerance" in m:
            creds["timestamp_tolerance"] = str(_int(
                m["timestamp_tolerance"], (*path, "timestamp_tolerance"), 10, 3600))
    return ChannelConfig(
        name=_text(m["name"], (*path, "name")), type="sms", provider=provider,
        token=_token(m["token"], (*path, "token")), api_key="", send_url="",
        numbers=_numbers(m["numbers"], (*path, "numbers"), extensions, queues),
        auto_close_days=_auto_close(m, path), send_rate=_rate(m, path, 1000, None),
        base_url=_base_url(m, path, default_base), credentials=tuple(creds.items()))


_META_KEYS = {
    "whatsapp": ("verify_token", "access_token", "app_secret", "number", "number_id",
                 "waba_id", "destination"),
    "messenger": ("verify_token", "access_token", "app_secret", "page_id", "page_name",
                  "destination"),
}


def _meta_channel(value: object, path: Path, kind: str, extensions: frozenset[str],
                  queues: frozenset[str]) -> ChannelConfig:
    """WhatsApp Cloud API (§3.11) or Messenger (§3.10) channel: one number or Page."""
    required = _META_KEYS[kind]
    extra = ("allowed_extensions",) if kind == "whatsapp" else ()
    m = _mapping(value, path, ("name", "type", "token", "base_url", "auto_close_days",
                               "send_rate") + required + extra,
                 ("name", "type", "token") + required)
    creds = {k: _text(m[k], (*path, k)) for k in required if k != "destination"}
    for key in ("number_id", "waba_id", "page_id"):
        if key in creds and not creds[key].isdigit():
            raise _err((*path, key), f"expected digits, got {creds[key]!r}")
    if kind == "whatsapp":
        entry: dict[str, Any] = {"number": creds["number"], "destination": m["destination"]}
        if "allowed_extensions" in m:
            entry["allowed_extensions"] = m["allowed_extensions"]
        if not E164.match(creds["number"]):
            raise _err((*path, "number"), f"expected an E.164 number like +15559871234, got "
                                          f"{creds['number']!r}")
        number = _number(entry, path, extensions, queues)
    else:
        number = ChannelNumber(creds["page_id"], _destination(
            m["destination"], (*path, "destination"), extensions, queues))
    return ChannelConfig(
        name=_text(m["name"], (*path, "name")), type=kind, provider=kind,
        token=_token(m["token"], (*path, "token")), api_key="", send_url="",
        numbers=(number,), auto_close_days=_auto_close(m, path),
        send_rate=_rate(m, path, META_RATE[kind], META_RATE[kind]),
        base_url=_base_url(m, path, META_BASE_URL), credentials=tuple(creds.items()))


SIP_NUMBER = re.compile(r"^[0-9]{2,20}$")


def _sip_channel(value: object, path: Path, extensions: frozenset[str],
                 queues: frozenset[str]) -> ChannelConfig:
    """RFC 3428 MESSAGE from the switch's phones: a number they send to (not an
    extension's) routed like an SMS number; the customer is the sending extension."""
    m = _mapping(value, path, ("name", "type", "numbers", "auto_close_days"),
                 ("name", "type", "numbers"))
    numbers_raw = m["numbers"]
    if not isinstance(numbers_raw, list) or not numbers_raw:
        raise _err((*path, "numbers"), "expected a list of at least one number")
    numbers = []
    for i, raw in enumerate(numbers_raw):
        npath = (*path, "numbers", i)
        n = _mapping(raw, npath, ("number", "destination"), ("number", "destination"))
        number = _text(n["number"], (*npath, "number"))
        if not SIP_NUMBER.match(number):
            raise _err((*npath, "number"), f"expected 2 to 20 digits, got {number!r}")
        if number in extensions:
            raise _err((*npath, "number"), f"{number} is an extension's number")
        numbers.append(ChannelNumber(number, _destination(
            n["destination"], (*npath, "destination"), extensions, queues)))
    return ChannelConfig(
        name=_text(m["name"], (*path, "name")), type="sip", provider="", token="",
        api_key="", send_url="", numbers=tuple(numbers),
        auto_close_days=(_int(m["auto_close_days"], (*path, "auto_close_days"), 1, 365)
                         if "auto_close_days" in m else None))


def _platform_paths(raw: object, path: Path) -> list[Path]:
    """The paths of the ``{type: api}`` destinations of one (already parsed) channel."""
    out: list[Path] = []
    if not isinstance(raw, Mapping):
        return out
    dests: list[tuple[object, Path]] = [(raw.get("destination"), (*path, "destination"))]
    numbers = raw.get("numbers")
    if isinstance(numbers, list):
        dests += [(n.get("destination"), (*path, "numbers", i, "destination"))
                  for i, n in enumerate(numbers) if isinstance(n, Mapping)]
    for dest, dpath in dests:
        if isinstance(dest, Mapping) and dest.get("type") == API:
            out.append((*dpath, "type"))
    return out


def parse_channels(value: object, extensions: Iterable[str],
                   message_queues: Iterable[str],
                   platform: bool = False) -> tuple[ChannelConfig, ...]:
    """The ``message_channels`` list; a number belongs to one channel only (an inbound
    message is routed by the number it was sent to). ``platform``: an API integration is
    configured (``messaging_api``), so the ``api`` destination is allowed."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _err(("message_channels",), "expected a list of channels")
    exts, queues = frozenset(extensions), frozenset(message_queues)
    channels = tuple(_channel(c, ("message_channels", i), exts, queues)
                     for i, c in enumerate(value))
    if not platform:
        for i, c in enumerate(value):
            for p in _platform_paths(c, ("message_channels", i)):
                raise _err(p, "the third-party platform destination needs an API "
                              "integration: list its extension in messaging_api.integrations")
    owners: dict[str, int] = {}
    tokens: set[str] = set()
    for i, c in enumerate(channels):
        if c.token and c.token in tokens:
            raise _err(("message_channels", i, "token"), "another channel has this token")
        tokens.add(c.token)
        for j, n in enumerate(c.numbers):
            if n.number in owners:
                raise _err(("message_channels", i, "numbers", j, "number"),
                           f"{n.number} is already a number of message_channels"
                           f"[{owners[n.number]}]")
            owners[n.number] = i
    return channels
