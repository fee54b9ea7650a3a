"""Typed values of the SIP headers the stack reads (RFC 3261 §20, §25.1).

Each value class has `parse(text)` (raising `SipParseError`) and `__str__` giving the header
value back. Values are small `__slots__` objects; the message layer parses them lazily and
caches them, so a header nobody reads costs nothing.
"""

from __future__ import annotations

import re

from .errors import SipParseError
from .limits import MAX_LIST_ELEMENTS, limit_phrase, small_int
from .uri import Params, SipUri, check_uri, format_params, parse_params

__all__ = [
    "Address",
    "Via",
    "CSeq",
    "KNOWN_METHODS",
    "split_header_list",
    "parse_auth_params",
    "quote",
    "unquote_string",
]

_TOKEN_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
)
_METHOD_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_CSEQ_RE = re.compile(r"\s*([0-9]{1,10})\s+([A-Za-z0-9\-.!%*_+`'~]+)\s*\Z")
_VIA_RE = re.compile(
    r"\s*SIP\s*/\s*[0-9]+\.[0-9]+\s*/\s*([A-Za-z0-9\-.!%*_+`'~]+)\s+"
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(?:\s*:\s*([0-9]{1,5}))?\s*(;.*)?\Z",
    re.S | re.I,
)
# The same for the plain spelling (no LWS inside, upper-case SIP/2.0), which is much faster
# to match; _VIA_RE decides for everything else.
_VIA_FAST_RE = re.compile(
    r"SIP/2\.0/([A-Za-z0-9\-.!%*_+`'~]+) "
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._\-]+)(?::([0-9]{1,5}))?(;[^\s]*)?\Z"
)
_AUTH_PARAM_RE = re.compile(
    r'\s*([A-Za-z0-9\-.!%*_+`\'~]+)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^\s,"]*)\s*(?:,|\Z)', re.S
)
# One pass over a whole list: each step takes one parameter, or (group 3) everything from
# a place where none starts, which makes the list invalid. Taking all the rest there, not
# one character, keeps it linear: a name not followed by '=' would otherwise be tried
# again from each of its characters. (Quoted strings in the unrolled form
# "[^"\\]*(\\.[^"\\]*)*": an alternation per character costs several times more.)
_AUTH_LIST_RE = re.compile(_AUTH_PARAM_RE.pattern + r"|(.+)", re.S)
MAGIC_COOKIE = "z9hG4bK"


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value (RFC 3261 §7.3.1) into its elements, ignoring
    commas inside quoted strings and `<...>`. One pass over the characters; more than
    `MAX_LIST_ELEMENTS` elements is a SipParseError (the message is over a limit)."""
    if "," not in value:
        return [value.strip()]
    if value.count(",") >= MAX_LIST_ELEMENTS:
        if '"' not in value and "<" not in value:
            raise too_many_elements()  # every comma separates two elements
        parts = _split_list(value)
        if len(parts) > MAX_LIST_ELEMENTS:
            raise too_many_elements()
        return parts
    if '"' not in value and "<" not in value:
        return [v.strip() for v in value.split(",")]
    return _split_list(value)


def too_many_elements() -> SipParseError:
    """The error for a header with more than `MAX_LIST_ELEMENTS` elements."""
    what = "elements in a header"
    return SipParseError(f"over {MAX_LIST_ELEMENTS} {what}", None, 400,
                         limit_phrase(what, MAX_LIST_ELEMENTS))


def _split_list(value: str) -> list[str]:
    if '"' not in value and "<" not in value:
        return [v.strip() for v in value.split(",")]
    parts: list[str] = []
    cur: list[str] = []
    in_quote = in_angle = escape = False
    for ch in value:
        if in_quote:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_quote = False
        elif in_angle:
            if ch == ">":
                in_angle = False
        elif ch == '"':
            in_quote = True
        elif ch == "<":
            in_angle = True
        elif ch == ",":
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if in_quote:
        raise SipParseError("unterminated quoted string")
    if in_angle:
        raise SipParseError("unterminated <...>")
    parts.append("".join(cur).strip())
    return parts


def quote(s: str) -> str:
    """Quote `s` as a quoted-string (RFC 3261 §25.1)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_string(s: str) -> str:
    """Inverse of `quote()`; returns `s` unchanged when it is not quoted."""
    if len(s) >= 2 and s[0] == '"' and s[-1] == '"':
        inner = s[1:-1]
        if "\\" in inner:
            return re.sub(r"\\(.)", r"\1", inner, flags=re.S)
        return inner
    return s


_CACHE_SIZE = 4096
_CACHE_TEXT_MAX = 256
_new_object = object.__new__
_ADDRESSES: dict[str, Address] = {}


class Address:
    """name-addr / addr-spec with header parameters: From, To, Contact, Route,
    Record-Route, Reply-To (RFC 3261 §20.10, §20.20, §20.39).

    `display_name` is unquoted text (None when absent). A Contact of `*` is represented by
    `Address.parse("*")`, whose `is_wildcard` is True and whose `uri` is a placeholder.
    """

    __slots__ = ("display_name", "_uri", "_uri_text", "params", "is_wildcard")

    def __init__(
        self,
        uri: SipUri | None,
        display_name: str | None = None,
        params: Params | None = None,
        *,
        is_wildcard: bool = False,
        uri_text: str = "",
    ) -> None:
        # The URI is parsed on first use: From/To URIs are rarely read on the hot path.
        self._uri = uri
        self._uri_text = uri_text
        self.display_name = display_name
        self.params: Params = params if params is not None else {}
        self.is_wildcard = is_wildcard

    @property
    def uri(self) -> SipUri:
        u = self._uri
        if u is None:
            u = self._uri = SipUri.parse(self._uri_text)
        return u

    @uri.setter
    def uri(self, value: SipUri) -> None:
        self._uri = value

    def check_uri(self) -> None:
        """Raise SipParseError when the URI is not valid, without keeping it parsed."""
        if self._uri is None and not self.is_wildcard:
            check_uri(self._uri_text)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """The Contact `expires` parameter as an int (None when absent); SipParseError when
        it is not a number (RFC 3261 §20.10: delta-seconds)."""
        v = self.params.get("expires")
        if v is None:
            return None
        if not v.isdigit() or not v.isascii():
            raise SipParseError(f"invalid expires parameter {v[:20]!r}")
        n = small_int(v)
        return 2**32 - 1 if n is None else min(n, 2**32 - 1)

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse a name-addr / addr-spec with parameters. A phone's To and Contact come
        again with every REGISTER, so valid short values are remembered by their text and
        handed out as copies (their `params` dict is the copy's own)."""
        hit = _ADDRESSES.get(text)
        if hit is not None:
            a = _new_object(Address)
            a._uri = None
            a._uri_text = hit._uri_text
            a.display_name = hit.display_name
            a.params = dict(hit.params) if hit.params else {}
            a.is_wildcard = False
            return a
        if text[:1] == "<":
            # `<uri>;params` whose `<uri>` part was seen before (a From with a new tag):
            # only the parameters are new.
            gt = text.find(">")
            base = _ADDRESSES.get(text[: gt + 1]) if gt > 0 else None
            if base is not None:
                tail = text[gt + 1 :].strip()
                if not tail or tail[0] == ";":
                    a = _new_object(Address)
                    a._uri = None
                    a._uri_text = base._uri_text
                    a.display_name = None
                    a.params = parse_params(tail, "header parameter")
                    a.is_wildcard = False
                    return a
        addr = cls._parse(text)
        if not addr.is_wildcard and len(text) <= _CACHE_TEXT_MAX:
            if len(_ADDRESSES) >= _CACHE_SIZE:
                _ADDRESSES.clear()
            _ADDRESSES[text] = addr.copy()
            if addr.params and text[:1] == "<":
                gt = text.find(">")
                if gt > 0 and text[: gt + 1] not in _ADDRESSES:
                    _ADDRESSES[text[: gt + 1]] = Address(None, None, {}, uri_text=addr._uri_text)
        return addr

    @classmethod
    def _parse(cls, text: str) -> Address:
        s = text.strip()
        if s == "*":
            return cls(SipUri(""), params={}, is_wildcard=True)
        display: str | None = None
        if s.startswith('"'):
            i = 1
            n = len(s)
            while i < n:
                c = s[i]
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    break
                i += 1
            else:
                raise SipParseError("unterminated display name")
            display = unquote_string(s[: i + 1])
            rest = s[i + 1 :].lstrip()
            if not rest.startswith("<"):
                raise SipParseError("display name not followed by <URI>")
        else:
            lt = s.find("<")
            if lt > 0:
                disp = s[:lt].strip()
                # Unquoted display names are tokens separated by LWS (RFC 3261 §25.1);
                # non-ASCII letters are tolerated (phones do send unquoted UTF-8 names),
                # separators such as ',' are not (RFC 4475 §3.1.2.15).
                for word in disp.split():
                    if not all(c in _TOKEN_CHARS or c > "\x7f" for c in word):
                        raise SipParseError(f"invalid display name {disp!r}")
                display = disp or None
                rest = s[lt:]
            else:
                rest = s
        if rest.startswith("<"):
            gt = rest.find(">")
            if gt < 0:
                raise SipParseError("missing > in address")
            uri_text = rest[1:gt]
            if not uri_text or uri_text != uri_text.strip() or ":" not in uri_text:
                raise SipParseError(f"invalid URI in address {uri_text!r}")
            tail = rest[gt + 1 :].strip()
        else:
            # addr-spec: the URI ends at the first ';' which starts header parameters
            # (RFC 3261 §20.10), and must not contain ',', '?' or LWS.
            semi = rest.find(";")
            uri_text = rest if semi < 0 else rest[:semi]
            uri_text = uri_text.strip()
            if not uri_text or any(c in uri_text for c in ' \t,?<>"'):
                raise SipParseError(f"invalid address {text.strip()!r}")
            tail = "" if semi < 0 else rest[semi:].strip()
        if tail and not tail.startswith(";"):
            raise SipParseError(f"unexpected text after address: {tail!r}")
        params = parse_params(tail, "header parameter")
        return cls(None, display, params, uri_text=uri_text)

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        if self.display_name is not None:
            disp = self.display_name
            head = f"{quote(disp)} " if disp else '"" '
            out = f"{head}<{self._uri if self._uri is not None else self._uri_text}>"
        else:
            out = f"<{self._uri if self._uri is not None else self._uri_text}>"
        if self.params:
            out += format_params(self.params)
        return out

    def __repr__(self) -> str:
        return f"Address({str(self)!r})"

    def copy(self) -> Address:
        return Address(
            self._uri.copy() if self._uri is not None else None,
            self.display_name,
            dict(self.params),
            is_wildcard=self.is_wildcard,
            uri_text=self._uri_text,
        )


class Via:
    """One Via value (RFC 3261 §20.42, §18.2.1, RFC 3581).

    `rport` is None when absent, "" for a bare `;rport` flag, else the port text.
    """

    __slots__ = ("transport", "host", "port", "params")

    def __init__(
        self, transport: str, host: str, port: int | None = None, params: Params | None = None
    ) -> None:
        self.transport = transport.upper()
        self.host = host
        self.port = port
        self.params: Params = params if params is not None else {}

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> str | None:
        if "rport" not in self.params:
            return None
        return self.params["rport"] or ""

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return (self.host, self.port)

    @classmethod
    def parse(cls, text: str) -> Via:
        m = _VIA_FAST_RE.match(text)  # what nearly every phone sends
        if m is None:
            m = _VIA_RE.match(text)
        if m is None:
            raise SipParseError(f"invalid Via {text.strip()!r}")
        transport, host, port_s, params_s = m.groups()
        port = None
        if port_s is not None:
            port = int(port_s)
            if port > 65535 or port == 0:
                raise SipParseError(f"invalid Via port {port_s}")
        if not host.startswith("[") and host[-1:] == "-":
            raise SipParseError(f"invalid Via host {host!r}")
        params = parse_params(params_s.strip() if params_s else "", "Via parameter")
        rport = params.get("rport")
        if rport is not None and not rport.isdigit():
            raise SipParseError(f"invalid rport {rport!r}")
        return cls(transport, host.lower(), port, params)

    def __str__(self) -> str:
        hp = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"SIP/2.0/{self.transport} {hp}{format_params(self.params)}"

    def __repr__(self) -> str:
        return f"Via({str(self)!r})"


class CSeq:
    """CSeq: sequence number (< 2**31, RFC 3261 §8.1.1.5) and method."""

    __slots__ = ("number", "method")

    def __init__(self, number: int, method: str) -> None:
        self.number = number
        self.method = method

    @classmethod
    def parse(cls, text: str) -> CSeq:
        m = _CSEQ_RE.match(text)
        if m is None:
            raise SipParseError(f"invalid CSeq {text.strip()!r}")
        number = int(m.group(1))
        if number >= 2**31:
            raise SipParseError(f"CSeq number too large: {number}")
        return cls(number, m.group(2))

    def __str__(self) -> str:
        return f"{self.number} {self.method}"

    def __repr__(self) -> str:
        return f"CSeq({self.number}, {self.method!r})"


def parse_auth_params(text: str) -> tuple[str, dict[str, str]]:
    """Parse `Digest k=v, k="v", ...` (Authorization, WWW-Authenticate, Proxy-*;
    RFC 3261 §25.1, RFC 7616 §3.4) into (scheme, {lower-case name: unquoted value})."""
    s = text.strip()
    scheme, _, rest = s.partition(" ")
    if scheme != "Digest" and (not scheme or not all(c in _TOKEN_CHARS for c in scheme)):
        raise SipParseError("invalid auth scheme")
    rest = rest.strip()
    params: dict[str, str] = {}
    for name, value, bad in _AUTH_LIST_RE.findall(rest):
        if bad:
            raise SipParseError("invalid auth parameter list")
        if value[:1] == '"' and "\\" not in value:
            value = value[1:-1]
        else:
            value = unquote_string(value)
        params[name.lower()] = value
    return scheme, params


#: The SIP methods of the IANA registry: a request with any other method is answered 501
#: Not Implemented (RFC 3261 §8.2.1), one of these that a UAS does not allow 405.
KNOWN_METHODS = frozenset({
    "ACK", "BYE", "CANCEL", "INFO", "INVITE", "MESSAGE", "NOTIFY", "OPTIONS", "PRACK",
    "PUBLISH", "REFER", "REGISTER", "SUBSCRIBE", "UPDATE",
})


def is_valid_method(method: str) -> bool:
    return _METHOD_RE.match(method) is not None
