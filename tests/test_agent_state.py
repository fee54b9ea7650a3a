"""Agent state and callback requests survive a restart (softswitch.store.agent_state): a
real ACD plays a first run whose events go through the event bus to the store (a temporary
SQLite file); the first run is then dropped without any shutdown (as a SIGKILL would), and
a second run on the same file restores its ACD. The assertions read what an agent, a
caller or a report would notice."""

from __future__ import annotations

from typing import Any

import pytest

from acd import Acd, Output, parse_acd_config
from acd.commands import DialCustomer, RingAgents
from acd.events import MemberState
from softswitch.events import EventBus
from softswitch.reports import ReportRecorder, sla_times
from softswitch.store import Store
from softswitch.store.agent_state import AgentStateRecorder, restore_agent_state


def config(*dynamic: str) -> Any:
    return parse_acd_config({"queues": [{
        "number": "6400", "name": "Sales", "strategy": "linear", "static_agents": ["1001"],
        "dynamic_agents": list(dynamic), "dynamic_agent_default_status": "logged_in",
        "ring_timeout": 20, "retry_interval": 0, "wrapup": 600, "max_wait": 1800,
        "callback": {"method": "press_key", "key": "1"}}],
        "pause_reasons": [{"code": "*01", "reason": "Lunch"}]})


class Run:
    """One life of the switch: its ACD, bus, report recorder and the shell's side."""

    def __init__(self, store: Store, now: float, *dynamic: str) -> None:
        self.store = store
        self.now = now
        self.acd = Acd(config(*dynamic), now=now)
        self.bus = EventBus()
        self.events: list[Any] = []
        self.bus.subscribe(self.events.append)
        self.bus.publish_all(self.acd.initial_events)
        self.reports = ReportRecorder(self.bus, store, sla_times(self.acd.config), now)
        self.commands: list[Any] = []
        self.adopted: list[tuple[str, str, str, str]] = []
        self.recorder: AgentStateRecorder | None = None

    # the QueueShell protocol
    def clock(self) -> float:
        return self.now

    def execute(self, out: Output) -> None:
        self.commands += out.commands
        self.bus.publish_all(out.events)

    def adopt_callback(self, task_id: str, queue: str, caller: str, number: str) -> None:
        self.adopted.append((task_id, queue, caller, number))

    async def start(self) -> Run:
        self.recorder = await restore_agent_state(self.store, self.bus, self, self.reports)
        return self

    def do(self, name: str, *args: Any, **kw: Any) -> Output:
        """acd.<name>(*args, now) at the next second of engine time."""
        self.now += 1.0
        out: Output = getattr(self.acd, name)(*args, self.now, **kw)
        self.execute(out)
        return out


@pytest.fixture
def store(any_store: Any) -> Any:
    """Both backends (tests/conftest.py)."""
    return any_store


async def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    await store.flush()
    return await store.fetch(sql)


async def first_run(store: Store) -> Run:
    """2001 stays signed in (default) and pauses for Lunch, 2002 signs out, 1001 answers a
    call and is in wrap-up for 600 s; two callers register callbacks while 1001 wraps up."""
    run = await Run(store, 1000.0, "2001", "2002").start()
    run.do("handle_agent_signed_out", "2002", "6400")
    run.do("handle_agent_paused", "2001", "6400", reason="*01")
    run.do("handle_task_arrived", "c1", "6400", caller="5550001")
    run.do("handle_offer_answered", "c1", "1001")
    run.do("handle_call_ended", "c1")
    for task, caller, number in (("c2", "5550002", ""), ("c3", "5550003", "55503")):
        run.do("handle_task_arrived", task, "6400", caller=caller)
        run.do("handle_key_pressed", task, "1")
        run.do("handle_callback_number", task, number)
    run.do("handle_task_arrived", "c4", "6400", caller="5550004")  # waits on the line
    return run


async def test_state_is_written_as_it_changes(store: Store) -> None:
    await first_run(store)
    assert await rows(store, "SELECT agent, signed_in, paused, pause_reason,"
                             " wrapup_until IS NOT NULL FROM agent_state ORDER BY agent") == [
        ("1001", 1, 0, "", 1), ("2001", 1, 1, "Lunch", 0), ("2002", 0, 0, "", 0)]
    requests = await rows(store, "SELECT task, caller, number, expires_at - joined_at"
                                 " FROM callback_requests ORDER BY joined_at")
    assert requests == [("c2", "5550002", "5550002", 1800.0), ("c3", "5550003", "55503",
                                                                1800.0)]


async def test_a_restart_puts_sign_ins_pauses_wrapup_and_callbacks_back(store: Store) -> None:
    await first_run(store)  # then the process dies: nothing is closed or flushed by it
    await store.flush()
    run = Run(store, 50_000.0, "2001", "2002", "2003")  # a new process: another clock
    await run.start()
    acd = run.acd
    assert acd.pause_state("2001", "6400") == (True, "Lunch")
    assert not acd.is_signed_in("2002", "6400")  # existing: keeps its status (§6.4)
    assert acd.is_signed_in("2003", "6400")  # new to the queue: the default status
    assert acd.member_state("1001", "6400") is MemberState.WRAP_UP
    assert [acd.position(t) for t in ("c2", "c3", "c4")] == [1, 2, None]
    assert [a[0] for a in run.adopted] == ["c2", "c3"]
    # the new agent is free: the first request is served, agent first, then the customer
    ring = [c for c in run.commands if isinstance(c, RingAgents)]
    assert [(r.task, r.agents, r.callback) for r in ring] == [("c2", ("2003",), True)]
    out = run.do("handle_offer_answered", "c2", "2003")
    assert [c.number for c in out.commands if isinstance(c, DialCustomer)] == ["5550002"]
    run.do("handle_callback_connected", "c2")
    assert await rows(store, "SELECT task FROM callback_requests") == [("c3",)]
    # the reports continue the rows: the restored sign-ins and the Lunch pause are the same
    # rows as before the restart; only the new agent's session is new
    assert await rows(store, "SELECT agent, signed_out_at IS NULL FROM agent_sessions"
                             " ORDER BY id") == [("1001", 1), ("2001", 1), ("2002", 0),
                                                 ("2003", 1)]
    assert await rows(store, "SELECT agent, reason, ended_at FROM agent_pauses") == [
        ("2001", "Lunch", None)]
    assert await rows(store, "SELECT task, outcome, agent FROM callbacks ORDER BY id") == [
        ("c2", "succeeded", "2003"), ("c3", None, None)]
    assert await rows(store, "SELECT task, status, reason, callback FROM queue_calls"
                             " WHERE task = 'c2'") == [("c2", "answered",
                                                        "callback_succeeded", 1)]


async def test_callback_expired_while_the_switch_was_down_fails_as_no_idle_agent(
        store: Store) -> None:
    await first_run(store)
    await store.flush()
    store.write("UPDATE callback_requests SET expires_at = expires_at - 3600", ())
    run = Run(store, 9000.0, "2001", "2002")
    await run.start()
    assert run.acd.position("c2") is None
    assert await rows(store, "SELECT task, outcome, failure_reason FROM callbacks"
                             " ORDER BY id") == [("c2", "failed", "no_idle_agent"),
                                                 ("c3", "failed", "no_idle_agent")]
    assert await rows(store, "SELECT COUNT(*) FROM callback_requests") == [(0,)]


async def test_state_of_an_agent_removed_from_the_queue_is_dropped_and_its_rows_closed(
        store: Store) -> None:
    await first_run(store)
    await store.flush()
    run = Run(store, 9000.0, "2002")  # 2001 no longer in the queue
    await run.start()
    assert await rows(store, "SELECT agent FROM agent_state ORDER BY agent") == [
        ("1001",), ("2002",)]
    assert await rows(store, "SELECT agent, ended_by FROM agent_pauses") == [
        ("2001", "shutdown")]
    assert await rows(store, "SELECT agent, signed_out_at IS NOT NULL FROM agent_sessions"
                             " WHERE agent = '2001'") == [("2001", 1)]
