"""E-mail notifications end to end: a real ACD in virtual time publishes to the event bus,
MailNotifications sends over SMTP to a REAL aiosmtpd server on a free loopback port; the
test reads the received message's recipient, subject and body."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import AsyncIterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP

from acd import Acd, Output
from softswitch.config import Config, parse_config
from softswitch.events import EventBus
from softswitch.notify import MailNotifications

CONFIG = """
sip:
  listen: [udp:127.0.0.1:0]
  domain: 127.0.0.1
extensions:
  - {number: "1001", name: Alice Agent, password: "secret-1001", email: alice@example.com}
  - {number: "1002", name: Bob Agent, password: "secret-1002", email: bob@example.com}
  - {number: "1003", name: Mia Manager, password: "secret-1003", email: mia@example.com}
smtp:
  host: 127.0.0.1
  port: PORT
  sender: pbx@example.com
  retries: RETRIES
queues:
  - number: "6400"
    name: Sales
    strategy: linear
    static_agents: ["1001", "1002"]
    ring_timeout: 10
    retry_interval: 0
    agent_auto_pause: {missed_calls: 2}
    managers: ["1003"]
    notifications: [sla_below_threshold, abandoned_call]
    sla: {time: 20, evaluation_interval: 1, alert_threshold: 80}
"""


class Inbox:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[tuple[list[str], Message]] = asyncio.Queue()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.put_nowait((list(envelope.rcpt_tos),
                                  email.message_from_bytes(envelope.content)))
        return "250 OK"

    async def next(self, timeout: float = 10.0) -> tuple[list[str], Message]:
        return await asyncio.wait_for(self.messages.get(), timeout)


async def smtp_server(inbox: Inbox, port: int = 0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(inbox), "127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(port: int, retries: int = 3) -> Config:
    return parse_config(CONFIG.replace("PORT", str(port)).replace("RETRIES", str(retries)))


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    server = await smtp_server(box)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


class Floor:
    def __init__(self, cfg: Config) -> None:
        self.acd = Acd(cfg.acd, now=0.0)
        self.bus = EventBus()

    def feed(self, out: Output) -> None:
        self.bus.publish_all(out.events)

    def run_until(self, now: float) -> None:
        while (d := self.acd.next_deadline()) is not None and d <= now:
            self.feed(self.acd.tick(d))


def body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_auto_paused_agent_gets_an_email(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    cfg = config(port)
    floor = Floor(cfg)
    mail = MailNotifications.from_config(floor.bus, cfg, monotonic_now=0.0)
    assert mail is not None
    # 1001 is rung first (linear) twice and misses both: auto-paused after 2 missed calls
    floor.feed(floor.acd.handle_task_arrived("c1", "6400", 1.0, caller="5550001"))
    floor.run_until(11.0)  # 1001 timed out, 1002 rings
    floor.feed(floor.acd.handle_offer_answered("c1", "1002", 12.0))
    floor.feed(floor.acd.handle_task_arrived("c2", "6400", 13.0, caller="5550002"))
    floor.run_until(23.0)  # 1001 misses again
    assert floor.acd.pause_state("1001", "6400")[0]
    rcpt, msg = await box.next()
    assert rcpt == ["alice@example.com"]
    assert msg["To"] == "alice@example.com" and msg["From"] == "pbx@example.com"
    assert msg["Subject"] == "Auto-paused in queue 6400 Sales"
    assert "you were auto-paused in queue 6400 Sales after 2 missed calls" in body(msg)
    assert "*076400" in body(msg)
    await mail.close()
    assert mail.sender.sent == 1


async def test_sla_below_threshold_emails_the_managers(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    cfg = config(port)
    floor = Floor(cfg)
    mail = MailNotifications.from_config(floor.bus, cfg, monotonic_now=0.0)
    assert mail is not None
    floor.feed(floor.acd.handle_device_busy("1001", 0.0))
    floor.feed(floor.acd.handle_device_busy("1002", 0.0))
    floor.feed(floor.acd.handle_task_arrived("c1", "6400", 1.0, caller="5550001"))
    floor.feed(floor.acd.handle_task_left("c1", 30.0))  # abandoned: SLA 0% < 80%
    rcpt, msg = await box.next()  # abandoned_call is selected too
    assert rcpt == ["mia@example.com"] and msg["Subject"] == "Queue 6400 Sales: abandoned call"
    assert "hung up after waiting 00:00:29" in body(msg)
    floor.run_until(60.0)  # evaluation interval of 1 minute ends
    rcpt, msg = await box.next()
    assert rcpt == ["mia@example.com"]
    assert msg["Subject"] == "Queue 6400 Sales: SLA below the alert threshold"
    assert "was 0.00%" in body(msg) and "alert threshold of 80%" in body(msg)
    await mail.close()


async def test_failed_send_is_retried_until_the_server_answers() -> None:
    port = free_port()  # nothing listens yet: the first attempt fails
    cfg = config(port, retries=5)
    bus = EventBus()
    mail = MailNotifications.from_config(bus, cfg, monotonic_now=0.0,
                                         retry_delays=(0.3,), timeout=2.0)
    assert mail is not None
    from acd.events import AgentPaused
    bus.publish(AgentPaused(at=5.0, agent="1002", queue="6400", reason="", auto=True))
    for _ in range(500):  # until the first attempt was refused (a retry is then scheduled)
        if mail.sender.failures:
            break
        await asyncio.sleep(0.01)
    assert mail.sender.sent == 0 and mail.sender.pending() == 1
    box = Inbox()
    server = await smtp_server(box, port)
    try:
        rcpt, msg = await box.next()
        assert rcpt == ["bob@example.com"] and "after 2 missed calls" in body(msg)
    finally:
        server.close()
        await mail.close()


async def test_dead_server_never_blocks_the_publisher_and_drops_after_retries() -> None:
    cfg = config(free_port(), retries=1)
    bus = EventBus()
    mail = MailNotifications.from_config(bus, cfg, monotonic_now=0.0,
                                         retry_delays=(0.1,), timeout=1.0)
    assert mail is not None
    from acd.events import AgentPaused
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(20):
        bus.publish(AgentPaused(at=float(i), agent="1001", queue="6400", reason="", auto=True))
    assert loop.time() - started < 0.05  # publishing only queues
    for _ in range(100):
        if mail.sender.dropped == 20:
            break
        await asyncio.sleep(0.05)
    assert mail.sender.dropped == 20 and mail.sender.sent == 0
    await mail.close()


def test_no_smtp_section_means_no_mail() -> None:
    text = CONFIG.split("smtp:")[0] + "queues:" + CONFIG.split("queues:")[1]
    cfg = parse_config(text)
    assert MailNotifications.from_config(EventBus(), cfg, monotonic_now=0.0) is None
