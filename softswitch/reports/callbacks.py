"""Queue Callback Summary (§8.6) and Queue Callback Report (§8.7), over `callbacks` (and
`queue_calls` for the summary's Total Calls).

Decisions:
- Time is when the caller called the queue (``call_joined_at``); the period filters on it.
- Wait Duration = Callback Time - Time (the fixture's values; the manual's words "to
  answering the callback" agree for successes, and a failure has no answer to measure to).
- A request still pending (no result yet) is not listed and not counted; it appears once the
  callback succeeds or fails.
- Callback Requests (§8.6) counts successful requests by callers; a number refused as
  invalid (``requested_at`` NULL) is a failed callback, not a request.
- Rows newest first, as the fixture; the Total row: the number of records and the sum of
  the waits (§8.7: 15 rows, 00:19:40).
"""

from __future__ import annotations

from typing import Any

from .periods import bucket, slot_sql, sort_key
from .queue_performance import call_sums
from .report import (
    COUNT,
    DATETIME,
    DURATION,
    TEXT,
    Column,
    Directory,
    Report,
    ReportFilters,
    Row,
    Source,
)

FAILURE_REASONS = {
    "customer_no_answer": "Customer no answer",
    "no_idle_agent": "No idle agent",
    "agent_hung_up": "Agent hung up",
    "invalid_callback_number": "Invalid callback number",
}
RESULTS = {"succeeded": "Success", "failed": "Failed"}


async def callback_report(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where("call_joined_at")
    if f.callback_result == "success":
        where += " AND outcome = 'succeeded'"
    elif f.callback_result == "failed":
        where += " AND outcome = 'failed'"
    records = await source.fetch(
        "SELECT call_joined_at, caller, callback_at, number, outcome, failure_reason, queue"
        f" FROM callbacks WHERE {where} AND outcome IS NOT NULL"
        " ORDER BY call_joined_at DESC, id DESC", tuple(params))
    rows: list[Row] = []
    total_wait = 0.0
    for joined, caller, callback_at, number, outcome, reason, queue in records:
        wait = float(callback_at) - float(joined)
        total_wait += wait
        rows.append(Row({
            "time": joined, "caller": caller, "callback_time": callback_at,
            "callback_number": number, "wait": wait, "result": RESULTS[outcome],
            "failure_reason": FAILURE_REASONS.get(reason or "", reason or ""),
            "queue": queue}))
    rows.append(Row({"time": "Total", "callback_number": len(records), "wait": total_wait},
                    total=True))
    columns = [Column("time", "Time", DATETIME), Column("caller", "Caller"),
               Column("callback_time", "Callback Time", DATETIME),
               Column("callback_number", "Callback Number"),
               Column("wait", "Wait Duration", DURATION),
               Column("result", "Callback Result"), Column("failure_reason", "Failure Reason")]
    report = Report("callback_report", "Queue Callback Report", columns, rows, f)
    return report


async def callback_summary(source: Source, f: ReportFilters, names: Directory) -> Report:
    """§8.6 per time bucket: failed, succeeded, requests and the queue's total calls."""
    where, params = f.where("call_joined_at")
    slot = slot_sql("call_joined_at")
    found = await source.fetch(
        f"SELECT {slot},"
        " SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN outcome = 'succeeded' THEN 1 ELSE 0 END),"
        " SUM(CASE WHEN requested_at IS NOT NULL THEN 1 ELSE 0 END)"
        f" FROM callbacks WHERE {where} GROUP BY {slot}", tuple(params))
    buckets: dict[Any, dict[str, Any]] = {}

    def at(s: Any) -> dict[str, Any]:
        start, label = bucket(int(s), f.granularity, f.zone)
        return buckets.setdefault(sort_key(start), {
            "date": label, "failed": 0, "succeeded": 0, "requests": 0, "total": 0})

    for s, failed, succeeded, requests in found:
        b = at(s)
        b["failed"] += int(failed or 0)
        b["succeeded"] += int(succeeded or 0)
        b["requests"] += int(requests or 0)
    for s, sums in await call_sums(source, f.without_exclusions(), slot_sql("joined_at")):
        at(s)["total"] += sums.total
    rows = [Row(buckets[k]) for k in sorted(buckets)]
    total = {"date": "Total", **{k: sum(r.values[k] for r in rows)
                                 for k in ("failed", "succeeded", "requests", "total")}}
    rows.append(Row(total, total=True))
    return Report("callback_summary", "Queue Callback Summary",
                  [Column("date", "Date", TEXT), Column("failed", "Callback Failed", COUNT),
                   Column("succeeded", "Callback Succeeded", COUNT),
                   Column("requests", "Callback Requests", COUNT),
                   Column("total", "Total Calls", COUNT)], rows, f,
                  chart=["failed", "succeeded", "requests", "total"])
