"""The switch's HTTP side (DESIGN.md "Contracts": REST under /api/v1/).

softswitch.web.server.build_app(router) assembles it (softswitch.app calls it once):

    POST /api/v1/login, REST under /api/v1/ (softswitch.web.rest), the websocket
    /api/v1/ws (softswitch.web.ws, protocol in PROTOCOL.md beside this file),
    /api/v1/openapi.json (generated from the pydantic models), /metrics (Prometheus),
    /api/v1/security/bans (softswitch.web.security), /api/v1/health (softswitch.app).

Modules: api (app keys, the auth middleware, the endpoint table), auth (log-in, tokens,
Basic), permissions (the §7.4 matrix), errors (JSON errors middleware), models (pydantic),
live + panels (the live state, its figures and its feed), rest and ws (the two faces),
operations (shared by both), calllogs (records, dispositions, notes), contacts (company
contacts: the caller names of §6.9 and their API), metrics, openapi, security (bans),
client (the `softswitch show|agent|bans` commands), server (assembly).

Adding authenticated routes from another module (the reports, call operations)::

    from softswitch.web.api import Endpoint, add_routes, body, require_queue

    async def missed_report(request: web.Request) -> web.Response:
        queue = request.match_info["queue"]
        access = require_queue(request, queue, "missed_calls")  # 404 / 403 with a reason
        params = await body(request, MyModel)                   # 400 naming the field
        ...
        return web.json_response({...})

    add_routes(app, [Endpoint("GET", "/reports/{queue}/missed", missed_report,
                              "Missed calls of a queue", query=(("since", "ISO date"),))])

Every non-public endpoint requires a log-in (bearer token or Basic; the middleware puts the
caller in `softswitch.web.api.principal(request)`), raising `softswitch.web.errors.ApiError`
anywhere gives the JSON error, and the endpoint appears in the OpenAPI document (its
``body`` model's ``examples`` are sent by tests/web/test_rest_api.py). `add_routes` must be
called before the app starts (in `build_app`, or on the app it returns).
"""
