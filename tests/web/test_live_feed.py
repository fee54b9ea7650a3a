"""The websocket /api/v1/ws against a running switch (softswitch.web.ws, PROTOCOL.md): a
caller who enters a queue shows up in the snapshot or as a delta, the figures are the
ACD's, a reconnect resumes at the right sequence number, a slow client is dropped while
the others keep receiving."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from live_support import Live, enter_queue, hang_up, recv

from softswitch.web import ws as wsmod
from softswitch.web.server import PANELS


async def connect(live: Live, ext: str, queues: Any = "all", resume: int | None = None
                  ) -> tuple[Any, dict[str, Any]]:
    sock = await websockets.connect(live.ws_url, max_size=None)
    await sock.send(json.dumps({"type": "hello", "version": 1,
                                "token": await live.token(ext)}))
    welcome = await recv(sock, "welcome")
    assert welcome["extension"] == ext
    sub: dict[str, Any] = {"type": "subscribe", "id": "s1", "queues": queues}
    if resume is not None:
        sub["resume"] = resume
    await sock.send(json.dumps(sub))
    first = await recv(sock)
    return sock, first


async def test_a_caller_entering_the_queue_arrives_as_a_delta_then_is_in_the_snapshot(
        live: Live) -> None:
    sock, snap = await connect(live, "1001", ["6400"])
    assert snap["type"] == "snapshot" and snap["queues"][0]["waiting"] == []
    caller = await enter_queue(live, "1006", "6400", "feed-call-1")
    entered = await recv(sock, "call.entered")
    assert entered["call"]["caller"] == "1006" and entered["call"]["id"] == "feed-call-1"
    assert entered["call"]["position"] == 1 and entered["seq"] > snap["seq"]
    stats = await recv(sock, "queue.stats")
    assert stats["kpis"]["waiting_calls"] == 1 and stats["seq"] > entered["seq"]
    # a second client sees the caller in its snapshot, with the ACD's figures
    other, snap2 = await connect(live, "1002", ["6400"])
    queue = snap2["queues"][0]
    assert [c["caller"] for c in queue["waiting"]] == ["1006"]
    acd_stats = live.acd.statistics("6400", live.switch.router.loop.time())
    assert queue["kpis"]["waiting_calls"] == acd_stats.waiting == 1
    assert queue["kpis"]["total_agents"] == 2 and queue["kpis"]["signed_in_agents"] == 1
    await hang_up(caller, "6400")
    left = await recv(sock, "call.left_queue")
    assert (left["id"], left["status"], left["reason"]) == ("feed-call-1", "abandoned",
                                                            "abandoned")
    stats = await recv(sock, "queue.stats")
    acd_stats = live.acd.statistics("6400", live.switch.router.loop.time())
    assert stats["kpis"]["abandoned"] == acd_stats.abandoned == 1
    assert stats["kpis"]["total"] == 1 and stats["kpis"]["abandon_rate"] == 100.0
    await sock.close()
    await other.close()
    caller.close()


async def test_the_company_contact_name_is_matched_on_the_last_digits(live: Live) -> None:
    """§6.9: 5550100 is Kristin Hale; a caller 1006 matches nobody (tested through the
    same function the snapshot uses)."""
    panels = live.switch._http_runner.app[PANELS]  # type: ignore[union-attr]
    assert panels.contact("+1 (212) 555-0100") == "Kristin Hale"
    assert panels.contact("5550100") == "Kristin Hale"
    assert panels.contact("550100") is None
    assert panels.contact("1006") is None


async def toggle_pause(live: Live, n: int) -> None:
    for i in range(n):
        action = "pause" if i % 2 == 0 else "resume"
        status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state",
                                       "1002", {"action": action})
        assert status == 200, body


async def test_a_reconnect_resumes_after_the_last_sequence_number(live: Live) -> None:
    sock, snap = await connect(live, "1001", ["6400"])
    await toggle_pause(live, 2)
    seen = [await recv(sock) for _ in range(4)]
    assert all(m["seq"] > snap["seq"] for m in seen)
    last = seen[-1]["seq"]
    await sock.close()
    await toggle_pause(live, 2)  # while disconnected
    after = live.switch._http_runner.app[PANELS].feed.seq  # type: ignore[union-attr]
    sock, first = await connect(live, "1001", ["6400"], resume=last)
    assert first["type"] == "resumed" and first["after"] == last
    replayed = [await recv(sock) for _ in range(first["count"])]
    seqs = [m["seq"] for m in replayed]
    assert seqs == sorted(seqs) and seqs[0] > last and seqs[-1] <= after
    assert len(set(seqs)) == len(seqs)
    assert {m["type"] for m in replayed} >= {"agent.membership", "agent.state"}
    # nothing more was pending: the next delta is a new one
    await toggle_pause(live, 1)
    nxt = await recv(sock)
    assert nxt["seq"] > seqs[-1]
    await sock.close()


async def test_a_too_old_sequence_number_gets_a_fresh_snapshot(live: Live) -> None:
    panels = live.switch._http_runner.app[PANELS]  # type: ignore[union-attr]
    panels.feed.capacity = 3
    await toggle_pause(live, 4)
    sock, first = await connect(live, "1001", ["6400"], resume=1)
    assert first["type"] == "snapshot" and first["resumed"] is False
    assert first["seq"] == panels.feed.seq
    agent = next(a for a in first["queues"][0]["agents"] if a["agent"] == "1002")
    assert agent["paused"] is False and agent["state"] == "unregistered"
    await sock.close()


async def test_a_slow_client_is_dropped_and_the_others_are_unaffected(live: Live) -> None:
    """The slow client reads nothing while 8 MB of deltas go out: once its unsent bytes
    pass the bound it is dropped (and told so with close code 4008 when it reads again);
    the fast client got every delta, and the switch never waited for either."""
    app = live.switch._http_runner.app  # type: ignore[union-attr]
    panels = app[PANELS]
    fast, _ = await connect(live, "1001", ["6400"])
    slow, _ = await connect(live, "1002", ["6400"])
    slow_client = next(c for c in app[wsmod.CLIENTS] if c.principal.extension == "1002")
    slow_client.max_pending = 256 * 1024
    first = panels.feed.seq + 1
    bulk = "x" * 100_000
    received: list[int] = []

    async def read_fast() -> None:
        while len(received) < 80:
            received.append((await recv(fast, "notification", timeout=10))["seq"])

    reader = asyncio.get_running_loop().create_task(read_fast())
    loop = asyncio.get_running_loop()
    for _ in range(80):  # one delta per loop turn: 80 frames of 100 kB
        started = loop.time()
        panels.feed.publish("notification", ("6400",), {"kind": "bulk", "pad": bulk})
        await asyncio.sleep(0.005)
        assert loop.time() - started < 0.5  # publishing never waits for a reader
    await asyncio.wait_for(reader, 20)
    assert received == list(range(first, first + 80))
    assert slow_client.dropped is not None and "slow consumer" in slow_client.dropped
    assert slow_client not in panels.feed.clients
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(slow.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == wsmod.CLOSE_SLOW
    assert "slow consumer" in closed.value.rcvd.reason
    await fast.close()


async def test_hostile_messages_get_clear_errors_and_the_loop_keeps_going(live: Live) -> None:
    sock, _ = await connect(live, "1001", ["6400"])
    await sock.send("{not json")
    assert (await recv(sock, "error"))["error"] == "bad_json"
    await sock.send("[1, 2]")
    assert (await recv(sock, "error"))["error"] == "bad_message"
    await sock.send(json.dumps({"type": "launch.missiles", "id": 7}))
    err = await recv(sock, "error")
    assert (err["error"], err["id"], err["field"]) == ("unknown_type", 7, "type")
    await sock.send(json.dumps({"type": "agent.set_state", "id": 8, "queue": "6400",
                                "agent": "1002", "action": "dance"}))
    err = await recv(sock, "error")
    assert (err["error"], err["field"]) == ("invalid_field", "action")
    await sock.send(json.dumps({"type": "ping", "id": 9}))
    assert (await recv(sock, "result"))["id"] == 9
    # an oversized message closes that socket only
    big = await websockets.connect(live.ws_url, max_size=None)
    await big.send(json.dumps({"type": "hello", "token": await live.token("1001")}))
    await recv(big, "welcome")
    await big.send("x" * (wsmod.MAX_MESSAGE + 10))
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(big.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    # a flood closes the flooding socket; the first one still answers
    flood = await websockets.connect(live.ws_url, max_size=None)
    await flood.send(json.dumps({"type": "hello", "token": await live.token("1002")}))
    await recv(flood, "welcome")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(wsmod.FLOOD_LIMIT * 3):
            await flood.send(json.dumps({"type": "ping"}))
        for _ in range(wsmod.FLOOD_LIMIT * 3):
            await asyncio.wait_for(flood.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == wsmod.CLOSE_FLOOD
    await sock.send(json.dumps({"type": "ping", "id": 10}))
    assert (await recv(sock, "result"))["id"] == 10
    await sock.close()


async def test_a_websocket_without_a_valid_token_is_refused(live: Live) -> None:
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": "guess"}))
    err = await recv(sock, "error")
    assert err["error"] == "unauthorized"
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(sock.recv(), 5)
    # the token in the query string works
    token = await live.token("1003")
    sock = await websockets.connect(f"{live.ws_url}?token={token}")
    assert (await recv(sock, "welcome"))["extension"] == "1003"
    await sock.send(json.dumps({"type": "subscribe", "queues": ["6401"]}))
    err = await recv(sock, "error")  # 6401 grants its agents nothing
    assert (err["error"], err["field"]) == ("forbidden", "queues")
    await sock.close()
