"""Queue Performance (queue-admin.md §8.4) as SQL over the report rows: one query per
metric, each taking ``:queue``, ``:since`` and ``:until`` (wall-clock epoch seconds of the
call's arrival, inclusive start, exclusive end). Durations come back in seconds (the report
formats them HH:MM:SS), rates in percent; None when the queue had no such call.

§8.2 definitions as implemented:
- Total = answered + missed + abandoned (calls still waiting are not settled: not counted).
- Avg Wait (Answered) = answered calls' wait / answered, Avg Wait (All) = wait / total,
  where ``wait`` (join -> answer or leave) contains the retry intervals (see rows.py).
- Avg Handle = (answered wait + answered talk) / answered.
- SLA = answered within the SLA time / total * 100 (§7.3; the denominator counts all).
"""

from __future__ import annotations

_SETTLED = ("FROM queue_calls WHERE queue = :queue AND joined_at >= :since"
            " AND joined_at < :until AND status IS NOT NULL")


def _rate(condition: str) -> str:
    return (f"SELECT CASE WHEN COUNT(*) = 0 THEN NULL ELSE "
            f"ROUND(SUM({condition}) * 100.0 / COUNT(*), 2) END {_SETTLED}")


QUEUE_PERFORMANCE: dict[str, str] = {
    "total_calls": f"SELECT COUNT(*) {_SETTLED}",
    "answered": f"SELECT COUNT(*) {_SETTLED} AND status = 'answered'",
    "missed": f"SELECT COUNT(*) {_SETTLED} AND status = 'missed'",
    "abandoned": f"SELECT COUNT(*) {_SETTLED} AND status = 'abandoned'",
    "avg_handle": f"SELECT AVG(wait + talk) {_SETTLED} AND status = 'answered'",
    "avg_wait_answered": f"SELECT AVG(wait) {_SETTLED} AND status = 'answered'",
    "avg_wait_all": f"SELECT AVG(wait) {_SETTLED}",
    "max_wait_all": f"SELECT MAX(wait) {_SETTLED}",
    "avg_talk": f"SELECT AVG(talk) {_SETTLED} AND status = 'answered'",
    "avg_hold": f"SELECT AVG(hold) {_SETTLED} AND status = 'answered'",
    "answer_rate": _rate("status = 'answered'"),
    "missed_rate": _rate("status = 'missed'"),
    "abandon_rate": _rate("status = 'abandoned'"),
    "sla": _rate("sla_met"),
}
