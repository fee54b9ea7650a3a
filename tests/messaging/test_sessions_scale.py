"""The sessions core at scale (softswitch.messaging.sessions): auto-close deadlines kept in
a heap (§6.3, no scan of the open sessions per change), and the index of the customers'
last messages behind the WhatsApp/Messenger windows (kept as messages arrive, any session,
restored at start-up)."""

from __future__ import annotations

from typing import Any

import pytest
from test_sessions import World

from acd.config import TakeOverMode
from softswitch.messaging.sessions import DAY, Inbox

CHANNEL = "General SMS Channel"
DIRECT = "+865925503309"  # routed to extension 3000


def test_auto_close_many_sessions_each_at_its_own_time() -> None:
    w = World(TakeOverMode.MANUAL, auto_close=1)
    sids = [w.inbox.receive(CHANNEL, DIRECT, f"+1{i:04d}", "hi", (), None,
                            1000.0 + i).session for i in range(600)]
    # every third customer is answered later: its deadline moves on
    for i, sid in enumerate(sids):
        if i % 3 == 0:
            w.inbox.reply(sid, "3000", "ok", (), 5000.0 + i)
    due = {sid: (5000.0 + i if i % 3 == 0 else 1000.0 + i) + DAY
           for i, sid in enumerate(sids)}
    assert w.inbox.next_deadline() == 1001.0 + DAY  # customer 0 was answered
    closed: list[int] = []
    for t in sorted(set(due.values())):
        assert w.inbox.expire(t - 0.5) == []
        now_closed = w.inbox.expire(t)
        assert now_closed == [sid for sid, d in due.items() if d == t]
        closed += now_closed
        nxt = w.inbox.next_deadline()
        assert nxt == min((d for d in due.values() if d > t), default=None)
    assert sorted(closed) == sids
    assert not any(w.inbox.sessions[sid].open for sid in sids)
    assert w.inbox.next_deadline() is None


def test_deadlines_touch_only_the_session_that_changed(monkeypatch: Any) -> None:
    """O(log n): a message and the next deadline do not look at the other open sessions,
    and the heap's stale entries stay bounded by the open sessions."""
    w = World(TakeOverMode.MANUAL, auto_close=1)
    sids = [w.inbox.receive(CHANNEL, DIRECT, f"+1{i:04d}", "hi", (), None, float(i)).session
            for i in range(2000)]
    looked: list[int] = []
    real = Inbox._timeout

    def counting(self: Inbox, s: Any) -> float | None:
        looked.append(s.id)
        return real(self, s)

    monkeypatch.setattr(Inbox, "_timeout", counting)
    assert w.inbox.next_deadline() == DAY
    w.inbox.reply(sids[0], "3000", "ok", (), 10_000.0)
    assert w.inbox.next_deadline() == 1.0 + DAY
    assert w.inbox.expire(1.0 + DAY) == [sids[1]]
    assert looked == [sids[0]]
    for n in range(3000):  # one busy chat: its deadline moves 3000 times
        w.inbox.receive(CHANNEL, DIRECT, "+10002", "again", (), None, 20_000.0 + n)
    assert len(w.inbox._deadlines) <= 2 * 1999 + 64
    assert w.inbox.next_deadline() == 3.0 + DAY


def test_window_index_follows_the_customers_messages_across_sessions() -> None:
    w = World(TakeOverMode.MANUAL)
    key = (CHANNEL, DIRECT, "+1")
    assert w.inbox.last_received.get(key) is None
    sid = w.inbox.receive(CHANNEL, DIRECT, "+1", "hi", (), None, 100.0).session
    w.inbox.reply(sid, "3000", "ok", (), 200.0)  # the agent's reply does not open it
    assert w.inbox.last_received[key] == 100.0
    w.inbox.close(sid, "3000", 300.0)
    assert w.inbox.last_received[key] == 100.0  # closed: still the customer's last word
    w.inbox.receive(CHANNEL, DIRECT, "+1", "again", (), None, 400.0)
    assert w.inbox.last_received[key] == 400.0
    assert w.inbox.last_received.get((CHANNEL, DIRECT, "+2")) is None
    # restored at start-up from the store's figures, any session
    fresh = World(TakeOverMode.MANUAL).inbox
    fresh.restore([], [], 5, 9, [(CHANNEL, DIRECT, "+1", 400.0)])
    assert fresh.last_received == {key: 400.0}


@pytest.mark.parametrize("hours, allowed", [(23.0, True), (25.0, False)])
async def test_window_after_a_restart_from_the_store(any_store: Any, hours: float,
                                                    allowed: bool) -> None:
    from fake_provider import FakeProvider
    from test_messaging_store import channel, inbound, service

    from softswitch.clock import VirtualClock

    provider = await FakeProvider().start()
    clock = VirtualClock()
    config = channel(provider.base)
    first, _ = service(any_store, clock, provider.base)
    await first.start()
    try:
        m = await first.receive(config, inbound("w1", DIRECT, "hello"))
        first.run(lambda inbox, now: inbox.close(m.session, "3000", now))
        await any_store.flush()
    finally:
        await first.close()
    clock.advance(hours * 3600.0)
    second, _ = service(any_store, clock, provider.base)
    await second.start()
    try:
        last = second.last_inbound(CHANNEL, DIRECT, "+8618012121222")
        assert last == m.time
        assert (clock.wall() - last < DAY) is allowed
        assert m.session not in second.inbox.sessions or \
            not second.inbox.sessions[m.session].open
    finally:
        await second.close()
        await provider.stop()
