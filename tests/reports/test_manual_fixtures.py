"""Every fixture table of queue-admin.md §8, reproduced by the report over the rows a
switch writes (tests/reports/manual.py seeds them): the printed grid must equal the
manual's table cell for cell."""

from __future__ import annotations

import dataclasses
from typing import Any

from softswitch.reports.catalog import run_report

from . import manual
from .manual import NAMES, at, period


async def report(store: Any, name: str, seed: Any, filters: Any,
                 names: Any = NAMES) -> list[list[str]]:
    seed(store)
    await store.flush()
    return (await run_report(name, store, filters, names)).grid()


async def test_queue_performance_8_4(store: Any) -> None:
    grid = await report(store, "queue_performance", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/28/2023 23:59:59", queues=("6400", "6401")))
    assert grid == manual.QUEUE_PERFORMANCE


async def test_queue_performance_activity_8_5(store: Any) -> None:
    grid = await report(store, "queue_performance_activity", manual.seed_queue_calls,
                        period("12/01/2023 00:00:00", "12/31/2023 23:59:59",
                               queues=("6401",), granularity="day"))
    assert grid[0][0] == "Date" and grid[0][1:] == manual.QUEUE_PERFORMANCE[0][1:]
    assert grid[1:] == manual.ACTIVITY


async def test_exclude_abandoned_within_5_s(store: Any) -> None:
    """§15.61: Support on 12/27/2023 with "exclude abandoned within 5 s": 5 total, 1
    abandoned (6 and 2 without)."""
    grid = await report(store, "queue_performance", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",),
        exclude_abandoned_within=5))
    assert grid[1][:5] == ["Support", "5", "4", "0", "1"]


async def test_exclude_talk_within(store: Any) -> None:
    """Answered calls whose talk is within 54 s (Troy's 54 s call) are left out."""
    grid = await report(store, "queue_performance", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",),
        exclude_talk_within=54))
    assert grid[1][:5] == ["Support", "5", "3", "0", "2"]


async def test_agent_missed_8_12(store: Any) -> None:
    grid = await report(store, "agent_missed", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",)))
    assert grid == manual.AGENT_MISSED


async def test_agent_performance_8_13(store: Any) -> None:
    grid = await report(store, "agent_performance", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",),
        exclude_abandoned_within=5))
    assert grid[1:] == manual.AGENT_PERFORMANCE


async def test_callback_report_8_7(store: Any) -> None:
    grid = await report(store, "callback_report", manual.seed_callbacks, period(
        "01/07/2022 00:00:00", "01/07/2022 23:59:59", queues=("6400",)))
    assert grid[0] == ["Time", "Caller", "Callback Time", "Callback Number", "Wait Duration",
                       "Callback Result", "Failure Reason"]
    assert grid[1:-1] == [list(r) for r in manual.CALLBACKS]
    assert grid[-1] == ["Total", "", "", "15", "00:19:40", "", ""]


async def test_callback_report_result_filter(store: Any) -> None:
    grid = await report(store, "callback_report", manual.seed_callbacks, period(
        "01/07/2022 00:00:00", "01/07/2022 23:59:59", queues=("6400",),
        callback_result="success"))
    assert [r[0] for r in grid[1:]] == ["01/07/2022 16:43:15", "01/07/2022 15:09:32", "Total"]
    assert grid[-1][3:5] == ["2", "00:02:31"]


async def test_callback_summary_8_6(store: Any) -> None:
    """2 successes, 13 failures, 14 requests (the invalid number was never a request)."""
    grid = await report(store, "callback_summary", manual.seed_callbacks, period(
        "01/07/2022 00:00:00", "01/07/2022 23:59:59", queues=("6400",)))
    assert grid[1] == ["Jan 07", "13", "2", "15", "0"]  # + the pending request
    assert grid[-1] == ["Total", "13", "2", "15", "0"]


async def test_satisfaction_8_8(store: Any) -> None:
    names = manual.Directory(queues={"6400": "6400"}, agents=NAMES.agents,
                             survey_scores={"6400": manual.SURVEY_SCORES})
    grid = await report(store, "satisfaction", manual.seed_surveys, period(
        "11/03/2022 00:00:00", "11/03/2022 23:59:59", queues=("6400",)), names)
    assert grid == [
        ["Queue/Agent", "KEY:0(-3)", "KEY:1(-2)", "KEY:3(0)", "KEY:5(2)", "Total KEY",
         "Total Score", "Average Score"],
        ["6400-6400", "1", "1", "1", "1", "4", "-3", "-0.75"],
        ["2000-Leo Ball", "1", "0", "0", "1", "2", "-1", "-0.5"],
        ["2001-Phillip Huff", "0", "0", "1", "0", "1", "", ""],
        ["2002-Terrell Smith", "0", "1", "0", "0", "1", "-2", "-2"],
    ]


async def test_satisfaction_details_8_9(store: Any) -> None:
    grid = await report(store, "satisfaction_details", manual.seed_surveys, period(
        "11/03/2022 00:00:00", "11/03/2022 23:59:59", queues=("6400",)))
    assert grid == [["Agent", "Time", "Caller", "Key", "Score"],
                    *[list(s) for s in manual.SURVEYS]]


async def test_satisfaction_details_agent_filter(store: Any) -> None:
    grid = await report(store, "satisfaction_details", manual.seed_surveys, period(
        "11/03/2022 00:00:00", "11/03/2022 23:59:59", queues=("6400",), agents=("2000",)))
    assert [r[1] for r in grid[1:]] == ["11/03/2022 15:05:21", "11/03/2022 13:58:15"]


async def test_agent_login_8_10(store: Any) -> None:
    grid = await report(store, "agent_login", manual.seed_sessions, period(
        "12/30/2023 00:00:00", "12/31/2023 23:59:59"))
    assert grid == [
        ["Agent", "Login", "Logout", "Login Duration"],
        ["2000-Leo Ball", "12/30/2023 10:18:39", "12/30/2023 10:18:51", "00:00:12"],
        ["", "12/30/2023 10:22:10", "12/30/2023 10:26:49", "00:04:39"],
        ["", "12/30/2023 18:40:47", "12/31/2023 16:06:17", "21:25:30"],
        ["Total", "", "", "21:30:21"],
        ["2001-Phillip Huff", "12/30/2023 10:19:16", "12/30/2023 10:26:43", "00:07:27"],
        ["Total", "", "", "00:07:27"],
    ]


async def test_agent_login_open_session_runs_to_now(store: Any) -> None:
    store.write("INSERT INTO agent_sessions (session_uid, agent, queue, signed_in_at)"
                " VALUES (?,?,?,?)", ("open-1", "2001", "6401", at("12/30/2023 09:00:00")))
    f = period("12/30/2023 00:00:00", "12/30/2023 23:59:59",
               now=at("12/30/2023 09:30:00"))
    grid = await report(store, "agent_login", lambda s: None, f)
    assert grid[1] == ["2001-Phillip Huff", "12/30/2023 09:00:00", "", "00:30:00"]


async def test_agent_pause_8_11(store: Any) -> None:
    grid = await report(store, "agent_pause", manual.seed_pauses, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",)))
    assert grid == [
        ["Agent", "Pause", "Pause Reason", "Unpause", "Total Pause Duration", "Pause Count"],
        ["2005-Kristin Hale", "12/27/2023 17:14:11", "-", "12/27/2023 17:14:15", "00:00:04",
         "1"],
        ["", "12/27/2023 17:14:19", "Break", "12/27/2023 17:14:41", "00:00:22", "1"],
        ["", "12/27/2023 17:17:04", "Lunch", "Pause reason changed", "00:00:07", ""],
        ["", "12/27/2023 17:17:11", "Break", "12/27/2023 17:17:21", "00:00:10", "1"],
        ["Total", "", "", "", "00:00:43", "3"],
    ]


async def test_agent_pause_reason_filter(store: Any) -> None:
    grid = await report(store, "agent_pause", manual.seed_pauses, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", pause_reason="Break"))
    assert [r[4] for r in grid[1:]] == ["00:00:22", "00:00:10", "00:00:32"]


async def test_queue_call_details_8_2(store: Any) -> None:
    """§15.62: an unanswered call shows Agent "None"; the activity drill-down has Queue."""
    grid = await report(store, "queue_performance_activity", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",), details=True))
    assert grid[0] == ["ID", "Time", "Caller", "Queue", "Agent", "Status", "Ring Duration",
                       "Talk Duration", "Hold Duration", "Reason"]
    assert grid[1][1:] == ["12/27/2023 14:30:00", "15880123456", "6401-Support", "None",
                           "Abandoned", "00:00:08", "00:00:00", "00:00:00", "Caller hung up"]
    assert grid[3][1:] == ["12/27/2023 13:11:44", "15880123456", "6401-Support",
                           "2002-Terrell Smith", "Answered", "00:00:02", "00:01:03",
                           "00:00:00", "Answered"]
    assert len(grid) == 1 + 6


async def test_agent_call_records_8_13(store: Any) -> None:
    grid = await report(store, "agent_performance", manual.seed_queue_calls, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",), agents=("2001",),
        details=True))
    assert [r[1:] for r in grid[1:]] == [
        ["2001-Phillip Huff", "12/27/2023 13:11:44", "15880123456", "Missed", "00:00:02",
         "00:00:00", "1", "Answered"],
        ["2001-Phillip Huff", "12/27/2023 13:10:14", "15880123456", "Missed", "00:00:07",
         "00:00:00", "1", "Answered"],
        ["2001-Phillip Huff", "12/27/2023 13:08:38", "15880123456", "Answered", "00:00:08",
         "00:00:57", "1", "Answered"],
        ["2001-Phillip Huff", "12/27/2023 13:05:52", "15880123456", "Answered", "00:00:16",
         "00:00:57", "1", "Answered"],
    ]


def seed_outbound(store: Any) -> None:
    """Dec 27: Leo's answered external call (120 s) counts; Phillip's call to extension
    2002, Leo's unanswered call and a call still running do not."""
    from softswitch.store import CallRecord, Disposition

    t = at("12/27/2023 15:00:00")
    store.write_cdr(CallRecord("o1", "2000", "13800001111", t, t + 5, t + 125,
                               Disposition.ANSWERED, "caller", "BYE", 200))
    store.write_cdr(CallRecord("o2", "2001", "2002", t, t + 2, t + 32, Disposition.ANSWERED,
                               "caller", "BYE", 200))
    store.write_cdr(CallRecord("o3", "2000", "13800002222", t + 200, None, t + 230,
                               Disposition.NO_ANSWER, "callee", "timeout", 480))
    store.open_cdr("o4", "o4", "2000", "13800003333", t + 300)


async def test_agent_call_summary_8_14(store: Any) -> None:
    manual.seed_queue_calls(store)
    grid = await report(store, "agent_call_summary", seed_outbound, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",)))
    assert grid == [
        ["Agent", "Inbound", "Inbound Talk Duration", "Outbound", "Outbound Talk Duration",
         "Total Calls", "Total Talk Duration", "Avg Handle Time", "Avg Talk Time",
         "Avg Hold Time", "Avg Wait Time"],
        ["2000-Leo Ball", "0", "00:00:00", "1", "00:02:00", "1", "00:02:00", "00:00:00",
         "00:02:00", "00:00:00", "00:00:00"],
        ["2001-Phillip Huff", "2", "00:01:54", "0", "00:00:00", "2", "00:01:54", "00:01:09",
         "00:00:57", "00:00:00", "00:00:12"],
        ["2002-Terrell Smith", "1", "00:01:03", "0", "00:00:00", "1", "00:01:03", "00:01:05",
         "00:01:03", "00:00:00", "00:00:02"],
        ["2004-Troy Daniel", "1", "00:00:54", "0", "00:00:00", "1", "00:00:54", "00:01:01",
         "00:00:54", "00:00:00", "00:00:07"],
        ["Total", "4", "00:03:51", "1", "00:02:00", "5", "00:05:51", "00:01:06", "00:01:10",
         "00:00:00", "00:00:08"],
    ]


async def test_agent_performance_total_talk_adds_outbound(store: Any) -> None:
    manual.seed_queue_calls(store)
    grid = await report(store, "agent_performance", seed_outbound, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",)))
    assert grid[2][0] == "2000-Leo Ball" and grid[2][9] == "00:02:00"


async def test_queue_wait_talk_8_3_by_hour_in_the_time_zone(store: Any) -> None:
    f = period("12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",),
               granularity="hour")
    grid = await report(store, "queue_wait_talk", manual.seed_queue_calls, f)
    assert grid == [
        ["Date", "Total Calls", "Answered", "Avg Wait Time (All)", "Avg Wait Time (Answered)",
         "Avg Talk Time"],
        ["Dec 27 13:00", "4", "4", "00:00:08", "00:00:08", "00:00:58"],
        ["Dec 27 14:00", "2", "0", "00:00:06", "00:00:00", "00:00:00"],
        ["Total", "6", "4", "00:00:07", "00:00:08", "00:00:58"],
    ]
    utc = await run_report("queue_wait_talk", store, dataclasses.replace(f, time_zone="UTC"),
                           NAMES)
    assert [r[0] for r in utc.grid()[1:]] == ["Dec 27 05:00", "Dec 27 06:00", "Total"]


async def test_activity_by_week_and_month(store: Any) -> None:
    manual.seed_queue_calls(store)
    await store.flush()
    month = period("12/01/2023 00:00:00", "12/31/2023 23:59:59", queues=("6401",))
    weeks = await run_report("queue_performance_activity", store,
                             dataclasses.replace(month, granularity="week"), NAMES)
    assert [r[:4] for r in weeks.grid()[1:]] == [
        ["Dec 18 - Dec 24", "17", "12", "1"], ["Dec 25 - Dec 31", "6", "4", "0"],
        ["Total", "23", "16", "1"]]
    months = await run_report("queue_performance_activity", store,
                              dataclasses.replace(month, granularity="month"), NAMES)
    assert months.grid()[1][:2] == ["Dec 2023", "23"]


async def test_callback_summary_counts_the_queue_calls(store: Any) -> None:
    manual.seed_queue_calls(store)
    grid = await report(store, "callback_summary", lambda s: None, period(
        "12/27/2023 00:00:00", "12/27/2023 23:59:59", queues=("6401",)))
    assert grid[1:] == [["Dec 27", "0", "0", "0", "6"], ["Total", "0", "0", "0", "6"]]
