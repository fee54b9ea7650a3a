"""SIP requests and responses: parsing, building, serialising (RFC 3261 §7, §18.3, §20).

Our own parser instead of `sipmessage`: measured on this machine, sipmessage costs ~45 us to
parse, read the core headers of, and serialise a REGISTER; this module does the same in a
fraction of that (see benchmarks/sip_parse.py), and it also handles what sipmessage does not:
header folding, Content-Length framing, quote-aware comma lists, RFC 4475 error cases.

Design:
- `parse_message(data)` parses the start line and splits headers eagerly (unfolding, compact
  forms expanded, names canonicalised), validates what every layer needs (Via, From, To,
  Call-ID, CSeq, Content-Length, Max-Forwards, Expires) and keeps the rest as text.
- Typed header values (`Via`, `Address`, `CSeq`) are parsed once and stored back in the
  header entry, so changing a typed value in place (e.g. adding `received` to the top Via)
  shows in the serialised message.
- `bytes(message)` always writes a Content-Length matching the body.
- A malformed message raises `SipParseError`; if it was a request whose Via/From/To/
  Call-ID/CSeq parsed, `error.request` carries it so a 400 can be sent (RFC 3261 §21.4.1).
- The cost is linear in the message size for any input, and bounded by the limits of
  `softswitch.sip.limits` (message size, line length, header count, Content-Length digits,
  list elements, parameters): a message over one is answered 400 (414 for the
  Request-URI, 513 for the size) with the limit in the reason phrase when it is a readable
  request, dropped otherwise. Decisions: past `MAX_HEADERS` lines (continuation lines
  count), only the first `MAX_HEADERS` are read (enough to answer); past
  `MAX_MESSAGE_SIZE` bytes only the first `MAX_MESSAGE_SIZE`; over-long lines are left
  out, so the rest can still say where the 400 goes.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable

from .errors import SipParseError
from .headers import (
    Address,
    CSeq,
    Via,
    is_valid_method,
    split_header_list,
    too_many_elements,
)
from .limits import (
    MAX_CONTENT_LENGTH_DIGITS,
    MAX_HEADERS,
    MAX_LINE_LENGTH,
    MAX_LIST_ELEMENTS,
    MAX_MESSAGE_SIZE,
    MAX_URI_LENGTH,
    limit_phrase,
    small_int,
)
from .uri import Params, SipUri, parse_params

__all__ = [
    "Message",
    "Request",
    "Response",
    "parse_message",
    "reason_phrase",
    "StreamFramer",
    "MAX_MESSAGE_SIZE",
    "COMPACT_FORMS",
    "new_branch",
    "new_tag",
    "new_call_id",
    "random_bytes",
]

COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Allow-Events",
        "Authentication-Info",
        "Authorization",
        "Call-ID",
        "Call-Info",
        "Contact",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Error-Info",
        "Event",
        "Expires",
        "From",
        "In-Reply-To",
        "Max-Forwards",
        "Min-Expires",
        "MIME-Version",
        "Organization",
        "P-Asserted-Identity",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "Record-Route",
        "Refer-To",
        "Referred-By",
        "Reply-To",
        "Require",
        "Retry-After",
        "Route",
        "RSeq",
        "RAck",
        "Server",
        "Session-Expires",
        "Subject",
        "Subscription-State",
        "Supported",
        "Timestamp",
        "To",
        "Unsupported",
        "User-Agent",
        "Via",
        "Warning",
        "WWW-Authenticate",
    )
}
for _short, _long in COMPACT_FORMS.items():
    _CANONICAL[_short] = _long
    _CANONICAL.setdefault(_long.lower(), _long)
# any spelling, lower-cased -> (lower-case canonical name, canonical name)
_CANON_PAIR = {k: (v.lower(), v) for k, v in _CANONICAL.items()}
# the same for names spelled exactly as canonical or as a lower-case compact form (what
# nearly every phone sends): no lower() needed
_CANON_EXACT = {v: (v.lower(), v) for v in _CANONICAL.values()}
_CANON_EXACT.update((k, (v.lower(), v)) for k, v in COMPACT_FORMS.items())

# Headers whose values are comma-separated lists of elements (RFC 3261 §7.3.1).
_LIST_HEADERS = frozenset(
    {"via", "contact", "route", "record-route", "allow", "supported", "require",
     "proxy-require", "unsupported", "allow-events", "accept", "accept-encoding",
     "alert-info", "call-info"}
)

_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 199: "Early Dialog Terminated",
    200: "OK", 202: "Accepted", 204: "No Notification",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    412: "Conditional Request Failed", 413: "Request Entity Too Large",
    414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 489: "Bad Event", 491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The RFC 3261 §21 reason phrase for `status` (or a class default)."""
    r = _REASONS.get(status)
    if r is not None:
        return r
    return {1: "Trying", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error"}.get(
        status // 100, "Global Failure"
    )


_CALL_ID_RE = re.compile(r"\S{1,1024}\Z")
# Headers whose presence or simple syntax the parser checks while reading them.
_CHECKED = frozenset({"via", "cseq", "content-length", "max-forwards", "expires"})
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_LINE_SPLIT_RE = re.compile(r"\r\n|\n")
_STATUS_LINE_RE = re.compile(r"SIP/2\.0 ([0-9]{3}) (.*)\Z", re.S)
_HEADER_END_RE = re.compile(rb"\r\n\r\n|\n\n")
# A line break that starts a continuation line (RFC 3261 §7.3.1 folding).
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
# name HCOLON value (RFC 3261 §7.3.1); the value is stripped of surrounding whitespace.
# Anchored at line starts: unanchored, a line without a colon would be scanned again from
# each of its characters (quadratic in its length).
_HEADER_RE = re.compile(r"^([^:\r\n]+):[ \t]*([^\r\n]*)", re.M)

HeaderValue = str | Via | Address | CSeq | list[Via] | list[Address]


def _fmt(value: HeaderValue) -> str:
    if type(value) is str:
        return value
    if isinstance(value, list):
        if len(value) == 1:
            return str(value[0])
        return ", ".join([str(v) for v in value])
    return str(value)


def _canon(name: str) -> tuple[str, str]:
    pair = _CANON_EXACT.get(name)
    if pair is not None:
        return pair
    lk = name.lower()
    pair = _CANON_PAIR.get(lk)
    if pair is None:
        return lk, name
    return pair


class Message:
    """Common part of `Request` and `Response`: ordered headers and body.

    Header access by name is case-insensitive and understands compact forms. Typed
    properties (`via`, `vias`, `from_`, `to`, `call_id`, `cseq`, `contacts`, `expires`,
    `max_forwards`, `routes`, `record_routes`, `content_type`) parse on first use.
    """

    __slots__ = ("headers", "body", "_cseq", "_from", "_to", "_call_id", "_vias")

    def __init__(self, headers: Iterable[tuple[str, HeaderValue]] = (), body: bytes = b"") -> None:
        #: ordered header entries [lower-case name, display name, value]
        self.headers: list[list[object]] = []
        self.body = body
        self._cseq: CSeq | None = None
        self._from: Address | None = None
        self._to: Address | None = None
        self._call_id: str | None = None
        self._vias: list[Via] | None = None
        for name, value in headers:
            self.add(name, value)

    # -- raw header access -------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """The first header line's value for `name` as text, or None."""
        lk = _canon(name)[0]
        for e in self.headers:
            if e[0] == lk:
                return _fmt(e[2])  # type: ignore[arg-type]
        return None

    def get_all(self, name: str) -> list[str]:
        """All values for `name`; list headers (Via, Contact, Route, Allow ...) are split
        into their comma-separated elements."""
        lk = _canon(name)[0]
        out: list[str] = []
        for e in self.headers:
            if e[0] == lk:
                v = _fmt(e[2])  # type: ignore[arg-type]
                if lk in _LIST_HEADERS:
                    out.extend(split_header_list(v))
                else:
                    out.append(v)
        return out

    def has(self, name: str) -> bool:
        lk = _canon(name)[0]
        for e in self.headers:
            if e[0] == lk:
                return True
        return False

    def add(self, name: str, value: HeaderValue, *, first: bool = False) -> None:
        """Append a header line (or insert it before all others when `first`)."""
        lk, canon = _canon(name)
        entry: list[object] = [lk, canon, value]
        if first:
            self.headers.insert(0, entry)
        else:
            self.headers.append(entry)
        self._invalidate(lk)

    def set(self, name: str, value: HeaderValue) -> None:
        """Replace all lines of `name` with one (at the position of the first)."""
        lk, canon = _canon(name)
        for i, e in enumerate(self.headers):
            if e[0] == lk:
                self.headers[i] = [lk, canon, value]
                self.headers[i + 1 :] = [x for x in self.headers[i + 1 :] if x[0] != lk]
                break
        else:
            self.headers.append([lk, canon, value])
        self._invalidate(lk)

    def remove(self, name: str) -> None:
        lk = _canon(name)[0]
        self.headers = [e for e in self.headers if e[0] != lk]
        self._invalidate(lk)

    def _invalidate(self, lk: str) -> None:
        if lk == "via":
            self._vias = None
        elif lk == "from":
            self._from = None
        elif lk == "to":
            self._to = None
        elif lk == "cseq":
            self._cseq = None
        elif lk == "call-id":
            self._call_id = None

    def _single(self, lk: str, what: str) -> list[object]:
        found: list[object] | None = None
        for e in self.headers:
            if e[0] == lk:
                if found is not None:
                    raise SipParseError(f"more than one {what} header")
                found = e
        if found is None:
            raise SipParseError(f"missing {what} header")
        return found

    # -- typed core headers ------------------------------------------------------------

    @property
    def vias(self) -> list[Via]:
        """All Via values, topmost first (the list is a snapshot; use `insert_via` /
        `pop_via` to change the header, or change a Via object in place)."""
        v = self._vias
        if v is None:
            v = []
            for e in self.headers:
                if e[0] == "via":
                    val = e[2]
                    if type(val) is str:
                        elements = split_header_list(val)
                        if len(v) + len(elements) > MAX_LIST_ELEMENTS:
                            raise too_many_elements()
                        parsed = [Via.parse(x) for x in elements]
                        e[2] = parsed
                        v.extend(parsed)
                    elif isinstance(val, Via):
                        v.append(val)
                    else:
                        v.extend(val)  # type: ignore[arg-type]
            self._vias = v
        return v

    @property
    def via(self) -> Via:
        """The topmost Via; SipParseError when there is none."""
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via header")
        return vias[0]

    def insert_via(self, via: Via) -> None:
        self.add("Via", via, first=True)

    def pop_via(self) -> Via:
        """Remove and return the topmost Via value (RFC 3261 §16.7 / §18.1.2)."""
        top = self.via
        for i, e in enumerate(self.headers):
            if e[0] == "via":
                val = e[2]
                if isinstance(val, list) and len(val) > 1:
                    e[2] = val[1:]
                else:
                    del self.headers[i]
                break
        self._vias = None
        return top

    def _address(self, lk: str, what: str) -> Address:
        e = self._single(lk, what)
        val = e[2]
        if type(val) is str:
            addr = Address.parse(val)
            e[2] = addr
            return addr
        assert isinstance(val, Address)
        return val

    @property
    def from_(self) -> Address:
        a = self._from
        if a is None:
            a = self._from = self._address("from", "From")
        return a

    @from_.setter
    def from_(self, value: Address) -> None:
        self.set("From", value)

    @property
    def to(self) -> Address:
        a = self._to
        if a is None:
            a = self._to = self._address("to", "To")
        return a

    @to.setter
    def to(self, value: Address) -> None:
        self.set("To", value)

    @property
    def call_id(self) -> str:
        c = self._call_id
        if c is None:
            val = self._single("call-id", "Call-ID")[2]
            c = _fmt(val)  # type: ignore[arg-type]
            if _CALL_ID_RE.match(c) is None:
                raise SipParseError(f"invalid Call-ID {c!r}")
            self._call_id = c
        return c

    @property
    def cseq(self) -> CSeq:
        c = self._cseq
        if c is None:
            e = self._single("cseq", "CSeq")
            val = e[2]
            if type(val) is str:
                c = CSeq.parse(val)
                e[2] = c
            else:
                assert isinstance(val, CSeq)
                c = val
            self._cseq = c
        return c

    # -- typed other headers -----------------------------------------------------------

    def _addresses(self, lk: str) -> list[Address]:
        out: list[Address] = []
        for e in self.headers:
            if e[0] == lk:
                val = e[2]
                if type(val) is str:
                    # bounded for the whole message, not per line: 256 lines of 128
                    # elements would be 32,768 parses
                    elements = split_header_list(val)
                    if len(out) + len(elements) > MAX_LIST_ELEMENTS:
                        raise too_many_elements()
                    parsed = [Address.parse(x) for x in elements]
                    e[2] = parsed
                    out.extend(parsed)
                elif isinstance(val, Address):
                    out.append(val)
                else:
                    out.extend(val)  # type: ignore[arg-type]
        return out

    @property
    def contacts(self) -> list[Address]:
        """Contact values; `[Address.parse("*")]` for the REGISTER wildcard (RFC 3261
        §10.2.2). SipParseError when `*` is mixed with other contacts."""
        c = self._addresses("contact")
        if len(c) > 1 and any(a.is_wildcard for a in c):
            raise SipParseError("Contact '*' mixed with other contacts")
        return c

    @property
    def routes(self) -> list[Address]:
        return self._addresses("route")

    @property
    def record_routes(self) -> list[Address]:
        return self._addresses("record-route")

    def _int_header(self, lk: str, what: str, limit: int) -> int | None:
        found = None
        for e in self.headers:
            if e[0] == lk:
                found = _fmt(e[2])  # type: ignore[arg-type]
                break
        if found is None:
            return None
        v = found.strip()
        if not v.isdigit() or not v.isascii():
            raise SipParseError(f"invalid {what} {v[:20]!r}")
        n = small_int(v)
        return limit if n is None else min(n, limit)

    @property
    def expires(self) -> int | None:
        """Expires header as delta-seconds (clamped to 2**32-1, RFC 3261 §20.19)."""
        return self._int_header("expires", "Expires", 2**32 - 1)

    @property
    def max_forwards(self) -> int | None:
        return self._int_header("max-forwards", "Max-Forwards", 255)

    @property
    def content_type(self) -> str | None:
        """Media type, lower-case, without parameters (e.g. `application/sdp`)."""
        v = self.get("Content-Type")
        if v is None:
            return None
        return v.split(";", 1)[0].strip().lower()

    def _token_with_params(self, name: str) -> tuple[str, Params] | None:
        v = self.get(name)
        if v is None:
            return None
        value, semi, rest = v.partition(";")
        value = value.strip()
        if not value or _HEADER_NAME_RE.match(value) is None:
            raise SipParseError(f"invalid {name} {v.strip()[:40]!r}")
        return value, parse_params(semi + rest, f"{name} parameter")

    @property
    def event(self) -> tuple[str, Params] | None:
        """Event (RFC 6665 §8.2.1): (event package, parameters such as `id`), or None."""
        ev = self._token_with_params("Event")
        if ev is None:
            return None
        return ev[0].lower(), ev[1]

    @property
    def subscription_state(self) -> tuple[str, Params] | None:
        """Subscription-State (RFC 6665 §8.2.3): ("active" | "pending" | "terminated" | other,
        parameters such as `expires`, `reason`), or None."""
        st = self._token_with_params("Subscription-State")
        if st is None:
            return None
        return st[0].lower(), st[1]

    @property
    def alert_info(self) -> list[Address]:
        """Alert-Info values (RFC 3261 §20.4): `<uri>;params`, e.g. `;info=alert-autoanswer`
        or a distinctive ring URI."""
        return self._addresses("alert-info")

    # -- serialisation -----------------------------------------------------------------

    def _start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        parts = [self._start_line()]
        append = parts.append
        for e in self.headers:
            if e[0] != "content-length":
                v = e[2]
                t = type(v)
                if t is str:
                    append(f"{e[1]}: {v}")
                elif t is list and len(v) == 1:  # type: ignore[arg-type]
                    # one parsed Via/Contact per line, the usual case: formatted directly
                    append(f"{e[1]}: {v[0]}")  # type: ignore[index]
                elif t is Via or t is Address or t is CSeq:
                    append(f"{e[1]}: {v}")
                else:
                    append(f"{e[1]}: {_fmt(v)}")  # type: ignore[arg-type]
        parts.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(parts).encode("utf-8", "surrogateescape") + self.body

    def to_bytes(self) -> bytes:
        return self.__bytes__()

    def __str__(self) -> str:
        return bytes(self).decode("utf-8", "replace")

    def _copy_headers_from(self, other: Message, names: Iterable[str]) -> None:
        for name in names:
            lk = _canon(name)[0]
            for e in other.headers:
                if e[0] == lk:
                    self.headers.append([lk, e[1], e[2]])


class Request(Message):
    """A SIP request. `uri` is the parsed Request-URI."""

    __slots__ = ("method", "uri")

    def __init__(
        self,
        method: str,
        uri: SipUri | str,
        headers: Iterable[tuple[str, HeaderValue]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri if isinstance(uri, SipUri) else SipUri.parse(uri)

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    def create_response(
        self,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, HeaderValue]] = (),
        body: bytes = b"",
    ) -> Response:
        """Build a response per RFC 3261 §8.2.6.2: Via list, From, Call-ID, CSeq copied; To
        copied and given `to_tag` when it has no tag yet; Timestamp echoed on 100;
        Record-Route copied on dialog-creating 1xx/2xx (§12.1.1)."""
        resp = Response(status, reason)
        if status == 100:
            extra = "timestamp"
        elif 100 < status < 300 and self.method in ("INVITE", "SUBSCRIBE"):
            extra = "record-route"
        else:
            extra = ""
        # One pass over the request's headers, kept in the order Via, From, To, Call-ID,
        # CSeq, then Timestamp / Record-Route.
        vias: list[list[object]] = []
        from_: list[list[object]] = []
        call_id: list[list[object]] = []
        cseq: list[list[object]] = []
        more: list[list[object]] = []
        to_entry: list[object] | None = None
        for e in self.headers:
            lk = e[0]
            if lk == "via":
                vias.append([lk, e[1], e[2]])
            elif lk == "from":
                from_.append([lk, e[1], e[2]])
            elif lk == "to":
                if to_entry is None:
                    to = e[2]
                    if to_tag is not None and status != 100:
                        to = self.to
                        if to.tag is None:
                            to = to.copy()
                            to.params["tag"] = to_tag
                    # Without a new tag the parsed To is shared with the request (cheap);
                    # give `to_tag` rather than editing `resp.to` in place.
                    to_entry = ["to", "To", to]
            elif lk == "call-id":
                call_id.append([lk, e[1], e[2]])
            elif lk == "cseq":
                cseq.append([lk, e[1], e[2]])
            elif lk == extra:
                more.append([lk, e[1], e[2]])
        out = resp.headers
        out += vias
        out += from_
        if to_entry is not None:
            out.append(to_entry)
        out += call_id
        out += cseq
        out += more
        for name, value in headers:
            resp.add(name, value)
        resp.body = body
        return resp


class Response(Message):
    """A SIP response."""

    __slots__ = ("status", "reason")

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        headers: Iterable[tuple[str, HeaderValue]] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason if reason is not None else reason_phrase(status)

    def _start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one SIP message from a datagram (or from a frame cut by `StreamFramer`).

    Over UDP (`stream=False`) a Content-Length shorter than the data truncates the body
    (RFC 3261 §18.3), a longer one is an error (RFC 4475 §3.1.2.3), a missing one means the
    rest of the datagram. Raises `SipParseError`, never anything else, for any bytes; the
    work is linear in `len(data)` (see `softswitch.sip.limits`).
    """
    try:
        return _parse(data, stream)
    except SipParseError:
        raise
    except (ValueError, LookupError, TypeError, AttributeError, ArithmeticError) as exc:
        raise SipParseError(f"malformed message ({exc})") from None


def _over(what: str, limit: int, status: int = 400) -> SipParseError:
    """The error for a message over one of the limits (its reason phrase names it)."""
    base = reason_phrase(status)
    return SipParseError(f"over {limit} {what}", None, status, limit_phrase(what, limit, base))


def _unfold(head: str) -> str:
    """Join continuation lines (RFC 3261 §7.3.1): the blanks around each folding line break
    become one SP. Cut at the breaks, then strip each piece: linear (a regex matching
    `[ \t]*\r?\n[ \t]+` would try every blank of a long run as a start, quadratic)."""
    parts = _FOLD_RE.split(head)
    if len(parts) == 1:
        return head
    last = len(parts) - 1
    return " ".join([p.rstrip(" \t") if i == 0 else p.lstrip(" \t") if i == last
                     else p.strip(" \t") for i, p in enumerate(parts)])


def _parse(data: bytes, stream: bool) -> Request | Response:
    # The first problem found; raised at the end, with the request when it can be answered.
    error: SipParseError | None = None
    if len(data) > MAX_MESSAGE_SIZE:
        # Read what fits, to answer a request whose head is in there.
        data = data[:MAX_MESSAGE_SIZE]
        error = _over("bytes in a message", MAX_MESSAGE_SIZE, 513)
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end >= 0:
        head_bytes = data[start:end]
        body = data[end + 4 :]
    else:
        m = _HEADER_END_RE.search(data, start)
        if m is None:
            raise SipParseError("no end of headers (missing empty line)")
        head_bytes = data[start : m.start()]
        body = data[m.end() :]
    head = head_bytes.decode("utf-8", "surrogateescape")
    breaks = head.count("\n")
    if breaks > MAX_HEADERS:
        # Keep the start line and the first MAX_HEADERS lines (counted before unfolding,
        # which costs per line): enough to answer, bounded work.
        cut = -1
        for _ in range(MAX_HEADERS + 1):
            cut = head.find("\n", cut + 1)
        head = head[:cut].rstrip("\r")
        breaks = MAX_HEADERS
        if error is None:
            error = _over("header lines", MAX_HEADERS)
    if "\n " in head or "\n\t" in head:
        head = _unfold(head)
        breaks = head.count("\n")
    nl = head.find("\n")
    if nl < 0:
        first, rest = head, ""
    else:
        first, rest = head[:nl].rstrip("\r"), head[nl + 1 :]
    line_breaks = breaks - 1 if breaks else 0  # in `rest`

    msg: Request | Response
    request: Request | None = None
    if first.startswith("SIP/"):
        if len(first) > MAX_LINE_LENGTH:
            raise SipParseError("status line too long")
        sm = _STATUS_LINE_RE.match(first)
        if sm is None:
            if first.startswith("SIP/2.0 "):
                raise SipParseError(f"invalid status line {first[:80]!r}")
            raise SipParseError("unsupported SIP version in status line")
        status = int(sm.group(1))
        if status < 100 or status > 699:
            raise SipParseError(f"invalid status code {status}")
        msg = Response(status, sm.group(2))
    else:
        parts = first.split(" ")
        method = parts[0]
        if not method or not is_valid_method(method):
            raise SipParseError(f"invalid request line {first[:80]!r}")
        request = msg = Request.__new__(Request)
        Message.__init__(msg)
        msg.method = method
        if len(parts) != 3:
            # RFC 4475 §3.1.2.8-10: LWS inside or around the Request-URI / version.
            if error is None:
                error = SipParseError(f"invalid request line {first[:80]!r}")
            msg.uri = SipUri("invalid")
        elif len(first) > MAX_URI_LENGTH and len(parts[1]) > MAX_URI_LENGTH:
            if error is None:
                error = _over("characters in the Request-URI", MAX_URI_LENGTH, 414)
            msg.uri = SipUri("invalid")
        else:
            version = parts[2]
            if version != "SIP/2.0" and error is None:
                if version.upper().startswith("SIP/"):
                    error = SipParseError(f"unsupported SIP version {version[:20]!r}",
                                          None, 505)
                else:
                    error = SipParseError(f"invalid request line {first[:80]!r}")
            try:
                msg.uri = SipUri.parse(parts[1])
                if msg.uri.headers is not None:
                    # §19.1.1: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
                    raise SipParseError("header parameters in the Request-URI")
            except SipParseError as exc:
                if not hasattr(msg, "uri"):
                    msg.uri = SipUri("invalid")
                if error is None:
                    error = exc
            if len(first) > MAX_LINE_LENGTH and error is None:
                error = _over("characters in a line", MAX_LINE_LENGTH)

    hdrs = msg.headers
    # Found on the way through the headers, so no second pass is needed.
    cl_text: str | None = None
    has_via = has_cseq = False
    if len(rest) > MAX_LINE_LENGTH:
        # (only headers longer than the limit can hold a line longer than it) Over-long
        # lines are left out: the rest may still say where to send the 400.
        lines = rest.split("\n")
        if max(map(len, lines)) > MAX_LINE_LENGTH + 1:  # (+1: the line's CR)
            if error is None:
                error = _over("characters in a line", MAX_LINE_LENGTH)
            lines = [ln for ln in lines if len(ln) <= MAX_LINE_LENGTH + 1]
            rest = "\n".join(lines)
            line_breaks = len(lines) - 1
    if rest:
        found = _HEADER_RE.findall(rest)
        if len(found) != line_breaks + 1 and error is None:
            bad = next((ln for ln in _LINE_SPLIT_RE.split(rest)
                        if _HEADER_RE.match(ln) is None), "")
            error = SipParseError(f"invalid header line {bad[:60]!r}")
        canonical = _CANON_PAIR
        exact = _CANON_EXACT
        for name, value in found:
            pair = exact.get(name)
            if pair is None:
                if name[-1] in " \t":
                    name = name.rstrip(" \t")
                lk = name.lower()
                pair = canonical.get(lk)
                if pair is None:
                    if _HEADER_NAME_RE.match(name) is None:
                        if error is None:
                            error = SipParseError(f"invalid header name {name[:40]!r}")
                        continue
                    if value[-1:] in (" ", "\t"):
                        value = value.rstrip(" \t")
                    hdrs.append([lk, name, value])
                    continue
            if value[-1:] in (" ", "\t"):
                value = value.rstrip(" \t")
            clk = pair[0]
            hdrs.append([clk, pair[1], value])
            if clk in _CHECKED:
                if clk == "via":
                    has_via = True
                elif clk == "cseq":
                    has_cseq = True
                elif clk == "content-length":
                    if cl_text is not None and value != cl_text and error is None:
                        error = SipParseError("conflicting Content-Length headers")
                    cl_text = value
                elif (not value.isdigit() or not value.isascii()) and error is None:
                    # Max-Forwards / Expires: 1*DIGIT (RFC 3261 §20.22, §20.19)
                    error = SipParseError(f"invalid {pair[1]} {value[:20]!r}")

    # A request is answered at its source address (see transaction.py), so a 400 can be
    # sent whenever the client can match it: a Via and a CSeq must be there, even if
    # malformed (RFC 4475 §3.1.2.1). Responses with a bad Via are dropped (§18.1.2).
    try:
        vias = msg.vias
        if not vias:
            raise SipParseError("missing Via header")
    except SipParseError as exc:
        if request is None or not has_via:
            raise SipParseError(exc.reason) from None
        if error is None:
            error = exc
    if request is not None and not has_cseq:
        raise SipParseError("missing CSeq header")

    try:
        # URIs are checked, not kept: an Address whose URI nobody reads serialises from its
        # text (`Address.check_uri`).
        msg.from_.check_uri()
        msg.to.check_uri()
        _ = msg.call_id
        cseq = msg.cseq
        if request is not None and cseq.method != request.method:
            raise SipParseError("CSeq method does not match the request method")
        for contact in msg.contacts:
            contact.check_uri()
    except SipParseError as exc:
        if error is None:
            error = exc

    if cl_text is not None:
        if not cl_text.isdigit() or not cl_text.isascii():
            if error is None:
                error = SipParseError(f"invalid Content-Length {cl_text[:20]!r}")
        elif len(cl_text) > MAX_CONTENT_LENGTH_DIGITS:
            if error is None:
                error = _over("digits in Content-Length", MAX_CONTENT_LENGTH_DIGITS)
        else:
            length = int(cl_text)
            if length > len(body):
                if error is None:
                    error = SipParseError("Content-Length larger than the message body")
            else:
                msg.body = body[:length]
    elif stream:
        if error is None:
            error = SipParseError("missing Content-Length on a stream transport")
    else:
        msg.body = body
    if error is not None:
        raise SipParseError(error.reason, request, error.status, error.phrase)
    return msg


class StreamFramer:
    """Cuts a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3) and
    recognises RFC 5626 §3.5.1 CRLF keepalives.

    `feed(data)` returns a list of items: `bytes` (one framed message, to be given to
    `parse_message(..., stream=True)`) or the string "ping" for a double-CRLF keepalive (to
    be answered with a single CRLF "pong"). Raises `SipParseError` when the stream cannot be
    framed any more (no or bad Content-Length, garbage, over-size); the connection must then
    be closed, since its framing is lost. When the unframeable head is a readable request,
    the error carries it (`error.request`), so it can still be answered 400.

    Linear in the bytes fed, however they are cut: the buffer grows in place, the search for
    the end of the headers resumes where the last one stopped, and messages are taken off
    the buffer once per `feed`, not one copy each.
    """

    __slots__ = ("_buf", "_scan")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the search for the next end of headers resumes

    def feed(self, data: bytes) -> list[bytes | str]:
        buf = self._buf
        buf += data
        n = len(buf)
        pos = 0
        out: list[bytes | str] = []
        try:
            while pos < n:
                c = buf[pos]
                if c == 13 or c == 10:
                    if buf.startswith(b"\r\n\r\n", pos):
                        out.append("ping")
                        pos += 4
                        continue
                    if buf.startswith(b"\r\n", pos):
                        if n - pos == 2:
                            break  # may be the first half of a ping; wait
                        pos += 2  # a lone CRLF: a pong or stray line ending
                        continue
                    if c == 13 and n - pos == 1:
                        break
                    pos += 1
                    continue
                end = buf.find(b"\r\n\r\n", max(pos, self._scan))
                if end < 0:
                    if n - pos > MAX_MESSAGE_SIZE:
                        raise _unframeable(bytes(buf[pos : pos + MAX_MESSAGE_SIZE]),
                                           "headers too large on stream")
                    self._scan = max(pos, n - 3)  # a CRLFCRLF may straddle two reads
                    break
                head = bytes(buf[pos:end])
                length = _stream_content_length(head)
                total = end + 4 + length - pos
                if total > MAX_MESSAGE_SIZE:
                    raise _unframeable(head, "message too large on stream",
                                       _over("bytes in a message", MAX_MESSAGE_SIZE, 513))
                if n - pos < total:
                    self._scan = end  # found again at once when the body is in
                    break
                out.append(bytes(buf[pos : pos + total]))
                pos += total
        except SipParseError:
            self._buf = bytearray()
            self._scan = 0
            raise
        del buf[:pos]
        self._scan = max(0, self._scan - pos)
        return out


_CL_RE = re.compile(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.I)


def _stream_content_length(head: bytes) -> int:
    m = _CL_RE.search(head)
    if m is None:
        raise _unframeable(head, "missing Content-Length on a stream transport")
    v = m.group(1).strip()
    if not v.isdigit():
        raise _unframeable(head, "invalid Content-Length on a stream transport")
    if len(v) > MAX_CONTENT_LENGTH_DIGITS:
        raise _unframeable(head, "Content-Length too long on a stream transport",
                           _over("digits in Content-Length", MAX_CONTENT_LENGTH_DIGITS))
    return int(v)


def _unframeable(head: bytes, reason: str, limit: SipParseError | None = None
                 ) -> SipParseError:
    """The error for a stream whose framing is lost at `head`: with the request in it when
    the head is a readable request, so the client learns why before the connection
    closes."""
    try:
        parse_message(head + b"\r\n\r\n", stream=True)
    except SipParseError as exc:
        if exc.request is not None:
            if limit is not None:
                return SipParseError(reason, exc.request, limit.status, limit.phrase)
            return SipParseError(reason, exc.request, exc.status, exc.phrase)
    return SipParseError(reason)


class _RandomPool:
    """os.urandom() read 4 KiB at a time: one system call per ~400 tags/branches/nonces
    instead of one each. Same kernel CSPRNG bytes; a forked child starts a new pool so it
    never repeats its parent's values."""

    __slots__ = ("buf", "pos", "lock")

    SIZE = 4096

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0
        # Two threads must never get the same bytes (a tag or branch used twice).
        self.lock = threading.Lock()

    def take(self, n: int) -> bytes:
        with self.lock:
            p = self.pos
            e = p + n
            if e > len(self.buf):
                self.buf = os.urandom(self.SIZE)
                p, e = 0, n
            self.pos = e
            return self.buf[p:e]

    def reset(self) -> None:
        self.buf = b""
        self.pos = 0
        self.lock = threading.Lock()


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.reset)
#: `random_bytes(n)`: n bytes from the kernel CSPRNG (buffered, see `_RandomPool`)
random_bytes = _pool.take


def new_branch() -> str:
    """A fresh RFC 3261 §8.1.1.7 branch (magic cookie + 64 random bits)."""
    return "z9hG4bK" + random_bytes(8).hex()


def new_tag() -> str:
    """A fresh From/To tag (§19.3: at least 32 random bits)."""
    return random_bytes(6).hex()


def new_call_id() -> str:
    """A fresh, globally unique Call-ID (§8.1.1.4)."""
    return random_bytes(12).hex()
