"""The messaging shell (softswitch.messaging.service) on each store backend (SQLite and
PostgreSQL, migration 13) and a virtual clock: what a webhook stored is back after a
restart (sessions, history, the open session the next message joins, the Session IDs
going on), and auto-close after the channel's days runs on the injected clock."""

from __future__ import annotations

from typing import Any

from fake_provider import FakeProvider
from test_sessions import NAMES

from acd.config import AcdConfig, MessageQueueConfig, TakeOverMode
from acd.engine import Acd, Output
from softswitch.clock import VirtualClock
from softswitch.messaging.config import ChannelConfig, ChannelNumber, Destination
from softswitch.messaging.general import ChannelStatus, Inbound
from softswitch.messaging.queues import AcdQueues
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import CLOSED_TEXT, DAY


def channel(base: str) -> ChannelConfig:
    return ChannelConfig(
        "General SMS Channel", "sms", "general", "429ced149ff9437695be795aff38407b", "key",
        f"{base}/sendmessage",
        (ChannelNumber("+14102161183", Destination("message_queue", "Tech Support")),
         ChannelNumber("+865925503309", Destination("extension", "3000"))),
        verify_url=f"{base}/verify", verify_interval=60.0, auto_close_days=2)


def service(store: Any, clock: VirtualClock, base: str) -> tuple[Messaging, list[Any]]:
    acd = Acd(AcdConfig(message_queues=(MessageQueueConfig(
        "Tech Support", TakeOverMode.MANUAL, ("2000", "2001")),)), now=clock.monotonic())
    published: list[Any] = []

    def execute(out: Output) -> None:
        pass

    return Messaging((channel(base),), AcdQueues(lambda: acd, execute, clock.monotonic),
                     store, clock, lambda kind, body, agent: published.append(
                         (kind, agent, body)), lambda e: NAMES.get(e, e)), published


def inbound(pid: str, to: str, text: str) -> Inbound:
    return Inbound(pid, "+8618012121222", to, text, (), "2019-12-09T20:16:07.503+00:00")


async def test_sessions_survive_a_restart_and_auto_close_on_the_clock(any_store: Any) -> None:
    provider = await FakeProvider().start()
    clock = VirtualClock()
    config = channel(provider.base)
    first, published = service(any_store, clock, provider.base)
    await first.start()
    try:
        queued = await first.receive(config, inbound("a", "+14102161183", "to the queue"))
        direct = await first.receive(config, inbound("b", "+865925503309", "to 3000"))
        assert {(k, a) for k, a, _ in published} >= {
            ("messaging.session.changed", "2000"), ("messaging.message.new", "2001"),
            ("messaging.message.new", "3000")}
        first.run(lambda inbox, now: inbox.take_over(queued.session, "2001", now))
    finally:
        await first.close()
    rows = await any_store.fetch("SELECT COUNT(*) FROM messaging_sessions")
    assert rows[0][0] == 2

    clock.advance(3600)
    second, published = service(any_store, clock, provider.base)
    await second.start()
    try:
        inbox = second.inbox
        assert [s.id for s in inbox.list_for("2001", False)] == [queued.session]
        assert [s.id for s in inbox.list_for("2000", False)] == []  # taken over by 2001
        assert [m.text for m in inbox.messages[direct.session]][-1] == "to 3000"
        again = await second.receive(config, inbound("c", "+865925503309", "more"))
        assert again.session == direct.session  # the open session goes on
        assert [m.text for m in inbox.messages[queued.session]][-1] == \
            "Phillip Huff从消息队列Tech Support中接管会话。"
        # a replayed webhook id is known from the database
        try:
            await second.receive(config, inbound("a", "+14102161183", "replay"))
            raise AssertionError("replay accepted")
        except KeyError:
            pass
        # auto-close: 2 days without a message; the direct session had one an hour later
        clock.advance(2 * DAY - 3600)
        assert not inbox.sessions[queued.session].open
        assert inbox.sessions[direct.session].open
        clock.advance(3600)
        assert not inbox.sessions[direct.session].open
        assert inbox.messages[direct.session][-1].text == CLOSED_TEXT
        new = await second.receive(config, inbound("d", "+865925503309", "new one"))
        assert new.session > direct.session
        assert second.clients["General SMS Channel"].status is ChannelStatus.CONNECTED
    finally:
        await second.close()
        await provider.stop()
    closed = await any_store.fetch(
        "SELECT id FROM messaging_sessions WHERE state='closed' ORDER BY id")
    assert [r[0] for r in closed] == [queued.session, direct.session]
    kinds = await any_store.fetch("SELECT kind FROM messaging_events WHERE session=?"
                                  " ORDER BY id", (queued.session,))
    assert [r[0] for r in kinds] == ["create", "takeover", "close"]


async def test_the_start_up_window_read_uses_the_sent_at_index(tmp_path: Any) -> None:
    """Migration 17: the start-up's read of the customers' last messages within the
    window (store.WINDOW_READ) searches messages by ``sent_at`` instead of scanning all of
    them (SQLite's plan; a database at version 16 scanned)."""
    from softswitch.messaging.store import WINDOW_READ
    from softswitch.store import Store
    from softswitch.store.migrations import MIGRATIONS

    def plan(rows: list[Any]) -> str:
        return " | ".join(str(r[-1]) for r in rows)

    old = await Store.open(str(tmp_path / "v16.sqlite3"),
                           [m for m in MIGRATIONS if m.version <= 16])
    try:
        before = plan(await old.fetch("EXPLAIN QUERY PLAN " + WINDOW_READ, (0.0,)))
    finally:
        await old.close()
    assert "SCAN m" in before, before
    store = await Store.open(str(tmp_path / "v16.sqlite3"))  # migrated on to 17
    try:
        after = plan(await store.fetch("EXPLAIN QUERY PLAN " + WINDOW_READ, (0.0,)))
    finally:
        await store.close()
    assert "SEARCH m USING INDEX messaging_messages_sent_at" in after, after
