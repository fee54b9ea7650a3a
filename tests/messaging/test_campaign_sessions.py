"""The agents' Campaign filter (omnichannel.md §7.3 "create session", §13 item 48) on a
running switch: a campaign's sessions have the origin ``campaign``; they are listed under
``GET /messaging/sessions?list=campaign`` for the assigned extension or the queue's agents
(and nobody else), reach them over the websocket with that origin, stay there once closed;
a campaign message that joins a session opened otherwise leaves it out; the chat logs show
each session's origin. Migration 15 turns the campaign sessions stored before into
``campaign`` ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fake_provider import FakeProvider
from switch_harness import QUEUE_NUMBER, Harness, config, deltas, started, webhook

from softswitch.store import Store
from softswitch.store.migrations import MIGRATIONS


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    p = await FakeProvider().start()
    yield p
    await p.stop()


async def completed(h: Harness, cid: int) -> dict[str, Any]:
    return dict((await h.completed(cid))["campaign"])


async def test_campaign_sessions_are_under_the_campaign_filter(tmp_path: Path,
                                                               provider: FakeProvider) -> None:
    queues = [{"name": n, "chat_assignment_mode": "manual_take_over",
               "agents": ["1001", "1002"]} for n in ("Tech Support", "VIP_Service")]
    switch = await started(config(tmp_path, provider.base, message_queues=queues))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            # an agent's own session (X) and a customer's inbound one (Y)
            status, data = await h.api("1001", "POST", "/sessions", {
                "channel": "General SMS Channel", "number": QUEUE_NUMBER,
                "customer": "+18300002009"})
            assert status in (200, 201), data
            agent_sid = data["session"]["id"]
            assert data["session"]["origin"] == "agent"
            assert await h.post_webhook(webhook("in-1", customer="+18300002001")) == 204
            [inbound_sid] = [s for s in await h.sessions("1002")]
            token = await h.login("1001")
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
                # to the queue: Y has an open session (joined), Z gets a new one
                status, data = await h.api("1002", "POST", "/campaigns", {
                    "name": "短信营销活动", "channel": "General SMS Channel",
                    "sender": QUEUE_NUMBER, "contacts": ["+18300002001", "+18300002002"],
                    "text": "限时特惠🔥", "mode": "session",
                    "assign": {"type": "message_queue", "target": "VIP_Service"}})
                assert status == 201, data
                await completed(h, data["campaign"]["id"])
                changed = [d for d in await deltas(ws, "messaging.session.changed")
                           if d["session"]["customer"] == "+18300002002"]
                assert changed and changed[0]["session"]["origin"] == "campaign"
            campaign_list = await h.sessions("1001", "campaign")
            assert len(campaign_list) == 1
            queue_sid = campaign_list[0]
            assert queue_sid not in (agent_sid, inbound_sid)
            assert await h.sessions("1002", "campaign") == [queue_sid]  # the other agent
            assert await h.sessions("1003", "campaign") == []  # not in VIP_Service
            status, data = await h.api("1001", "GET", "/sessions?list=campaign")
            [row] = data["sessions"]
            assert (row["customer"], row["origin"], row["list"]) == (
                "+18300002002", "campaign", "recent")
            assert row["route"] == {"type": "message_queue", "target": "VIP_Service"}
            assert row["last_message"]["sender"] == "群发活动<短信营销活动>"
            # the joined session is still the customer's inbound one
            status, data = await h.api("1002", "GET", f"/sessions/{inbound_sid}")
            assert data["session"]["origin"] == "inbound"
            assert data["messages"][-1]["sender"] == "群发活动<短信营销活动>"

            # to an extension: its owner only
            status, data = await h.api("1002", "POST", "/campaigns", {
                "name": "提醒", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
                "contacts": ["+18300002003"], "text": "明天见", "mode": "session",
                "assign": {"type": "extension", "target": "1003"}})
            assert status == 201, data
            await completed(h, data["campaign"]["id"])
            [ext_sid] = await h.sessions("1003", "campaign")
            assert await h.sessions("1001", "campaign") == [queue_sid]
            # closed, it stays under the filter (and is archived)
            status, _ = await h.api("1003", "POST", f"/sessions/{ext_sid}/close")
            assert status == 200
            assert await h.sessions("1003", "campaign") == [ext_sid]
            assert await h.sessions("1003", "archived") == [ext_sid]
            status, _ = await h.api("1003", "GET", "/sessions?list=mine")
            assert status == 400

            # the chat logs show each session's origin
            status, data = await h.api("1002", "GET", "/chat-logs")
            origins = {r["id"]: r["origin"] for r in data["sessions"]}
            assert origins == {agent_sid: "agent", inbound_sid: "inbound",
                               queue_sid: "campaign", ext_sid: "campaign"}
    finally:
        await switch.stop()


async def test_migration_15_marks_the_campaign_sessions_stored_before(tmp_path: Path) -> None:
    path = str(tmp_path / "old.sqlite3")
    old = await Store.open(path, migrations=MIGRATIONS[:14])
    row = ("INSERT INTO messaging_sessions (id, channel, number, customer, origin, created,"
           " last_activity, route, target, owner, state) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
    old.write(row, (1, "SMS", QUEUE_NUMBER, "+1830", "agent", 1.0, 2.0, "extension", "1001",
                    "1001", "open"))
    old.write(row, (2, "SMS", QUEUE_NUMBER, "+1831", "agent", 1.0, 2.0, "message_queue",
                    "VIP_Service", None, "closed"))
    old.write(row, (3, "SMS", QUEUE_NUMBER, "+1832", "inbound", 1.0, 2.0, "message_queue",
                    "Tech Support", None, "open"))
    event = "INSERT INTO messaging_events (session, at, kind, actor, description)" \
            " VALUES (?,?,?,?,?)"
    old.write(event, (1, 1.0, "create", "1001", "Ext 1001创建会话。"))
    old.write(event, (2, 1.0, "create", "群发活动<短信营销活动>",
                      "群发活动<短信营销活动>创建会话，会话分配给VIP_Service。"))
    old.write(event, (3, 1.0, "create", "+1832", "接收+1832的消息，会话路由给Tech Support。"))
    await old.close()
    new = await Store.open(path)
    try:
        rows = await new.fetch("SELECT id, origin, state, target FROM messaging_sessions"
                               " ORDER BY id")
        assert rows == [(1, "agent", "open", "1001"), (2, "campaign", "closed", "VIP_Service"),
                        (3, "inbound", "open", "Tech Support")]
        new.write("INSERT INTO messaging_sessions (id, channel, number, customer, origin,"
                  " created, last_activity, route, target, owner, state) VALUES"
                  " (4, 'SMS', '+1', '+2', 'campaign', 1, 1, 'extension', '1', '1', 'open')", ())
        await new.flush()
        assert len(await new.fetch("SELECT id FROM messaging_sessions")) == 4
    finally:
        await new.close()
