"""Deleting and calling back queue call-log records over the live API (queue-manager-agent.md
§5.1 delete / call back, §9.2 delete; softswitch.web.calllogs, softswitch.web.callback).

Roles of the `live` fixture: 1001 manages 6400 with every manager permission (P9 with
delete_missed_calls); 1003 is an agent of 6400 with P10 (missed calls only); 1002 an agent
of 6400 without P10; 1004 manages 6401 only; 1006 has no role (and is the caller)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import websockets
from live_support import Live, live_config, recv, start_live
from sipua import SipUA, sdp
from test_call_ops import phone, until
from test_permissions import abandoned_record


async def records(live: Live, who: str) -> list[str]:
    status, body = await live.call("GET", "/api/v1/queues/6400/calls", who)
    assert status == 200, body
    return [r["id"] for r in body["records"]]


async def test_delete_for_oneself_or_for_everyone_by_permission(live: Live) -> None:
    record = await abandoned_record(live)
    path = f"/api/v1/queues/6400/records/{record}"
    for who in ("1002", "1004", "1006"):  # no call-log view of 6400
        status, body = await live.call("DELETE", path, who)
        assert (status, body["error"]) == (403, "forbidden"), who
    assert record in await records(live, "1003") and record in await records(live, "1001")

    # an agent (P10) deletes from its own view only: the manager still sees the record
    status, body = await live.call("DELETE", path, "1003")
    assert status == 200 and body["deleted"]["for"] == "me", body
    assert record not in await records(live, "1003")
    assert record in await records(live, "1001")
    status, body = await live.call("DELETE", path, "1003")
    assert (status, body["field"]) == (404, "id")  # already gone from its view

    # the manager with delete_missed_calls deletes it for everyone; the feed says so
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1001")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "subscribe", "queues": ["6400"]}))
    await recv(sock, "snapshot")
    status, body = await live.call("DELETE", path, "1001")
    assert status == 200 and body["deleted"]["for"] == "everyone", body
    pushed = await recv(sock, "record.deleted")
    assert (pushed["id"], pushed["by"], pushed["for"]) == (record, "1001", "everyone")
    await sock.close()
    assert record not in await records(live, "1001")
    status, body = await live.call("PUT", f"{path}/disposition", "1001",
                                   {"disposition": "handled"})
    assert status == 404
    # the report row stays: the wallboard and the reports keep counting the call
    status, body = await live.call("GET", "/api/v1/queues/6400", "1001")
    assert body["kpis"]["abandoned"] == 1


async def test_delete_over_the_websocket_and_a_managers_own_view(live: Live) -> None:
    record = await abandoned_record(live)
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1003")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "record.delete", "id": "d1", "queue": "6400",
                                "record": record}))
    reply = await recv(sock, "result")
    assert (reply["id"], reply["deleted"]["for"]) == ("d1", "me")
    await sock.send(json.dumps({"type": "record.delete", "id": "d2", "queue": "6401",
                                "record": record}))
    refused = await recv(sock, "error")
    assert (refused["id"], refused["error"]) == ("d2", "forbidden")  # no P10 in 6401
    await sock.close()
    assert record in await records(live, "1001")


async def test_call_back_rings_the_requester_then_the_records_number(live: Live) -> None:
    record = await abandoned_record(live)  # caller 1006
    path = f"/api/v1/queues/6400/records/{record}/callback"
    status, body = await live.call("POST", path, "1003")
    assert (status, body["error"]) == (409, "invalid_state")  # 1003 has no phone
    for who in ("1002", "1004", "1006"):
        status, body = await live.call("POST", path, who)
        assert (status, body["error"]) == (403, "forbidden"), who
    requester = await phone(live, "1003")
    customer = await phone(live, "1006")
    try:
        for who in ("1002", "1004"):  # refused: no phone rings
            status, body = await live.call("POST", path, who)
            assert status == 403
        with pytest.raises(asyncio.TimeoutError):
            await requester.next_request("INVITE", timeout=0.3)
        status, body = await live.call("POST", path, "1003")
        assert status == 200, body
        assert (body["number"], body["call_back"]["state"]) == ("1006", "ringing_requester")
        first = await requester.next_request("INVITE")
        assert "1006" in first.get("From")  # the phone shows whom it will call
        requester.reply(first, 200, to_tag="req", body=sdp(45200))
        second = await customer.next_request("INVITE")
        assert "1003" in second.get("From")
        customer.reply(second, 200, to_tag="cus", body=sdp(45300))
        cid = body["call_back"]["id"]
        legs = {f"{cid}/requester", f"{cid}/agent"}
        await until(lambda: all(lbl in live.switch.media.legs for lbl in legs) and
                    live.switch.media.legs[f"{cid}/requester"].peer is not None, "the bridge")
        customer.tag = "cus"
        customer.send_raw(customer.build("BYE", "sip:1006@127.0.0.1", call_id=second.call_id,
                                         to=second.get("From"), to_tag=None))
        bye = await requester.next_request("BYE")
        assert bye.call_id == first.call_id
    finally:
        requester.close()
        customer.close()


async def test_call_back_an_external_number_over_the_outbound_route(tmp_path: Path) -> None:
    """A trunk caller's record: called back over the route matching the queue's callback
    ``outbound_prefix`` + number, which must be permitted to the requester (403 else)."""
    provider = await SipUA("5550100", "", ("127.0.0.1", 9)).start()
    queues = live_config(tmp_path)["queues"]
    queues[0]["callback"] = {"method": "press_key", "key": "1", "outbound_prefix": "9"}
    extra = {"queues": queues,
             "trunks": [{"name": "provider", "host": "127.0.0.1", "port": provider.local[1]}],
             "inbound_routes": [{"name": "line", "trunk": "provider", "did": "6400",
                                 "destination": {"type": "queue", "target": "6400"}}],
             "outbound_routes": [{"name": "out", "prefix": "9", "strip": 1,
                                  "trunk": "provider", "extensions": ["1001"]}]}
    async for live in start_live(tmp_path, **extra):
        provider.server = live.sip
        uri = "sip:6400@127.0.0.1"
        resp = await provider.request("INVITE", uri, to=f"<{uri}>", body=sdp(46000))
        assert resp.status == 200, resp.status
        provider.send_raw(provider.build("ACK", uri, to=f"<{uri}>", to_tag=resp.to.tag,
                                         cseq=int(resp.get("CSeq").split()[0])))
        await asyncio.sleep(0.1)
        provider.send_raw(provider.build("BYE", uri, to=f"<{uri}>", to_tag=resp.to.tag))
        await provider.response()
        record = await until_record(live, "5550100")
        path = f"/api/v1/queues/6400/records/{record}/callback"
        agent = await phone(live, "1003")
        manager = await phone(live, "1001")
        try:
            status, body = await live.call("POST", path, "1003")  # the route refuses it
            assert (status, body["error"]) == (403, "forbidden") and "out" in body["message"]
            status, body = await live.call("POST", path, "1001")
            assert status == 200, body
            assert (body["number"], body["call_back"]["agent"]) == ("5550100", "5550100")
            first = await manager.next_request("INVITE")
            manager.reply(first, 200, to_tag="mgr", body=sdp(46100))
            out = await provider.next_request("INVITE")
            assert out.uri.user == "5550100"  # "9" + number, the prefix stripped
        finally:
            agent.close()
            manager.close()
            provider.close()


async def until_record(live: Live, caller: str) -> str:
    for _ in range(50):
        status, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
        for r in body.get("records", []):
            if r["caller"] == caller:
                return str(r["id"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no record of {caller}")
