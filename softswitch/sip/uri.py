"""SIP and SIPS URIs (RFC 3261 §19.1) and the parameter lists they share with headers.

`SipUri.parse()` is strict about what the transaction and dialog layers rely on (scheme,
host, port) and lenient about the rest (user part and parameters are kept as written, with
%-escapes left in place, so a URI serialises back byte-for-byte). URIs of other schemes
(`tel:`, `mailto:`, `http:` ...) parse into a `SipUri` whose `scheme` says so and whose
`opaque` holds everything after the colon; the TU answers 416 for them (RFC 3261 §8.2.2.1).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from .errors import SipParseError
from .limits import MAX_PARAMS, MAX_URI_LENGTH, limit_phrase

__all__ = ["SipUri", "Params", "parse_params", "format_params", "unquote", "check_uri"]

#: parameters: name -> value (None for a flag parameter such as `;lr` or `;rport`).
Params = dict[str, str | None]

_HOSTNAME = (
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
)
_IPV4 = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
_IPV6 = r"\[[0-9A-Fa-f:.]+\]"
_URI_RE = re.compile(
    r"(?P<scheme>[Ss][Ii][Pp][Ss]?):"
    r"(?:(?P<userinfo>[^@]*)@)?"
    rf"(?P<host>{_IPV6}|{_IPV4}|{_HOSTNAME})"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<params>;[^?]*)?"
    r"(?:\?(?P<headers>.*))?\Z",
    re.S,
)
_SCHEME_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?P<rest>\S+)\Z")
# user / password characters (RFC 3261 §25.1: unreserved / escaped / user-unreserved) plus
# the user-part parameters of tel-style users; anything else (space, <, >, ", @) is invalid.
_USERINFO_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%:\[\]]*\Z")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:/&$]+\Z")
_SIMPLE_PARAMS_RE = re.compile(
    r"(?:;[A-Za-z0-9\-.!%*_+`'~\[\]:/&$]+(?:=[^;\s\"=][^;\s\"]*)?)+\Z"
)


_IPV4_RE = re.compile(_IPV4 + r"\Z")


def _valid_ipv4(host: str) -> bool:
    if _IPV4_RE.match(host) is None:
        return True  # a hostname, already checked by the regex
    a, b, c, d = host.split(".")
    return int(a) <= 255 and int(b) <= 255 and int(c) <= 255 and int(d) <= 255


def parse_params(text: str, what: str = "parameter") -> Params:
    """Parse `;name=value;flag` (the leading `;` included) into an ordered dict.

    Names are lower-cased (parameter names are case-insensitive, RFC 3261 §7.3.1); values are
    kept as written, quoted strings with their quotes. Whitespace around `;` and `=` is allowed
    (header parameters are separated by SEMI = SWS ";" SWS).
    """
    params: Params = {}
    if not text:
        return params
    if _SIMPLE_PARAMS_RE.match(text) is not None:
        # The common case (no quotes, no whitespace): one regex has validated everything.
        simple = text[1:].split(";")
        if len(simple) > MAX_PARAMS:
            raise _too_many_params(what)
        for part in simple:
            name, eq, value = part.partition("=")
            params[name.lower()] = value if eq else None
        return params
    parts = _split_params(text)
    if len(parts) > MAX_PARAMS:
        raise _too_many_params(what)
    for part in parts:
        part = part.strip()
        if not part:
            raise SipParseError(f"empty {what}")
        name, eq, value = part.partition("=")
        name = name.strip()
        if not name or _TOKEN_RE.match(name) is None:
            raise SipParseError(f"invalid {what} name {name!r}")
        if eq:
            value = value.strip()
            if value.startswith('"'):
                if len(value) < 2 or not value.endswith('"'):
                    raise SipParseError(f"unterminated quoted {what} value")
            elif not value or any(c in value for c in ' \t"'):
                raise SipParseError(f"invalid {what} value {value!r}")
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _too_many_params(what: str) -> SipParseError:
    what = f"{what}s"
    return SipParseError(f"over {MAX_PARAMS} {what}", None, 400, limit_phrase(what, MAX_PARAMS))


def _split_params(text: str) -> list[str]:
    """Split on `;` outside quoted strings; `text` starts with `;`."""
    if '"' not in text:
        return text.split(";")[1:]
    parts: list[str] = []
    cur: list[str] = []
    in_quote = False
    escape = False
    for ch in text[1:]:
        if in_quote:
            cur.append(ch)
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
            cur.append(ch)
        elif ch == ";":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if in_quote:
        raise SipParseError("unterminated quoted string in parameters")
    parts.append("".join(cur))
    return parts


def format_params(params: Params) -> str:
    return "".join([f";{k}" if v is None else f";{k}={v}" for k, v in params.items()])


class SipUri:
    """A `sip:`/`sips:` URI (RFC 3261 §19.1.1), or an opaque URI of another scheme.

    `user` keeps its %-escapes (compare with `unquote(uri.user)` when that matters);
    `port` is None when absent (the default port depends on transport, §19.1.2).
    """

    __slots__ = ("scheme", "user", "password", "host", "port", "params", "headers", "opaque")

    def __init__(
        self,
        host: str,
        user: str | None = None,
        port: int | None = None,
        params: Params | None = None,
        *,
        scheme: str = "sip",
        password: str | None = None,
        headers: str | None = None,
        opaque: str | None = None,
    ) -> None:
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params: Params = params if params is not None else {}
        self.headers = headers
        self.opaque = opaque

    @property
    def is_sip(self) -> bool:
        return self.opaque is None

    @property
    def transport(self) -> str | None:
        """The `transport` URI parameter, lower-case, or None."""
        t = self.params.get("transport")
        return t.lower() if t else None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a URI; raises `SipParseError` for anything that is not one.

        The same URIs arrive again and again (a phone's AOR in From/To, its Contact, our own
        Request-URI), so valid short ones are remembered by their text and handed out as
        copies: a copy costs a fraction of a parse, and callers may still change theirs."""
        cached = _PARSED.get(text)
        if cached is not None:
            return cached._clone()
        if len(text) > MAX_URI_LENGTH:
            raise SipParseError(f"URI over {MAX_URI_LENGTH} characters", None, 400,
                                limit_phrase("characters in a URI", MAX_URI_LENGTH))
        uri = cls._parse(text)
        if len(text) <= _CACHE_TEXT_MAX:
            if len(_PARSED) >= _CACHE_SIZE:
                _PARSED.clear()  # bounded; refilled by the URIs still in use
            _PARSED[text] = uri._clone()
        return uri

    def _clone(self) -> SipUri:
        u = _new_uri(SipUri)
        u.scheme = self.scheme
        u.user = self.user
        u.password = self.password
        u.host = self.host
        u.port = self.port
        u.params = dict(self.params) if self.params else {}
        u.headers = self.headers
        u.opaque = self.opaque
        return u

    @classmethod
    def _parse(cls, text: str) -> SipUri:
        m = _URI_RE.match(text)
        if m is None:
            o = _SCHEME_RE.match(text)
            if o is None:
                raise SipParseError(f"invalid URI {text!r}")
            oscheme = o.group("scheme").lower()
            if oscheme in ("sip", "sips"):
                raise SipParseError(f"invalid SIP URI {text!r}")
            return cls("", scheme=oscheme, opaque=o.group("rest"))
        scheme, userinfo, host, port_s, params_s, headers = m.groups()
        if host[0].isdigit() and not _valid_ipv4(host):
            raise SipParseError(f"invalid host in URI {text!r}")
        user = password = None
        if userinfo is not None:
            if not userinfo or _USERINFO_RE.match(userinfo) is None:
                raise SipParseError(f"invalid user part in URI {text!r}")
            user, colon, pw = userinfo.partition(":")
            if colon:
                password = pw
        port = None
        if port_s is not None:
            port = int(port_s)
            if port > 65535:
                raise SipParseError(f"invalid port in URI {text!r}")
        uri = cls.__new__(cls)
        uri.scheme = scheme if scheme == "sip" else scheme.lower()
        uri.user = user
        uri.password = password
        uri.host = host.lower()
        uri.port = port
        uri.params = parse_params(params_s, "URI parameter") if params_s else {}
        uri.headers = headers
        uri.opaque = None
        return uri

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(self.user)
            if self.password is not None:
                out.append(":" + self.password)
            out.append("@")
        out.append(self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.params:
            out.append(format_params(self.params))
        if self.headers is not None:
            out.append("?" + self.headers)
        return "".join(out)

    def __repr__(self) -> str:
        return f"SipUri({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        """URI comparison of RFC 3261 §19.1.4: scheme, user and password (case-sensitive,
        after unescaping), host (case-insensitive), port; `user`, `ttl`, `method`, `maddr`
        and `transport` must match when either URI has them, any other parameter when both
        have it; headers must match as an unordered set."""
        if not isinstance(other, SipUri):
            return NotImplemented
        if self.opaque is not None or other.opaque is not None:
            return self.scheme == other.scheme and self.opaque == other.opaque
        if not (
            self.scheme == other.scheme
            and _unq(self.user) == _unq(other.user)
            and _unq(self.password) == _unq(other.password)
            and self.host == other.host
            and self.port == other.port
        ):
            return False
        mine, theirs = self.params, other.params
        for k in ("transport", "user", "method", "maddr", "ttl"):
            if _lower(mine.get(k)) != _lower(theirs.get(k)):
                return False
        for k in mine.keys() & theirs.keys():
            if _lower(mine[k]) != _lower(theirs[k]):
                return False
        return _header_set(self.headers) == _header_set(other.headers)

    def __hash__(self) -> int:
        return hash((self.scheme, _unq(self.user), self.host, self.port))

    def copy(self) -> SipUri:
        """An independent copy (its own `params` dict)."""
        return self._clone()


_PARSED: dict[str, SipUri] = {}


def check_uri(text: str) -> None:
    """Raise SipParseError unless `text` is a valid URI (cheap for one seen before)."""
    if text not in _PARSED:
        SipUri.parse(text)


_CACHE_SIZE = 4096
_CACHE_TEXT_MAX = 256
_new_uri = object.__new__


def _header_set(headers: str | None) -> frozenset[str]:
    if not headers:
        return frozenset()
    return frozenset(unquote(h) for h in headers.split("&"))


def _unq(s: str | None) -> str | None:
    return unquote(s) if s is not None and "%" in s else s


def _lower(s: str | None) -> str | None:
    return s.lower() if s is not None else None
