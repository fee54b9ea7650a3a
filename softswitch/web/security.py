"""The admin API for source-address bans, and the `softswitch bans` command that uses it.

    GET    /api/v1/security/bans            -> 200 {"bans": [ban, ...]}
    DELETE /api/v1/security/bans/{address}  -> 200 {"lifted": ban}
    ban = {"address", "failures", "since", "until" (ISO 8601 UTC), "remaining" (seconds)}

Errors are JSON `{"error": code, "message": text}`: 401 `unauthorized` (with
`WWW-Authenticate: Basic`), 403 `banned` or `forbidden` (not an admin), 400 `bad_address`,
404 `not_banned`.

Decisions:
- Admins authenticate like every API user (softswitch.web.auth): a bearer token from
  POST /api/v1/login, or HTTP Basic auth (RFC 7617, what `softswitch bans` sends) as an
  extension listed in the config's `admins`, with that extension's number and SIP
  password. Failed log-ins count toward the brute-force guard shared with SIP digest.
- An address is any IPv4 or IPv6 text Python's `ipaddress` reads (`[::1]` too) and is
  matched in canonical form; anything else is 400, never 404.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from aiohttp import web

from softswitch.sip.auth import Ban, normalize_address
from softswitch.web.auth import Credentials
from softswitch.web.errors import ApiError, json_errors

__all__ = ["BanList", "add_routes", "bans_command", "PREFIX"]

PREFIX = "/api/v1/security"
REALM = "softswitch admin"


class BanList(Protocol):
    """What the handlers need from the switch's bans (softswitch.app.AddressBans)."""

    def clock(self) -> float: ...

    def wall(self, at: float) -> float: ...

    def is_banned(self, address: str) -> bool: ...

    def record_failure(self, address: str, via: str, **context: Any) -> bool: ...

    def bans(self) -> list[Ban]: ...

    def lift(self, address: str, by: str) -> Ban | None: ...


BANS = web.AppKey("bans", BanList)
CREDENTIALS = web.AppKey("security_credentials", Credentials)
ADMIN_USER = web.RequestKey("admin_user", str)  # the extension number that logged in

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, bans: BanList, admins: Mapping[str, str] | None = None,
               *, credentials: Credentials | None = None) -> None:
    """Mount the security API on `app` under PREFIX. Log-in is the live API's
    (softswitch.web.auth): pass the switch's `credentials`, or `admins` (extension ->
    password) for a stand-alone API whose only users are those admins."""
    if credentials is None:
        table = dict(admins or {})
        credentials = Credentials(password=table.get,
                                  admins=lambda: frozenset(table), bans=bans)
    sub = web.Application(middlewares=[json_errors, _admin_only])
    sub[BANS] = bans
    sub[CREDENTIALS] = credentials
    sub.router.add_get("/bans", list_bans)
    sub.router.add_delete("/bans/{address}", lift_ban)
    app.add_subapp(PREFIX, sub)


def error(status: int, code: str, message: str,
          headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status,
                             headers=headers)


@web.middleware
async def _admin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = request.app[CREDENTIALS].from_header(request.headers.get("Authorization"),
                                                     request.remote or "")
    if not principal.admin:
        raise ApiError(403, "forbidden", f"{principal.extension} is not an admin")
    request[ADMIN_USER] = principal.extension
    return await handler(request)


def ban_json(ban: Ban, bans: BanList) -> dict[str, Any]:
    now = bans.clock()
    return {"address": ban.address, "failures": ban.failures,
            "since": iso_utc(bans.wall(ban.since)), "until": iso_utc(bans.wall(ban.until)),
            "remaining": max(0, math.ceil(ban.until - now))}


def iso_utc(epoch: float) -> str:
    """Epoch seconds as ISO 8601 UTC, to the second (API bodies and ban log lines)."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


async def list_bans(request: web.Request) -> web.Response:
    bans = request.app[BANS]
    return web.json_response({"bans": [ban_json(b, bans) for b in bans.bans()]})


async def lift_ban(request: web.Request) -> web.Response:
    text = request.match_info["address"]
    try:
        address = normalize_address(text)
    except ValueError:
        return error(400, "bad_address", f"not an IP address: {text!r}")
    bans = request.app[BANS]
    ban = bans.lift(address, by=request[ADMIN_USER])
    if ban is None:
        return error(404, "not_banned", f"{address} is not banned")
    return web.json_response({"lifted": ban_json(ban, bans)})


# ----------------------------------------------------------------------------- the command


def bans_command(args: argparse.Namespace) -> int:
    """`softswitch bans list|lift ADDRESS --config FILE [--user N --password P]`: 0 on
    success; 1 when the switch refused or could not be reached; 2 on bad usage."""
    from softswitch.web.client import ApiClient, CommandError, table

    if args.action == "lift" and not args.address:
        print("softswitch bans lift: give the ADDRESS to lift", file=sys.stderr)
        return 2
    if args.action == "list" and args.address:
        print("softswitch bans list: takes no ADDRESS", file=sys.stderr)
        return 2
    try:
        client = ApiClient.from_args(args, "bans")
        if args.action == "lift":
            path = f"{PREFIX}/bans/{urllib.parse.quote(args.address, safe='')}"
            ban = client.request("DELETE", path)["lifted"]
            print(f"lifted the ban on {ban['address']} ({ban['failures']} failed "
                  f"authentications, banned since {ban['since']})")
            return 0
        rows = client.request("GET", f"{PREFIX}/bans")["bans"]
    except CommandError as exc:
        if str(exc):
            print(exc if exc.code == 2 else f"softswitch bans {args.action}: {exc}",
                  file=sys.stderr)
        return exc.code
    if not rows:
        print("no banned addresses")
        return 0
    print(table(("ADDRESS", "FAILURES", "SINCE", "UNTIL", "REMAINING"),
                [(b["address"], b["failures"], b["since"], b["until"], f"{b['remaining']}s")
                 for b in rows]))
    return 0
