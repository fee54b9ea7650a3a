"""Satisfaction Report (§8.8) and Satisfaction Survey Details (§8.9), over `surveys`.

Decisions:
- Time is when the caller called the queue (``call_joined_at``; the key-press time for a
  survey whose call row is unknown); the period filters on it.
- One KEY column per key the selected queues' surveys configure (``satisfaction_survey.
  scores``), plus any other key found in the period (its score as recorded), in key order;
  the header is ``KEY:k(score)``.
- Rows: each queue (``number-name``), then each agent rated in it (``number-name``); the
  queue row is the sum of its agents' rows.
- Average Score = Total Score / Total KEY, truncated toward zero to two decimals (§8.8).
- A Total Score of 0 shows blank, with its average (§14.12: the manual's fixture shows
  Phillip Huff's 0 as blank); the JSON's values are None there too, so every output
  agrees with the manual's table.
- Details: newest first, as the fixture; the Agent filter applies to details and to the
  agent rows of the summary.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .report import (
    AVERAGE_SCORE,
    COUNT,
    DATETIME,
    SCORE,
    TEXT,
    Column,
    Directory,
    Report,
    ReportFilters,
    Row,
    Source,
)

_TIME = "COALESCE(call_joined_at, answered_at)"


async def satisfaction(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where(_TIME, agent_column="agent")
    found = await source.fetch(
        f"SELECT queue, agent, key, score, COUNT(*) FROM surveys WHERE {where}"
        " GROUP BY queue, agent, key, score", tuple(params))
    scores: dict[str, int] = {}
    for queue in f.queues or tuple(names.survey_scores):
        scores.update(names.survey_scores.get(queue, {}))
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for queue, agent, key, score, n in found:
        scores.setdefault(str(key), int(score))
        counts[(str(queue), str(agent))][str(key)] += int(n)
    keys = sorted(scores, key=lambda k: (len(k), k))
    columns = [Column("name", "Queue/Agent", TEXT)]
    columns += [Column(f"key_{k}", f"KEY:{k}({scores[k]})", COUNT) for k in keys]
    columns += [Column("total_keys", "Total KEY", COUNT),
                Column("total_score", "Total Score", SCORE),
                Column("average_score", "Average Score", AVERAGE_SCORE)]

    def row(name: str, presses: dict[str, int]) -> dict[str, Any]:
        total_keys = sum(presses.values())
        total = sum(n * scores[k] for k, n in presses.items())
        blank = total == 0  # §14.12
        return {"name": name, **{f"key_{k}": presses.get(k, 0) for k in keys},
                "total_keys": total_keys, "total_score": None if blank else total,
                "average_score": None if blank or not total_keys else total / total_keys}

    rows: list[Row] = []
    for queue in sorted({q for q, _ in counts}):
        agents = sorted(a for q, a in counts if q == queue)
        queue_presses: dict[str, int] = defaultdict(int)
        for agent in agents:
            for k, n in counts[(queue, agent)].items():
                queue_presses[k] += n
        rows.append(Row(row(names.queue(queue), queue_presses)))
        rows += [Row(row(names.agent(a), counts[(queue, a)])) for a in agents]
    return Report("satisfaction", "Satisfaction Report", columns, rows, f)


async def satisfaction_details(source: Source, f: ReportFilters, names: Directory) -> Report:
    where, params = f.where(_TIME, agent_column="agent")
    found = await source.fetch(
        f"SELECT agent, {_TIME}, caller, key, score, queue FROM surveys WHERE {where}"
        f" ORDER BY {_TIME} DESC, id DESC", tuple(params))
    rows = [Row({"agent": names.agent(str(agent)), "time": at, "caller": caller,
                 "key": str(key), "score": int(score), "queue": queue})
            for agent, at, caller, key, score, queue in found]
    return Report("satisfaction_details", "Satisfaction Survey Details",
                  [Column("agent", "Agent"), Column("time", "Time", DATETIME),
                   Column("caller", "Caller"), Column("key", "Key"),
                   Column("score", "Score", SCORE)], rows, f)
