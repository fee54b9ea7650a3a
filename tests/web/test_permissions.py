"""The §7.4 permission matrix over the REST API of a running switch: for each (role,
operation) pair the allowed ones act, the refused ones get 403 with a reason and change
nothing (queue-manager-agent.md §4.0-§4.1, §4.12, §5, §9; queue-admin.md §6.6, §7.4)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from live_support import Live, enter_queue, hang_up, recv
from sipua import SipUA, sdp


def state(live: Live, agent: str, queue: str) -> tuple[bool, bool, str]:
    acd = live.acd
    return (acd.is_signed_in(agent, queue), *acd.pause_state(agent, queue))


# (who, queue, agent, action, expected status): 1001 manages 6400 with P1; 1004 manages
# 6401 without P1; 1003 is a dynamic agent of both; 1002 a static agent of 6400; 1005 an
# admin; 1006 nobody.
MATRIX = [
    ("1001", "6400", "1003", "signin", 200),   # manager with P1: another agent
    ("1001", "6400", "1002", "pause", 200),
    ("1001", "6401", "1003", "signin", 403),   # not a manager of 6401
    ("1004", "6401", "1003", "signin", 403),   # manager without P1
    ("1003", "6400", "1003", "signin", 200),   # an agent: its own state
    ("1003", "6401", "1003", "signin", 200),
    ("1003", "6400", "1002", "pause", 403),    # an agent: another agent's state
    ("1002", "6400", "1002", "pause", 200),
    ("1005", "6401", "1003", "signin", 200),   # admin (operator)
    ("1006", "6400", "1002", "pause", 403),    # no role
]


@pytest.mark.parametrize(("who", "queue", "agent", "action", "expected"), MATRIX)
async def test_changing_an_agent_state(live: Live, who: str, queue: str, agent: str,
                                       action: str, expected: int) -> None:
    before = state(live, agent, queue)
    status, body = await live.call("POST", f"/api/v1/queues/{queue}/agents/{agent}/state",
                                   who, {"action": action})
    assert status == expected, body
    after = state(live, agent, queue)
    if expected == 200:
        assert body["member"]["agent"] == agent
        want = {"signin": (True, False), "pause": (True, True)}[action]
        assert after[:2] == want and body["member"]["signed_in"] is want[0]
    else:
        assert body["error"] == "forbidden" and who in body["message"]
        assert after == before  # nothing changed


async def test_state_rules_are_clear_errors_that_change_nothing(live: Live) -> None:
    before = state(live, "1002", "6400")
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   {"action": "signout"})
    assert (status, body["error"], body["field"]) == (409, "invalid_state", "action")
    assert "static" in body["message"]
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   {"action": "pause", "reason": "Siesta"})
    assert (status, body["error"], body["field"]) == (400, "invalid_field", "reason")
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1003/state", "1003",
                                   {"action": "pause"})
    assert (status, body["error"]) == (409, "invalid_state")  # not signed in
    assert state(live, "1002", "6400") == before
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   {"action": "pause", "reason": "*01"})
    assert status == 200 and body["member"]["pause_reason"] == "Lunch"
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   {"action": "pause", "reason": "Break"})
    assert status == 200 and body["member"]["pause_reason"] == "Break"  # reason changed
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   {"action": "resume"})
    assert status == 200 and body["member"]["paused"] is False


async def test_the_same_operation_over_the_websocket(live: Live) -> None:
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1004")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "agent.set_state", "id": "a", "queue": "6401",
                                "agent": "1003", "action": "signin"}))
    err = await recv(sock, "error")
    assert (err["id"], err["error"]) == ("a", "forbidden") and "(P1)" in err["message"]
    assert not live.acd.is_signed_in("1003", "6401")
    await sock.close()
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1003")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "agent.set_state", "id": "b", "queue": "6401",
                                "agent": "1003", "action": "signin"}))
    # the agent's own change reaches its own client although it subscribed to nothing;
    # the deltas of a command come before its result (PROTOCOL.md)
    membership = await recv(sock)
    assert membership["type"] == "agent.membership"
    ok = await recv(sock, "result")
    assert ok["id"] == "b" and ok["member"]["signed_in"] is True
    assert (membership["agent"], membership["change"]) == ("1003", "signed_in")
    assert live.acd.is_signed_in("1003", "6401")
    await sock.close()


async def abandoned_record(live: Live) -> str:
    caller = await enter_queue(live, "1006", "6400", "logs-abandoned")
    await asyncio.sleep(0.1)
    await hang_up(caller, "6400")
    caller.close()
    for _ in range(50):
        status, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
        if body.get("records"):
            return str(body["records"][0]["id"])
        await asyncio.sleep(0.1)
    raise AssertionError("no record")


async def test_call_logs_and_dispositions_by_role(live: Live) -> None:
    record = await abandoned_record(live)
    status, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
    assert body["view"] == "manager"
    row = body["records"][0]
    assert (row["type"], row["outcome"], row["caller"], row["disposition"]) == \
        ("missed", "abandoned", "1006", "unhandled")
    status, body = await live.call("GET", "/api/v1/queues/6400/calls", "1003")
    assert (status, body["view"], len(body["records"])) == (200, "agent", 1)  # P10, missed
    status, body = await live.call("GET", "/api/v1/queues/6400/calls?type=inbound", "1003")
    assert (status, body["records"]) == (200, [])  # its scope is missed calls only
    for who, queue in (("1002", "6400"), ("1004", "6401"), ("1006", "6400")):
        status, body = await live.call("GET", f"/api/v1/queues/{queue}/calls", who)
        assert (status, body["error"]) == (403, "forbidden"), who
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1003")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "subscribe", "queues": ["6400"]}))
    await recv(sock, "snapshot")
    path = f"/api/v1/queues/6400/records/{record}/disposition"
    status, body = await live.call("PUT", path, "1002", {"disposition": "handled"})
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await live.call("PUT", path, "1001", {"disposition": "processing"})
    assert status == 200 and body["change"]["from"] == "unhandled"
    pushed = await recv(sock, "disposition.changed")
    assert (pushed["id"], pushed["to"], pushed["by"]) == (record, "processing", "1001")
    status, body = await live.call("PUT", path, "1003", {"disposition": "handled"})
    assert status == 200
    status, body = await live.call("PUT", path, "1003", {"disposition": "handled"})
    assert (status, body["error"]) == (409, "invalid_state")
    status, body = await live.call("GET", path, "1001")
    assert [(e["from"], e["to"], e["by"]) for e in body["log"]] == [
        ("unhandled", "processing", "1001"), ("processing", "handled", "1003")]
    status, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
    assert body["records"][0]["disposition"] == "handled"
    await sock.close()


async def test_call_notes_by_the_answering_agent_or_a_manager(live: Live) -> None:
    agent = await SipUA("1002", "pw-1002", live.sip).start()
    assert (await agent.register()).status == 200
    caller = await enter_queue(live, "1006", "6400", "notes-call")
    invite = await agent.next_request("INVITE")
    agent.reply(invite, 200, to_tag="agent", body=sdp(41000))
    for _ in range(50):
        if "notes-call" in live.switch._http_runner.app[  # type: ignore[union-attr]
                __import__("softswitch.web.server", fromlist=["PANELS"]).PANELS
        ].tracker.active:
            break
        await asyncio.sleep(0.05)
    path = "/api/v1/queues/6400/calls/notes-call/note"
    status, body = await live.call("PUT", path, "1003", {"tags": ["x"], "text": "no"})
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await live.call("PUT", path, "1002", {"tags": ["billing"],
                                                         "text": "refund asked"})
    assert status == 200 and body["note"]["by"] == "1002"
    status, body = await live.call("PUT", path, "1001", {"tags": ["billing", "vip"],
                                                         "text": "refund granted"})
    assert status == 200
    status, body = await live.call("PUT", "/api/v1/queues/6400/calls/nope/note", "1001",
                                   {"text": "?"})
    assert (status, body["error"], body["field"]) == (404, "not_found", "call_id")
    await hang_up(caller, "6400")
    for _ in range(50):
        status, body = await live.call("GET", "/api/v1/queues/6400/calls?type=inbound",
                                       "1001")
        if body["records"]:
            break
        await asyncio.sleep(0.1)
    assert body["records"][0]["note"] == {"tags": ["billing", "vip"],
                                          "text": "refund granted"}
    assert body["records"][0]["agent"] == "1002"
    agent.close()
    caller.close()


async def test_forward_moves_auto_sync_the_same_callers_missed_calls(tmp_path) -> None:
    """§6.5 with disposition_auto_sync_hours: 2: moving one of 1006's abandoned calls to
    processing moves its other one too (logged as auto-synced), not 1005's; moving back
    syncs nothing."""
    from live_support import start_live

    async for live in start_live(tmp_path, disposition_auto_sync_hours=2):
        for caller, call_id in (("1006", "sync-a"), ("1006", "sync-b"), ("1005", "sync-c")):
            ua = await enter_queue(live, caller, "6400", call_id)
            await asyncio.sleep(0.05)
            await hang_up(ua, "6400")
            ua.close()
        for _ in range(50):
            _, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
            if len(body["records"]) == 3:
                break
            await asyncio.sleep(0.1)
        by_call = {r["call_id"]: r for r in body["records"]}
        path = "/api/v1/queues/6400/records/{}/disposition"
        status, body = await live.call("PUT", path.format(by_call["sync-a"]["id"]), "1001",
                                       {"disposition": "processing"})
        assert status == 200 and body["change"]["synced"] == [by_call["sync-b"]["id"]]
        _, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
        now = {r["call_id"]: r["disposition"] for r in body["records"]}
        assert now == {"sync-a": "processing", "sync-b": "processing", "sync-c": "unhandled"}
        _, log = await live.call("GET", path.format(by_call["sync-b"]["id"]), "1001")
        assert [(e["to"], e["auto_synced"]) for e in log["log"]] == [("processing", True)]
        status, body = await live.call("PUT", path.format(by_call["sync-a"]["id"]), "1001",
                                       {"disposition": "unhandled"})
        assert status == 200 and body["change"]["synced"] == []
        _, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
        assert {r["call_id"]: r["disposition"] for r in body["records"]}["sync-b"] == \
            "processing"


async def test_a_reload_changes_roles_and_permissions_at_once(tmp_path) -> None:
    """Roles are read from the configuration in force: after a reload that takes P1 from
    1001 and makes 1006 an admin, the same tokens get the new answers."""
    import yaml
    from live_support import live_config, start_live

    from softswitch.config import parse_config
    from softswitch.reload import apply

    async for live in start_live(tmp_path):
        path = "/api/v1/queues/6400/agents/1002/state"
        assert (await live.call("POST", path, "1001", {"action": "pause"}))[0] == 200
        raw = live_config(tmp_path)
        raw["queues"][0]["panel_permissions"]["managers"] = ["queue_panel"]
        raw["admins"] = ["1006"]
        apply(live.switch, parse_config(yaml.safe_dump(raw), "c.yaml", tmp_path))
        status, body = await live.call("POST", path, "1001", {"action": "resume"})
        assert (status, body["error"]) == (403, "forbidden")
        assert live.acd.pause_state("1002", "6400")[0]
        status, _ = await live.call("GET", "/api/v1/registrations", "1006")
        assert status == 200
        status, _ = await live.call("GET", "/api/v1/registrations", "1005")
        assert status == 403


async def test_registration_changes_reach_the_feed(live: Live) -> None:
    sock = await websockets.connect(live.ws_url)
    await sock.send(json.dumps({"type": "hello", "token": await live.token("1001")}))
    await recv(sock, "welcome")
    await sock.send(json.dumps({"type": "subscribe", "queues": ["6400"]}))
    snap = await recv(sock, "snapshot")
    row = next(a for a in snap["queues"][0]["agents"] if a["agent"] == "1002")
    assert row["registered"] is False
    phone = await SipUA("1002", "pw-1002", live.sip).start()
    assert (await phone.register()).status == 200
    presence = await recv(sock, "agent.presence")
    assert (presence["agent"], presence["registered"]) == ("1002", True)
    state = await recv(sock, "agent.state")
    assert (state["member"]["agent"], state["member"]["state"]) == ("1002", "idle")
    assert (await phone.register(expires=0)).status == 200
    presence = await recv(sock, "agent.presence")
    assert presence["registered"] is False
    phone.close()
    await sock.close()
