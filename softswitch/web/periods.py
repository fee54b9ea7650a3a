"""The wallboard's period KPIs (#5-#16 of queue-manager-agent.md §2.4) over a calendar window:
today, this week or this month, in the queue's time zone (the manual's "daily, weekly and
monthly" performance, the time-range selector 数据的时间范围 of §2.2).

Design (exact and cheap):
- A call belongs to the window of its **queue-entry time** (§2.4 [PROPOSED]): `PeriodStats`
  follows the bus and keeps, per queue and per local day of entry, the report's mergeable
  sums (`softswitch.reports.queue_performance.CallSums`: the same definitions as the Queue
  Performance report, computed once there) plus the answered calls' longest wait (#7) and
  the callback counts (#16). A call that entered at 23:59 and is answered at 00:01 counts in
  the day it entered; "today" rolls over at 00:00 on the injected clock (nothing resets:
  the window simply stops covering yesterday's bucket; no timer, no sleep).
- The switch only sees the calls that enter after it started (``started``). The part of a
  window before that comes from the stored rows (``queue_calls`` with the report's own SQL,
  `call_sums`, and ``callbacks``), read once per (queue, window start) by `load`: a window
  that starts after ``started`` needs no query at all, so the store is read at start and when
  a client first asks for a queue, never per event. Week and month = stored part + live days.
- Decisions: weeks start on **Monday** (the manual is written for the Chinese locale, where
  the week starts on Monday; ISO 8601, and the reports' week buckets, softswitch.reports.
  periods, do the same). The queue's time zone is the reports' (its time-based routing time
  zone, else UTC: `Directory.time_zone`). Figures are the report's rounding-free values:
  averages in seconds (float), rates and SLA in percent (0 when no call). Callback requests
  and failures (#16a, #16b) count in the window of the call's queue entry; awaiting (#16c) =
  requests of the window still pending now.
- The agent status list's period columns (§2.5): per agent and queue, ``answered`` = its
  answered rings (the queue calls it answered), ``missed`` = its rings that ended without
  its answer (ring timeout, rejected/busy, cancelled: counted per ring, the Agent
  Performance report's rule, softswitch.reports.agent_calls), ``talk`` = the talk time of
  the queue calls it answered; all in the window of the call's queue entry.
- A callback request still pending across a restart (acd.Acd.restore_callback emits no
  TaskJoined) is in the stored part as unsettled and pending; when it leaves the queue after
  the restart it counts live in the window of its entry (its TaskLeft's time minus its
  wait), and its outcome takes it out of the stored "awaiting". Known limit: an outcome
  that comes without a TaskLeft after the restart (a request that expired while the switch
  was down fails at start-up) keeps it "awaiting" until the next start; the agent's ring
  that answered such a request (before its TaskLeft) is not in the agent's columns.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from acd.events import (
    CallbackFailed,
    CallbackRequested,
    CallbackSucceeded,
    CallEnded,
    CallStatus,
    OfferEnded,
    OfferResult,
    TaskJoined,
    TaskLeft,
)
from acd.sla import meets_sla
from softswitch.reports.queue_performance import CallSums, call_sums
from softswitch.reports.report import ReportFilters, Source

PERIODS = ("today", "week", "month")
PERIOD_EVENTS = (TaskJoined, TaskLeft, CallEnded, CallbackRequested, CallbackFailed,
                 CallbackSucceeded, OfferEnded)
RECENT_CALLS = 50_000  # calls whose entry day is remembered for their late rings and talk
_KINDS = frozenset(PERIOD_EVENTS)


def window(period: str, now: float, zone: ZoneInfo) -> tuple[float, float]:
    """(since, until) epoch seconds of the ``period`` containing ``now`` in ``zone``:
    today from 00:00, this week from Monday 00:00, this month from the 1st 00:00."""
    day = dt.datetime.fromtimestamp(now, zone).date()
    if period == "today":
        first, last = day, day + dt.timedelta(days=1)
    elif period == "week":
        first = day - dt.timedelta(days=day.weekday())
        last = first + dt.timedelta(days=7)
    elif period == "month":
        first = day.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"period: expected one of {', '.join(PERIODS)}, got {period!r}")
    return (dt.datetime.combine(first, dt.time(), zone).timestamp(),
            dt.datetime.combine(last, dt.time(), zone).timestamp())


@dataclass(slots=True)
class PeriodSums:
    """One queue's calls of one day (or of a stored span), mergeable."""

    calls: CallSums = field(default_factory=CallSums)
    max_wait_answered: float = 0.0
    callback_requests: int = 0
    callback_failures: int = 0
    awaiting_callback: int = 0

    def add(self, o: PeriodSums) -> None:
        self.calls.add(o.calls)
        self.max_wait_answered = max(self.max_wait_answered, o.max_wait_answered)
        self.callback_requests += o.callback_requests
        self.callback_failures += o.callback_failures
        self.awaiting_callback += o.awaiting_callback

    def kpis(self) -> dict[str, Any]:
        """§2.4 #5-#16 (the Queue Performance report's formulas, `CallSums.metrics`)."""
        m = self.calls.metrics()
        return {
            "avg_talk": m["avg_talk"], "avg_wait": m["avg_wait_answered"],
            "max_wait": self.max_wait_answered, "sla": m["sla"] or 0.0,
            "missed": m["missed"], "abandoned": m["abandoned"], "answered": m["answered"],
            "total": m["total"],
            "missed_rate": m["missed_rate"] or 0.0,
            "abandon_rate": m["abandon_rate"] or 0.0,
            "answer_rate": m["answer_rate"] or 0.0,
            "callback_requests": self.callback_requests,
            "callback_failures": self.callback_failures,
            "awaiting_callback": self.awaiting_callback,
        }


@dataclass(slots=True)
class AgentSums:
    """One agent's rings and talk in one queue (§2.5 period columns), mergeable."""

    answered: int = 0
    missed: int = 0
    talk: float = 0.0

    def add(self, o: AgentSums) -> None:
        self.answered += o.answered
        self.missed += o.missed
        self.talk += o.talk

    def as_json(self) -> dict[str, Any]:
        return {"answered": self.answered, "missed": self.missed, "talk": self.talk}


_AGENT_RINGS = ("SELECT agent, SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN outcome IN ('missed','rejected','cancelled') THEN 1 ELSE 0 END)"
                " FROM queue_offers WHERE call_joined_at >= ? AND call_joined_at < ?"
                " AND queue = ? AND outcome IS NOT NULL GROUP BY agent")
_AGENT_TALK = ("SELECT agent, SUM(talk) FROM queue_calls WHERE joined_at >= ? AND joined_at < ?"
               " AND queue = ? AND status = 'answered' GROUP BY agent")


@dataclass(slots=True)
class _Entry:
    queue: str
    day: dt.date
    left: bool = False
    restored: bool = False  # entered before the start, settled after it
    answered: bool = False
    ended: bool = False
    callback_pending: bool = False


_CALLBACKS = ("SELECT COUNT(requested_at),"
              " SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END),"
              " SUM(CASE WHEN requested_at IS NOT NULL AND outcome IS NULL THEN 1 ELSE 0 END)"
              " FROM callbacks WHERE call_joined_at >= ? AND call_joined_at < ? AND queue = ?")
_MAX_ANSWERED = ("SELECT MAX(wait) FROM queue_calls WHERE joined_at >= ? AND joined_at < ?"
                 " AND queue = ? AND status = 'answered'")


class PeriodStats:
    """Per-queue, per-local-day sums of the calls by queue-entry time (see module doc).

    ``wall(at)``: engine time -> epoch seconds; ``zone(queue)``: the queue's time zone;
    ``sla_time(queue)``: its SLA time (s); ``started``: epoch seconds from which the live
    part counts (calls that entered earlier are the store's); ``source``: the store (None:
    no stored part, e.g. a switch without a database)."""

    def __init__(self, wall: Callable[[float], float], zone: Callable[[str], ZoneInfo],
                 sla_time: Callable[[str], float], started: float,
                 source: Source | None = None) -> None:
        self.wall = wall
        self.zone = zone
        self.sla_time = sla_time
        self.started = started
        self.source = source
        self.days: dict[str, dict[dt.date, PeriodSums]] = {}
        self.entries: dict[tuple[str, str], _Entry] = {}  # (task, queue) of tracked calls
        self.stored: dict[tuple[str, float], PeriodSums] = {}  # (queue, since) -> before start
        # (queue, agent) -> day -> rings and talk; the stored part per (queue, since)
        self.agent_days: dict[tuple[str, str], dict[dt.date, AgentSums]] = {}
        self.agent_stored: dict[tuple[str, float], dict[str, AgentSums]] = {}
        self.entry_day: OrderedDict[tuple[str, str], dt.date] = OrderedDict()

    # ------------------------------------------------------------------ live part

    def _bucket(self, e: _Entry) -> PeriodSums:
        per_day = self.days.setdefault(e.queue, {})
        sums = per_day.get(e.day)
        if sums is None:
            sums = per_day[e.day] = PeriodSums()
        return sums

    def apply(self, event: Any) -> None:
        kind = type(event)
        if kind not in _KINDS:
            return
        if kind is TaskJoined:
            at = self.wall(event.at)
            day = dt.datetime.fromtimestamp(at, self.zone(event.queue)).date()
            self.entries[(event.task, event.queue)] = _Entry(event.queue, day)
            self.entry_day[(event.task, event.queue)] = day
            if len(self.entry_day) > RECENT_CALLS:
                self.entry_day.popitem(last=False)
            return
        if kind is OfferEnded or kind is CallEnded:
            self._agent(event)
            if kind is OfferEnded:
                return
        entry = self.entries.get((event.task, event.queue))
        if entry is None:
            if kind is not TaskLeft:  # entered before the start: the store's part
                return
            # a call that entered before the start (a callback request kept across a
            # restart, acd.Acd.restore_callback: no TaskJoined) settles now: the stored part
            # read it unsettled, so it counts here, in the window of its entry (at - waited)
            joined = self.wall(event.at) - float(event.waited)
            day = dt.datetime.fromtimestamp(joined, self.zone(event.queue)).date()
            entry = self.entries[(event.task, event.queue)] = _Entry(event.queue, day,
                                                                     restored=True)
            self.entry_day[(event.task, event.queue)] = day
        sums = self._bucket(entry)
        c = sums.calls
        if kind is TaskLeft:
            waited = float(event.waited)
            c.total += 1
            c.wait_all += waited
            c.max_wait = max(c.max_wait, waited)
            if event.status is CallStatus.ANSWERED:
                c.answered += 1
                c.wait_answered += waited
                sums.max_wait_answered = max(sums.max_wait_answered, waited)
                if meets_sla(waited, self.sla_time(event.queue)):
                    c.sla_met += 1
                entry.answered = True
            elif event.status is CallStatus.ABANDONED:
                c.abandoned += 1
            else:
                c.missed += 1
            entry.left = True
        elif kind is CallEnded:
            if entry.answered:
                c.talk += float(event.talked)
            entry.ended = True
        elif kind is CallbackRequested:
            sums.callback_requests += 1
            entry.callback_pending = True
            sums.awaiting_callback += 1
        else:  # CallbackFailed, CallbackSucceeded
            if kind is CallbackFailed:
                sums.callback_failures += 1
            if entry.callback_pending or entry.restored:  # restored: the store's pending one
                entry.callback_pending = entry.restored = False
                sums.awaiting_callback -= 1
        if entry.left and (entry.ended or not entry.answered) and not entry.callback_pending \
                and not entry.restored:
            del self.entries[(event.task, event.queue)]  # nothing more can come

    def _agent(self, event: Any) -> None:
        day = self.entry_day.get((event.task, event.queue))
        if day is None:  # entered before the start: the store's part
            return
        per_day = self.agent_days.setdefault((event.queue, event.agent), {})
        sums = per_day.get(day)
        if sums is None:
            sums = per_day[day] = AgentSums()
        if type(event) is CallEnded:
            sums.talk += float(event.talked)
        elif event.result is OfferResult.ANSWERED:
            sums.answered += 1
        else:
            sums.missed += 1

    def agent_sums(self, queue: str, agent: str, period: str, now: float) -> AgentSums:
        zone = self.zone(queue)
        since, until = window(period, now, zone)
        first = dt.datetime.fromtimestamp(since, zone).date()
        last = dt.datetime.fromtimestamp(until, zone).date()
        out = AgentSums()
        stored = self.agent_stored.get((queue, since))
        if stored is not None and since < self.started and agent in stored:
            out.add(stored[agent])
        for day, sums in self.agent_days.get((queue, agent), {}).items():
            if first <= day < last:
                out.add(sums)
        return out

    def prune(self, now: float, keep_days: int = 40) -> None:
        """Forget days no window can reach any more (older than a month and a week)."""
        for queue, per_day in self.days.items():
            today = dt.datetime.fromtimestamp(now, self.zone(queue)).date()
            for day in [d for d in per_day if (today - d).days > keep_days]:
                del per_day[day]
        for (queue, _), agent_days in self.agent_days.items():
            today = dt.datetime.fromtimestamp(now, self.zone(queue)).date()
            for day in [d for d in agent_days if (today - d).days > keep_days]:
                del agent_days[day]

    # ------------------------------------------------------------------ stored part

    async def load(self, queues: Iterable[str], now: float,
                   periods: Iterable[str] = PERIODS) -> None:
        """Read the stored part of each queue's windows that start before ``started``
        (once per queue and window start)."""
        if self.source is None:
            return
        for queue in queues:
            zone = self.zone(queue)
            for period in periods:
                since, _ = window(period, now, zone)
                if since >= self.started or (queue, since) in self.stored:
                    continue
                f = ReportFilters(since, self.started, queues=(queue,))
                stored = PeriodSums()
                for _, sums in await call_sums(self.source, f, "queue"):
                    stored.calls.add(sums)
                rows = await self.source.fetch(_MAX_ANSWERED, (since, self.started, queue))
                stored.max_wait_answered = float(rows[0][0] or 0) if rows else 0.0
                rows = await self.source.fetch(_CALLBACKS, (since, self.started, queue))
                if rows:
                    stored.callback_requests = int(rows[0][0] or 0)
                    stored.callback_failures = int(rows[0][1] or 0)
                    stored.awaiting_callback = int(rows[0][2] or 0)
                agents: dict[str, AgentSums] = {}
                for agent, answered, missed in await self.source.fetch(
                        _AGENT_RINGS, (since, self.started, queue)):
                    agents[str(agent)] = AgentSums(int(answered or 0), int(missed or 0))
                for agent, talk in await self.source.fetch(
                        _AGENT_TALK, (since, self.started, queue)):
                    agents.setdefault(str(agent), AgentSums()).talk = float(talk or 0)
                self.agent_stored[(queue, since)] = agents
                self.stored[(queue, since)] = stored

    def loaded(self, queue: str, period: str, now: float) -> bool:
        since, _ = window(period, now, self.zone(queue))
        return self.source is None or since >= self.started or (queue, since) in self.stored

    # ------------------------------------------------------------------ figures

    def sums(self, queue: str, period: str, now: float) -> PeriodSums:
        zone = self.zone(queue)
        since, until = window(period, now, zone)
        first = dt.datetime.fromtimestamp(since, zone).date()
        last = dt.datetime.fromtimestamp(until, zone).date()
        out = PeriodSums()
        stored = self.stored.get((queue, since))
        if stored is not None and since < self.started:
            out.add(stored)
        for day, sums in self.days.get(queue, {}).items():
            if first <= day < last:
                out.add(sums)
        return out

    def kpis(self, queue: str, period: str, now: float) -> dict[str, Any]:
        return self.sums(queue, period, now).kpis()

    def all_kpis(self, queues: Iterable[str], period: str, now: float) -> dict[str, Any]:
        """The "All" row: every queue's own window (its time zone), summed; averages and
        rates over the union of the calls."""
        out = PeriodSums()
        for q in queues:
            out.add(self.sums(q, period, now))
        return out.kpis()
