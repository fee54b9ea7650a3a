"""A report asked for in words (API query parameters, command-line options, a scheduled
report): the type and its filters, checked, with a clear message for anything wrong.

Parameters: ``from`` and ``to`` (``YYYY-MM-DD``: the whole day; ``YYYY-MM-DDTHH:MM:SS`` or
``YYYY-MM-DD HH:MM:SS``: to the second, ``to`` inclusive like the manual's ``23:59:59``;
``MM/DD/YYYY`` forms too), or for the time-series reports ``date`` (the manual's "Select
date": ``2023`` a year, ``2023-12`` or ``12/2023`` a month, ``2023-12-27`` a day),
``queue`` and ``agent`` (comma-separated, repeatable), ``exclude_abandoned_within`` and
``exclude_talk_within`` (seconds), ``granularity`` (hour, day, week, month), ``tz`` (an IANA
time zone; default: the first chosen queue's time zone, else UTC), ``result`` (all,
success, failed: the callback report), ``pause_reason`` (``-`` for pauses without a
reason) and ``details`` (``1``/``true``: the call-by-call drill-down of Queue Performance,
Queue Performance Activity and Agent Performance). A filter the chosen report does not have
is refused rather than silently ignored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .catalog import REPORTS
from .report import CALLBACK_RESULTS, GRANULARITIES, Directory, ReportFilters

COMMON = frozenset({"from", "to", "queue", "tz", "format"})
SERIES = frozenset({"date"})  # the time-series reports' "Select date" (§8.3, §8.5, §8.6)
OPTIONAL = {"agent": "agent", "exclude_abandoned_within": "exclude_abandoned_within",
             "exclude_talk_within": "exclude_talk_within", "granularity": "granularity",
             "result": "callback_result", "pause_reason": "pause_reason",
             "details": "details"}


class ReportRequestError(ValueError):
    """A wrong report type or filter; the message names the parameter."""


@dataclass(frozen=True, slots=True)
class ReportRequest:
    type: str
    filters: ReportFilters


def _moment(text: str, zone: ZoneInfo, name: str, end: bool) -> float:
    text = text.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S",
                "%Y-%m-%dT%H:%M"):
        try:
            moment = dt.datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
        return moment.timestamp() + (1 if end else 0)
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if end:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(), zone).timestamp()
    raise ReportRequestError(f"{name}: expected a date YYYY-MM-DD or a date-time "
                             f"YYYY-MM-DDTHH:MM:SS, got {text!r}")


def _selected(text: str, zone: ZoneInfo) -> tuple[float, float]:
    """§8.3/§8.5 "Select date": a year (YYYY), a month (YYYY-MM or MM/YYYY) or a day."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            first, last = dt.date(int(text), 1, 1), dt.date(int(text) + 1, 1, 1)
        elif m := re.fullmatch(r"(\d{4})-(\d{1,2})|(\d{1,2})/(\d{4})", text):
            year = int(m.group(1) or m.group(4))
            month = int(m.group(2) or m.group(3))
            first = dt.date(year, month, 1)
            last = dt.date(year + month // 12, month % 12 + 1, 1)
        else:
            day = _moment(text, zone, "date", False)
            return day, _moment(text, zone, "date", True)
    except ValueError:
        raise ReportRequestError(f"date: expected YYYY, YYYY-MM, MM/YYYY or YYYY-MM-DD, "
                                 f"got {text!r}") from None
    return (dt.datetime.combine(first, dt.time(), zone).timestamp(),
            dt.datetime.combine(last, dt.time(), zone).timestamp())


def _list(values: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return tuple(dict.fromkeys(out))


def _seconds(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise ReportRequestError(f"{name}: expected seconds (0-86400), got {text!r}")
    return value


def parse_request(report_type: str, params: Mapping[str, list[str]], names: Directory,
                  now: float | None = None) -> ReportRequest:
    """``params``: name -> values (a query string's multi-dict as lists)."""
    kind = REPORTS.get(report_type)
    if kind is None:
        raise ReportRequestError(f"unknown report type {report_type!r}; expected one of "
                                 f"{', '.join(REPORTS)}")
    allowed = COMMON | {k for k, f in OPTIONAL.items() if f in kind.filters}
    if kind.time_series:
        allowed |= SERIES
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ReportRequestError(f"{unknown[0]}: not a filter of the {report_type} report "
                                 f"(its filters: {', '.join(sorted(allowed - {'format'}))})")

    def one(name: str) -> str | None:
        values = params.get(name) or []
        if len(values) > 1:
            raise ReportRequestError(f"{name}: given {len(values)} times")
        return values[0] if values else None

    queues = _list(params.get("queue", []))
    unknown_queues = [q for q in queues if names.queues and q not in names.queues]
    if unknown_queues:
        raise ReportRequestError(f"queue: no queue {unknown_queues[0]} is configured")
    tz = one("tz") or names.time_zone(queues)
    try:
        zone = ZoneInfo(tz)
    except (ValueError, KeyError, OSError):
        raise ReportRequestError(f"tz: unknown time zone {tz!r}") from None
    start, end, date = one("from"), one("to"), one("date")
    if date is not None:
        if start is not None or end is not None:
            raise ReportRequestError("date: give either date or from and to")
        since, until = _selected(date, zone)
    elif start is None or end is None:
        raise ReportRequestError("from and to are required (e.g. from=2023-12-27&"
                                 "to=2023-12-28)")
    else:
        since, until = _moment(start, zone, "from", False), _moment(end, zone, "to", True)
    if until <= since:
        raise ReportRequestError("to: must be after from")
    if until - since > 400 * 86400:
        raise ReportRequestError("to: a report covers at most 400 days")
    granularity = one("granularity") or "day"
    if granularity not in GRANULARITIES:
        raise ReportRequestError(f"granularity: expected one of {', '.join(GRANULARITIES)}, "
                                 f"got {granularity!r}")
    result = one("result") or "all"
    if result not in CALLBACK_RESULTS:
        raise ReportRequestError(f"result: expected one of {', '.join(CALLBACK_RESULTS)}, "
                                 f"got {result!r}")
    details = (one("details") or "0").lower()
    if details not in ("0", "1", "true", "false", "yes", "no"):
        raise ReportRequestError(f"details: expected 1 or 0, got {details!r}")
    abandoned, talk = one("exclude_abandoned_within"), one("exclude_talk_within")
    return ReportRequest(report_type, ReportFilters(
        since, until, queues=queues, agents=_list(params.get("agent", [])),
        exclude_abandoned_within=None if abandoned is None else
        _seconds(abandoned, "exclude_abandoned_within"),
        exclude_talk_within=None if talk is None else _seconds(talk, "exclude_talk_within"),
        granularity=granularity, time_zone=tz, callback_result=result,
        pause_reason=one("pause_reason"), now=now,
        details=details in ("1", "true", "yes")))
