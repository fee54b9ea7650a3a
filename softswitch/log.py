"""Logging set-up: structlog, readable console lines by default, JSON lines on request.

Every SIP transaction and call logs with `call_id=` bound (`log.bind(call_id=...)`), so one
call's lines can be picked out of a busy log with grep or jq. Lines go to standard output,
one per event; in JSON mode each line is one object with at least `event`, `level` and
`timestamp` (ISO 8601 UTC).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}


def configure_logging(fmt: str = "console", level: str = "info",
                      stream: TextIO | None = None, cache: bool = True) -> None:
    """Configure structlog process-wide. `fmt` is "console" or "json".

    `cache=True` (the running switch) lets each module-level logger bind its processors once,
    on first use, which keeps filtered-out log calls cheap on the hot paths. A cached logger
    keeps that configuration for the life of the process, so tests that configure logging
    pass `cache=False`: otherwise every later test's log lines would go to their stream.
    """
    out = stream if stream is not None else sys.stdout
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        processors += [structlog.processors.format_exc_info,
                       structlog.processors.JSONRenderer(default=str)]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=cache,
    )
    # Libraries using the standard logging module (aiohttp, aiosqlite) go to the same stream.
    logging.basicConfig(stream=out, level=max(LEVELS.get(level, logging.INFO), logging.INFO),
                        format="%(levelname)s %(name)s: %(message)s", force=True)


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger with `component=name` and any extra keys bound."""
    # A lazy proxy: module-level loggers pick up `configure_logging` even though they are
    # created at import time, before it runs.
    return structlog.get_logger(name, component=name, **bound)
