"""Memory bounded by the live work (softswitch.messaging.sessions GRACE, service `recall`):
open sessions and their messages stay in memory; a closed one leaves it once unused for
GRACE and is read back from the store when an agent opens or lists it; the start-up loads
only the open sessions. Over the API nothing changes: the closed sessions are listed
(Archived, with their last message and unread count) and readable, the channel counters
count them."""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fake_provider import FakeProvider
from switch_harness import EXT_NUMBER, Harness, config, provider, running, webhook
from test_messaging_store import channel, inbound, service

from softswitch.clock import VirtualClock
from softswitch.messaging import sessions as sessions_mod
from softswitch.messaging.api import MESSAGING
from softswitch.messaging.service import Messaging
from softswitch.messaging.sessions import CLOSED_TEXT, GRACE

__all__ = ["provider"]  # the fixture, used by name


def held(service: Messaging) -> tuple[int, int]:
    """(sessions, messages) in memory."""
    inbox = service.inbox
    return len(inbox.sessions), sum(len(m) for m in inbox.messages.values())


async def test_closed_sessions_leave_memory_after_the_grace(any_store: Any) -> None:
    provider_ = await FakeProvider().start()
    clock = VirtualClock()
    config_ = channel(provider_.base)
    svc, _ = service(any_store, clock, provider_.base)
    await svc.start()
    try:
        ids = []
        for i in range(60):
            m = await svc.receive(config_, replace(
                inbound(f"g{i}", EXT_NUMBER, f"hello {i}"), source=f"+1555000{i:04d}"))
            ids.append(m.session)
        for sid in ids[:50]:
            svc.run(lambda inbox, now, sid=sid: inbox.close(sid, "3000", now))
        assert held(svc)[0] == 60  # within the grace: still there
        clock.advance(GRACE - 1)
        await svc.receive(config_, replace(inbound("g-late", EXT_NUMBER, "x"),
                                           source="+15550009999"))
        assert held(svc)[0] == 61
        clock.advance(2)
        await svc.receive(config_, replace(inbound("g-later", EXT_NUMBER, "y"),
                                           source="+15550009998"))
        assert held(svc) == (12, 12 * 2)  # the open ones: their message and the system one
        # an agent opens a closed one: read back, history as it was
        await svc.recall(ids[3])
        s = svc.inbox.session_for(ids[3], "3000")
        assert not s.open
        assert [m.text for m in svc.inbox.messages[ids[3]]][-2:] == ["hello 3", CLOSED_TEXT]
        # the Archived list reads back a page of the agent's closed sessions, newest first
        page, more = await svc.page("3000", "archived", 20, None)
        assert [x.id for x in page] == ids[:50][::-1][:20] and more
        assert held(svc)[0] == 12 + 1 + 21  # that page (and the next row: "more") only
        page, more = await svc.page("3000", "archived", 100, (page[-1].last_activity,
                                                                page[-1].id))
        assert [x.id for x in page] == ids[:50][::-1][20:] and not more
        clock.advance(GRACE + 1)
        svc.run(lambda inbox, now: None)
        assert held(svc)[0] == 12
    finally:
        await svc.close()
    # the start-up loads the open sessions only
    again, _ = service(any_store, clock, provider_.base)
    await again.start()
    try:
        assert held(again)[0] == 12
        assert all(s.open for s in again.inbox.sessions.values())
    finally:
        await again.close()
        await provider_.stop()


async def test_closed_sessions_are_listed_and_read_over_the_api(
        tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_mod, "GRACE", 0.5)  # unused for half a second: gone
    cfg = config(tmp_path, provider.base)
    async with running(cfg) as h:
        svc = h.switch._http_runner.app[MESSAGING]  # type: ignore[attr-defined]
        ids = []
        for i in range(40):
            assert await h.post_webhook(webhook(f"m{i}", to=EXT_NUMBER, text=f"hi {i}",
                                                customer=f"+1555100{i:04d}")) == 204
        ids = sorted(await h.sessions("1003"))
        assert len(ids) == 40
        for sid in ids[:30]:
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/close")
            assert status == 200, data
        await asyncio.sleep(0.6)
        svc.run(lambda inbox, now: None)
        assert held(svc)[0] == 10
        status, data = await h.api("1003", "GET", "/sessions?list=archived&limit=4")
        assert [r["id"] for r in data["sessions"]] == ids[26:30][::-1]
        assert held(svc)[0] == 10 + 5  # a page (and its next row) read back, not 30 days
        await listed_and_readable(h, ids)
    async with running(config(tmp_path, provider.base)) as h:  # a restart
        svc = h.switch._http_runner.app[MESSAGING]  # type: ignore[attr-defined]
        assert held(svc)[0] == 10
        await listed_and_readable(h, ids, read=True)


async def listed_and_readable(h: Harness, ids: list[int], read: bool = False) -> None:
    """``read``: the agent read ids[5] before (the mark survives a restart)."""
    status, data = await h.api("1003", "GET", "/sessions?list=archived")
    assert status == 200
    rows = data["sessions"]
    assert [r["id"] for r in rows] == ids[:30][::-1]
    assert all(r["state"] == "closed" and r["list"] == "archived" for r in rows)
    assert [r["last_message"]["text"] for r in rows] == [CLOSED_TEXT] * 30
    assert [r["unread"] for r in rows] == [int(r["id"] != ids[5] or not read) for r in rows]
    assert sorted(await h.sessions("1003")) == ids[30:]
    assert data["next_cursor"] is None  # 30 rows: one page of the default 100
    # pages of 7 (limit/cursor): the same rows in the same order, each read once
    paged: list[int] = []
    cursor = None
    while True:
        query = "/sessions?list=archived&limit=7" + (
            f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        status, data = await h.api("1003", "GET", query)
        assert status == 200 and len(data["sessions"]) <= 7
        paged += [r["id"] for r in data["sessions"]]
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert paged == ids[:30][::-1]
    for bad in ("limit=0", "limit=501", "cursor=x", "cursor=nan:3", "cursor=1.5:0"):
        status, data = await h.api("1003", "GET", f"/sessions?list=archived&{bad}")
        assert (status, data["error"]) == (400, "invalid_field"), bad
    status, data = await h.api("1003", "GET", f"/sessions/{ids[5]}")
    assert status == 200
    assert [m["text"] for m in data["messages"]][-2:] == ["hi 5", CLOSED_TEXT]
    status, data = await h.api("1003", "POST", f"/sessions/{ids[5]}/read", {})
    assert (status, data["unread"]) == (200, 0)
    status, data = await h.api("1003", "GET", "/sessions?list=archived")
    assert [r["unread"] for r in data["sessions"]].count(0) == 1
    status, data = await h.api("1003", "POST", f"/sessions/{ids[5]}/messages", {"text": "x"})
    assert status == 409, data  # closed (not 404: it is read back)
    status, _ = await h.api("1001", "GET", f"/sessions/{ids[5]}")
    assert status == 404  # not theirs
    status, data = await h.api("1002", "GET", "/channels")  # an admin: counters
    numbers = {n["number"]: n for n in data["channels"][0]["numbers"]}
    assert numbers[EXT_NUMBER]["received"] == 40


async def test_a_closed_queue_session_is_read_back_for_the_queue_agents(
        any_store: Any) -> None:
    provider_ = await FakeProvider().start()
    clock = VirtualClock()
    config_ = channel(provider_.base)
    svc, _ = service(any_store, clock, provider_.base)
    await svc.start()
    try:
        m = await svc.receive(config_, inbound("q1", "+14102161183", "to the queue"))
        svc.run(lambda inbox, now: inbox.close(m.session, None, now))  # never taken over
        clock.advance(GRACE + 1)
        svc.run(lambda inbox, now: None)
        assert m.session not in svc.inbox.sessions
        for agent in ("2000", "2001"):
            page, more = await svc.page(agent, "archived", 10, None)
            assert [s.id for s in page] == [m.session] and not more
        assert await svc.page("3000", "archived", 10, None) == ([], False)  # no queue agent
    finally:
        await svc.close()
        await provider_.stop()
