"""Errors of the live API as JSON (DESIGN.md "Contracts": REST under /api/v1/).

Every 4xx/5xx body is ``{"error": code, "message": text}`` plus ``"field"`` when one request
field is at fault (a dotted path such as ``reason`` or ``body.tags.0``). Handlers raise
`ApiError`; the `json_errors` middleware turns it, aiohttp's own HTTP errors (unknown path,
wrong method, too large a body) and any unexpected exception into that shape. An unexpected
exception is logged with its traceback and answered 500 ``internal`` without details.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from softswitch.log import get_logger

log = get_logger("web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal with its HTTP status, a stable ``code`` and a sentence for people."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def forbidden(message: str, field: str | None = None) -> ApiError:
    return ApiError(403, "forbidden", message, field)


def not_found(message: str, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", message, field)


def invalid_state(message: str, field: str | None = None) -> ApiError:
    return ApiError(409, "invalid_state", message, field)


def error_response(err: ApiError) -> web.Response:
    return web.json_response(err.body(), status=err.status, headers=err.headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(ApiError(exc.status, code, exc.reason, headers=headers))
    except Exception as exc:  # noqa: BLE001 - a client never sees a traceback
        log.exception("api handler failed", path=request.path, error=repr(exc))
        return error_response(ApiError(500, "internal", "internal error; see the switch log"))
