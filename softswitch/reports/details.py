"""The "Details" drill-downs (queue-admin.md §8.2 queue call detail columns, §8.13 agent
call-record columns): one row per queue call, or per call and agent. Asked for with the
``details`` filter of Queue Performance, Queue Performance Activity (which adds the Queue
column) and Agent Performance.

Decisions:
- ID is the call's row id (``call_uid``, one pass of a call through a queue).
- Ring Duration: answered -> from the call's arrival to its answer; otherwise to when it
  left the queue (§8.2); for an agent's row, to when the agent answered or its last ring
  ended.
- Reason: why an unanswered call left (abandoned, max wait, max callers, no agents, a key
  press, a callback, taken out by a manager), "Answered" for an answered call (the rows do
  not record which side hung up).
- Newest first; at most `LIMIT` rows (the filters narrow it down).
- The same filters as the report they detail, exclusions included.
"""

from __future__ import annotations

from typing import Any

from .report import COUNT, DATETIME, DURATION, Column, Directory, Report, ReportFilters, Row, Source

LIMIT = 10_000

REASONS = {
    "answered": "Answered", "abandoned": "Caller hung up",
    "max_wait": "Max wait time reached", "capacity": "Max callers reached",
    "empty": "No agent available (leave when empty)",
    "join_empty": "No agent available (join empty)",
    "key_press": "Caller pressed a key", "callback_succeeded": "Callback",
    "callback_failed": "Callback failed", "removed": "Taken out by a manager",
    "queue_removed": "Queue removed",
}
STATUSES = {"answered": "Answered", "abandoned": "Abandoned", "missed": "Missed"}


async def queue_call_details(source: Source, f: ReportFilters, names: Directory,
                             report_type: str, with_queue: bool,
                             exclude_talk: bool = True) -> Report:
    where, params = f.where("joined_at")
    excl, more = f.call_exclusions(talk=exclude_talk)
    found = await source.fetch(
        "SELECT call_uid, joined_at, caller, queue, agent, status, wait, talk, hold, reason"
        f" FROM queue_calls WHERE {where} AND status IS NOT NULL{excl}"
        f" ORDER BY joined_at DESC, call_uid LIMIT {LIMIT}", tuple(params + more))
    rows = [Row({"id": uid, "time": joined, "caller": caller,
                 "queue": names.queue(str(queue)),
                 "agent": names.agent(str(agent)) if agent else "None",
                 "status": STATUSES.get(status, status), "ring": float(wait or 0),
                 "talk": float(talk or 0), "hold": float(hold or 0),
                 "reason": REASONS.get(reason or "", reason or "")})
            for uid, joined, caller, queue, agent, status, wait, talk, hold, reason in found]
    columns = [Column("id", "ID"), Column("time", "Time", DATETIME), Column("caller", "Caller")]
    if with_queue:
        columns.append(Column("queue", "Queue"))
    columns += [Column("agent", "Agent"), Column("status", "Status"),
                Column("ring", "Ring Duration", DURATION),
                Column("talk", "Talk Duration", DURATION),
                Column("hold", "Hold Duration", DURATION), Column("reason", "Reason")]
    return Report(report_type, "Queue Call Details", columns, rows, f)


async def agent_call_details(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where("o.call_joined_at", "o.queue", "o.agent")
    excl, more = f.call_exclusions("c.", talk=False)
    found = await source.fetch(
        "SELECT o.call_uid, o.agent, MIN(o.call_joined_at), MIN(o.caller),"
        " MAX(CASE WHEN o.outcome = 'answered' THEN 1 ELSE 0 END),"
        " MAX(COALESCE(o.ended_at, o.rang_at) - o.call_joined_at), COUNT(*),"
        " MAX(c.talk), MAX(c.reason), MAX(c.agent)"
        " FROM queue_offers o JOIN queue_calls c ON c.call_uid = o.call_uid"
        f" WHERE {where} AND o.outcome IS NOT NULL{excl}"
        " GROUP BY o.call_uid, o.agent"
        f" ORDER BY MIN(o.call_joined_at) DESC, o.agent LIMIT {LIMIT}",
        tuple(params + more))
    rows: list[Row] = []
    for uid, agent, joined, caller, answered, ring, attempts, talk, reason, taker in found:
        mine = bool(answered) and str(taker) == str(agent)
        values: dict[str, Any] = {
            "id": uid, "agent": names.agent(str(agent)), "time": joined, "caller": caller,
            "status": "Answered" if mine else "Missed", "ring": float(ring or 0),
            "talk": float(talk or 0) if mine else 0.0, "attempts": int(attempts),
            "reason": REASONS.get(reason or "", reason or "")}
        rows.append(Row(values))
    return Report("agent_performance", "Agent Call Records", [
        Column("id", "ID"), Column("agent", "Agent"), Column("time", "Time", DATETIME),
        Column("caller", "Caller"), Column("status", "Status"),
        Column("ring", "Ring Duration", DURATION), Column("talk", "Talk Duration", DURATION),
        Column("attempts", "Attempts", COUNT), Column("reason", "Reason")], rows, f)
