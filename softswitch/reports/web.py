"""The report API (queue-admin.md §8):

    GET /api/v1/reports                 -> 200 {"reports": [{type, section, title?, filters,
                                                            time_series}, ...]}
    GET /api/v1/reports/{type}?from=..&to=..[&queue=..&agent=..&granularity=..&tz=..
        &exclude_abandoned_within=..&exclude_talk_within=..&result=..&pause_reason=..
        &details=1]
        [&format=json|csv|html]
      json (default): {"type", "title", "filters", "columns": [{key, label, kind}],
                       "rows": [{"total", "values" (raw: seconds, counts, percent, epoch
                                 seconds), "shown" (the cells as the manual prints them)}]}
      csv: the table as the manual prints it (attachment ``<type>_<from>_<to>.csv``)
      html: a printable page with the table, and a chart (inline SVG) for the time-series
            reports (queue_wait_talk, queue_performance_activity, callback_summary)

The filters are those of softswitch.reports.request (each report refuses filters it does
not have). Errors are JSON ``{"error": code, "message": text}``: 400 ``bad_filter``,
401 ``unauthorized``, 403 ``forbidden`` / ``banned``, 404 ``unknown_report``.

Who may ask (§7.1, §7.4): admins (the config's ``admins``) for every queue; a queue's
managers (``queues[].managers``) for the queues they manage, and only those: without a
``queue`` filter they get their own queues. They log in with HTTP Basic auth, extension
number and SIP password (as the admin API, softswitch.web.security). `authorize` is the
one place that decides; the token log-in of the live API replaces it there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from .catalog import REPORTS, run_report
from .output import CSV_TYPE, to_csv, to_html
from .report import Directory, Source
from .request import ReportRequestError, parse_request

PREFIX = "/api/v1/reports"
REALM = "softswitch reports"


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who asked: ``queues`` None for an admin (every queue), else the queues managed."""

    user: str
    queues: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class ReportAccess:
    """Passwords of admins and managers, and the queues each manager manages."""

    admins: frozenset[str]
    managed: Mapping[str, frozenset[str]]
    passwords: Mapping[str, str]

    @classmethod
    def from_config(cls, config: Any) -> ReportAccess:
        managed: dict[str, set[str]] = {}
        for q in (config.acd.queues if config.acd is not None else ()):
            for m in q.managers:
                managed.setdefault(m, set()).add(q.number)
        return cls(frozenset(config.admins), {m: frozenset(q) for m, q in managed.items()},
                   {e.number: e.password for e in config.extensions})


@dataclass(slots=True)
class ReportService:
    source: Source
    config: Callable[[], Any]  # the current configuration (follows reloads)
    bans: Any = None  # softswitch.app.AddressBans: failed log-ins count toward a ban
    wall_clock: Callable[[], float] = time.time


SERVICE = web.AppKey("report_service", ReportService)


def error(status: int, code: str, message: str,
          headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status,
                             headers=headers)


def authorize(request: web.Request, access: ReportAccess,
              bans: Any = None) -> Viewer | web.Response:
    """The viewer of a request (an admin or a queue manager, logged in as the live API's
    users are: a bearer token from POST /api/v1/login, or HTTP Basic), or the error
    response to send instead. Failed log-ins count toward the same ban as SIP's."""
    from softswitch.web.api import CREDENTIALS
    from softswitch.web.errors import ApiError

    source = request.remote or ""
    credentials = request.app.get(CREDENTIALS)
    if credentials is None:  # the report app alone (tests without the live API)
        return error(503, "unavailable", "the switch's log-in is not running")
    try:
        principal = credentials.from_header(request.headers.get("Authorization"), source)
    except ApiError as exc:
        return error(exc.status, exc.code, exc.message, exc.headers)
    user = principal.extension
    if principal.admin or user in access.admins:
        return Viewer(user, None)
    if user not in access.managed:
        return error(403, "forbidden", f"{user} is neither an admin nor a queue manager")
    return Viewer(user, access.managed[user])


async def list_reports(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    viewer = authorize(request, ReportAccess.from_config(service.config()), service.bans)
    if isinstance(viewer, web.Response):
        return viewer
    return web.json_response({"reports": [
        {"type": r.name, "section": r.section,
         "filters": sorted({"from", "to", "queue", "tz"} | {
             "result" if f == "callback_result" else f for f in r.filters}),
         "time_series": r.time_series} for r in REPORTS.values()]})


async def get_report(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    config = service.config()
    viewer = authorize(request, ReportAccess.from_config(config), service.bans)
    if isinstance(viewer, web.Response):
        return viewer
    kind = request.match_info["type"]
    if kind not in REPORTS:
        return error(404, "unknown_report", f"no report {kind!r}; expected one of "
                                            f"{', '.join(REPORTS)}")
    params: dict[str, list[str]] = {}
    for key, value in request.query.items():
        params.setdefault(key, []).append(value)
    fmt = (params.get("format") or ["json"])[0]
    if fmt not in ("json", "csv", "html"):
        return error(400, "bad_filter", f"format: expected json, csv or html, got {fmt!r}")
    names = Directory.from_config(config)
    try:
        asked = parse_request(kind, params, names, now=service.wall_clock())
    except ReportRequestError as exc:
        return error(400, "bad_filter", str(exc))
    filters = asked.filters
    if viewer.queues is not None:
        outside = sorted(set(filters.queues) - viewer.queues)
        if outside:
            return error(403, "forbidden", f"{viewer.user} does not manage queue {outside[0]}")
        if not filters.queues:
            filters = replace(filters, queues=tuple(sorted(viewer.queues)))
    report = await run_report(kind, service.source, filters, names)
    if fmt == "csv":
        span = "_".join(v[0] for k, v in sorted(params.items()) if k in ("date", "from", "to"))
        name = f"{kind}_{span}.csv".replace(":", "").replace("/", "-")
        return web.Response(body=to_csv(report).encode("utf-8"), headers={
            "Content-Type": CSV_TYPE, "Content-Disposition": f'attachment; filename="{name}"'})
    if fmt == "html":
        return web.Response(text=to_html(report), content_type="text/html")
    return web.json_response(report.as_json())


def add_routes(app: web.Application, service: ReportService) -> None:
    """Mount the report API on `app` under PREFIX."""
    app[SERVICE] = service
    app.router.add_get(PREFIX, list_reports)
    app.router.add_get(PREFIX + "/{type}", get_report)


def openapi_paths() -> dict[str, Any]:
    """The report endpoints as OpenAPI 3 path items (for /api/v1/openapi.json)."""
    def param(name: str, description: str, schema: dict[str, Any] | None = None,
              required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": required,
                "description": description, "schema": schema or {"type": "string"}}

    error = {"description": "JSON {error, message}"}
    return {
        PREFIX: {"get": {
            "summary": "The report types and the filters each one takes",
            "security": [{"basic": []}],
            "responses": {"200": {"description": "{reports: [{type, section, filters, "
                                                 "time_series}]}"}, "401": error}}},
        PREFIX + "/{type}": {"get": {
            "summary": "One report (queue-admin §8) as JSON, CSV or a printable page",
            "security": [{"basic": []}],
            "parameters": [
                {"name": "type", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": list(REPORTS)}},
                param("from", "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", required=True),
                param("to", "inclusive: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS", required=True),
                param("date", "time-series reports, instead of from/to: YYYY, YYYY-MM, "
                              "MM/YYYY or YYYY-MM-DD"),
                param("queue", "queue numbers, comma-separated or repeated"),
                param("agent", "agent extensions, comma-separated or repeated"),
                param("tz", "IANA time zone (default: the queue's, else UTC)"),
                param("granularity", "time buckets",
                      {"type": "string", "enum": ["hour", "day", "week", "month"]}),
                param("exclude_abandoned_within", "seconds", {"type": "number"}),
                param("exclude_talk_within", "seconds", {"type": "number"}),
                param("result", "callback result",
                      {"type": "string", "enum": ["all", "success", "failed"]}),
                param("pause_reason", "a pause reason, '-' for none"),
                param("details", "1: the call-by-call drill-down", {"type": "boolean"}),
                param("format", "output", {"type": "string",
                                           "enum": ["json", "csv", "html"]})],
            "responses": {"200": {"description": "{type, title, filters, columns, rows: "
                                                 "[{total, values, shown}]}; text/csv; "
                                                 "text/html"},
                          "400": error, "401": error, "403": error, "404": error}}},
    }
