"""The wallboard's time range over the live API: `GET /api/v1/queues?period=...` and the
websocket subscription's ``period`` give today's, this week's and this month's figures, and
they equal the Queue Performance report (/api/v1/reports) of the same window."""

from __future__ import annotations

import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import websockets
from live_support import Live, enter_queue, hang_up, recv

from softswitch.web.periods import window

PAIRS = [("total", "total"), ("answered", "answered"), ("missed", "missed"),
         ("abandoned", "abandoned"), ("avg_talk", "avg_talk"),
         ("avg_wait", "avg_wait_answered"), ("sla", "sla"), ("answer_rate", "answer_rate"),
         ("missed_rate", "missed_rate"), ("abandon_rate", "abandon_rate")]


def windows_unchanged(since: float) -> bool:
    """Whether every window (today, this week, this month in UTC) that held the moment
    `since` still holds now: the switch's wall clock is the real one, and a test that runs
    across midnight UTC sees its calls leave "today". The figures must then still equal the
    report (checked always); only the fixed counts of calls made in the window are skipped."""
    now = time.time()
    return all(window(p, since, ZoneInfo("UTC")) == window(p, now, ZoneInfo("UTC"))
               for p in ("today", "week", "month"))


def stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S")


async def test_period_figures_equal_the_queue_performance_report(live: Live) -> None:
    started = time.time()
    for i, queue in enumerate(["6400", "6400", "6401"]):
        caller = await enter_queue(live, "1006", queue, f"period-{i}")
        await hang_up(caller, queue)
        caller.close()
    await live.switch.router.store.flush()
    for period in ("today", "week", "month"):
        for _ in range(2):  # again if a window boundary fell between the two readings
            asked = time.time()
            status, body = await live.call("GET", f"/api/v1/queues?period={period}", "1005")
            if window(period, asked, ZoneInfo("UTC")) == window(period, time.time(),
                                                                 ZoneInfo("UTC")):
                break
        assert status == 200 and body["period"] == period
        since, until = window(period, asked, ZoneInfo("UTC"))  # no queue time zone
        for q in body["queues"]:
            kpis = q["kpis"]
            assert kpis["period"] == period and q["periods"][period] == {
                k: kpis[k] for k in q["periods"][period]}
            status, report = await live.call(
                "GET", f"/api/v1/reports/queue_performance?queue={q['number']}"
                       f"&from={stamp(since)}&to={stamp(until - 1)}&tz=UTC", "1005")
            assert status == 200, report
            values = report["rows"][0]["values"]
            for ours, theirs in PAIRS:
                assert kpis[ours] == (values[theirs] or 0), (period, q["number"], ours)
        rows = {q["number"]: q["kpis"] for q in body["queues"]}
        assert body["all"]["period"] == period
        if windows_unchanged(started):
            assert (rows["6400"]["abandoned"], rows["6401"]["abandoned"]) == (2, 1)
            assert body["all"]["abandoned"] == 3
    status, body = await live.call("GET", "/api/v1/queues?period=year", "1005")
    assert (status, body["field"]) == (400, "period")
    status, body = await live.call("GET", "/api/v1/queues/6400?period=week", "1001")
    assert status == 200 and body["kpis"]["period"] == "week"
    if windows_unchanged(started):
        assert body["kpis"]["abandoned"] == 2


async def test_the_subscription_chooses_the_period_and_stats_carry_every_window(
        live: Live) -> None:
    async with websockets.connect(live.ws_url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "hello", "version": 1,
                                  "token": await live.token("1001")}))
        await recv(ws, "welcome")
        await ws.send(json.dumps({"type": "subscribe", "id": "s", "queues": ["6400"],
                                  "period": "month"}))
        snap = await recv(ws, "snapshot")
        assert snap["period"] == "month" and snap["queues"][0]["kpis"]["period"] == "month"
        assert set(snap["queues"][0]["periods"]) == {"today", "week", "month"}
        started = time.time()
        caller = await enter_queue(live, "1006", "6400", "period-ws")
        await hang_up(caller, "6400")
        caller.close()
        while True:
            stats = await recv(ws, "queue.stats")
            if stats["periods"]["month"]["abandoned"] == 1 or not windows_unchanged(started):
                break
        if windows_unchanged(started):
            assert stats["periods"]["today"]["abandoned"] == 1
            assert stats["periods"]["week"]["abandon_rate"] == 100.0
        await ws.send(json.dumps({"type": "subscribe", "id": "s2", "queues": ["6400"],
                                  "period": "fortnight"}))
        error = await recv(ws, "error")
        assert error["field"] == "period"
