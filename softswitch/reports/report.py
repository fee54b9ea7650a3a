"""What every queue report (queue-admin.md §8) shares: its filters, its columns, its rows and
the formatting the manual's tables show (§8.1).

A report function takes a `Source` (anything with ``async fetch(sql, params)``: the SQLite
or PostgreSQL store), the `ReportFilters` and a `Directory` (names of queues and agents
from the configuration) and returns a `Report`: typed columns and rows of raw values
(seconds, counts, percentages, epoch times). Formatting happens once, here, by column kind:

- durations ``HH:MM:SS``, averages rounded half-up to the second (§14.9: 57.75 -> 00:00:58;
  hours keep counting past 24, 21:30:21 for a sign-in that spanned the night);
- percentages rounded half-up to two decimals without trailing zeros (38.46%, 62.5%, 0%);
- satisfaction averages truncated toward zero to two decimals (§8.8, §14.9: -0.755 ->
  -0.75, 2/3 -> 0.66);
- date-times ``MM/DD/YYYY HH:MM:SS`` in the report's time zone (the queue's time zone
  when it has time-based routing, else UTC; the ``tz`` filter overrides it).

`Report.grid()` is the table as the manual prints it: header, rows, and the total rows, a
group's name (the agent) written on its first row only. CSV, the console table and the
printable page are all made from the grid; the JSON carries both the raw and the shown values.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

__all__ = ["Column", "Directory", "Report", "ReportFilters", "Row", "Source", "duration",
           "percent", "rate", "seconds", "truncated"]


class Source(Protocol):
    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


GRANULARITIES = ("hour", "day", "week", "month")
CALLBACK_RESULTS = ("all", "success", "failed")


@dataclass(frozen=True, slots=True)
class ReportFilters:
    """The filters of §8 (each report reads the ones its section lists).

    ``since``/``until``: wall-clock epoch seconds, inclusive start, exclusive end (the
    manual's ``00:00:00 ~ 23:59:59`` is ``until`` = the next midnight). ``queues`` and
    ``agents`` empty mean all. ``exclude_abandoned_within`` / ``exclude_talk_within``:
    seconds, inclusive (§14.18: "within 5 s" drops a call abandoned after exactly 5 s).
    ``now`` closes sessions and pauses still open (default: ``until``)."""

    since: float
    until: float
    queues: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    exclude_abandoned_within: float | None = None
    exclude_talk_within: float | None = None
    granularity: str = "day"
    time_zone: str = "UTC"
    callback_result: str = "all"
    pause_reason: str | None = None
    now: float | None = None
    details: bool = False  # the call-by-call drill-down instead (softswitch.reports.details)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def without_exclusions(self) -> ReportFilters:
        return dataclasses.replace(self, exclude_abandoned_within=None,
                                   exclude_talk_within=None)

    def open_until(self) -> float:
        """Where a session or pause still open is cut for the report."""
        return self.until if self.now is None else min(self.until, self.now)

    def where(self, time_column: str, queue_column: str = "queue",
              agent_column: str | None = None) -> tuple[str, list[Any]]:
        """The SQL condition of period, queues and agents (``?`` placeholders)."""
        sql = f"{time_column} >= ? AND {time_column} < ?"
        params: list[Any] = [self.since, self.until]
        if self.queues:
            sql += f" AND {queue_column} IN ({placeholders(self.queues)})"
            params += self.queues
        if agent_column is not None and self.agents:
            sql += f" AND {agent_column} IN ({placeholders(self.agents)})"
            params += self.agents
        return sql, params

    def call_exclusions(self, prefix: str = "", talk: bool = True) -> tuple[str, list[Any]]:
        """§8.4's two exclusions on `queue_calls` rows (empty when not asked for); ``talk``
        False: the abandoned one only (§8.5, §8.13 list no talk exclusion)."""
        sql, params = "", []
        if self.exclude_abandoned_within is not None:
            sql += (f" AND NOT ({prefix}status = 'abandoned'"
                    f" AND {prefix}wait <= ?)")
            params.append(float(self.exclude_abandoned_within))
        if talk and self.exclude_talk_within is not None:
            sql += f" AND NOT ({prefix}status = 'answered' AND {prefix}talk <= ?)"
            params.append(float(self.exclude_talk_within))
        return sql, params


@dataclass(frozen=True, slots=True)
class Directory:
    """Names from the configuration: queue number -> name, extension -> name."""

    queues: Mapping[str, str] = field(default_factory=dict)
    agents: Mapping[str, str] = field(default_factory=dict)
    survey_scores: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    members: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    time_zones: Mapping[str, str] = field(default_factory=dict)  # queue -> its time zone

    @classmethod
    def from_config(cls, config: Any) -> Directory:
        """From a `softswitch.config.Config` (its extensions and ACD queues)."""
        queues = config.acd.queues if config.acd is not None else ()
        return cls(
            queues={q.number: q.name for q in queues},
            agents={e.number: e.name for e in config.extensions},
            survey_scores={q.number: dict(q.satisfaction_survey.scores)
                           for q in queues if q.satisfaction_survey is not None},
            members={q.number: tuple(m.extension for m in q.members) for q in queues},
            time_zones={q.number: q.time_based_routing.time_zone
                        for q in queues if q.time_based_routing is not None})

    def time_zone(self, queues: Sequence[str]) -> str:
        """The report's default time zone: the (first) chosen queue's, else UTC."""
        for q in queues or sorted(self.time_zones):
            if q in self.time_zones:
                return self.time_zones[q]
        return "UTC"

    def agent(self, number: str) -> str:
        name = self.agents.get(number)
        return f"{number}-{name}" if name else number

    def queue(self, number: str) -> str:
        name = self.queues.get(number)
        return f"{number}-{name}" if name else number

    def queue_name(self, number: str) -> str:
        return self.queues.get(number) or number


# Column kinds: how a raw value is shown.
TEXT, COUNT, DURATION, PERCENT, DATETIME, SCORE, AVERAGE_SCORE = (
    "text", "count", "duration", "percent", "datetime", "score", "average_score")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    kind: str = TEXT


@dataclass(slots=True)
class Row:
    """One line: ``values`` by column key (None shows blank). ``total``: a total row;
    ``group``: rows with the same group value (an agent) print its name once."""

    values: dict[str, Any]
    total: bool = False
    group: str | None = None


@dataclass(slots=True)
class Report:
    type: str
    title: str
    columns: list[Column]
    rows: list[Row]
    filters: ReportFilters
    chart: list[str] = field(default_factory=list)  # column keys drawn over the buckets

    def shown(self, row: Row) -> list[str]:
        zone = self.filters.zone
        return [show(c.kind, row.values.get(c.key), zone) for c in self.columns]

    def grid(self) -> list[list[str]]:
        """Header + rows as the manual prints them."""
        out = [[c.label for c in self.columns]]
        last_group: str | None = None
        for row in self.rows:
            cells = self.shown(row)
            if row.group is not None and not row.total:
                if row.group == last_group:
                    cells[0] = ""
                last_group = row.group
            elif row.total:
                last_group = None
            out.append(cells)
        return out

    def as_json(self) -> dict[str, Any]:
        f = self.filters
        return {
            "type": self.type, "title": self.title,
            "filters": {
                "from": _iso(f.since, f.zone), "to": _iso(f.until - 1, f.zone),
                "queues": list(f.queues), "agents": list(f.agents),
                "exclude_abandoned_within": f.exclude_abandoned_within,
                "exclude_talk_within": f.exclude_talk_within,
                "granularity": f.granularity, "tz": f.time_zone,
                "callback_result": f.callback_result, "pause_reason": f.pause_reason,
                "details": f.details},
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind}
                        for c in self.columns],
            "rows": [{"total": r.total, "values": _jsonable(r.values),
                      "shown": dict(zip((c.key for c in self.columns), self.shown(r),
                                        strict=True))}
                     for r in self.rows],
        }


def _iso(epoch: float, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(epoch, zone).isoformat()


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}


# -- formatting (§8.1, §14.9)

def seconds(value: float) -> int:
    """Half-up to whole seconds (57.75 -> 58, 8.25 -> 8, 2.5 -> 3)."""
    return int(Decimal(repr(float(value))).quantize(Decimal(1), ROUND_HALF_UP))


def duration(value: float | None) -> str:
    if value is None:
        return ""
    total = seconds(value)
    sign = "-" if total < 0 else ""
    total = abs(total)
    return f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def rate(part: float, whole: float) -> float | None:
    """``part / whole * 100``; None when nothing to divide."""
    return None if not whole else part * 100.0 / whole


def _decimals(value: float, rounding: str) -> str:
    d = Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding)
    text = f"{d:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def percent(value: float | None) -> str:
    """Half-up to two decimals, trailing zeros dropped: 38.46%, 62.5%, 0%. A rate over no
    calls shows 0% (the manual's fixture shows 0% for zero missed of six)."""
    return f"{_decimals(value or 0.0, ROUND_HALF_UP)}%"


def truncated(value: float) -> str:
    """Two decimals kept, the rest cut toward zero (§8.8: 2/3 -> 0.66, -0.755 -> -0.75)."""
    return _decimals(value, ROUND_DOWN)


def show(kind: str, value: Any, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    if kind == DURATION:
        return duration(float(value))
    if kind == PERCENT:
        return percent(float(value))
    if kind == DATETIME:
        if isinstance(value, str):  # a marker (§8.11 "Pause reason changed")
            return value
        return dt.datetime.fromtimestamp(float(value), zone).strftime("%m/%d/%Y %H:%M:%S")
    if kind == AVERAGE_SCORE:
        return truncated(float(value))
    if kind in (COUNT, SCORE):
        return str(int(value))
    return str(value)


def average(total: float, count: float) -> float:
    """Division by zero shows 00:00:00 (§8.13: an agent with 0 answered)."""
    return total / count if count else 0.0


def placeholders(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))
