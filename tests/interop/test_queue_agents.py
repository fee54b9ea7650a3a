"""What agents' phones do for queue calls over real SIP (spec/queue-admin.md §2.4, §9.1):
Alert-Info and the queue name on the offer, ring-in-use against the agent's own extension
calls through the B2BUA."""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from phones import Phone
from queue_support import phone, queue_config

from benchmarks.peers.switch import Extension, RunningSwitch, build_config, start_switch

pytestmark = pytest.mark.interop

CALLER = ("3000", "caller-pw")
FRIEND = ("3001", "friend-pw")
AGENTS = [("2000", "agent-0-pw"), ("2001", "agent-1-pw")]
EXTENSIONS = [Extension(*x) for x in (CALLER, FRIEND, *AGENTS)]


def queue(number: str, **kw: Any) -> dict[str, Any]:
    return queue_config(number, "Helpdesk", **{"static_agents": [a for a, _ in AGENTS],
                                               "alert_info": "helpdesk-ring", **kw})


def received_invite(agent: Phone, call_id: str) -> str:
    """The INVITE text as the phone's SIP log shows it (the log is written with a delay)."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        log = agent.log_path.read_text(errors="replace")
        for block in re.split(r"\n(?=\d\d:\d\d:\d\d\.\d+ )", log):
            if "INVITE sip:" in block and f"Call-ID: {call_id}" in block:
                return block
        time.sleep(0.1)
    raise AssertionError(f"INVITE {call_id} not in {agent.log_path}")


@pytest.mark.switch_config(extensions=EXTENSIONS,
                           queues=[queue("6490"), queue("6491", ring_in_use=True)])
def test_offer_headers_and_ring_in_use(switch: RunningSwitch,
                                       phone_factory: Callable[..., Phone]) -> None:
    caller, friend = phone(phone_factory, CALLER, switch), phone(phone_factory, FRIEND, switch)
    a0, a1 = (phone(phone_factory, a, switch) for a in AGENTS)
    uri = f"sip:{{}}@{switch.host}:{switch.port}"

    # 2000 is talking to 3001 (an extension call through the B2BUA)
    private = a0.call(uri.format(FRIEND[0]))
    private_in = friend.wait_incoming()
    friend.answer(private_in)
    a0.wait_call_state(private, "CONFIRMED")
    time.sleep(0.3)

    # queue 6490 (ring_in_use off): only 2001 rings, with the queue's Alert-Info and name
    call = caller.call(uri.format("6490"))
    ring = a1.wait_incoming(timeout=10)
    invite = received_invite(a1, a1.incoming(ring)["call_id"])
    assert "Alert-Info: <http://127.0.0.1/>;info=helpdesk-ring" in invite
    assert re.search(r'From: "Helpdesk: 3000" <sip:3000@', invite)
    with pytest.raises(AssertionError):
        a0.wait_incoming(timeout=1.0)
    a1.answer(ring, 486)
    caller.hangup(call)
    caller.wait_call_state(call, "DISCONNECTED")

    # queue 6491 (ring_in_use on): 2000 rings although it is on a call
    call = caller.call(uri.format("6491"))
    ring0 = a0.wait_incoming(timeout=10)
    ring1 = a1.wait_incoming(timeout=10)
    a0.answer(ring0, 486)
    a1.answer(ring1, 486)
    caller.hangup(call)
    caller.wait_call_state(call, "DISCONNECTED")

    # the private call ends: 2000 rings again in 6490
    a0.hangup(private)
    friend.wait_call_state(private_in, "DISCONNECTED")
    time.sleep(0.3)
    call = caller.call(uri.format("6490"))
    ring0 = a0.wait_incoming(timeout=10)
    ring1 = a1.wait_incoming(timeout=10)
    a0.answer(ring0)
    a0.wait_call_state(ring0, "CONFIRMED")
    assert a1.wait_call_state(ring1, "DISCONNECTED")["code"] == 487
    a0.hangup(ring0)
    assert caller.wait_call_state(call, "DISCONNECTED")["code"] == 200


def test_sigterm_ends_queue_calls_cleanly(phone_factory: Callable[..., Phone],
                                          tmp_path: Path) -> None:
    """SIGTERM with one queue caller talking to an agent and one waiting while the other
    agent's phone rings: BYE to the talking pair and to the waiting caller, CANCEL to the
    ringing phone, exit status 0 (our own switch: the fixture treats an exit as a failure)."""
    workdir = tmp_path / "switch"
    workdir.mkdir()
    config = build_config(workdir, extensions=EXTENSIONS, queues=[
        queue("6490", strategy="linear", static_agents=[AGENTS[0][0]]),
        queue("6491", strategy="linear", static_agents=[AGENTS[1][0]])])
    sw = start_switch(workdir, config)
    try:
        caller = phone(phone_factory, CALLER, sw)
        a0, a1 = (phone(phone_factory, a, sw) for a in AGENTS)
        uri = f"sip:{{}}@{sw.host}:{sw.port}"
        talking = caller.call(uri.format("6490"))
        r0 = a0.wait_incoming(timeout=10)
        a0.answer(r0)
        a0.wait_call_state(r0, "CONFIRMED")
        waiting = caller.call(uri.format("6491"))
        r1 = a1.wait_incoming(timeout=10)
        caller.wait_call_state(waiting, "CONFIRMED")
        assert sw.stop(15.0) == 0
        assert caller.wait_call_state(talking, "DISCONNECTED")["code"] == 200
        assert caller.wait_call_state(waiting, "DISCONNECTED")["code"] == 200
        assert a0.wait_call_state(r0, "DISCONNECTED")["code"] == 200
        assert a1.wait_call_state(r1, "DISCONNECTED")["code"] == 487
        # the report rows of the calls are closed at the stop: the talking call has its talk
        # time, the waiting one left; the static agents' sign-in sessions stay open, to be
        # continued by the next start (their sign-ins survive restarts)
        con = sqlite3.connect(sw.db_path)
        try:
            calls = con.execute("SELECT queue, status, reason, talk > 0, left_at IS NOT NULL"
                                " FROM queue_calls ORDER BY queue").fetchall()
            sessions = con.execute("SELECT agent, signed_out_at IS NULL"
                                   " FROM agent_sessions ORDER BY agent").fetchall()
        finally:
            con.close()
        # the waiting caller counts as Missed: the switch took it out (§8.2)
        assert calls == [("6490", "answered", "answered", 1, 1),
                         ("6491", "missed", "removed", 0, 1)]
        assert sessions == [(AGENTS[0][0], 1), (AGENTS[1][0], 1)]
    finally:
        if sw.alive():
            sw.process.stop(2.0, signal.SIGKILL)
