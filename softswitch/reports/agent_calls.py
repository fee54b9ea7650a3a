"""Agent Missed Report (§8.12), Agent Performance (§8.13) and Agent Call Summary (§8.14),
over `queue_offers` (every ring of an agent), `queue_calls` and, for outbound calls, the
closed `cdr` rows.

Decisions:
- An agent missed a ring when its offer ended without the agent answering: ring timeout,
  rejected/busy, or cancelled (another agent answered first, the caller left). §8.12's
  fixture lists calls another agent answered (Queue Status "Answered") as missed by the
  agents who were rung too, which is a cancelled offer under ring-all.
- Missed report: one row per call and agent. Time = when the call was received; Wait =
  from then to the end of the agent's last missed ring; Attempts = the agent's missed rings
  of that call; Queue Status = Answered when anyone answered the call, else Missed
  (abandoned included, §11.2); Count = 1. Rows newest first per agent; Total row per agent.
- Agent Performance: a queue row (§8.2 metrics, with "exclude abandoned" applied to calls
  and to their rings) followed by its agents' rows. Total Rings = Answered + Missed rings;
  each ring counts (§8.13). The agent's Avg/Max Wait come from its answered ring: call
  received -> this agent answered, over its answered rings (the queue's Max Wait comes from
  the call rows, join -> the caller was connected; the manual's fixture shows the agent's
  16 s above the queue's 15 s, §14.11, which is what two rows measured at two moments give).
  Avg Talk = answered queue calls' talk / answered; Total Talk adds the agent's answered
  external outbound calls in the period (§8.13 "inbound and outbound"), in every queue the
  agent is shown under. Averages over nothing are 00:00:00; Missed Rate over nothing 0%.
- Agent Call Summary: Inbound = queue calls the agent answered (selected queues); Outbound =
  answered calls the agent's extension placed to a number that is not an extension
  (external outbound), closed cdr rows only (a call a crash cut, INTERRUPTED, has no known
  talk time and is left out). Avg Handle, Avg Hold and Avg Wait divide by
  inbound answered calls; Avg Talk = (inbound + outbound talk) / (inbound + outbound
  calls): §14.17 reads "answered calls" as every answered call the talk was spent on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .details import agent_call_details
from .queue_performance import call_sums
from .report import (
    COUNT,
    DATETIME,
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
    placeholders,
    rate,
)

_NOT_ANSWERED = "o.outcome IN ('missed','rejected','cancelled')"


async def agent_missed(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where("o.call_joined_at", "o.queue", "o.agent")
    found = await source.fetch(
        "SELECT o.agent, o.call_uid, MIN(o.call_joined_at),"
        " MAX(COALESCE(o.ended_at, o.rang_at) - o.call_joined_at), COUNT(*), MIN(o.caller),"
        " MAX(c.status) FROM queue_offers o LEFT JOIN queue_calls c ON c.call_uid = o.call_uid"
        f" WHERE {where} AND {_NOT_ANSWERED} GROUP BY o.agent, o.call_uid", tuple(params))
    rows: list[Row] = []
    for agent in sorted({str(r[0]) for r in found}):
        label = names.agent(agent)
        mine = sorted((r for r in found if str(r[0]) == agent), key=lambda r: -float(r[2]))
        for _, _, joined, wait, attempts, caller, status in mine:
            rows.append(Row({"agent": label, "time": joined, "wait": float(wait),
                             "caller": caller, "attempts": int(attempts),
                             "queue_status": "Answered" if status == "answered" else "Missed",
                             "count": 1}, group=label))
        rows.append(Row({"agent": "Total", "wait": sum(float(r[3]) for r in mine),
                         "attempts": sum(int(r[4]) for r in mine), "count": len(mine)},
                        total=True))
    return Report("agent_missed", "Agent Missed Report",
                  [Column("agent", "Agent"), Column("time", "Time", DATETIME),
                   Column("wait", "Wait Duration", DURATION), Column("caller", "Caller"),
                   Column("attempts", "Attempts", COUNT),
                   Column("queue_status", "Queue Status"), Column("count", "Count", COUNT)],
                  rows, f)


async def outbound(source: Source, f: ReportFilters, names: Directory,
                   agents: list[str]) -> dict[str, tuple[int, float]]:
    """agent -> (answered external outbound calls, their talk) in the period."""
    if not agents:
        return {}
    params: list[Any] = [f.since, f.until, *agents]
    sql = ("SELECT caller, COUNT(*), SUM(billsec) FROM cdr WHERE state = 'closed'"
           " AND start_time >= ? AND start_time < ? AND disposition = 'ANSWERED'"
           f" AND caller IN ({placeholders(agents)})")
    extensions = sorted(names.agents)
    if extensions:
        sql += f" AND callee NOT IN ({placeholders(extensions)})"
        params += extensions
    rows = await source.fetch(sql + " GROUP BY caller", tuple(params))
    return {str(r[0]): (int(r[1]), float(r[2] or 0)) for r in rows}


async def agent_performance(source: Source, f: ReportFilters, names: Directory) -> Report:
    if f.details:
        return await agent_call_details(source, f, names)
    where, params = f.where("o.call_joined_at", "o.queue", "o.agent")
    answered_wait = "o.ended_at - o.call_joined_at"
    found = await source.fetch(
        "SELECT o.queue, o.agent,"
        " SUM(CASE WHEN o.outcome = 'answered' THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {_NOT_ANSWERED} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN o.outcome = 'answered' THEN {answered_wait} ELSE 0 END),"
        f" MAX(CASE WHEN o.outcome = 'answered' THEN {answered_wait} END)"
        f" FROM queue_offers o WHERE {where} AND o.outcome IS NOT NULL"
        " GROUP BY o.queue, o.agent", tuple(params))
    # the rings of calls "abandoned within X s" leave the agents' rows too: such a call was
    # never answered, so each of its rings was a missed one (few calls: joined from them)
    excluded: dict[tuple[str, str], int] = {}
    if f.exclude_abandoned_within is not None:
        cwhere, cparams = f.where("c.joined_at", "c.queue")
        for queue, agent, n in await source.fetch(
                "SELECT o.queue, o.agent, COUNT(*) FROM queue_calls c JOIN queue_offers o"
                f" ON o.call_uid = c.call_uid WHERE {cwhere} AND c.status = 'abandoned'"
                f" AND c.wait <= ? AND {_NOT_ANSWERED} GROUP BY o.queue, o.agent",
                (*cparams, float(f.exclude_abandoned_within))):
            excluded[(str(queue), str(agent))] = int(n)
    twhere, tparams = f.where("joined_at", agent_column="agent")
    talks = {(str(q), str(a)): float(t or 0) for q, a, t in await source.fetch(
        f"SELECT queue, agent, SUM(talk) FROM queue_calls WHERE {twhere}"
        " AND status = 'answered' GROUP BY queue, agent", tuple(tparams))}
    out = await outbound(source, f, names, sorted({str(r[1]) for r in found}))
    per_queue: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for r in found:
        per_queue[str(r[0])].append(r)
    queue_sums = dict(await call_sums(source, f, "queue", exclude_talk=False))
    rows: list[Row] = []
    for queue in sorted(set(per_queue) | {str(q) for q in queue_sums}):
        s = queue_sums.get(queue)
        if s is not None:
            m = s.metrics()
            rows.append(Row({"name": names.queue_name(queue), **s.counts(),
                             "avg_wait_answered": m["avg_wait_answered"],
                             "avg_wait_all": m["avg_wait_all"], "max_wait": s.max_wait,
                             "avg_talk": m["avg_talk"], "missed_rate": m["missed_rate"]},
                            total=False, group=None))
        for _, agent, ans, missed, wait, max_wait in sorted(per_queue.get(queue, []),
                                                            key=lambda r: str(r[1])):
            ans = int(ans or 0)
            missed = int(missed or 0) - excluded.get((queue, str(agent)), 0)
            talk = talks.get((queue, str(agent)), 0.0)
            if ans + missed == 0:
                continue
            rows.append(Row({
                "name": names.agent(str(agent)), "total": ans + missed, "answered": ans,
                "missed": missed, "avg_wait_answered": average(float(wait or 0), ans),
                "max_wait": float(max_wait or 0), "avg_talk": average(talk, ans),
                "total_talk": talk + out.get(str(agent), (0, 0.0))[1],
                "missed_rate": rate(missed, ans + missed)}))
    return Report("agent_performance", "Agent Performance", [
        Column("name", "Queue/Agent", TEXT),
        Column("total", "Total Calls / Total Rings", COUNT),
        Column("answered", "Answered", COUNT), Column("missed", "Missed", COUNT),
        Column("abandoned", "Abandoned", COUNT),
        Column("avg_wait_answered", "Avg Wait Time (Answered)", DURATION),
        Column("avg_wait_all", "Avg Wait Time (All)", DURATION),
        Column("max_wait", "Max Wait Time", DURATION),
        Column("avg_talk", "Avg Talk Time", DURATION),
        Column("total_talk", "Total Talk Duration", DURATION),
        Column("missed_rate", "Missed Rate", PERCENT)], rows, f)


async def agent_call_summary(source: Source, f: ReportFilters, names: Directory) -> Report:
    excl, excl_params = f.call_exclusions()
    where, params = f.where("joined_at", agent_column="agent")
    found = await source.fetch(
        "SELECT agent, COUNT(*), SUM(talk), SUM(wait), SUM(hold) FROM queue_calls"
        f" WHERE {where} AND status = 'answered'{excl} GROUP BY agent",
        tuple(params + excl_params))
    inbound = {str(r[0]): r[1:] for r in found}
    agents = set(inbound) | set(f.agents)
    if not f.agents:
        for queue in f.queues or tuple(names.members):
            agents.update(names.members.get(queue, ()))
    out = await outbound(source, f, names, sorted(agents))
    rows: list[Row] = []
    totals: dict[str, float] = defaultdict(float)
    for agent in sorted(agents):
        n_in, talk_in, wait_in, hold_in = inbound.get(agent, (0, 0.0, 0.0, 0.0))
        n_in, talk_in = int(n_in or 0), float(talk_in or 0)
        wait_in, hold_in = float(wait_in or 0), float(hold_in or 0)
        n_out, talk_out = out.get(agent, (0, 0.0))
        values = {"inbound": n_in, "inbound_talk": talk_in, "outbound": n_out,
                  "outbound_talk": talk_out, "total_calls": n_in + n_out,
                  "total_talk": talk_in + talk_out}
        for k, v in values.items():
            totals[k] += v
        totals["wait"] += wait_in
        totals["hold"] += hold_in
        rows.append(Row({"agent": names.agent(agent), **values,
                         **_summary_averages(n_in, n_out, talk_in, talk_out, wait_in,
                                             hold_in)}))
    rows.append(Row({"agent": "Total", **{k: totals[k] for k in (
        "inbound", "inbound_talk", "outbound", "outbound_talk", "total_calls", "total_talk")},
        **_summary_averages(int(totals["inbound"]), int(totals["outbound"]),
                            totals["inbound_talk"], totals["outbound_talk"], totals["wait"],
                            totals["hold"])}, total=True))
    return Report("agent_call_summary", "Agent Call Summary", [
        Column("agent", "Agent"), Column("inbound", "Inbound", COUNT),
        Column("inbound_talk", "Inbound Talk Duration", DURATION),
        Column("outbound", "Outbound", COUNT),
        Column("outbound_talk", "Outbound Talk Duration", DURATION),
        Column("total_calls", "Total Calls", COUNT),
        Column("total_talk", "Total Talk Duration", DURATION),
        Column("avg_handle", "Avg Handle Time", DURATION),
        Column("avg_talk", "Avg Talk Time", DURATION),
        Column("avg_hold", "Avg Hold Time", DURATION),
        Column("avg_wait", "Avg Wait Time", DURATION)], rows, f)


def _summary_averages(n_in: int, n_out: int, talk_in: float, talk_out: float, wait: float,
                      hold: float) -> dict[str, float]:
    return {"avg_handle": average(wait + talk_in, n_in),
            "avg_talk": average(talk_in + talk_out, n_in + n_out),
            "avg_hold": average(hold, n_in), "avg_wait": average(wait, n_in)}
