"""softswitch.messaging.sessions on the real ACD engine (acd.message_queue), in explicit
time: routing (§5.1), the assignment modes (§5.3), the lifecycle and its system messages
(§6.2-§6.4), visibility (§6.5), auto-close (§6.3)."""

from __future__ import annotations

import pytest

from acd.config import AcdConfig, MessageQueueConfig, TakeOverMode
from acd.engine import Acd, Output
from acd.events import SessionTakenOver, TaskJoined
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.sessions import (
    CLOSED_TEXT,
    DAY,
    Direction,
    Inbox,
    Notify,
    Refused,
    Send,
)

NAMES = {"2000": "Leo Ball", "2001": "Phillip Huff", "3000": "Leo Ball", "1000": "Leo Ball"}


def channel(mode_queue: str = "Tech Support", auto_close: int | None = None) -> ChannelConfig:
    return ChannelConfig(
        "General SMS Channel", "sms", "general", "429ced149ff9437695be795aff38407b", "key",
        "http://127.0.0.1:1/send",
        (ChannelNumber("+14102161183", Destination("message_queue", mode_queue), ("1000",)),
         ChannelNumber("+865925503309", Destination("extension", "3000"))),
        auto_close_days=auto_close)


class World:
    def __init__(self, mode: TakeOverMode, auto_close: int | None = None) -> None:
        self.now = 0.0
        self.events: list[object] = []
        queues = (MessageQueueConfig("Tech Support", mode, ("2000", "2001")),
                  MessageQueueConfig("VIP_Service", TakeOverMode.MANUAL, ("2001",)))
        self.acd = Acd(AcdConfig(message_queues=queues), now=0.0)

        def execute(out: Output) -> None:
            self.events.extend(out.events)

        self.inbox = Inbox([channel(auto_close=auto_close)],
                           AcdQueues(lambda: self.acd, execute, lambda: self.now),
                           names=lambda e: NAMES.get(e, e))

    def texts(self, sid: int) -> list[tuple[str, str]]:
        return [(m.direction.value, m.text) for m in self.inbox.messages[sid]]

    def visible(self, agent: str) -> list[int]:
        return [s.id for s in self.inbox.list_for(agent, False)]


def test_extension_destination_only_that_extension_sees_it() -> None:
    w = World(TakeOverMode.MANUAL)
    m = w.inbox.receive("General SMS Channel", "+865925503309", "+8613899990000", "hi", (),
                        "p1", 100.0)
    assert w.visible("3000") == [m.session]
    assert w.visible("2000") == [] and w.visible("2001") == []
    notified = [e for e in w.inbox.out if isinstance(e, Notify)]
    assert {e.agents for e in notified} == {("3000",)}
    assert w.texts(m.session)[0] == (
        "system", "接收+8613899990000的消息，会话路由给Leo Ball<3000>。")


def test_manual_take_over_hides_it_from_the_others() -> None:
    w = World(TakeOverMode.MANUAL)
    m = w.inbox.receive("General SMS Channel", "+14102161183", "+12025550101", "hi", (), None,
                        1.0)
    sid = m.session
    assert w.visible("2000") == [sid] == w.visible("2001")
    assert any(isinstance(e, TaskJoined) for e in w.events)
    w.inbox.reply(sid, "2001", "hello from 2001", (), 2.0)  # manual: replying does not take
    assert w.visible("2000") == [sid]
    w.inbox.take_over(sid, "2000", 3.0)
    assert w.visible("2000") == [sid] and w.visible("2001") == []
    assert any(isinstance(e, SessionTakenOver) for e in w.events)
    assert ("system", "Leo Ball从消息队列Tech Support中接管会话。") in w.texts(sid)
    with pytest.raises(Refused):
        w.inbox.reply(sid, "2001", "too late", (), 4.0)
    # later customer messages reach only the taker
    w.inbox.out.clear()
    w.inbox.receive("General SMS Channel", "+14102161183", "+12025550101", "again", (), None,
                    5.0)
    [note] = [e for e in w.inbox.out if isinstance(e, Notify)]
    assert note.agents == ("2000",) and note.kind == "message.new"


def test_auto_mode_first_reply_takes_over() -> None:
    w = World(TakeOverMode.AUTO)
    sid = w.inbox.receive("General SMS Channel", "+14102161183", "+1", "hi", (), None,
                          1.0).session
    w.inbox.reply(sid, "2001", "mine", (), 2.0)
    assert w.visible("2001") == [sid] and w.visible("2000") == []
    assert w.inbox.sessions[sid].owner == "2001"
    with pytest.raises(Refused):
        w.inbox.reply(sid, "2000", "no", (), 3.0)


def test_no_take_over_mode_stays_shared() -> None:
    w = World(TakeOverMode.NONE)
    sid = w.inbox.receive("General SMS Channel", "+14102161183", "+1", "hi", (), None,
                          1.0).session
    w.inbox.reply(sid, "2000", "a", (), 2.0)
    w.inbox.reply(sid, "2001", "b", (), 3.0)
    with pytest.raises(Refused):
        w.inbox.take_over(sid, "2000", 4.0)
    assert w.visible("2000") == [sid] == w.visible("2001")
    sends = [e for e in w.inbox.out if isinstance(e, Send)]
    assert [(s.message.text, s.source, s.to) for s in sends] == [
        ("a", "+14102161183", "+1"), ("b", "+14102161183", "+1")]


def test_transfer_to_colleague_and_to_queue_moves_history() -> None:
    w = World(TakeOverMode.MANUAL)
    sid = w.inbox.receive("General SMS Channel", "+865925503309", "+1", "hi", (), None,
                          1.0).session
    w.inbox.reply(sid, "3000", "hello", (), 2.0)
    w.inbox.transfer(sid, "3000", 3.0, extension="2000")
    assert w.visible("3000") == [] and w.visible("2000") == [sid]
    with pytest.raises(Refused):
        w.inbox.session_for(sid, "3000")
    w.inbox.transfer(sid, "2000", 4.0, queue="VIP_Service")
    assert w.visible("2000") == [] and w.visible("2001") == [sid]
    texts = [t for _, t in w.texts(sid)]
    assert "hi" in texts and "hello" in texts
    assert texts[-2] == "Leo Ball将会话转移给Leo Ball<2000>。"
    assert texts[-1] == "Leo Ball将会话转移给VIP_Service。"


def test_archive_unarchive_by_sending_and_by_customer() -> None:
    w = World(TakeOverMode.MANUAL)
    sid = w.inbox.receive("General SMS Channel", "+865925503309", "+1", "hi", (), None,
                          1.0).session
    w.inbox.archive(sid, "3000", True)
    assert w.visible("3000") == [] and [s.id for s in w.inbox.list_for("3000", True)] == [sid]
    w.inbox.reply(sid, "3000", "back", (), 2.0)  # sending unarchives (§6.2)
    assert w.visible("3000") == [sid]
    w.inbox.archive(sid, "3000", True)
    w.inbox.receive("General SMS Channel", "+865925503309", "+1", "again", (), None, 3.0)
    assert w.visible("3000") == [sid]  # §12.9 decision
    w.inbox.remove(sid, "3000")
    assert w.visible("3000") == [] and w.inbox.list_for("3000", True) == []


def test_close_then_next_message_opens_a_new_session() -> None:
    w = World(TakeOverMode.MANUAL)
    first = w.inbox.receive("General SMS Channel", "+14102161183", "+1", "hi", (), None,
                            1.0).session
    w.inbox.take_over(first, "2000", 2.0)
    w.inbox.close(first, "2000", 3.0)
    assert w.texts(first)[-1] == ("system", CLOSED_TEXT)
    assert [s.id for s in w.inbox.list_for("2000", True)] == [first]
    with pytest.raises(Refused):
        w.inbox.reply(first, "2000", "x", (), 4.0)
    second = w.inbox.receive("General SMS Channel", "+14102161183", "+1", "again", (), None,
                             5.0).session
    assert second > first
    assert w.visible("2001") == [second]  # routed again by the destination


def test_auto_close_after_the_channel_timeout() -> None:
    w = World(TakeOverMode.MANUAL, auto_close=1)
    sid = w.inbox.receive("General SMS Channel", "+865925503309", "+1", "hi", (), None,
                          100.0).session
    w.inbox.reply(sid, "3000", "ok", (), 200.0)
    assert w.inbox.next_deadline() == 200.0 + DAY
    assert w.inbox.expire(200.0 + DAY - 1) == []
    assert w.inbox.expire(200.0 + DAY) == [sid]
    assert not w.inbox.sessions[sid].open
    assert w.texts(sid)[-1] == ("system", CLOSED_TEXT)
    assert w.inbox.next_deadline() is None


def test_agent_started_session_needs_permission() -> None:
    w = World(TakeOverMode.MANUAL)
    with pytest.raises(Refused) as refused:
        w.inbox.start("1002", "General SMS Channel", "+14102161183", "+8613899990000", 1.0)
    assert refused.value.status == 403
    s = w.inbox.start("1000", "General SMS Channel", "+14102161183", "+8613899990000", 1.0)
    assert s.owner == "1000" and w.visible("1000") == [s.id]
    assert w.visible("2000") == []
    # the customer's answer joins the agent's session
    m = w.inbox.receive("General SMS Channel", "+14102161183", "+8613899990000", "yes", (),
                        None, 2.0)
    assert m.session == s.id and m.direction is Direction.RECEIVED
