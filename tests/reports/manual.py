"""The manual's fixture tables (queue-admin.md §8) as report rows: each ``seed_*`` writes the
rows a switch would have written for the calls, sessions, pauses, callbacks and surveys the
table shows, so the report over them must print the table. Times are local times of
``ZONE`` (the reports' time zone in these tests)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from softswitch.reports.report import Directory, ReportFilters

ZONE = "Asia/Shanghai"  # UTC+8: a zone away from UTC, so day buckets must use it

NAMES = Directory(
    queues={"6400": "Pre-Sales", "6401": "Support"},
    agents={"2000": "Leo Ball", "2001": "Phillip Huff", "2002": "Terrell Smith",
            "2004": "Troy Daniel", "2005": "Kristin Hale"},
    members={"6401": ("2000", "2001", "2002", "2004")},
    time_zones={"6400": ZONE, "6401": ZONE})


class Writer(Protocol):
    def write(self, sql: str, params: tuple[Any, ...]) -> None: ...


def at(text: str) -> float:
    """``MM/DD/YYYY HH:MM:SS`` in ZONE -> epoch seconds."""
    return dt.datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(
        tzinfo=ZoneInfo(ZONE)).timestamp()


def period(start: str, end: str, **kw: Any) -> ReportFilters:
    """The manual's ``start ~ end`` (end inclusive to the second)."""
    return ReportFilters(at(start), at(end) + 1, time_zone=ZONE, **kw)


_uid = itertools.count(1)


def call(store: Writer, queue: str, joined: float, status: str, wait: float,
         talk: float = 0.0, agent: str | None = None, caller: str = "15880123456",
         sla_met: bool = True, offers: list[tuple[str, str, float]] = ()) -> str:
    """One settled queue call; ``offers``: (agent, outcome, seconds from join to the end
    of that agent's ring)."""
    uid = f"call-{next(_uid)}"
    answered = status == "answered"
    store.write(
        "INSERT INTO queue_calls (call_uid, task, queue, caller, joined_at, answered_at,"
        " left_at, ended_at, agent, status, reason, wait, talk, sla_met)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (uid, uid, queue, caller, joined, joined + wait if answered else None, joined + wait,
         joined + wait + talk if answered else None, agent, status, status, wait, talk,
         int(answered and sla_met)))
    for agent_, outcome, ended in offers:
        store.write(
            "INSERT INTO queue_offers (call_uid, task, queue, agent, caller, call_joined_at,"
            " rang_at, ended_at, attempt, outcome, ring_duration)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (uid, uid, queue, agent_, caller, joined, joined, joined + ended, 1, outcome,
             ended))
    return uid


# -- §8.4 Queue Performance, §8.5 Activity, §8.12 Agent Missed, §8.13 Agent Performance

def seed_queue_calls(store: Writer) -> None:
    """Pre-Sales (6400) on Dec 27-28 and Support (6401) on Dec 21, 22 and 27, 2023."""
    day27 = at("12/27/2023 09:00:00")
    for i, (wait, talk) in enumerate(zip([10, 11, 11, 12, 13], [40, 45, 46, 47, 49],
                                         strict=True)):
        call(store, "6400", day27 + 600 * i, "answered", wait, talk, agent="2000")
    for i, wait in enumerate([102, 60, 30, 20]):
        call(store, "6400", at("12/28/2023 10:00:00") + 600 * i, "missed", wait)
    for i, wait in enumerate([10, 8, 6, 6]):
        call(store, "6400", at("12/28/2023 15:00:00") + 600 * i, "abandoned", wait)

    # Support, Dec 21: 5 answered, 1 missed, 2 abandoned
    for i, (wait, talk) in enumerate(zip([4, 5, 6, 7, 8], [8, 8, 9, 9, 9], strict=True)):
        call(store, "6401", at("12/21/2023 10:00:00") + 600 * i, "answered", wait, talk,
             agent="2004")
    call(store, "6401", at("12/21/2023 16:00:00"), "missed", 11)
    call(store, "6401", at("12/21/2023 17:00:00"), "abandoned", 3)
    call(store, "6401", at("12/21/2023 23:59:30"), "abandoned", 4)  # 15:59:30 UTC
    # Dec 22: 7 answered, 2 abandoned
    for i, (wait, talk) in enumerate(zip([3, 4, 5, 5, 5, 6, 7], [7, 7, 7, 8, 8, 8, 8],
                                         strict=True)):
        call(store, "6401", at("12/22/2023 00:10:00") + 600 * i, "answered", wait, talk,
             agent="2004")
    call(store, "6401", at("12/22/2023 12:00:00"), "abandoned", 12)
    call(store, "6401", at("12/22/2023 12:30:00"), "abandoned", 6)
    # Dec 27: the four calls of the missed and agent performance fixtures, 2 abandoned
    call(store, "6401", at("12/27/2023 13:05:52"), "answered", 15, 57, agent="2001",
         offers=[("2000", "cancelled", 15), ("2001", "answered", 16)])
    call(store, "6401", at("12/27/2023 13:08:38"), "answered", 8, 57, agent="2001",
         offers=[("2000", "cancelled", 9), ("2001", "answered", 8)])
    call(store, "6401", at("12/27/2023 13:10:14"), "answered", 7, 54, agent="2004",
         offers=[("2000", "cancelled", 7), ("2001", "cancelled", 7), ("2004", "answered", 7)])
    call(store, "6401", at("12/27/2023 13:11:44"), "answered", 2, 63, agent="2002",
         offers=[("2000", "cancelled", 2), ("2001", "cancelled", 2), ("2002", "answered", 2)])
    call(store, "6401", at("12/27/2023 14:00:00"), "abandoned", 3)
    call(store, "6401", at("12/27/2023 14:30:00"), "abandoned", 8)


QUEUE_PERFORMANCE = [
    ["Queue", "Total Calls", "Answered", "Missed", "Abandoned", "Avg Handle Time",
     "Avg Wait Time (Answered)", "Avg Wait Time (All)", "Max Wait Time (All)", "Avg Talk Time",
     "Avg Hold Time", "Answer Rate", "Missed Rate", "Abandon Rate", "SLA"],
    ["Pre-Sales", "13", "5", "4", "4", "00:00:57", "00:00:11", "00:00:23", "00:01:42",
     "00:00:45", "00:00:00", "38.46%", "30.77%", "30.77%", "38.46%"],
    ["Support", "6", "4", "0", "2", "00:01:06", "00:00:08", "00:00:07", "00:00:15",
     "00:00:58", "00:00:00", "66.67%", "0%", "33.33%", "66.67%"],
    ["Total", "19", "9", "4", "6", "", "", "", "", "", "", "", "", "", ""],
]

ACTIVITY = [
    ["Dec 21", "8", "5", "1", "2", "00:00:15", "00:00:06", "00:00:06", "00:00:11",
     "00:00:09", "00:00:00", "62.5%", "12.5%", "25%", "62.5%"],
    ["Dec 22", "9", "7", "0", "2", "00:00:13", "00:00:05", "00:00:06", "00:00:12",
     "00:00:08", "00:00:00", "77.78%", "0%", "22.22%", "77.78%"],
    ["Dec 27", "6", "4", "0", "2", "00:01:06", "00:00:08", "00:00:07", "00:00:15",
     "00:00:58", "00:00:00", "66.67%", "0%", "33.33%", "66.67%"],
    ["Total", "23", "16", "1", "6", "00:00:27", "00:00:06", "00:00:06", "00:00:15",
     "00:00:20", "00:00:00", "69.57%", "4.35%", "26.09%", "69.57%"],
]

AGENT_MISSED = [
    ["Agent", "Time", "Wait Duration", "Caller", "Attempts", "Queue Status", "Count"],
    ["2000-Leo Ball", "12/27/2023 13:11:44", "00:00:02", "15880123456", "1", "Answered", "1"],
    ["", "12/27/2023 13:10:14", "00:00:07", "15880123456", "1", "Answered", "1"],
    ["", "12/27/2023 13:08:38", "00:00:09", "15880123456", "1", "Answered", "1"],
    ["", "12/27/2023 13:05:52", "00:00:15", "15880123456", "1", "Answered", "1"],
    ["Total", "", "00:00:33", "", "4", "", "4"],
    ["2001-Phillip Huff", "12/27/2023 13:11:44", "00:00:02", "15880123456", "1", "Answered",
     "1"],
    ["", "12/27/2023 13:10:14", "00:00:07", "15880123456", "1", "Answered", "1"],
    ["Total", "", "00:00:09", "", "2", "", "2"],
]

# §8.13: (name, total, answered, missed, abandoned, avg wait (ans), avg wait (all), max wait,
# avg talk, total talk, missed rate); the manual's two tables in one (queue, then agents)
AGENT_PERFORMANCE = [
    ["Support", "5", "4", "0", "1", "00:00:08", "00:00:08", "00:00:15", "00:00:58", "", "0%"],
    ["2000-Leo Ball", "4", "0", "4", "", "00:00:00", "", "00:00:00", "00:00:00", "00:00:00",
     "100%"],
    ["2001-Phillip Huff", "4", "2", "2", "", "00:00:12", "", "00:00:16", "00:00:57",
     "00:01:54", "50%"],
    ["2002-Terrell Smith", "1", "1", "0", "", "00:00:02", "", "00:00:02", "00:01:03",
     "00:01:03", "0%"],
    ["2004-Troy Daniel", "1", "1", "0", "", "00:00:07", "", "00:00:07", "00:00:54",
     "00:00:54", "0%"],
]


# -- §8.7 Queue Callback Report

CALLBACKS = [  # time, caller, callback time, number, wait, result, failure reason
    ("01/07/2022 16:43:15", "6400-test:2000<2000>", "01/07/2022 16:44:25", "666665",
     "00:01:10", "Success", ""),
    ("01/07/2022 16:37:55", "6400-test:2000<2000>", "01/07/2022 16:39:00", "99999",
     "00:01:05", "Failed", "Customer no answer"),
    ("01/07/2022 16:34:28", "6400-test:2000<2000>", "01/07/2022 16:35:37", "333333",
     "00:01:09", "Failed", "Customer no answer"),
    ("01/07/2022 16:08:00", "6400-test:2000<2000>", "01/07/2022 16:09:48", "785469",
     "00:01:48", "Failed", "Customer no answer"),
    ("01/07/2022 15:38:08", "6400-test:2000<2000>", "01/07/2022 15:41:08", "999999",
     "00:03:00", "Failed", "No idle agent"),
    ("01/07/2022 15:19:45", "6400:2000<2000>", "01/07/2022 15:21:09", "569875",
     "00:01:24", "Failed", "Agent hung up"),
    ("01/07/2022 15:09:32", "6400:2000<2000>", "01/07/2022 15:10:53", "99999",
     "00:01:21", "Success", ""),
    ("01/07/2022 14:16:54", "6400:2000<2000>", "01/07/2022 14:21:54", "66666",
     "00:05:00", "Failed", "No idle agent"),
    ("01/07/2022 14:13:35", "6400:2000<2000>", "01/07/2022 14:14:05", "563942",
     "00:00:30", "Failed", "No idle agent"),
    ("01/07/2022 14:10:31", "6400:2000<2000>", "01/07/2022 14:11:01", "964583",
     "00:00:30", "Failed", "No idle agent"),
    ("01/07/2022 14:05:58", "6400:2000<2000>", "01/07/2022 14:06:28", "85643",
     "00:00:30", "Failed", "No idle agent"),
    ("01/07/2022 14:02:11", "6400:2000<2000>", "01/07/2022 14:02:41", "695423",
     "00:00:30", "Failed", "No idle agent"),
    ("01/07/2022 13:59:38", "6400:2000<2000>", "01/07/2022 14:00:19", "85689",
     "00:00:41", "Failed", "No idle agent"),
    ("01/07/2022 13:56:23", "6400:2000<2000>", "01/07/2022 13:56:57", "965482",
     "00:00:34", "Failed", "No idle agent"),
    ("01/07/2022 13:55:27", "6400:2000<2000>", "01/07/2022 13:55:55", "",
     "00:00:28", "Failed", "Invalid callback number"),
]
_REASONS = {"Customer no answer": "customer_no_answer", "No idle agent": "no_idle_agent",
            "Agent hung up": "agent_hung_up", "Invalid callback number":
            "invalid_callback_number"}


def seed_callbacks(store: Writer) -> None:
    for time, caller, cb_time, number, _, result, reason in CALLBACKS:
        uid = f"cb-{next(_uid)}"
        invalid = reason == "Invalid callback number"
        store.write(
            "INSERT INTO callbacks (call_uid, task, queue, caller, call_joined_at,"
            " requested_at, number, callback_at, agent, outcome, failure_reason)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (uid, uid, "6400", caller, at(time), None if invalid else at(time) + 20, number,
             at(cb_time), "2000" if result == "Success" else None,
             "succeeded" if result == "Success" else "failed",
             _REASONS.get(reason)))
    # the day before and a pending request: neither is in the fixture
    store.write("INSERT INTO callbacks (call_uid, task, queue, caller, call_joined_at,"
                " requested_at, number) VALUES (?,?,?,?,?,?,?)",
                ("cb-pending", "t", "6400", "2000", at("01/07/2022 17:00:00"),
                 at("01/07/2022 17:00:10"), "123456"))
    store.write("INSERT INTO callbacks (call_uid, task, queue, caller, call_joined_at,"
                " requested_at, number, callback_at, outcome) VALUES (?,?,?,?,?,?,?,?,?)",
                ("cb-before", "t", "6400", "2000", at("01/06/2022 23:59:00"),
                 at("01/06/2022 23:59:10"), "123456", at("01/07/2022 00:01:00"),
                 "succeeded"))


# -- §8.8, §8.9 satisfaction

SURVEY_SCORES = {"0": -3, "1": -2, "3": 0, "5": 2}
SURVEYS = [  # agent, time, caller, key, score
    ("2000-Leo Ball", "11/03/2022 15:05:21", "5503301", "0", "-3"),
    ("2002-Terrell Smith", "11/03/2022 14:07:15", "5503301", "1", "-2"),
    ("2001-Phillip Huff", "11/03/2022 14:04:31", "5503301", "3", "0"),
    ("2000-Leo Ball", "11/03/2022 13:58:15", "9729144899", "5", "2"),
]


def seed_surveys(store: Writer) -> None:
    for agent, time, caller, key, score in SURVEYS:
        store.write(
            "INSERT INTO surveys (call_uid, task, queue, agent, caller, call_joined_at,"
            " answered_at, key, score) VALUES (?,?,?,?,?,?,?,?,?)",
            (None, f"s-{next(_uid)}", "6400", agent.split("-")[0], caller, at(time),
             at(time) + 120, key, int(score)))


# -- §8.10 Agent Login, §8.11 Agent Pause

SESSIONS = [("2000", "12/30/2023 10:18:39", "12/30/2023 10:18:51"),
            ("2000", "12/30/2023 10:22:10", "12/30/2023 10:26:49"),
            ("2000", "12/30/2023 18:40:47", "12/31/2023 16:06:17"),
            ("2001", "12/30/2023 10:19:16", "12/30/2023 10:26:43")]


def seed_sessions(store: Writer) -> None:
    for agent, start, end in SESSIONS:
        store.write("INSERT INTO agent_sessions (session_uid, agent, queue, signed_in_at,"
                    " signed_out_at, duration) VALUES (?,?,?,?,?,?)",
                    (f"s-{next(_uid)}", agent, "6401", at(start), at(end),
                     at(end) - at(start)))


PAUSES = [  # paused, reason, ended, ended_by, counted
    ("12/27/2023 17:14:11", "", "12/27/2023 17:14:15", "resumed", 1),
    ("12/27/2023 17:14:19", "Break", "12/27/2023 17:14:41", "resumed", 1),
    ("12/27/2023 17:17:04", "Lunch", "12/27/2023 17:17:11", "reason_changed", 1),
    ("12/27/2023 17:17:11", "Break", "12/27/2023 17:17:21", "resumed", 0),
]


def seed_pauses(store: Writer) -> None:
    for start, reason, end, ended_by, counted in PAUSES:
        store.write("INSERT INTO agent_pauses (pause_uid, agent, queue, paused_at, reason,"
                    " counted, ended_at, ended_by, duration) VALUES (?,?,?,?,?,?,?,?,?)",
                    (f"p-{next(_uid)}", "2005", "6401", at(start), reason, counted, at(end),
                     ended_by, at(end) - at(start)))


def seed_all(store: Writer) -> None:
    seed_queue_calls(store)
    seed_callbacks(store)
    seed_surveys(store)
    seed_sessions(store)
    seed_pauses(store)
