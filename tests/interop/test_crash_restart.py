"""A crash mid-call (SIGKILL) and a restart on the same config and database: the call's CDR
row, written when the call started, is closed as INTERRUPTED, and both parties, a pjsua2
phone (the caller) and a sipp callee that only succeeds when it gets a BYE, are hung up by
the restarted switch from the SIP port their dialogs point to. The same for a queue call:
the caller and the agent (two pjsua2 phones) are hung up."""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from phones import Phone

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp, injection_file

pytestmark = pytest.mark.interop

CALLER = ("4000", "caller-pw")
CALLEE = ("5000", "callee-pw")


def switchproc() -> Any:
    here = Path(__file__).resolve().parents[1]
    if str(here) not in sys.path:
        sys.path.insert(0, str(here))
    import switchproc as module

    return module


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def wait_rows(db: Path, sql: str, want: list[tuple[Any, ...]],
              timeout: float = 10.0) -> list[tuple[Any, ...]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = query(db, sql)
        if rows == want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_sigkill_mid_call_then_restart_closes_the_cdr_and_hangs_up_both_phones(
        phone_factory: Callable[..., Phone], sipp: Callable[..., Sipp],
        tmp_path: Path) -> None:
    proc = switchproc()
    port = free_port()  # fixed: the phones' dialogs point at it across the restart
    cfg = proc.base_config(tmp_path, auth={"algorithms": ["MD5"]})  # sipp: MD5 digests only
    cfg["sip"]["listen"] = [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"]
    cfg["extensions"] = [{"number": u, "password": p} for u, p in (CALLER, CALLEE)]
    db = tmp_path / "switch.sqlite3"
    first = proc.start(tmp_path, cfg)
    second = None
    try:
        uas_port = free_port()
        callee = sipp("uas_wait_bye.xml", None, local_port=uas_port, max_calls=1,
                      recv_timeout_ms=60_000).start()
        reg = sipp("register_auth.xml", f"127.0.0.1:{port}", max_calls=1, inf=injection_file(
            tmp_path / "callee.csv", [(*CALLEE, "127.0.0.1", f"127.0.0.1:{uas_port}")])).run(30)
        assert (reg.successful, reg.failed) == (1, 0), reg.output
        alice = phone_factory("alice")
        assert alice.register(*CALLER, "127.0.0.1", port).ok
        call = alice.call(f"sip:{CALLEE[0]}@127.0.0.1:{port}")
        alice.wait_call_state(call, "CONFIRMED")
        # the answered call's row is open and both legs' dialogs are on disk (write-behind:
        # committed within a writer round trip of the answer)
        assert wait_rows(db, "SELECT leg FROM call_dialogs ORDER BY leg",
                         [("callee",), ("caller",)]) == [("callee",), ("caller",)]
        assert query(db, "SELECT state, caller, callee, answer_time IS NOT NULL FROM cdr") == [
            ("open", CALLER[0], CALLEE[0], 1)]

        first.stop(sig=9)  # SIGKILL: nothing runs in the switch any more
        assert query(db, "SELECT state FROM cdr") == [("open",)]

        second = proc.start(tmp_path, cfg, name="restarted")
        assert second.udp == ("127.0.0.1", port)
        [closed] = second.events("interrupted calls closed")
        assert (closed["calls"], closed["byes"]) == (1, 2)
        # both phones get the BYE: the caller's pjsua2 sees the call end with 200 ...
        assert alice.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200
        # ... and the sipp callee, which only counts the call once its BYE came, finishes
        result = callee.wait(30)
        assert (result.successful, result.failed) == (1, 0), result.output
        assert query(db, "SELECT state, disposition, hangup_side, hangup_cause, end_time,"
                         " duration, answer_time IS NOT NULL FROM cdr") == [
            ("closed", "INTERRUPTED", "switch", "switch restart", None, None, 1)]
        assert wait_rows(db, "SELECT leg FROM call_dialogs", []) == []
        hung_up = second.events("interrupted call leg hung up")
        assert sorted((e["leg"], e["status"]) for e in hung_up) == [
            ("callee", 200), ("caller", 200)]
        assert second.stop() == 0
    finally:
        for sw in (first, second):
            if sw is not None and sw.proc.poll() is None:
                sw.proc.kill()


def test_sigkill_during_a_queue_call_then_restart_hangs_up_caller_and_agent(
        phone_factory: Callable[..., Phone], tmp_path: Path) -> None:
    """The queue path: the caller's leg (answered by the switch) and the agent's leg are both
    hung up by the restarted switch; the caller's row (callee = the queue) is INTERRUPTED."""
    proc = switchproc()
    port = free_port()
    agent_ext = ("2000", "agent-pw")
    cfg = proc.base_config(tmp_path)
    cfg["sip"]["listen"] = [f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"]
    cfg["extensions"] = [{"number": u, "password": p} for u, p in (CALLER, agent_ext)]
    cfg["queues"] = [{"number": "6450", "name": "Sales", "strategy": "ring_all",
                      "static_agents": [agent_ext[0]], "ring_timeout": 20,
                      "retry_interval": 1, "wrapup": 0}]
    db = tmp_path / "switch.sqlite3"
    first = proc.start(tmp_path, cfg)
    second = None
    try:
        caller, agent = phone_factory("caller"), phone_factory("agent")
        assert caller.register(*CALLER, "127.0.0.1", port).ok
        assert agent.register(*agent_ext, "127.0.0.1", port).ok
        call = caller.call(f"sip:6450@127.0.0.1:{port}")
        caller.wait_call_state(call, "CONFIRMED")
        incoming = agent.wait_incoming(timeout=15)
        agent.answer(incoming)
        agent.wait_call_state(incoming, "CONFIRMED")
        assert wait_rows(db, "SELECT leg FROM call_dialogs ORDER BY leg",
                         [("agent",), ("caller",)]) == [("agent",), ("caller",)]

        first.stop(sig=9)
        second = proc.start(tmp_path, cfg, name="restarted")
        [closed] = second.events("interrupted calls closed")
        assert (closed["calls"], closed["byes"]) == (1, 2)
        assert caller.wait_call_state(call, "DISCONNECTED", timeout=15)["code"] == 200
        assert agent.wait_call_state(incoming, "DISCONNECTED", timeout=15)["code"] == 200
        assert query(db, "SELECT caller, callee, state, disposition, hangup_cause FROM cdr") == [
            (CALLER[0], "6450", "closed", "INTERRUPTED", "switch restart")]
        assert wait_rows(db, "SELECT leg FROM call_dialogs", []) == []
        assert second.stop() == 0
    finally:
        for sw in (first, second):
            if sw is not None and sw.proc.poll() is None:
                sw.proc.kill()
