"""Nothing stranded, nothing lost: an agent's sign-in and pause with its reason, and pending
callback requests with their places, survive the switch being killed (SIGKILL) and started
again on the same database (softswitch.store.agent_state; queue-admin.md §4.2, §6.1, §6.7).
Real processes over loopback: `softswitch run` and pjsua2 phones."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from phones import Phone
from queue_support import call_and_press, phone, poll_rows, queue_config

from benchmarks.peers.switch import Extension, RunningSwitch, build_config, start_switch

pytestmark = pytest.mark.interop

AGENT = ("2000", "agent-pw")
# five digits: their own number is a valid callback number (§4.2: at least 5 digits)
CALLERS = [("30000", "caller-0-pw"), ("30001", "caller-1-pw")]
EXTENSIONS = [Extension(*x) for x in (AGENT, *CALLERS)]
QUEUE = queue_config("6470", "Support", dynamic_agents=[AGENT[0]],
                     callback={"method": "press_key", "key": "1"})


def dial_code(agent: Phone, host: str, port: int, code: str) -> None:
    """A feature code: answered, a confirmation, the switch hangs up."""
    call = agent.call(f"sip:{code}@{host}:{port}")
    agent.wait_call_state(call, "CONFIRMED")
    assert agent.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200


def request_callback(caller: Phone, sw: RunningSwitch) -> None:
    """Call the queue (nobody can answer), press 1, confirm the own number with 1: the
    switch confirms and hangs up."""
    call = call_and_press(caller, sw, "6470", "1")
    time.sleep(5.0)  # "your callback number is 3 0 0 0 x; press 1 to confirm or 2 to change"
    caller.send_dtmf(call, "1")
    assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200


def db_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_sign_in_pause_and_callbacks_survive_sigkill(
        phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    workdir = tmp_path / "switch"
    config = build_config(workdir, extensions=EXTENSIONS, queues=[QUEUE])
    sw = start_switch(workdir, config)
    try:
        host, port = sw.host, sw.port
        agent = phone(phone_factory, AGENT, sw)
        callers = [phone(phone_factory, c, sw) for c in CALLERS]
        dial_code(agent, host, port, "*76470")  # sign in
        dial_code(agent, host, port, "*076470*03")  # pause: Wrap up
        for caller in callers:  # 30000 first, then 30001
            request_callback(caller, sw)
        assert poll_rows(sw.db_path, "SELECT COUNT(*) FROM callback_requests"
                                     " HAVING COUNT(*) = 2") == [(2,)]
        assert poll_rows(sw.db_path, "SELECT signed_in, paused, pause_reason FROM agent_state"
                                     " WHERE agent = '2000' AND paused = 1") == [
            (1, 1, "Wrap up")]
        sw.process.stop(2.0, signal.SIGKILL)  # no shutdown at all

        sw = start_switch(workdir, config)
        restored = [(e["agent"], e["signed_in"], e["paused"], e["reason"])
                    for e in sw.events("agent restored")]
        assert restored == [("2000", True, True, "Wrap up")]
        assert [(e["number"], e["position"]) for e in sw.events("callback request restored")
                ] == [("30000", 1), ("30001", 2)]
        # the pause is really back: the toggle code now resumes (it would pause otherwise)
        dial_code(agent, host, port, "*076470")
        # the agent is free: the callbacks are served in their order, agent first
        for number, caller in zip(("30000", "30001"), callers, strict=True):
            ring = agent.wait_incoming(timeout=15)
            assert f"callback {number}" in agent.incoming(ring)["from"]
            agent.answer(ring)
            agent.wait_call_state(ring, "CONFIRMED")
            customer = caller.wait_incoming(timeout=10)
            caller.answer(customer)
            caller.wait_call_state(customer, "CONFIRMED")
            time.sleep(0.5)
            caller.hangup(customer)
            assert agent.wait_call_state(ring, "DISCONNECTED")["code"] == 200
        assert poll_rows(sw.db_path, "SELECT COUNT(*) FROM callbacks WHERE outcome ="
                                     " 'succeeded' HAVING COUNT(*) = 2") == [(2,)]
        # the reports continue the rows across the crash: one Wrap up pause, resumed after
        # the restart; one sign-in session, still open
        assert db_rows(sw.db_path, "SELECT reason, ended_by FROM agent_pauses"
                                   " WHERE agent = '2000'") == [("Wrap up", "resumed")]
        assert db_rows(sw.db_path, "SELECT signed_out_at FROM agent_sessions"
                                   " WHERE agent = '2000'") == [(None,)]
        assert db_rows(sw.db_path, "SELECT COUNT(*) FROM callback_requests") == [(0,)]
        assert sw.stop(15.0) == 0
    finally:
        if sw.alive():
            sw.process.stop(2.0, signal.SIGKILL)
