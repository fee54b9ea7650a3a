"""Presence statuses over the live API of a running switch (softswitch.web.presence_state):
REST and websocket set the status, the §7.5 auto-switch rule changes the agent's queue
states through the ACD (report rows included), the feed's agent rows carry `presence`, the
permission rule (own / admin / P1 in every queue of the agent), and the status surviving a
restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from live_support import Live, recv, start_live

PRESENCE = {"auto_switch": {"available": "sign_in",
                            "lunch": {"action": "pause", "reason": "Lunch"},
                            "off_work": "sign_out"},
            "extensions": {"1002": {"away": {"action": "pause", "reason": "Break"}}}}


@pytest.fixture
async def plive(tmp_path: Path) -> AsyncIterator[Live]:
    async for x in start_live(tmp_path, presence=PRESENCE):
        yield x


def path(ext: str) -> str:
    return f"/api/v1/extensions/{ext}/presence"


def state(live: Live, agent: str) -> dict[str, tuple[bool, bool, str]]:
    acd = live.acd
    return {q: (acd.is_signed_in(agent, q), *acd.pause_state(agent, q))
            for q in acd.queues() if acd.is_member(agent, q)}


# 1001 manages 6400 with P1; 1004 manages 6401 without P1; 1003 is a dynamic agent of 6400
# and 6401; 1002 a static agent of 6400; 1005 an admin; 1006 nobody.
MATRIX = [
    ("1003", "1003", 200),   # an agent: its own status
    ("1002", "1002", 200),
    ("1003", "1002", 403),   # an agent: another's
    ("1001", "1002", 200),   # manager with P1 in every queue of 1002 (6400)
    ("1001", "1003", 403),   # 1003 is also in 6401, where 1001 has no P1
    ("1004", "1003", 403),   # manager without P1
    ("1005", "1003", 200),   # admin
    ("1006", "1002", 403),   # no role
    ("1003", "1006", 403),   # not an agent: itself or an admin only
    ("1006", "1006", 200),
]


@pytest.mark.parametrize(("who", "ext", "expected"), MATRIX)
async def test_who_may_set_a_presence(plive: Live, who: str, ext: str, expected: int) -> None:
    before = state(plive, ext)
    status, body = await plive.call("PUT", path(ext), who, {"status": "lunch"})
    assert status == expected, body
    if expected == 200:
        assert (body["extension"], body["presence"], body["changed"]) == (ext, "lunch", True)
        _, again = await plive.call("GET", path(ext), who)
        assert again["presence"] == "lunch"
    else:
        assert body["error"] == "forbidden" and who in body["message"]
        assert state(plive, ext) == before
        _, seen = await plive.call("GET", path(ext), "1005")
        assert seen["presence"] == "available"


async def test_bad_requests(plive: Live) -> None:
    status, body = await plive.call("PUT", path("1003"), "1003", {"status": "offline"})
    assert (status, body["error"]) == (400, "invalid_field")
    status, body = await plive.call("PUT", path("1999"), "1005", {"status": "away"})
    assert (status, body["error"]) == (404, "not_found")
    status, body = await plive.call("PUT", path("1003"), None, {"status": "away"})
    assert status == 401


async def test_rules_change_the_agent_state_and_write_report_rows(plive: Live) -> None:
    status, body = await plive.call("PUT", path("1003"), "1003", {"status": "off_work"})
    assert status == 200 and state(plive, "1003") == {"6400": (False, False, ""),
                                                      "6401": (False, False, "")}
    status, body = await plive.call("PUT", path("1003"), "1003", {"status": "available"})
    assert state(plive, "1003") == {"6400": (True, False, ""), "6401": (True, False, "")}
    assert {m["queue"]: m["signed_in"] for m in body["memberships"]} == {"6400": True,
                                                                          "6401": True}
    status, body = await plive.call("PUT", path("1003"), "1003", {"status": "lunch"})
    assert state(plive, "1003") == {"6400": (True, True, "Lunch"), "6401": (True, True, "Lunch")}
    assert all(m["presence"] == "lunch" and m["pause_reason"] == "Lunch"
               for m in body["memberships"])
    # the same status again: no transition, nothing runs
    status, body = await plive.call("PUT", path("1003"), "1003", {"status": "lunch"})
    assert status == 200 and body["changed"] is False
    # 1002's own override: away = pause with Break (the default away is no action)
    await plive.call("PUT", path("1002"), "1002", {"status": "away"})
    assert state(plive, "1002") == {"6400": (True, True, "Break")}
    await plive.call("PUT", path("1003"), "1003", {"status": "away"})
    assert state(plive, "1003")["6400"] == (True, True, "Lunch")
    await plive.call("PUT", path("1003"), "1003", {"status": "available"})
    assert state(plive, "1003")["6400"] == (True, False, "")
    store = plive.switch.router.store
    await store.flush()
    sessions = await store.fetch("SELECT queue FROM agent_sessions WHERE agent='1003'"
                                 " ORDER BY queue")
    assert [r[0] for r in sessions] == ["6400", "6401"]
    pauses = await store.fetch("SELECT agent, queue, reason, ended_at IS NOT NULL FROM"
                               " agent_pauses ORDER BY agent, queue")
    assert [tuple(r) for r in pauses] == [("1002", "6400", "Break", 0),
                                          ("1003", "6400", "Lunch", 1),
                                          ("1003", "6401", "Lunch", 1)]


async def _client(live: Live, ext: str) -> Any:
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token(ext)}))
    await recv(sock, "welcome")
    return sock


async def test_the_websocket_and_the_feed(plive: Live) -> None:
    watcher = await _client(plive, "1001")
    await watcher.send(json.dumps({"type": "subscribe", "queues": ["6400"]}))
    snap = await recv(watcher, "snapshot")
    row = next(a for a in snap["queues"][0]["agents"] if a["agent"] == "1002")
    assert row["presence"] == "available"
    agent = await _client(plive, "1003")
    await agent.send(json.dumps({"type": "presence.set", "id": "x", "extension": "1002",
                                 "status": "lunch"}))
    err = await recv(agent, "error")
    assert (err["id"], err["error"]) == ("x", "forbidden")
    await agent.send(json.dumps({"type": "presence.set", "id": "y", "extension": "1003",
                                 "status": "nope"}))
    err = await recv(agent, "error")
    assert (err["id"], err["error"]) == ("y", "invalid_field")
    await watcher.send(json.dumps({"type": "presence.set", "id": "z", "extension": "1002",
                                   "status": "lunch"}))
    membership = await recv(watcher, "agent.membership")
    assert (membership["agent"], membership["change"], membership["reason"]) == \
        ("1002", "paused", "Lunch")
    presence = await recv(watcher, "agent.presence")
    assert (presence["agent"], presence["presence"], presence["registered"]) == \
        ("1002", "lunch", False)
    ok = await recv(watcher, "result")
    assert ok["id"] == "z" and ok["presence"] == "lunch" and ok["changed"] is True
    assert plive.acd.pause_state("1002", "6400") == (True, "Lunch")
    _, queue = await plive.call("GET", "/api/v1/queues/6400", "1001")
    row = next(a for a in queue["agents"] if a["agent"] == "1002")
    assert row["presence"] == "lunch"
    await watcher.close()
    await agent.close()


async def test_the_status_survives_a_restart(tmp_path: Path) -> None:
    async for live in start_live(tmp_path, presence=PRESENCE):
        for step in ("off_work", "available"):  # available is the initial status
            await live.call("PUT", path("1003"), "1003", {"status": step})
        assert live.acd.is_signed_in("1003", "6401")
        status, _ = await live.call("PUT", path("1003"), "1003", {"status": "business_trip"})
        assert status == 200
        await live.call("PUT", path("1006"), "1006", {"status": "dnd"})
    async for live in start_live(tmp_path, presence=PRESENCE):
        _, body = await live.call("GET", path("1003"), "1003")
        assert body["presence"] == "business_trip"
        # the agent state was restored by itself; restoring the status ran no rule
        assert {m["queue"]: m["signed_in"] for m in body["memberships"]} == {"6400": True,
                                                                              "6401": True}
        _, body = await live.call("GET", path("1006"), "1006")
        assert body["presence"] == "dnd"
        _, body = await live.call("GET", path("1002"), "1002")
        assert body["presence"] == "available"
