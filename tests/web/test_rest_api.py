"""The REST side of the live API on a running switch: log-in and the brute-force guard it
shares with SIP, the OpenAPI document (validated, every example sent), hostile bodies,
the wallboard figures and /metrics."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from live_support import Live, enter_queue, hang_up, live_config, start_live
from openapi_spec_validator import validate
from sipua import SipUA


@pytest.fixture
async def exposed(tmp_path: Path) -> AsyncIterator[Live]:
    """No trusted networks and 3 failures to a ban: loopback can be banned."""
    guard = {"max_failures": 3, "window": 60, "ban_time": 600}
    sip = {**live_config(tmp_path)["sip"], "trusted_networks": [], "brute_force": guard}
    async for x in start_live(tmp_path, sip=sip):
        yield x


async def test_log_in_gives_a_token_and_the_roles(live: Live) -> None:
    status, body = await live.login("1001")
    assert status == 200 and len(body["token"]) >= 40
    assert body["roles"]["manager_of"] == ["6400"] and body["roles"]["admin"] is False
    assert "change_agent_status" in body["roles"]["permissions"]["6400"]
    status, body = await live.call("GET", "/api/v1/me", "1003")
    assert body["roles"]["agent_of"] == ["6400", "6401"]
    assert [m["queue"] for m in body["memberships"]] == ["6400", "6401"]
    status, body = await live.login("1001", "wrong")
    assert (status, body["error"], body["field"]) == (401, "unauthorized", "password")
    status, body = await live.call("GET", "/api/v1/me")
    assert (status, body["error"]) == (401, "unauthorized")
    async with live.session.get(live.base + "/api/v1/me",
                                headers={"Authorization": "Bearer nope"}) as resp:
        assert resp.status == 401
    # Basic auth with the same credentials works too (scripts, the CLI)
    basic = base64.b64encode(b"1002:pw-1002").decode()
    async with live.session.get(live.base + "/api/v1/me",
                                headers={"Authorization": f"Basic {basic}"}) as r:
        assert r.status == 200 and (await r.json())["extension"] == "1002"
    # log-out ends the token
    token = await live.token("1006")
    async with live.session.post(live.base + "/api/v1/logout",
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    async with live.session.get(live.base + "/api/v1/me",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 401


async def test_failed_log_ins_ban_the_address_for_sip_too(exposed: Live) -> None:
    for _ in range(3):
        status, _ = await exposed.login("1001", "guess")
        assert status == 401
    status, body = await exposed.login("1001")  # even the right password now
    assert (status, body["error"]) == (403, "banned")
    phone = await SipUA("1002", "pw-1002", exposed.sip).start()
    assert (await phone.register()).status == 403  # the same guard as SIP digest
    phone.close()
    assert [b.address for b in exposed.switch.router.bans.bans()] == ["127.0.0.1"]


async def test_the_openapi_document_validates_and_every_example_is_accepted(
        live: Live) -> None:
    async with live.session.get(live.base + "/api/v1/openapi.json") as resp:
        doc = await resp.json()
    validate(doc)
    examples = []
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            for ex in (content or {}).get("examples", {}).values():
                if "/calls/{call}/" in path and not path.endswith("/note"):
                    continue  # the call operations' examples: tests/web/test_call_ops.py
                if path.startswith("/api/v1/messaging/"):
                    continue  # tests/messaging/test_messaging_switch.py
                examples.append((method.upper(), path, ex["value"]))
    assert {p for _, p, _ in examples} >= {"/api/v1/login",
                                           "/api/v1/queues/{queue}/agents/{agent}/state"}
    paths = {"{queue}": "6400", "{agent}": "1002", "{record}": "", "{call}": "",
             "{extension}": "1002", "{contact}": "1"}  # the contact the POST example adds
    record_call = await _answered_and_abandoned(live)
    paths["{record}"], paths["{call}"] = record_call
    for method, path, value in examples:
        concrete = path
        for k, v in paths.items():
            concrete = concrete.replace(k, v)
        if concrete.endswith("/state") and value == {"action": "resume"}:
            await live.call("POST", concrete, "1001", {"action": "pause"})
        status, body = await live.call(method, concrete, None if "login" in path else "1001",
                                       value)
        assert status == 200, (method, concrete, value, body)


async def _answered_and_abandoned(live: Live) -> tuple[str, str]:
    """An abandoned record and an answered call of queue 6400."""
    import asyncio

    from sipua import sdp

    caller = await enter_queue(live, "1006", "6400", "doc-abandoned")
    await hang_up(caller, "6400")
    caller.close()
    agent = await SipUA("1002", "pw-1002", live.sip).start()
    assert (await agent.register()).status == 200
    caller = await enter_queue(live, "1006", "6400", "doc-answered")
    invite = await agent.next_request("INVITE")
    agent.reply(invite, 200, to_tag="agent", body=sdp(41000))
    record = ""
    for _ in range(50):
        _, body = await live.call("GET", "/api/v1/queues/6400/calls", "1001")
        missed = [r for r in body["records"] if r["type"] == "missed"]
        if missed and live.acd.member_state("1002", "6400").value == "in_use":
            record = missed[0]["id"]
            break
        await asyncio.sleep(0.1)
    assert record
    return record, "doc-answered"


@pytest.mark.parametrize(("raw", "code", "field"), [
    (b"{oops", "bad_json", None),
    (b"[]", "invalid_field", "body"),
    (b'{"action": "pause", "colour": "red"}', "invalid_field", "colour"),
    (b'{"action": 7}', "invalid_field", "action"),
    (b'{"action": "pause", "reason": "' + b"x" * 300 + b'"}', "invalid_field", "reason"),
])
async def test_bad_bodies_are_400_naming_the_field(live: Live, raw: bytes, code: str,
                                                   field: str | None) -> None:
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   raw=raw)
    assert (status, body["error"], body.get("field")) == (400, code, field)
    assert not live.acd.pause_state("1002", "6400")[0]


async def test_an_oversized_body_and_unknown_things_are_json_errors(live: Live) -> None:
    status, body = await live.call("POST", "/api/v1/queues/6400/agents/1002/state", "1002",
                                   raw=b'{"action": "' + b"p" * 100_000 + b'"}')
    assert status == 413 and body["error"] == "request_entity_too_large"
    status, body = await live.call("GET", "/api/v1/queues/9999", "1001")
    assert (status, body["error"], body["field"]) == (404, "not_found", "queue")
    status, body = await live.call("GET", "/api/v1/queues/6401", "1003")
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await live.call("GET", "/api/v1/nothing", "1001")
    assert (status, body["error"]) == (404, "not_found")
    status, body = await live.call("GET", "/api/v1/registrations", "1001")
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await live.call("GET", "/api/v1/health")  # monitoring needs no log-in
    assert status == 200 and body["status"] == "ok"


async def test_the_wallboard_rows_are_the_acds_figures(live: Live) -> None:
    caller = await enter_queue(live, "1006", "6400", "board-1")
    status, body = await live.call("GET", "/api/v1/queues", "1005")  # admin: every queue
    rows: dict[str, Any] = {q["number"]: q["kpis"] for q in body["queues"]}
    assert set(rows) == {"6400", "6401"}
    now = live.switch.router.loop.time()
    snap = live.acd.statistics("6400", now)
    assert rows["6400"]["waiting_calls"] == snap.waiting == 1
    assert rows["6400"]["signed_in_agents"] == 1 and rows["6400"]["total_agents"] == 2
    assert body["all"]["waiting_calls"] == 1 and body["all"]["signed_in_agents"] is None
    status, queue = await live.call("GET", "/api/v1/queues/6400", "1002")
    assert [c["caller"] for c in queue["waiting"]] == ["1006"]
    assert queue["waiting"][0]["position"] == 1
    await hang_up(caller, "6400")
    caller.close()
    status, body = await live.call("GET", "/api/v1/queues", "1001")
    assert [q["number"] for q in body["queues"]] == ["6400"]  # what 1001 may see
    kpis = body["queues"][0]["kpis"]
    assert (kpis["abandoned"], kpis["total"], kpis["abandon_rate"], kpis["sla"]) == \
        (1, 1, 100.0, 0.0)


async def test_metrics_in_the_prometheus_format(live: Live) -> None:
    phone = await SipUA("1002", "pw-1002", live.sip).start()
    assert (await phone.register()).status == 200
    caller = await enter_queue(live, "1006", "6400", "metrics-1")
    async with live.session.get(live.base + "/metrics") as resp:
        text = await resp.text()
    assert resp.status == 200
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
             for line in text.splitlines() if line and not line.startswith("#")}
    assert lines["softswitch_registrations"] == 1
    assert lines['softswitch_queue_waiting_callers{queue="6400"}'] == 1
    assert lines['softswitch_sip_requests_total{method="REGISTER"}'] >= 2
    assert lines['softswitch_sip_responses_total{code="401"}'] >= 1
    assert lines['softswitch_acd_events_total{type="TaskJoined"}'] == 1
    assert "softswitch_websocket_clients" in lines
    await hang_up(caller, "6400")
    caller.close()
    phone.close()
