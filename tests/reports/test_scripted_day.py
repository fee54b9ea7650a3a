"""A scripted queue day played by the real ACD in virtual time, its events recorded by the
switch's ReportRecorder into a real store: every report must show what the script implies,
computed by hand below (queue 6400, linear 1001 then 1002, ring timeout 10 s, retry 5 s,
SLA 20 s)."""

from __future__ import annotations

from pathlib import Path

from softswitch.reports.catalog import run_report
from softswitch.reports.report import Directory, ReportFilters
from softswitch.store import Store

from .test_report_rows import KEY0, WALL0, Floor, play_four_calls, queue

NAMES = Directory(queues={"6400": "Sales"}, agents={"1001": "Alice", "1002": "Bob"})
# c1 100-104 answered by 1001 (wait 4, talk 60: SLA met); c2 200-222 rang 1001 10 s
# (missed), retry 5 s, answered by 1002 at 222 (wait 22 > SLA 20, talk 78); c3 400-403
# abandoned while 1001 rang; c4 500-502 left by a key press (missed) after 1001 went busy.
DAY = ReportFilters(WALL0, WALL0 + 3600)


async def grid(store: Store, kind: str, f: ReportFilters = DAY) -> list[list[str]]:
    await store.flush()
    return (await run_report(kind, store, f, NAMES)).grid()


async def test_every_report_of_the_scripted_day(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "day.sqlite3"))
    floor = Floor(queue(key_press_events=KEY0))
    recorder = floor.start(store)
    play_four_calls(floor)
    floor.run_until(1000.0)

    # handle (4+22+60+78)/2 = 82; wait ans (4+22)/2 = 13; all (4+22+3+2)/4 = 7.75 -> 8
    assert (await grid(store, "queue_performance"))[1:] == [
        ["Sales", "4", "2", "1", "1", "00:01:22", "00:00:13", "00:00:08", "00:00:22",
         "00:01:09", "00:00:00", "50%", "25%", "25%", "25%"],
        ["Total", "4", "2", "1", "1", "", "", "", "", "", "", "", "", "", ""]]
    excluded = await grid(store, "queue_performance",
                          ReportFilters(WALL0, WALL0 + 3600, exclude_abandoned_within=3))
    assert excluded[1][1:5] == ["3", "2", "1", "0"] and excluded[1][11] == "66.67%"

    # 1001 rang for c1 (answered after 4 s), c2 (timed out), c3 (caller left), c4 (busy):
    # 4 rings, 1 answered; 1002 rang once, for c2 (answered 22 s after the call came; c4
    # left by its key press before the 5 s retry interval would have rung 1002)
    perf = await grid(store, "agent_performance")
    assert perf[2] == ["1001-Alice", "4", "1", "3", "", "00:00:04", "", "00:00:04",
                       "00:01:00", "00:01:00", "75%"]
    assert perf[3] == ["1002-Bob", "1", "1", "0", "", "00:00:22", "", "00:00:22",
                       "00:01:18", "00:01:18", "0%"]

    # WALL0 is 11/14/2023 22:13:20 UTC; each row's wait runs to the end of 1001's ring
    assert await grid(store, "agent_missed") == [
        ["Agent", "Time", "Wait Duration", "Caller", "Attempts", "Queue Status", "Count"],
        ["1001-Alice", "11/14/2023 22:21:40", "00:00:02", "5550004", "1", "Missed", "1"],
        ["", "11/14/2023 22:20:00", "00:00:03", "5550003", "1", "Missed", "1"],
        ["", "11/14/2023 22:16:40", "00:00:10", "5550002", "1", "Answered", "1"],
        ["Total", "", "00:00:15", "", "3", "", "3"]]
    # static agents are signed in from the start (engine time 0) to the report's cut
    login = await grid(store, "agent_login", ReportFilters(WALL0 - 1, WALL0 + 3600,
                                                           now=WALL0 + 1800))
    assert login[1][0] == "1001-Alice" and login[1][3] == "00:30:00"
    recorder.close()
    await store.close()
