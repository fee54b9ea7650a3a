"""Auto-pause in the running switch (queue-admin.md §2.4, §7.2): agent 1001's phone (pjsua2)
declines a queue call (486) from a pjsua2 caller; with `agent_auto_pause: {missed_calls: 1}`
the ACD pauses 1001, the agent's BLF pause key (sipp) starts blinking, and the switch e-mails
the agent through a REAL SMTP server (aiosmtpd, started here on a free port)."""

from __future__ import annotations

import email
import threading
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from blf_keys import lamp_history, start_keys, wait_until
from phones import Phone

from benchmarks.peers.net import free_port
from benchmarks.peers.sipp import Sipp
from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

ALICE = ("1001", "alice-1001-secret")  # config.example.yaml: alice@example.com
CAROL = ("1003", "carol-1003-secret")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Any:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(udp=False))
    controller.start()
    yield inbox, controller.port
    controller.stop()


def test_declined_queue_call_auto_pauses_the_agent_who_gets_an_email(
        switch_factory: Callable[..., RunningSwitch], smtp: tuple[Inbox, int],
        phone_factory: Callable[..., Phone], sipp: Callable[..., Sipp],
        tmp_path: Path) -> None:
    inbox, smtp_port = smtp
    switch = switch_factory(
        queues=[{"number": "6400", "name": "Sales", "strategy": "linear",
                 "static_agents": ["1001"], "ring_timeout": 20, "retry_interval": 2,
                 "agent_auto_pause": {"missed_calls": 1}, "max_wait": 60,
                 "failover": {"type": "hangup"}}],
        overrides={"sip": {"auth": {"algorithms": ["MD5"]}},
                   "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none",
                            "sender": "pbx@example.com", "retries": 2}})
    keys = start_keys(sipp, switch, tmp_path, ALICE[0], ALICE[1], ["*076400"])

    def lamps() -> list[tuple[str, bool]]:
        return lamp_history(keys.messages(), ["*076400"])["*076400"]

    try:
        wait_until(lambda: lamps() == [("terminated", False)], what="pause key green")
        agent, caller = phone_factory("agent"), phone_factory("caller")
        assert agent.register(*ALICE, switch.host, switch.port).ok
        assert caller.register(*CAROL, switch.host, switch.port).ok
        call = caller.call(f"sip:6400@{switch.host}:{switch.port}")
        caller.wait_call_state(call, "CONFIRMED")  # the queue answers: music
        offer = agent.wait_incoming(timeout=15)
        agent.hangup(offer, code=486)  # the agent declines: a missed call
        wait_until(lambda: lamps()[-1] == ("confirmed", True), timeout=15,
                   what="pause key blinking after the auto-pause")
        wait_until(lambda: inbox.messages, timeout=20, what="the auto-pause e-mail")
        caller.hangup(call)
    finally:
        keys.stop(grace=2)
    (rcpt, msg), = inbox.messages
    assert rcpt == ["alice@example.com"] and msg["From"] == "pbx@example.com"
    assert msg["Subject"] == "Auto-paused in queue 6400 Sales"
    text = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "you were auto-paused in queue 6400 Sales after 1 missed call at" in text
