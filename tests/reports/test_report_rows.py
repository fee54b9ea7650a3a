"""Report rows (queue-admin.md §8) written as a real ACD plays queue calls in virtual time:
every event goes through the switch's EventBus to the ReportRecorder and the store's
writer into a temporary SQLite file; the assertions read the rows a report shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from acd import Acd, Output, parse_acd_config
from acd.commands import DialCustomer, RingAgents
from softswitch.calls.events import CallHoldChanged
from softswitch.events import EventBus, SurveyAnswered
from softswitch.reports import ReportRecorder, sla_times
from softswitch.reports.catalog import run_report
from softswitch.reports.report import Directory, ReportFilters
from softswitch.store import Store

WALL0 = 1_700_000_000.0  # wall-clock epoch of engine time 0


def queue(**kw: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"number": "6400", "name": "Sales", "strategy": "linear",
                         "static_agents": ["1001", "1002"], "ring_timeout": 10,
                         "retry_interval": 5, "max_wait": 1800, "sla": {"time": 20}}
    q.update(kw)
    return q


class Floor:
    """A real Acd whose every output's events go to the bus; remembers who rings."""

    def __init__(self, *queues: dict[str, Any], **sections: Any) -> None:
        config = parse_acd_config({"queues": list(queues), **sections},
                                  extensions=["1001", "1002", "1003"])
        self.acd = Acd(config, now=0.0, seed=1)
        self.bus = EventBus()
        self.config = config
        self.ringing: dict[str, tuple[str, ...]] = {}
        self.dialled: list[DialCustomer] = []

    def start(self, recorder_store: Store) -> ReportRecorder:
        recorder = ReportRecorder(self.bus, recorder_store, sla_times(self.config),
                                  monotonic_now=0.0, wall_now=WALL0)
        self.bus.publish_all(self.acd.initial_events)
        return recorder

    def feed(self, out: Output) -> Output:
        for c in out.commands:
            if isinstance(c, RingAgents):
                self.ringing[c.task] = c.agents
            elif isinstance(c, DialCustomer):
                self.dialled.append(c)
        self.bus.publish_all(out.events)
        return out

    def run_until(self, now: float) -> None:
        """Virtual time: run every engine deadline up to ``now`` in order."""
        while (d := self.acd.next_deadline()) is not None and d <= now:
            self.feed(self.acd.tick(d))
        self.feed(self.acd.tick(now))

    def __getattr__(self, name: str) -> Any:  # floor.handle_x(..., now) -> runs timers first
        method = getattr(self.acd, name)

        def call(*args: Any, **kw: Any) -> Output:
            now = kw.get("now", args[-1] if args and isinstance(args[-1], float) else None)
            if now is not None:
                self.run_until(now)
            return self.feed(method(*args, **kw))

        return call


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(str(tmp_path / "reports.sqlite3"))
    yield s
    await s.close()


async def rows(store: Store, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    await store.flush()
    return await store.fetch(sql, params)


def play_four_calls(floor: Floor) -> None:
    """Answered within SLA, answered late after a missed ring, abandoned, key-press missed."""
    floor.handle_task_arrived("c1", "6400", 100.0, caller="5550001")
    assert floor.ringing["c1"] == ("1001",)
    floor.handle_offer_answered("c1", "1001", 104.0)
    floor.handle_call_ended("c1", 164.0)
    floor.handle_task_arrived("c2", "6400", 200.0, caller="5550002")
    assert floor.ringing["c2"] == ("1001",)
    floor.run_until(215.0)  # 1001 rang 10 s unanswered, 5 s retry interval
    assert floor.ringing["c2"] == ("1002",)  # linear: down the list
    floor.handle_offer_answered("c2", "1002", 222.0)
    floor.handle_call_ended("c2", 300.0)
    floor.handle_task_arrived("c3", "6400", 400.0, caller="5550003")
    floor.handle_task_left("c3", 403.0)
    floor.handle_task_arrived("c4", "6400", 500.0, caller="5550004")
    floor.handle_device_busy("1001", 500.5)
    floor.handle_key_pressed("c4", "0", 502.0)


KEY0 = [{"key": "0", "destination": {"type": "extension", "target": "1003"}}]


async def test_queue_calls_rows_hold_what_the_details_drill_down_shows(store: Store) -> None:
    floor = Floor(queue(key_press_events=KEY0))
    floor.start(store)
    play_four_calls(floor)
    got = await rows(store, "SELECT task, caller, agent, status, reason, joined_at, "
                            "answered_at, wait, talk, sla_met, callback FROM queue_calls "
                            "ORDER BY joined_at")
    assert got == [
        ("c1", "5550001", "1001", "answered", "answered", WALL0 + 100, WALL0 + 104, 4.0, 60.0,
         1, 0),
        ("c2", "5550002", "1002", "answered", "answered", WALL0 + 200, WALL0 + 222,
         22.0, 78.0, 0, 0),
        ("c3", "5550003", None, "abandoned", "abandoned", WALL0 + 400, None, 3.0, 0.0, 0, 0),
        ("c4", "5550004", None, "missed", "key_press", WALL0 + 500, None, 2.0, 0.0, 0, 0),
    ]
    # the offers: c2 rang 1001 first (missed: ring timeout), then the one who answered
    offers = await rows(store, "SELECT task, agent, attempt, outcome, ring_duration, rang_at "
                               "FROM queue_offers WHERE task='c2' ORDER BY id")
    assert offers == [("c2", "1001", 1, "missed", 10.0, WALL0 + 200),
                      ("c2", "1002", 1, "answered", 7.0, WALL0 + 215)]
    ring = await rows(store, "SELECT ring, offers FROM queue_calls WHERE task='c2'")
    assert ring == [(17.0, 2)]  # phones rang 10 + 7 s; the 5 s retry interval is not ringing


async def test_hold_duration_is_the_time_either_side_held(store: Store) -> None:
    """§8.2 Hold Duration and Avg Hold Time: the agent holds 10 s; later the caller holds
    and, while held, the agent holds too (counted once); a third call ends on hold."""
    floor = Floor(queue())
    floor.start(store)

    def hold(at: float, task: str, party: str, held: bool) -> None:
        floor.bus.publish(CallHoldChanged(at, task, "5550001", "1001", party, held,
                                           queue="6400"))

    floor.handle_task_arrived("c1", "6400", 100.0, caller="5550001")
    floor.handle_offer_answered("c1", "1001", 104.0)
    hold(110.0, "c1", "callee", True)
    hold(115.0, "c1", "callee", True)  # a refresh while held changes nothing
    hold(120.0, "c1", "callee", False)
    hold(130.0, "c1", "caller", True)
    hold(133.0, "c1", "callee", True)
    hold(136.0, "c1", "caller", False)
    hold(140.0, "c1", "callee", False)  # 130-140 held by someone: 10 s
    hold(141.0, "c1", "caller", False)  # not held: ignored
    floor.handle_call_ended("c1", 164.0)
    floor.handle_task_arrived("c2", "6400", 200.0, caller="5550002")
    floor.handle_offer_answered("c2", "1001", 201.0)
    hold(250.0, "c2", "callee", True)
    floor.handle_call_ended("c2", 261.0)  # hung up on hold: 11 s
    hold(262.0, "c2", "callee", False)  # after the end: no row changes
    got = await rows(store, "SELECT task, talk, hold FROM queue_calls ORDER BY joined_at")
    assert got == [("c1", 60.0, 20.0), ("c2", 60.0, 11.0)]
    assert (await performance(store))["avg_hold"] == (20.0 + 11.0) / 2


async def performance(store: Store, queue: str = "6400") -> dict[str, Any]:
    """The raw values of the queue's row of the Queue Performance report (§8.4)."""
    await store.flush()
    report = await run_report("queue_performance", store,
                              ReportFilters(WALL0, WALL0 + 86400, queues=(queue,)),
                              Directory())
    return report.rows[0].values


async def test_queue_performance_metrics_over_the_rows(store: Store) -> None:
    """§8.4 columns from the rows of the four calls above."""
    floor = Floor(queue(key_press_events=KEY0))
    floor.start(store)
    play_four_calls(floor)
    metric = await performance(store)
    assert metric == {
        "queue": "6400", "total": 4, "answered": 2, "missed": 1, "abandoned": 1,
        "avg_handle": (4 + 60 + 22 + 78) / 2,      # (answered ring + talk) / answered
        "avg_wait_answered": (4 + 22) / 2,
        "avg_wait_all": (4 + 22 + 3 + 2) / 4,
        "max_wait_all": 22.0,
        "avg_talk": (60 + 78) / 2, "avg_hold": 0.0,
        "answer_rate": 50.0, "missed_rate": 25.0, "abandon_rate": 25.0,
        "sla": 25.0,                                # only c1 answered within 20 s (c2: 22 s)
    }
    # another queue's window is empty: only the Total row, of zero counts
    assert await performance(store, "6401") == {"queue": "Total", "total": 0, "answered": 0,
                                                "missed": 0, "abandoned": 0}


async def test_agent_missed_report_rows(store: Store) -> None:
    """§8.12: time, wait, caller, attempts, the call's final queue status."""
    floor = Floor(queue(key_press_events=KEY0))
    floor.start(store)
    play_four_calls(floor)
    got = await rows(store, "SELECT o.agent, o.rang_at, o.ring_duration, o.caller, o.attempt,"
                            " c.status FROM queue_offers o JOIN queue_calls c USING (call_uid)"
                            " WHERE o.outcome IN ('missed','rejected') ORDER BY o.id")
    assert got == [("1001", WALL0 + 200, 10.0, "5550002", 1, "answered")]


async def test_sessions_and_pauses_with_reason_change_and_auto_pause(store: Store) -> None:
    """§8.10 login, §8.11 pause (reason change not counted), §2.4 auto-pause flagged."""
    floor = Floor(queue(static_agents=["1001"], dynamic_agents=["1002"],
                        agent_auto_pause={"missed_calls": 1}),
                  pause_reasons=[{"code": "*01", "reason": "Lunch"},
                                 {"code": "*02", "reason": "Break"}])
    recorder = floor.start(store)
    floor.handle_agent_signed_in("1002", "6400", 10.0)
    floor.handle_agent_paused("1002", "6400", 20.0, reason="*01")
    floor.handle_agent_paused("1002", "6400", 27.0, reason="*02")
    floor.handle_agent_resumed("1002", "6400", 37.0)
    floor.handle_agent_paused("1002", "6400", 40.0)
    floor.handle_agent_signed_out("1002", "6400", 44.0)  # resumes first
    # 1001 misses one call: auto-paused
    floor.handle_task_arrived("c1", "6400", 100.0, caller="5550001")
    floor.run_until(110.0)
    pauses = await rows(store, "SELECT agent, paused_at, reason, auto, counted, ended_at, "
                               "ended_by, duration FROM agent_pauses ORDER BY id")
    assert pauses == [
        ("1002", WALL0 + 20, "Lunch", 0, 1, WALL0 + 27, "reason_changed", 7.0),
        ("1002", WALL0 + 27, "Break", 0, 0, WALL0 + 37, "resumed", 10.0),
        ("1002", WALL0 + 40, "", 0, 1, WALL0 + 44, "resumed", 4.0),
        ("1001", WALL0 + 110, "", 1, 1, None, None, None),
    ]
    total, count = (await rows(store, "SELECT SUM(duration), SUM(counted) FROM agent_pauses "
                                      "WHERE agent='1002'"))[0]
    assert (total, count) == (21.0, 2)
    sessions = await rows(store, "SELECT agent, signed_in_at, signed_out_at, duration "
                                 "FROM agent_sessions ORDER BY id")
    # the static agent is signed in from the start (no sign-out: session still open)
    assert sessions == [("1001", WALL0, None, None),
                        ("1002", WALL0 + 10, WALL0 + 44, 34.0)]
    # the switch stops at 200: the open session and the auto-pause end there, nothing after
    recorder.close(200.0)
    floor.handle_agent_resumed("1001", "6400", 210.0)
    assert (await rows(store, "SELECT agent, signed_out_at, duration FROM agent_sessions"
                              " ORDER BY id")) == [("1001", WALL0 + 200, 200.0),
                                                   ("1002", WALL0 + 44, 34.0)]
    assert (await rows(store, "SELECT ended_at, ended_by, duration FROM agent_pauses"
                              " WHERE auto = 1")) == [(WALL0 + 200, "shutdown", 90.0)]


async def test_callback_rows_success_and_invalid_number(store: Store) -> None:
    """§8.7: callback time, number, wait, result and failure reason."""
    floor = Floor(queue(static_agents=["1001"],
                        callback={"method": "press_key", "key": "1", "outbound_prefix": "9"}))
    floor.start(store)
    floor.handle_device_busy("1001", 0.0)
    floor.handle_task_arrived("c1", "6400", 100.0, caller="5550001")
    floor.handle_key_pressed("c1", "1", 110.0)
    floor.handle_callback_number("c1", "12", 115.0)  # too short: invalid, keeps waiting
    floor.handle_key_pressed("c1", "1", 120.0)
    floor.handle_callback_number("c1", "66666#", 125.0)
    floor.handle_device_idle("1001", 160.0)
    assert floor.ringing["c1"] == ("1001",)
    floor.handle_offer_answered("c1", "1001", 165.0)
    assert floor.dialled and floor.dialled[0].number == "66666"
    floor.handle_callback_connected("c1", 170.0)
    floor.handle_call_ended("c1", 230.0)
    got = await rows(store, "SELECT caller, call_joined_at, requested_at, number, callback_at,"
                            " agent, outcome, failure_reason FROM callbacks ORDER BY id")
    assert got == [
        ("5550001", WALL0 + 100, None, "12", WALL0 + 115, None, "failed",
         "invalid_callback_number"),
        ("5550001", WALL0 + 100, WALL0 + 125, "66666", WALL0 + 170, "1001", "succeeded", None),
    ]
    call = await rows(store, "SELECT status, reason, callback, wait, talk FROM queue_calls")
    assert call == [("answered", "callback_succeeded", 1, 70.0, 60.0)]


async def test_survey_row_carries_the_call_time(store: Store) -> None:
    """§8.9: agent, time the caller called, caller, key, score."""
    floor = Floor(queue())
    floor.start(store)
    floor.handle_task_arrived("c1", "6400", 100.0, caller="5550001")
    floor.handle_offer_answered("c1", "1001", 103.0)
    floor.handle_call_ended("c1", 150.0)
    floor.bus.publish(SurveyAnswered(at=155.0, task="c1", queue="6400", agent="1001",
                                     caller="5550001", key="5", score=2))
    got = await rows(store, "SELECT s.agent, s.call_joined_at, s.caller, s.key, s.score, "
                            "c.task FROM surveys s JOIN queue_calls c USING (call_uid)")
    assert got == [("1001", WALL0 + 100, "5550001", "5", 2, "c1")]


async def test_rows_survive_a_restart_of_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    s = await Store.open(path)
    floor = Floor(queue())
    floor.start(s)
    floor.handle_task_arrived("c1", "6400", 1.0, caller="5550001")
    floor.handle_task_left("c1", 2.0)
    await s.close()
    s = await Store.open(path)
    assert await s.fetch("SELECT task, status FROM queue_calls") == [("c1", "abandoned")]
    await s.close()
