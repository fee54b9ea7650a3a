"""External chat logs (softswitch.messaging.chatlogs, omnichannel.md §8, §13 items 53-56) on
the manual's fixture sessions (§10, §8.3-§8.5) made through the messaging shell on each
store backend: every filter of §8.2, the session list, the timeline, the chat history, the
deletion rules and the two CSV files of the download."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fake_provider import FakeProvider
from test_sessions import NAMES

from acd.config import AcdConfig, MessageQueueConfig, TakeOverMode
from acd.engine import Acd, Output
from softswitch.clock import VirtualClock
from softswitch.messaging import chatlogs
from softswitch.messaging.chatlogs import ChatLogError, ChatLogs, Filter
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import Inbound
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import CLOSED_TEXT

UTCZ = ZoneInfo("UTC")
CUSTOMER = "+12025550283"
QUEUE_NUMBER = "+12025550407"


def at(text: str) -> float:
    return datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC).timestamp()


def channels(base: str) -> tuple[ChannelConfig, ...]:
    return (ChannelConfig(
        "General SMS Channel", "sms", "general", "429ced149ff9437695be795aff38407b", "key",
        f"{base}/sendmessage",
        (ChannelNumber(QUEUE_NUMBER, Destination("message_queue", "Tech Support"), ("1001",)),
         ChannelNumber("+14102161183", Destination("extension", "3000")))),
        ChannelConfig("Desk phones", "sip", "", "", "", "",
                      (ChannelNumber("6000", Destination("extension", "3000")),)))


class World:
    def __init__(self, store: Any, base: str) -> None:
        self.clock = VirtualClock(wall_start=at("12/01/2023 10:00:00"))
        acd = Acd(AcdConfig(message_queues=(MessageQueueConfig(
            "Tech Support", TakeOverMode.MANUAL, ("3000",)),)), now=self.clock.monotonic())

        def execute(out: Output) -> None:
            pass

        self.channels = channels(base)
        self.service = Messaging(self.channels, AcdQueues(lambda: acd, execute,
                                                          self.clock.monotonic),
                                 store, self.clock, lambda kind, body, agent: None,
                                 lambda e: NAMES.get(e, e))
        self.logs: ChatLogs = chatlogs.for_messaging(self.service)

    def to(self, when: str) -> None:
        self.clock.advance(at(when) - self.clock.wall())

    async def receive(self, when: str, pid: str, customer: str, to: str, text: str) -> int:
        self.to(when)
        m = await self.service.receive(self.channels[0], Inbound(
            pid, customer, to, text, (), "2023-12-12T23:31:12+00:00"))
        return m.session

    async def fixture(self) -> dict[str, int]:
        """§8.3's rows and §8.5's session 2, at the manual's times (UTC)."""
        run = self.service.run
        ids = {"s1": await self.receive("12/01/2023 10:00:00", "a", "+12025550999",
                                        "+14102161183", "hi 3000")}
        s2 = ids["s2"] = await self.receive("12/12/2023 23:31:12", "b", CUSTOMER,
                                            QUEUE_NUMBER, "我需要帮助")
        self.to("12/12/2023 23:33:51")
        run(lambda inbox, now: inbox.take_over(s2, "3000", now))
        self.to("12/12/2023 23:34:13")
        run(lambda inbox, now: inbox.reply(s2, "3000", "你好，请问需要什么帮助？", (), now))
        self.to("12/15/2023 08:00:00")
        run(lambda inbox, now: inbox.archive(s2, "3000", True))  # not in the timeline
        self.to("12/18/2023 00:03:06")
        run(lambda inbox, now: inbox.reply(s2, "3000", "测试会话结束。", (), now))
        self.to("12/18/2023 04:47:29")
        run(lambda inbox, now: inbox.close(s2, "3000", now))
        self.to("12/18/2023 23:57:42")
        s3 = run(lambda inbox, now: inbox.start("1001", "General SMS Channel", QUEUE_NUMBER,
                                                "+18700003005", now)).id
        ids["s3"] = s3
        run(lambda inbox, now: inbox.reply(s3, "1001", "hello", (), now))
        self.to("12/19/2023 05:11:44")
        ids["s4"] = run(lambda inbox, now: inbox.receive("Desk phones", "6000", "1005",
                                                         "desk", (), None, now)).session
        ids["s5"] = await self.receive("12/21/2023 08:00:00", "c", "+12026400001",
                                       "+14102161183", "late")
        await self.service.store.flush()
        return ids


@pytest.fixture
async def world(any_store: Any) -> Any:
    provider = await FakeProvider().start()
    w = World(any_store, provider.base)
    await w.service.start()
    w.ids = await w.fixture()
    yield w
    await w.service.close()
    await provider.stop()


def query(**kw: str) -> Filter:
    return Filter.parse(kw)[0]


async def ids_of(w: Any, **kw: str) -> list[int]:
    return [r.id for r in await w.logs.sessions(query(**kw))]


async def test_session_list_columns_match_the_manual(world: Any) -> None:
    rows = {r["id"]: r for r in [s.as_json(UTCZ) for s in await world.logs.sessions()]}
    ids = world.ids
    assert list(rows) == sorted(rows, reverse=True)  # newest first
    assert rows[ids["s2"]] == {"id": ids["s2"], "time": "12/12/2023 23:31:12",
                               "sender": CUSTOMER, "recipient": "Tech Support",
                               "channel_type": "SMS", "channel_number": QUEUE_NUMBER,
                               "origin": "inbound"}
    assert rows[ids["s3"]] | {"id": 0} == {
        "id": 0, "time": "12/18/2023 23:57:42", "sender": "1001<1001>",
        "recipient": "+18700003005", "channel_type": "SMS", "channel_number": QUEUE_NUMBER,
        "origin": "agent"}
    assert (rows[ids["s1"]]["sender"], rows[ids["s1"]]["recipient"]) == (
        "+12025550999", "Leo Ball<3000>")
    assert (rows[ids["s4"]]["channel_type"], rows[ids["s4"]]["sender"]) == ("SIP", "1005")


async def test_every_filter(world: Any) -> None:
    ids = world.ids
    s1, s2, s3, s4, s5 = (ids[k] for k in ("s1", "s2", "s3", "s4", "s5"))
    december = {"start": "12/01/2023 00:00:00", "end": "12/20/2023 23:59:59"}
    assert await ids_of(world, **december) == [s4, s3, s2, s1]
    assert await ids_of(world, start="12/12/2023 23:31:12", end="12/18/2023 23:57:42") == [
        s3, s2]  # both ends included
    assert await ids_of(world, channel_type="SMS") == [s5, s3, s2, s1]
    assert await ids_of(world, channel_type="sip") == [s4]
    assert await ids_of(world, channel_type="all") == [s5, s4, s3, s2, s1]
    assert await ids_of(world, sender="1001") == [s3]
    assert await ids_of(world, recipient="tech support") == [s2]
    assert await ids_of(world, sender=CUSTOMER, recipient="Tech") == [s2]
    assert await ids_of(world, sender="1001", recipient="Tech Support") == []
    assert await ids_of(world, sender="1001", recipient="Tech Support",
                        relation="or") == [s3, s2]
    assert await ids_of(world, sender="api") == []  # the analytics tip: a substring search
    # in the admin's time zone: 12/13 07:31:12 in Shanghai is 12/12 23:31:12 UTC
    assert await ids_of(world, start="12/13/2023 07:31:12", end="12/13/2023 07:31:12",
                        time_zone="Asia/Shanghai") == [s2]
    for bad in ({"start": "2023-12-01"}, {"relation": "xor"}, {"colour": "red"}):
        with pytest.raises(ChatLogError):
            Filter.parse(bad)


async def test_timeline_has_only_the_four_operations(world: Any) -> None:
    timeline = await world.logs.timeline(world.ids["s2"], UTCZ)
    assert [(e["title"], e["time"], e["description"]) for e in timeline] == [
        ("接收外部消息，创建会话", "12/12/2023 23:31:12",
         f"接收{CUSTOMER}的消息，会话路由给Tech Support。"),
        ("分机从消息队列中接管会话", "12/12/2023 23:33:51",
         "Leo Ball从消息队列Tech Support中接管会话。"),
        ("分机关闭会话", "12/18/2023 04:47:29", "Leo Ball关闭会话")]
    assert [e["title"] for e in await world.logs.timeline(world.ids["s3"], UTCZ)] == [
        "创建会话"]


async def test_chat_history_newest_first_with_senders_and_recipients(world: Any) -> None:
    history = await world.logs.history(world.ids["s2"], UTCZ)
    rows = [(m["time"], m["sender"], m["recipient"], m["type"], m["content"])
            for m in history["messages"]]
    assert rows == [
        ("12/18/2023 04:47:29", "PBX系统", "", "", CLOSED_TEXT),
        ("12/18/2023 00:03:06", "Leo Ball<3000>", CUSTOMER, "Sent", "测试会话结束。"),
        ("12/12/2023 23:34:13", "Leo Ball<3000>", CUSTOMER, "Sent", "你好，请问需要什么帮助？"),
        ("12/12/2023 23:33:51", "PBX系统", "", "", "Leo Ball从消息队列Tech Support中接管会话。"),
        ("12/12/2023 23:31:12", CUSTOMER, "Tech Support", "Received", "我需要帮助"),
        ("12/12/2023 23:31:12", "PBX系统", "", "",
         f"接收{CUSTOMER}的消息，会话路由给Tech Support。")]
    assert (history["total"], history["page_size"]) == (6, 20)
    page = await world.logs.history(world.ids["s2"], UTCZ, page=2, size=4)
    assert [m["content"] for m in page["messages"]] == ["我需要帮助", rows[5][4]]


async def test_system_messages_are_never_deleted_others_are(world: Any) -> None:
    s2 = world.ids["s2"]
    history = (await world.logs.history(s2, UTCZ))["messages"]
    system = [m["id"] for m in history if m["sender"] == "PBX系统"]
    sent = [m["id"] for m in history if m["type"] == "Sent"]
    with pytest.raises(ChatLogError) as info:
        await world.logs.delete_messages(s2, [sent[0], system[0]])
    assert info.value.status == 409
    assert len((await world.logs.history(s2, UTCZ))["messages"]) == 6  # nothing deleted
    await world.logs.delete_messages(s2, [sent[0]])
    left = (await world.logs.history(s2, UTCZ))["messages"]
    assert [m["id"] for m in left] == [m["id"] for m in history if m["id"] != sent[0]]
    # the agent's client no longer shows it
    assert sent[0] not in [m.id for m in world.service.inbox.messages[s2]]


async def test_deleting_a_session_deletes_its_messages_and_hides_it(world: Any) -> None:
    s1 = world.ids["s1"]
    assert [s.id for s in world.service.inbox.list_for("3000", False)].count(s1) == 1
    await world.logs.delete_sessions([s1])
    assert s1 not in [r.id for r in await world.logs.sessions()]
    assert await world.service.store.fetch(
        "SELECT COUNT(*) FROM messaging_messages WHERE session=?", (s1,)) == [(0,)]
    assert s1 not in [s.id for s in world.service.inbox.list_for("3000", False)]
    with pytest.raises(ChatLogError):
        await world.logs.delete_sessions([s1])
    # the customer writes again: a new session, the deleted one is not reopened
    new = await world.receive("12/22/2023 09:00:00", "d", "+12025550999", "+14102161183",
                              "again")
    assert new > world.ids["s5"]


def read_zip(data: bytes) -> dict[str, list[list[str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert sorted(z.namelist()) == ["Chat_Data_Record.csv", "Session_Record.csv"]
        out = {}
        for name in z.namelist():
            text = z.read(name).decode("utf-8")
            assert text.startswith("\ufeff")
            out[name] = list(csv.reader(io.StringIO(text[1:], newline="")))
        return out


async def test_download_all_and_query_results(world: Any) -> None:
    ids = world.ids
    where, zone = Filter.parse({"start": "12/01/2023 00:00:00", "end": "12/20/2023 23:59:59",
                                "channel_type": "SMS"})
    files = read_zip(await world.logs.download(where, zone))
    sessions, chats = files["Session_Record.csv"], files["Chat_Data_Record.csv"]
    assert sessions[0] == ["Session ID", "Time", "Sender", "Recipient", "Channel Type",
                           "Channel Number"]
    assert chats[0] == ["Session ID", "Time", "Sender", "Recipient", "Message Type",
                        "Content"]
    assert [r[0] for r in sessions[1:]] == [str(ids[k]) for k in ("s3", "s2", "s1")]
    assert sessions[2] == [str(ids["s2"]), "12/12/2023 23:31:12", CUSTOMER, "Tech Support",
                           "SMS", QUEUE_NUMBER]
    assert {r[0] for r in chats[1:]} == {str(ids[k]) for k in ("s3", "s2", "s1")}
    s2_rows = [r for r in chats[1:] if r[0] == str(ids["s2"])]
    assert s2_rows[2] == [str(ids["s2"]), "12/12/2023 23:33:51", "PBX系统", "", "",
                          "Leo Ball从消息队列Tech Support中接管会话。"]
    assert len(s2_rows) == 6
    everything = read_zip(await world.logs.download(None, UTCZ))
    assert len(everything["Session_Record.csv"]) == 1 + 5


async def test_pending_replies_deleted_in_the_chat_logs_are_never_sent(any_store: Any) -> None:
    """The provider is down, three agents' replies wait in the outbox; the admin deletes
    one's session and another message itself; the provider comes back: only the third
    goes out, and nothing is retried after."""
    provider = await FakeProvider().start()
    w = World(any_store, provider.base)
    await w.service.start()
    try:
        ids = await w.fixture()
        await provider.stop()
        sent_before = len(provider.sent)
        replies = {}
        for key, agent in (("s1", "3000"), ("s3", "1001"), ("s5", "3000")):
            sid = ids[key]
            replies[key] = w.service.run(lambda inbox, now, sid=sid, agent=agent, key=key:
                                         inbox.reply(sid, agent, f"pending {key}", (), now)).id

        def status(key: str) -> Any:
            return next((m for m in w.service.inbox.messages.get(ids[key], ())
                         if m.id == replies[key]), None)

        for _ in range(500):  # the first attempts fail: provider down, to be retried
            if all(status(k) is not None and status(k).error for k in replies):
                break
            await asyncio.sleep(0.01)
        assert [(status(k).status.value, status(k).error) for k in replies] == [
            ("pending", "Third-party platform service unavailable")] * 3
        assert len(w.service.outbox) == 3
        await w.logs.delete_sessions([ids["s5"]])
        assert await w.logs.delete_messages(ids["s3"], [replies["s3"]]) == [replies["s3"]]
        assert len(w.service.outbox) == 1
        await provider.start()  # back, on the same port
        for _ in range(500):
            w.clock.advance(1.0)
            if status("s1").status.value == "sent":
                break
            await asyncio.sleep(0.01)
        w.clock.advance(24 * 3600)  # every back-off long past
        await asyncio.sleep(0.05)
        assert [r.body["text"] for r in provider.sent[sent_before:]] == ["pending s1"]
        assert len(w.service.outbox) == 0
        assert await w.service.store.fetch(
            "SELECT COUNT(*) FROM messaging_messages WHERE id IN (?, ?)",
            (replies["s3"], replies["s5"])) == [(0,)]
    finally:
        await w.service.close()
        await provider.stop()
