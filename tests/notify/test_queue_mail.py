"""Queue notifications (queue-admin.md §7.2) over a REAL SMTP server (aiosmtpd): the
missed-call, callback-requested and callback-failed e-mails to the queue's managers, their
times in the queue's time zone; a slow server and a refusing one never block the switch,
and mail the server has not taken is sent after a restart (the store's outbox)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from smtpinbox import Inbox, free_port, serve

from acd.events import (
    CallbackFailed,
    CallbackFailureReason,
    CallbackRequested,
    CallStatus,
    LeaveReason,
    TaskLeft,
)
from softswitch.config import Config, SmtpConfig, parse_config
from softswitch.events import EventBus
from softswitch.notify import Email, MailNotifications, SmtpSender
from softswitch.store import Store

CONFIG = """
sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}
extensions:
  - {number: "1001", name: Alice Agent, password: "secret-1001", email: alice@example.com}
  - {number: "1003", name: Mia Manager, password: "secret-1003", email: mia@example.com}
smtp: {host: 127.0.0.1, port: PORT, sender: pbx@example.com, retries: 3}
business_hours:
  - time_zone: Asia/Shanghai
    periods: [{days: [mon, tue, wed, thu, fri], time: "09:00-18:00"}]
queues:
  - number: "6400"
    name: Sales
    strategy: ring_all
    static_agents: ["1001"]
    managers: ["1003"]
    notifications: [missed_call, callback_requested, callback_failed]
    time_based_routing:
      time_zone: Asia/Shanghai
      outside_business_hours: {type: hangup}
      holiday: {type: hangup}
"""


@pytest.fixture
async def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    port = free_port()
    server = await serve(box, port)
    yield box, port
    server.close()
    await server.wait_closed()


def config(port: int) -> Config:
    return parse_config(CONFIG.replace("PORT", str(port)))


def body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def shanghai(mail: MailNotifications, at: float) -> str:
    when = dt.datetime.fromtimestamp(at + mail.mail.wall_offset, ZoneInfo("Asia/Shanghai"))
    return when.strftime("%Y-%m-%d %H:%M:%S CST")


async def test_missed_call_and_callback_mails_in_the_queue_time_zone(
        inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    bus = EventBus()
    mail = MailNotifications.from_config(bus, config(port), monotonic_now=0.0)
    assert mail is not None
    bus.publish(TaskLeft(at=100.0, task="call-1", queue="6400", status=CallStatus.MISSED,
                         reason=LeaveReason.MAX_WAIT, waited=95.0))
    rcpt, msg = await box.next()
    assert rcpt == ["mia@example.com"] and msg["Subject"] == "Queue 6400 Sales: missed call"
    assert ("queue 6400 Sales: A call in the queue was not answered (reason: max wait) at "
            f"{shanghai(mail, 100.0)}, after 00:01:35 waiting. Call: call-1.") in body(msg)

    bus.publish(CallbackRequested(at=200.0, task="call-2", queue="6400", number="5550123"))
    _, msg = await box.next()
    assert msg["Subject"] == "Queue 6400 Sales: callback requested"
    assert (f"A caller asked to be called back at 5550123 at {shanghai(mail, 200.0)}."
            in body(msg))

    bus.publish(CallbackFailed(at=300.0, task="call-2", queue="6400", number="5550123",
                               reason=CallbackFailureReason.NO_IDLE_AGENT))
    _, msg = await box.next()
    assert msg["Subject"] == "Queue 6400 Sales: callback failed"
    assert (f"The callback to 5550123 failed at {shanghai(mail, 300.0)}: no idle agent."
            in body(msg))
    # an abandoned call: not among this queue's notifications, no e-mail
    bus.publish(TaskLeft(at=400.0, task="call-3", queue="6400", status=CallStatus.ABANDONED,
                         reason=LeaveReason.ABANDONED, waited=3.0))
    await mail.close()
    assert box.messages.empty() and mail.sender.sent == 3


async def test_attachment_arrives_with_its_name(inbox: tuple[Inbox, int],
                                                tmp_path: Path) -> None:
    box, port = inbox
    report = tmp_path / "queue_performance_2023-12-27.csv"
    report.write_text("Queue,Total Calls\r\nSupport,6\r\n")
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, sender="pbx@example.com"))
    sender.send(Email("mia@example.com", "Daily", "attached", attachments=(str(report),)))
    _, msg = await box.next()
    await sender.close()
    [_, attachment] = msg.get_payload()  # type: ignore[misc]
    assert attachment.get_filename() == "queue_performance_2023-12-27.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == b"Queue,Total Calls\r\nSupport,6\r\n"


async def test_slow_server_never_blocks_the_publisher() -> None:
    box = Inbox(delay=1.0)
    port = free_port()
    server = await serve(box, port)
    bus = EventBus()
    mail = MailNotifications.from_config(bus, config(port), monotonic_now=0.0)
    assert mail is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(5):
        bus.publish(TaskLeft(at=float(i), task=f"c{i}", queue="6400", status=CallStatus.MISSED,
                             reason=LeaveReason.CAPACITY, waited=0.0))
    assert loop.time() - started < 0.05  # publishing only queues
    ticks = 0
    while box.messages.qsize() < 1:  # the loop keeps turning while the server dawdles
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks >= 50
    for _ in range(4):
        await box.next()
    await mail.close()
    server.close()
    assert mail.sender.sent == 5


async def test_unsent_mail_is_sent_after_a_restart(tmp_path: Path) -> None:
    """The server is down (connections refused); the switch stops with mail unsent, some of
    it given up after its retries; the next start sends all of it once the server is up."""
    port = free_port()
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path)
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, retries=5), retry_delays=(60.0,),
                        outbox=store)
    sender.send(Email("mia@example.com", "Queue 6400 Sales: missed call", "first"))
    sender.send(Email("mia@example.com", "Queue 6400 Sales: callback failed", "second"))
    for _ in range(500):
        if sender.failures:
            break
        await asyncio.sleep(0.01)
    assert sender.failures >= 1 and sender.sent == 0 and sender.pending() == 2
    await sender.close(grace=0.1)
    # a run whose retries all failed (the server still down) keeps its mail as well
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, retries=0), outbox=store)
    sender.send(Email("mia@example.com", "Queue 6400 Sales: abandoned call", "third"))
    for _ in range(500):
        if sender.dropped == 3:
            break
        await asyncio.sleep(0.01)
    assert sender.dropped == 3 and sender.sent == 0
    await sender.close()
    await store.close()

    box = Inbox()
    server = await serve(box, port)
    store = await Store.open(path)
    sender = SmtpSender(SmtpConfig("127.0.0.1", port), outbox=store)
    subjects = {(await box.next())[1]["Subject"] for _ in range(3)}
    assert subjects == {"Queue 6400 Sales: missed call", "Queue 6400 Sales: callback failed",
                        "Queue 6400 Sales: abandoned call"}
    await sender.close()
    await store.flush()
    assert await store.fetch("SELECT COUNT(*) FROM mail_outbox") == [(0,)]
    await store.close()
    server.close()


class Picky(Inbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


async def test_a_permanent_refusal_is_not_retried_nor_kept(tmp_path: Path) -> None:
    box = Picky()
    server = await serve(box)
    port = server.sockets[0].getsockname()[1]
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, retries=5), retry_delays=(0.05,),
                        outbox=store)
    sender.send(Email("nobody@example.com", "Queue 6400 Sales: missed call", "lost"))
    sender.send(Email("mia@example.com", "Queue 6400 Sales: missed call", "kept"))
    rcpt, _ = await box.next()
    await sender.close()
    await store.flush()
    assert rcpt == ["mia@example.com"]
    assert (sender.sent, sender.dropped, sender.failures) == (1, 1, 1)  # no retry of the 550
    assert await store.fetch("SELECT COUNT(*) FROM mail_outbox") == [(0,)]
    await store.close()
    server.close()
