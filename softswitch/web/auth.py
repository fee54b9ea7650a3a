"""Who is calling the API: log-in with an extension's number and SIP password, bearer
tokens, and the roles the configuration gives that extension.

    POST /api/v1/login   {"extension": "1001", "password": "..."}
                         -> 200 {"token", "extension", "expires_in", "roles"}
    POST /api/v1/logout  (authenticated) -> 200 {"logged_out": true}

A request proves itself with ``Authorization: Bearer <token>``, or with HTTP Basic auth
(RFC 7617) as extension:password (what `softswitch bans` and scripts send); a websocket may
also put the token in its first message or in ``?token=`` (softswitch/web/PROTOCOL.md).

Roles (queue-admin.md §7.1, §7.4; computed per request from the current configuration, so a
reload applies at once): ``admin`` (the config's top-level ``admins``: operator commands,
every queue readable), queue ``manager`` (the queue's ``managers``), ``agent`` (a static or
dynamic member of the queue). One extension may hold several.

Decisions:
- One credential per person, the phone's: no second password to manage. Over plain HTTP it
  crosses the wire in the clear, so `http.listen` stays on loopback or a trusted LAN.
- Tokens are random (256 bits), held in memory, valid ``TOKEN_LIFETIME`` seconds from
  log-in; a restart of the switch or a changed password (reload) ends them.
- A wrong extension or password counts as one failed authentication of the source address
  in the switch's brute-force guard, shared with SIP digest (softswitch.sip.auth); a banned
  address gets 403 ``banned`` before its credentials are looked at. A request without any
  credentials is 401 and does not count (clients send one first to learn they must log in).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from softswitch.web.errors import ApiError

TOKEN_LIFETIME = 12 * 3600.0
REALM = "softswitch"


class BanList(Protocol):
    """What log-in needs from the switch's bans (softswitch.app.AddressBans)."""

    def clock(self) -> float: ...

    def is_banned(self, address: str) -> bool: ...

    def record_failure(self, address: str, via: str, **context: Any) -> bool: ...


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated extension; ``admin`` from the config's ``admins``."""

    extension: str
    admin: bool


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    principal: Principal
    expires: float


class Credentials:
    """Checks extension passwords and keeps the issued tokens. ``password(extension)`` (None
    for no such extension) and ``admins()`` are called each time, so that a reload's new
    configuration applies."""

    def __init__(self, password: Callable[[str], str | None],
                 admins: Callable[[], frozenset[str]], bans: BanList,
                 lifetime: float = TOKEN_LIFETIME) -> None:
        self._password = password
        self._admins = admins
        self.bans = bans
        self.lifetime = lifetime
        self._sessions: dict[str, Session] = {}

    def check_password(self, extension: str, password: str) -> Principal | None:
        expected = self._password(extension)
        # compare even for an unknown extension, so the answer takes as long either way
        ok = hmac.compare_digest(password.encode(), (expected or "\0" + password).encode())
        if expected is None or not ok:
            return None
        return Principal(extension, extension in self._admins())

    def log_in(self, extension: str, password: str, source: str) -> Session:
        """A new session, or ApiError 401/403 (the failure counted toward a ban)."""
        self.refuse_banned(source)
        principal = self.check_password(extension, password)
        if principal is None:
            self.bans.record_failure(source, "http", extension=extension)
            raise ApiError(401, "unauthorized", "wrong extension or password",
                           field="password")
        now = self.bans.clock()
        self._expire(now)
        session = Session(secrets.token_urlsafe(32), principal, now + self.lifetime)
        self._sessions[session.token] = session
        return session

    def log_out(self, token: str) -> None:
        self._sessions.pop(token, None)

    def refuse_banned(self, source: str) -> None:
        if self.bans.is_banned(source):
            raise ApiError(403, "banned", f"{source} is banned after too many failed log-ins")

    def from_token(self, token: str, source: str) -> Principal:
        """The principal of a bearer token; an unknown or expired one is 401 and counts as
        a failed authentication (a guessed token is a guessed password)."""
        self.refuse_banned(source)
        session = self._sessions.get(token)
        now = self.bans.clock()
        if session is None or session.expires <= now:
            self._sessions.pop(token, None)
            self.bans.record_failure(source, "http", reason="bad token")
            raise unauthorized("unknown or expired token; log in again")
        # the extension may have lost its admin role (or been removed) by a reload
        if self._password(session.principal.extension) is None:
            raise unauthorized("this extension no longer exists")
        admin = session.principal.extension in self._admins()
        return Principal(session.principal.extension, admin)

    def from_header(self, header: str | None, source: str) -> Principal:
        """The principal an Authorization header proves (Bearer or Basic), else 401."""
        self.refuse_banned(source)
        if header is None:
            raise unauthorized("log in first: POST /api/v1/login, then send "
                               "'Authorization: Bearer <token>'")
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self.from_token(value.strip(), source)
        if scheme.lower() == "basic":
            user, password = _basic(value)
            principal = self.check_password(user, password) if user else None
            if principal is None:
                self.bans.record_failure(source, "http", extension=user)
                raise unauthorized("wrong extension or password")
            return principal
        raise unauthorized(f"unsupported authorization scheme {scheme!r}")

    def _expire(self, now: float) -> None:
        if len(self._sessions) > 1000:
            self._sessions = {t: s for t, s in self._sessions.items() if s.expires > now}


def unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message,
                    headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8", '
                                                 f'Bearer realm="{REALM}"'})


def _basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else ("", "")
