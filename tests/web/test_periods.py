"""The wallboard's period windows (softswitch.web.periods) in virtual time: a call belongs to
the window of its queue-entry time in the queue's time zone; today, this week (from Monday)
and this month roll over at their boundary; the stored part (calls that entered before the
switch started) plus the live part equal the Queue Performance report of the same window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from acd.events import (
    CallbackFailed,
    CallbackFailureReason,
    CallbackRequested,
    CallbackSucceeded,
    CallEnded,
    CallStatus,
    LeaveReason,
    OfferEnded,
    OfferResult,
    OfferStarted,
    TaskJoined,
    TaskLeft,
)
from softswitch.clock import VirtualClock
from softswitch.reports.agent_calls import agent_performance
from softswitch.reports.queue_performance import queue_performance
from softswitch.reports.report import Directory, ReportFilters
from softswitch.reports.rows import ReportRows
from softswitch.store import Store
from softswitch.web.periods import PeriodStats, PeriodSums, window

ZONE = ZoneInfo("Asia/Shanghai")  # UTC+8: the UTC date differs from the local one at 00:00


def local(*args: int) -> float:
    return dt.datetime(*args, tzinfo=ZONE).timestamp()


# Sunday 29 November 2026 23:58 in Shanghai: the next day is a Monday, two days later December
START = local(2026, 11, 29, 23, 58)


class Day:
    """A queue 6400 (SLA 20 s) fed by hand in virtual time."""

    def __init__(self, started: float = START, source: Store | None = None) -> None:
        self.clock = VirtualClock(start=1000.0, wall_start=started)
        c = self.clock
        self.stats = PeriodStats(lambda at: c.wall_start + (at - c.start), lambda q: ZONE,
                                 lambda q: 20.0, c.wall(), source)
        self.n = 0

    def at(self, moment: float) -> float:
        """Engine time of the wall-clock ``moment``, the clock moved there."""
        self.clock.advance_to(self.clock.start + moment - self.clock.wall_start)
        return self.clock.now

    def join(self, moment: float, task: str) -> None:
        self.stats.apply(TaskJoined(self.at(moment), task, "6400", "555", 1))

    def leave(self, moment: float, task: str, status: CallStatus, waited: float) -> None:
        reason = {CallStatus.ANSWERED: LeaveReason.ANSWERED,
                  CallStatus.ABANDONED: LeaveReason.ABANDONED}.get(status, LeaveReason.MAX_WAIT)
        agent = "1001" if status is CallStatus.ANSWERED else None
        self.stats.apply(TaskLeft(self.at(moment), task, "6400", status, reason, waited, agent))

    def end(self, moment: float, task: str, talked: float) -> None:
        self.stats.apply(CallEnded(self.at(moment), task, "6400", "1001", talked))

    def kpis(self, period: str) -> dict[str, object]:
        return self.stats.kpis("6400", period, self.clock.wall())


def test_windows_are_local_calendar_windows_from_monday() -> None:
    now = local(2026, 12, 2, 9, 30)  # a Wednesday
    assert window("today", now, ZONE) == (local(2026, 12, 2), local(2026, 12, 3))
    assert window("week", now, ZONE) == (local(2026, 11, 30), local(2026, 12, 7))
    assert window("month", now, ZONE) == (local(2026, 12, 1), local(2027, 1, 1))
    # the month of December ends at the new year; a Monday is its own week's first day
    assert window("month", local(2026, 12, 31, 23, 59), ZONE)[1] == local(2027, 1, 1)
    assert window("week", local(2026, 11, 30), ZONE)[0] == local(2026, 11, 30)
    assert window("week", local(2026, 11, 29, 23, 59, 59), ZONE)[0] == local(2026, 11, 23)


def test_a_call_counts_in_the_window_of_its_queue_entry() -> None:
    d = Day()
    # entered Sunday 23:59, answered after the midnight (wait 90 s), talk 120 s
    d.join(local(2026, 11, 29, 23, 59), "a")
    assert d.kpis("today")["total"] == 0  # still waiting: counted once settled
    d.leave(local(2026, 11, 30, 0, 0, 30), "a", CallStatus.ANSWERED, 90.0)
    # Monday 00:01: a new caller abandons after 10 s
    d.join(local(2026, 11, 30, 0, 1), "b")
    d.leave(local(2026, 11, 30, 0, 1, 10), "b", CallStatus.ABANDONED, 10.0)
    d.end(local(2026, 11, 30, 0, 2, 30), "a", 120.0)
    today = d.kpis("today")  # Monday: only b (a entered yesterday)
    assert (today["total"], today["answered"], today["abandoned"]) == (1, 0, 1)
    assert today["abandon_rate"] == 100.0 and today["avg_talk"] == 0.0
    week = d.kpis("week")  # the week began on Monday: a was the week before
    assert (week["total"], week["abandoned"]) == (1, 1)
    month = d.kpis("month")  # both in November
    assert (month["total"], month["answered"], month["abandoned"]) == (2, 1, 1)
    assert (month["avg_talk"], month["avg_wait"], month["max_wait"]) == (120.0, 90.0, 90.0)
    assert month["sla"] == 0.0 and month["answer_rate"] == 50.0  # 90 s > SLA 20 s

    # Tuesday 1 December 00:00:10: a missed call; the month rolls over, the week does not
    d.join(local(2026, 12, 1, 0, 0, 10), "c")
    d.leave(local(2026, 12, 1, 0, 0, 15), "c", CallStatus.MISSED, 5.0)
    assert d.kpis("today")["total"] == 1 and d.kpis("today")["missed"] == 1
    assert (d.kpis("month")["total"], d.kpis("month")["missed"]) == (1, 1)
    week = d.kpis("week")
    assert (week["total"], week["abandoned"], week["missed"]) == (2, 1, 1)
    assert week["missed_rate"] == 50.0

    # the next Monday: a new week, with nothing yet; the month keeps c
    d.at(local(2026, 12, 7, 0, 0))
    assert d.kpis("week")["total"] == 0 and d.kpis("today")["total"] == 0
    assert d.kpis("month")["total"] == 1


def test_callbacks_count_in_the_window_of_the_call() -> None:
    d = Day()
    d.join(local(2026, 11, 29, 23, 59, 30), "cb")
    d.stats.apply(CallbackRequested(d.at(local(2026, 11, 29, 23, 59, 50)), "cb", "6400",
                                    "5550001"))
    month = d.kpis("month")
    assert (month["callback_requests"], month["awaiting_callback"]) == (1, 1)
    d.leave(local(2026, 11, 30, 0, 0, 20), "cb", CallStatus.MISSED, 50.0)
    d.stats.apply(CallbackFailed(d.at(local(2026, 11, 30, 0, 1)), "cb", "6400", "5550001",
                                 CallbackFailureReason.CUSTOMER_NO_ANSWER))
    assert d.kpis("today")["callback_requests"] == 0  # Monday: the call came on Sunday
    month = d.kpis("month")
    assert (month["callback_requests"], month["callback_failures"],
            month["awaiting_callback"]) == (1, 1, 0)


def script(day: Day, rows: ReportRows, store: Store, first: float, days: int) -> None:
    """Three calls a day from ``first``: answered (wait 5 or 30 s), abandoned, missed;
    every event goes to the live stats and to the report rows."""
    for i in range(days):
        base = first + i * 86400
        for n, (status, wait, talk) in enumerate([
                (CallStatus.ANSWERED, 5.0 if i % 2 else 30.0, 60.0 + i),
                (CallStatus.ABANDONED, 7.0, 0.0), (CallStatus.MISSED, 40.0, 0.0)]):
            task = f"t{i}-{n}"
            t0 = base + n * 600
            ringing = "1002" if status is CallStatus.ABANDONED else "1001"
            outcome = {CallStatus.ANSWERED: OfferResult.ANSWERED,
                       CallStatus.ABANDONED: OfferResult.CANCELLED}.get(
                           status, OfferResult.TIMED_OUT)
            events = [TaskJoined(day.at(t0), task, "6400", "555", 1),
                      OfferStarted(day.at(t0), task, "6400", (ringing,)),
                      OfferEnded(day.at(t0 + wait), task, "6400", ringing, outcome, wait)]
            reason = {CallStatus.ANSWERED: LeaveReason.ANSWERED,
                      CallStatus.ABANDONED: LeaveReason.ABANDONED}.get(status,
                                                                       LeaveReason.MAX_WAIT)
            agent = "1001" if status is CallStatus.ANSWERED else None
            events.append(TaskLeft(day.at(t0 + wait), task, "6400", status, reason, wait,
                                   agent))
            if talk:
                events.append(CallEnded(day.at(t0 + wait + talk), task, "6400", "1001", talk))
            for e in events:
                day.stats.apply(e)
                for sql, params in rows.handle(e):
                    store.write(sql, params)


async def test_stored_and_live_parts_equal_the_report(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "s.sqlite3"))
    try:
        names = Directory(queues={"6400": "Sales"}, time_zones={"6400": "Asia/Shanghai"})
        # the switch "restarts" on Wednesday 2 December 12:00: calls before are the store's
        started = local(2026, 12, 2, 12, 0)
        before = Day(started=local(2026, 11, 20, 8, 0))  # a previous run, store only
        rows = ReportRows({"6400": 20.0}, before.clock.wall_start - before.clock.start)
        script(before, rows, store, local(2026, 11, 20, 9, 0), 12)  # 20 Nov - 1 Dec
        for e in [TaskJoined(before.at(local(2026, 12, 2, 9, 0)), "w", "6400", "555", 1),
                  OfferStarted(before.at(local(2026, 12, 2, 9, 0)), "w", "6400", ("1001",)),
                  OfferEnded(before.at(local(2026, 12, 2, 9, 0, 12)), "w", "6400", "1001",
                             OfferResult.ANSWERED, 12.0),
                  TaskLeft(before.at(local(2026, 12, 2, 9, 0, 12)), "w", "6400",
                           CallStatus.ANSWERED, LeaveReason.ANSWERED, 12.0, "1001"),
                  CallEnded(before.at(local(2026, 12, 2, 9, 3)), "w", "6400", "1001", 168.0)]:
            for sql, params in rows.handle(e):
                store.write(sql, params)
        await store.flush()

        live = Day(started=started, source=store)
        rows = ReportRows({"6400": 20.0}, live.clock.wall_start - live.clock.start)
        await live.stats.load(["6400"], started)
        script(live, rows, store, local(2026, 12, 2, 13, 0), 3)  # Wed afternoon - Friday
        await store.flush()
        now = live.clock.wall()
        assert dt.datetime.fromtimestamp(now, ZONE).date() == dt.date(2026, 12, 4)
        for period in ("today", "week", "month"):
            since, until = window(period, now, ZONE)
            f = ReportFilters(since, until, queues=("6400",), time_zone="Asia/Shanghai")
            report = (await queue_performance(store, f, names)).rows[0].values
            k = live.kpis(period)
            assert k["total"] == report["total"] > 0, period
            for ours, theirs in [("answered", "answered"), ("missed", "missed"),
                                 ("abandoned", "abandoned"), ("avg_talk", "avg_talk"),
                                 ("avg_wait", "avg_wait_answered"), ("sla", "sla"),
                                 ("answer_rate", "answer_rate"),
                                 ("missed_rate", "missed_rate"),
                                 ("abandon_rate", "abandon_rate")]:
                assert k[ours] == report[theirs], (period, ours)
            agents = {r.values["name"]: r.values
                      for r in (await agent_performance(store, f, names)).rows
                      if r.values["name"] in ("1001", "1002")}
            for agent in ("1001", "1002"):
                ours = live.stats.agent_sums("6400", agent, period, now)
                theirs = agents[agent]
                assert (ours.answered, ours.missed, ours.talk) == (
                    theirs["answered"], theirs["missed"], theirs["total_talk"]), (period, agent)
        # the week (from Monday 30 Nov) = Mon, Tue from the store, Wed from both, Thu, Fri
        assert live.kpis("week")["total"] == 3 + 3 + 1 + 3 + 3 + 3
        assert live.kpis("month")["max_wait"] == 30.0  # answered only (missed waited 40)
    finally:
        await store.close()


def test_agent_rings_and_talk_count_in_the_window_of_the_call() -> None:
    d = Day()
    d.join(local(2026, 11, 29, 23, 59), "a")  # Sunday 23:59: 1001 lets it ring out
    d.stats.apply(OfferEnded(d.at(local(2026, 11, 29, 23, 59, 20)), "a", "6400", "1001",
                             OfferResult.TIMED_OUT, 20.0))
    # after midnight 1002 does not answer either, then 1001 answers (still Sunday's call)
    d.stats.apply(OfferEnded(d.at(local(2026, 11, 30, 0, 0, 5)), "a", "6400", "1002",
                             OfferResult.REJECTED, 5.0))
    d.stats.apply(OfferEnded(d.at(local(2026, 11, 30, 0, 0, 30)), "a", "6400", "1001",
                             OfferResult.ANSWERED, 10.0))
    d.leave(local(2026, 11, 30, 0, 0, 30), "a", CallStatus.ANSWERED, 90.0)
    d.join(local(2026, 11, 30, 0, 1), "b")  # Monday 00:01: 1001 rang, the caller left
    d.stats.apply(OfferEnded(d.at(local(2026, 11, 30, 0, 1, 10)), "b", "6400", "1001",
                             OfferResult.CANCELLED, 10.0))
    d.leave(local(2026, 11, 30, 0, 1, 10), "b", CallStatus.ABANDONED, 10.0)
    d.end(local(2026, 11, 30, 0, 5), "a", 270.0)
    now = d.clock.wall()

    def figures(agent: str, period: str) -> tuple[int, int, float]:
        s = d.stats.agent_sums("6400", agent, period, now)
        return s.answered, s.missed, s.talk

    assert figures("1001", "today") == (0, 1, 0.0)  # Monday: b's cancelled ring
    assert figures("1001", "week") == (0, 1, 0.0)
    assert figures("1001", "month") == (1, 2, 270.0)  # per ring: a's timeout and b's
    assert figures("1002", "today") == (0, 0, 0.0) and figures("1002", "month") == (0, 1, 0.0)


def test_a_callback_kept_across_a_restart_counts_in_the_window_of_its_entry() -> None:
    # the switch started on Monday 00:00:30; the request entered on Sunday 23:50 (stored
    # part: unsettled, pending). After the start the agent answers it (no TaskJoined: the
    # ACD restored it), talks 100 s and the callback succeeds.
    d = Day(started=local(2026, 11, 30, 0, 0, 30))
    d.stats.stored[("6400", local(2026, 11, 1))] = PeriodSums(awaiting_callback=1,
                                                              callback_requests=1)
    waited = local(2026, 11, 30, 0, 2) - local(2026, 11, 29, 23, 50)
    d.leave(local(2026, 11, 30, 0, 2), "cb", CallStatus.ANSWERED, waited)
    d.stats.apply(CallbackSucceeded(d.at(local(2026, 11, 30, 0, 2)), "cb", "6400", "1001",
                                    "5550001"))
    d.end(local(2026, 11, 30, 0, 3, 40), "cb", 100.0)
    assert d.kpis("today")["total"] == 0  # it entered on Sunday
    month = d.kpis("month")
    assert (month["total"], month["answered"], month["avg_talk"], month["max_wait"]) == \
        (1, 1, 100.0, waited)
    assert (month["callback_requests"], month["awaiting_callback"]) == (1, 0)
