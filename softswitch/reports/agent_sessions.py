"""Agent Login Report (§8.10) and Agent Pause Report (§8.11), over `agent_sessions` and
`agent_pauses`: one row per sign-in session or pause segment, a Total row per agent.

Decisions:
- A session or segment belongs to the period in which it started; it is shown whole (a
  sign-in that spans midnight keeps its full duration, 21:25:30 in §8.10).
- One still open (the agent is still signed in or paused) shows no end and its duration up
  to the report's end or now, whichever is earlier.
- Queue filter: the sessions/pauses in the chosen queues. An agent signed in to two queues
  has a session per queue (the switch tracks membership per queue), so without a queue
  filter each queue's session is its own row (the Queue column tells them apart).
- Pause: a segment ended by a reason change shows "Pause reason changed" instead of the
  resume time and a blank count; the segment that ends the episode (resume) shows 1, so
  the episode Lunch -> Break -> resume counts once, on its last line, as in §8.11. A
  pause without reason shows "-". A segment the switch's stop ended shows that time (its
  agent was no longer paused). Auto-pauses (§2.4) are pauses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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

REASON_CHANGED = "Pause reason changed"


def _grouped(records: list[tuple[Any, ...]], names: Directory,
             row: Callable[[tuple[Any, ...]], dict[str, Any]],
             total: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> list[Row]:
    """Rows per agent (agents by number, each agent's rows in time order) + Total rows."""
    rows: list[Row] = []
    agents = sorted({str(r[0]) for r in records})
    for agent in agents:
        label = names.agent(agent)
        values = [row(r) for r in records if str(r[0]) == agent]
        rows += [Row({"agent": label, **v}, group=label) for v in values]
        rows.append(Row({"agent": "Total", **total(values)}, total=True))
    return rows


async def agent_login(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where("signed_in_at", agent_column="agent")
    records = await source.fetch(
        f"SELECT agent, signed_in_at, signed_out_at, queue FROM agent_sessions WHERE {where}"
        " ORDER BY agent, signed_in_at, id", tuple(params))
    cut = f.open_until()

    def row(r: tuple[Any, ...]) -> dict[str, Any]:
        end = r[2] if r[2] is not None else max(cut, float(r[1]))
        return {"login": r[1], "logout": r[2], "duration": float(end) - float(r[1]),
                "queue": r[3]}

    rows = _grouped(records, names, row,
                    lambda vs: {"duration": sum(v["duration"] for v in vs)})
    return Report("agent_login", "Agent Login Report",
                  [Column("agent", "Agent", TEXT), Column("login", "Login", DATETIME),
                   Column("logout", "Logout", DATETIME),
                   Column("duration", "Login Duration", DURATION)], rows, f)


async def agent_pause(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where("paused_at", agent_column="agent")
    if f.pause_reason is not None:
        where += " AND reason = ?"
        params.append("" if f.pause_reason in ("-", "") else f.pause_reason)
    records = await source.fetch(
        "SELECT agent, paused_at, reason, ended_at, ended_by, queue FROM"
        f" agent_pauses WHERE {where} ORDER BY agent, paused_at, id", tuple(params))
    cut = f.open_until()

    def row(r: tuple[Any, ...]) -> dict[str, Any]:
        end = float(r[3]) if r[3] is not None else max(cut, float(r[1]))
        changed = r[4] == "reason_changed"
        return {"pause": r[1], "reason": r[2] or "-",
                "unpause": REASON_CHANGED if changed else r[3],
                "duration": end - float(r[1]), "count": None if changed else 1,
                "queue": r[5]}

    rows = _grouped(records, names, row, lambda vs: {
        "duration": sum(v["duration"] for v in vs),
        "count": sum(v["count"] or 0 for v in vs)})
    return Report("agent_pause", "Agent Pause Report",
                  [Column("agent", "Agent", TEXT), Column("pause", "Pause", DATETIME),
                   Column("reason", "Pause Reason"), Column("unpause", "Unpause", DATETIME),
                   Column("duration", "Total Pause Duration", DURATION),
                   Column("count", "Pause Count", COUNT)], rows, f)
