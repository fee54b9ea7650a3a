"""Time buckets of the time-series reports (§8.3, §8.5, §8.6): by hour, day, week or month
in the report's time zone.

SQL groups rows by 15-minute slot of UTC epoch time (``FLOOR(t / 900)``: the same text on
SQLite and PostgreSQL), with partial sums, counts and maxima; Python folds the slots into
local buckets. Every time zone in use today is offset from UTC by a multiple of 15 minutes,
so a slot never straddles a local hour, and a day that gains or loses an hour (DST) is still
one bucket (the hour a DST change repeats is one bucket too). Decisions: weeks start on
Monday (ISO 8601); buckets without calls are omitted (§8.5: "rows with zero calls are
omitted").
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SLOT = 900  # seconds


def slot_sql(column: str) -> str:
    return f"FLOOR({column} / {SLOT})"


def bucket(slot: int, granularity: str, zone: ZoneInfo) -> tuple[dt.datetime, str]:
    """(local start of the bucket, its label) of a 15-minute slot."""
    local = dt.datetime.fromtimestamp(slot * SLOT, zone)
    if granularity == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start, start.strftime("%b %d %H:00")
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if granularity == "day":
        return day, day.strftime("%b %d")
    if granularity == "week":
        monday = day - dt.timedelta(days=day.weekday())
        sunday = monday + dt.timedelta(days=6)
        return monday, f"{monday:%b %d} - {sunday:%b %d}"
    month = day.replace(day=1)
    return month, month.strftime("%b %Y")


def sort_key(start: dt.datetime) -> tuple[int, ...]:
    return start.timetuple()[:5]
