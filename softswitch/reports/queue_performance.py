"""Queue Performance (§8.4), Queue Performance Activity (§8.5) and Queue Average Wait and
Talk Time (§8.3): the §8.2 metrics over `queue_calls`, per queue or per time bucket.

Definitions as implemented (§8.2, §14):
- A call is counted once it is settled (answered, abandoned or missed; a caller still
  waiting is not counted). Total = Answered + Missed + Abandoned in every row.
- Ring duration (§8.2: call start -> answered / disconnect) is the row's ``wait`` (join ->
  leave), which already contains every retry interval the caller sat through, so "ring
  duration + retry interval" (§14.8) is ``wait``: Avg Wait (Answered) = answered calls'
  wait / answered; Avg Wait (All) = all calls' wait / total; Max Wait (All) = longest wait.
- Avg Handle = (answered wait + answered talk) / answered; Avg Talk and Avg Hold divide by
  answered calls. Averages are rounded half-up to the second (§14.9).
- Rates: answered / missed / abandoned over total; SLA = answered within the SLA time
  (``sla_met``, written with the queue's SLA time when the call was answered; equality
  meets it, §14.7) over total.
- Exclusions (inclusive, §14.18): "abandoned within X s" drops abandoned calls whose wait
  is <= X; "talk within X s" drops answered calls whose talk is <= X.
- §8.4's Total row shows counts only; §8.5's Total row carries every metric (its Max Wait
  is the maximum of the rows' maxima).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .details import queue_call_details
from .periods import bucket, slot_sql, sort_key
from .report import (
    COUNT,
    DURATION,
    PERCENT,
    TEXT,
    Column,
    Directory,
    Report,
    ReportFilters,
    Row,
    Source,
    average,
    rate,
)

_SUMS = ("COUNT(*),"
         " SUM(CASE WHEN status = 'answered' THEN 1 ELSE 0 END),"
         " SUM(CASE WHEN status = 'missed' THEN 1 ELSE 0 END),"
         " SUM(CASE WHEN status = 'abandoned' THEN 1 ELSE 0 END),"
         " SUM(CASE WHEN status = 'answered' THEN wait ELSE 0 END),"
         " SUM(wait), MAX(wait),"
         " SUM(CASE WHEN status = 'answered' THEN talk ELSE 0 END),"
         " SUM(CASE WHEN status = 'answered' THEN hold ELSE 0 END),"
         " SUM(CASE WHEN status = 'answered' AND sla_met <> 0 THEN 1 ELSE 0 END)")


@dataclass(slots=True)
class CallSums:
    """Mergeable sums of settled calls (one queue, one bucket, or a total)."""

    total: int = 0
    answered: int = 0
    missed: int = 0
    abandoned: int = 0
    wait_answered: float = 0.0
    wait_all: float = 0.0
    max_wait: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    sla_met: int = 0

    @classmethod
    def of(cls, r: tuple[Any, ...]) -> CallSums:
        return cls(int(r[0] or 0), int(r[1] or 0), int(r[2] or 0), int(r[3] or 0),
                   float(r[4] or 0), float(r[5] or 0), float(r[6] or 0), float(r[7] or 0),
                   float(r[8] or 0), int(r[9] or 0))

    def add(self, o: CallSums) -> None:
        self.total += o.total
        self.answered += o.answered
        self.missed += o.missed
        self.abandoned += o.abandoned
        self.wait_answered += o.wait_answered
        self.wait_all += o.wait_all
        self.max_wait = max(self.max_wait, o.max_wait)
        self.talk += o.talk
        self.hold += o.hold
        self.sla_met += o.sla_met

    def counts(self) -> dict[str, Any]:
        return {"total": self.total, "answered": self.answered, "missed": self.missed,
                "abandoned": self.abandoned}

    def metrics(self) -> dict[str, Any]:
        return {
            **self.counts(),
            "avg_handle": average(self.wait_answered + self.talk, self.answered),
            "avg_wait_answered": average(self.wait_answered, self.answered),
            "avg_wait_all": average(self.wait_all, self.total),
            "max_wait_all": self.max_wait,
            "avg_talk": average(self.talk, self.answered),
            "avg_hold": average(self.hold, self.answered),
            "answer_rate": rate(self.answered, self.total),
            "missed_rate": rate(self.missed, self.total),
            "abandon_rate": rate(self.abandoned, self.total),
            "sla": rate(self.sla_met, self.total),
        }


METRIC_COLUMNS = [
    Column("total", "Total Calls", COUNT), Column("answered", "Answered", COUNT),
    Column("missed", "Missed", COUNT), Column("abandoned", "Abandoned", COUNT),
    Column("avg_handle", "Avg Handle Time", DURATION),
    Column("avg_wait_answered", "Avg Wait Time (Answered)", DURATION),
    Column("avg_wait_all", "Avg Wait Time (All)", DURATION),
    Column("max_wait_all", "Max Wait Time (All)", DURATION),
    Column("avg_talk", "Avg Talk Time", DURATION), Column("avg_hold", "Avg Hold Time", DURATION),
    Column("answer_rate", "Answer Rate", PERCENT), Column("missed_rate", "Missed Rate", PERCENT),
    Column("abandon_rate", "Abandon Rate", PERCENT), Column("sla", "SLA", PERCENT),
]


async def call_sums(source: Source, f: ReportFilters, group: str,
                    exclude_talk: bool = True) -> list[tuple[Any, CallSums]]:
    """Settled calls' sums grouped by ``group`` (an SQL expression)."""
    where, params = f.where("joined_at")
    excl, more = f.call_exclusions(talk=exclude_talk)
    rows = await source.fetch(
        f"SELECT {group}, {_SUMS} FROM queue_calls WHERE {where} AND status IS NOT NULL"
        f"{excl} GROUP BY {group}", tuple(params + more))
    return [(r[0], CallSums.of(r[1:])) for r in rows]


async def queue_performance(source: Source, f: ReportFilters, names: Directory) -> Report:
    """§8.4: one row per queue (by name), a Total row of counts."""
    if f.details:
        return await queue_call_details(source, f, names, "queue_performance", False)
    rows: list[Row] = []
    total = CallSums()
    for queue, sums in sorted(await call_sums(source, f, "queue"), key=lambda x: str(x[0])):
        rows.append(Row({"queue": names.queue_name(str(queue)), **sums.metrics()}))
        total.add(sums)
    rows.append(Row({"queue": "Total", **total.counts()}, total=True))
    return Report("queue_performance", "Queue Performance",
                  [Column("queue", "Queue", TEXT), *METRIC_COLUMNS], rows, f)


async def _by_bucket(source: Source, f: ReportFilters, exclude_talk: bool
                     ) -> tuple[list[tuple[str, CallSums]], CallSums]:
    buckets: dict[Any, tuple[str, CallSums]] = {}
    for slot, sums in await call_sums(source, f, slot_sql("joined_at"), exclude_talk):
        start, label = bucket(int(slot), f.granularity, f.zone)
        key = sort_key(start)
        if key not in buckets:
            buckets[key] = (label, CallSums())
        buckets[key][1].add(sums)
    total = CallSums()
    for _, sums in buckets.values():
        total.add(sums)
    return [buckets[k] for k in sorted(buckets)], total


async def queue_performance_activity(source: Source, f: ReportFilters,
                                     names: Directory) -> Report:
    """§8.5: one row per bucket with calls, a Total row with every metric. Only the
    "exclude abandoned" filter applies (the manual lists no talk exclusion here)."""
    if f.details:
        return await queue_call_details(source, f, names, "queue_performance_activity", True,
                                        exclude_talk=False)
    series, total = await _by_bucket(source, f, exclude_talk=False)
    rows = [Row({"date": label, **sums.metrics()}) for label, sums in series]
    rows.append(Row({"date": "Total", **total.metrics()}, total=True))
    return Report("queue_performance_activity", "Queue Performance Activity",
                  [Column("date", "Date", TEXT), *METRIC_COLUMNS], rows, f,
                  chart=["answered", "missed", "abandoned"])


async def queue_wait_talk(source: Source, f: ReportFilters, names: Directory) -> Report:
    """§8.3: average waits and talk per bucket (the manual shows a chart; the same numbers
    are the table), and the period's averages as the Total row."""
    series, total = await _by_bucket(source, f, exclude_talk=False)

    def values(label: str, s: CallSums) -> dict[str, Any]:
        m = s.metrics()
        return {"date": label, "total": s.total, "answered": s.answered,
                "avg_wait_all": m["avg_wait_all"],
                "avg_wait_answered": m["avg_wait_answered"], "avg_talk": m["avg_talk"]}

    rows = [Row(values(label, sums)) for label, sums in series]
    rows.append(Row(values("Total", total), total=True))
    return Report("queue_wait_talk", "Queue Average Wait and Talk Time",
                  [Column("date", "Date", TEXT), Column("total", "Total Calls", COUNT),
                   Column("answered", "Answered", COUNT),
                   Column("avg_wait_all", "Avg Wait Time (All)", DURATION),
                   Column("avg_wait_answered", "Avg Wait Time (Answered)", DURATION),
                   Column("avg_talk", "Avg Talk Time", DURATION)], rows, f,
                  chart=["avg_wait_all", "avg_wait_answered", "avg_talk"])
