"""The third-party platform destination (omnichannel.md §4, §5.1, §13.33, §13.35) through a
running switch: a number routed to ``api`` forwards its customers' messages to the API
integrations (their websocket gets ``messaging.api.message`` with event 30031) and to no
agent; the platform replies, transfers and closes over REST; an agent transfers to the
platform only while an integration is configured; the chat logs show the party as "api";
``softswitch check`` refuses the destination without ``messaging_api``, with its line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import switchproc
import yaml
from fake_provider import FakeProvider
from switch_harness import (
    EXT_NUMBER,
    QUEUE_NUMBER,
    TOKEN,
    Harness,
    deltas,
    provider,
    started,
    webhook,
)

from softswitch.config import ConfigError, parse_config

__all__ = ["provider"]  # the fixture, used by name

API_NUMBER = QUEUE_NUMBER  # routed to the platform here
CRM = "1009"  # the platform's integration log-in


def raw_config(tmp_path: Path, base: str, integrations: bool = True,
               api_route: bool = True) -> dict[str, Any]:
    cfg = switchproc.base_config(tmp_path)
    cfg["extensions"].append({"number": CRM, "name": "CRM", "password": f"pw-{CRM}"})
    cfg["message_queues"] = [{"name": "Tech Support",
                              "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    dest = {"type": "api"} if api_route else {"type": "message_queue",
                                              "target": "Tech Support"}
    cfg["message_channels"] = [{
        "name": "General SMS Channel", "type": "sms", "provider": "general", "token": TOKEN,
        "api_key": "the-api-key", "secret": "s3cret", "send_url": f"{base}/sendmessage",
        "numbers": [{"number": API_NUMBER, "destination": dest},
                    {"number": EXT_NUMBER,
                     "destination": {"type": "extension", "target": "1003"}}]}]
    cfg["admins"] = ["1002"]
    if integrations:
        cfg["messaging_api"] = {"integrations": [CRM]}
    return cfg


def config(tmp_path: Path, base: str, **kw: bool) -> Any:
    return parse_config(yaml.safe_dump(raw_config(tmp_path, base, **kw), allow_unicode=True),
                        "c.yaml", tmp_path)


async def no_delta(ws: aiohttp.ClientWebSocketResponse, prefix: str) -> None:
    """Nothing whose type starts with ``prefix`` arrives within 0.3 s (the deltas of one
    webhook are written in the loop turn that committed it)."""
    try:
        while True:
            msg = await asyncio.wait_for(ws.receive(), 0.3)
            data = json.loads(msg.data)
            for d in data if isinstance(data, list) else [data]:
                assert not str(d.get("type", "")).startswith(prefix), d
    except TimeoutError:
        pass


async def test_platform_gets_event_30031_replies_and_no_agent_sees_it(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            crm = await h.login(CRM)
            agent = await h.login("1001")
            async with http.ws_connect(f"{h.base}/api/v1/ws",
                                       headers={"Authorization": f"Bearer {crm}"}) as ws, \
                    http.ws_connect(f"{h.base}/api/v1/ws?token={agent}") as agent_ws:
                assert await h.post_webhook(webhook("a-1", to=API_NUMBER)) == 204
                [event] = await deltas(ws, "messaging.api.message")
                assert event["event"] == 30031
                assert event["event_name"] == "New message notification"
                assert event["agent"] == CRM
                assert event["message"]["text"] == "Hello from PBX!"
                assert event["message"]["type"] == "received"
                assert event["session"]["route"] == {"type": "api", "target": "api"}
                sid = event["session"]["id"]
                await no_delta(agent_ws, "messaging.")
            # no agent receives it (§5.1), not even the queue's or the admin
            for ext in ("1001", "1002", "1003"):
                assert await h.sessions(ext) == []
                status, _ = await h.api(ext, "POST", f"/sessions/{sid}/messages",
                                        {"text": "mine?"})
                assert status == 404
            assert await h.sessions(CRM) == [sid]
            # a second customer message joins the session and is event 30031 again
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={crm}") as ws:
                assert await h.post_webhook(webhook("a-2", to=API_NUMBER,
                                                    text="second")) == 204
                [event] = await deltas(ws, "messaging.api.message")
                assert event["session"]["id"] == sid and event["message"]["text"] == "second"
            # the platform replies through the REST API (§4 "the complete messaging API")
            status, data = await h.api(CRM, "POST", f"/sessions/{sid}/messages",
                                       {"text": "Hi from the CRM"})
            assert status == 202 and data["message"]["sender"] == "api"
            last = await h.last_message(CRM, sid, lambda m: m["status"] == "sent")
            assert last["status"] == "sent"
            [req] = provider.sent
            assert req.body == {"from": API_NUMBER, "to": "+8618012121222",
                                "text": "Hi from the CRM"}
            # the platform hands the customer to a colleague
            status, _ = await h.api(CRM, "POST", f"/sessions/{sid}/transfer",
                                    {"extension": "1001"})
            assert status == 200
            assert await h.sessions(CRM) == [] and await h.sessions("1001") == [sid]
            _, data = await h.api("1001", "GET", f"/sessions/{sid}")
            texts = [m["text"] for m in data["messages"]]
            assert "接收+8618012121222的消息，会话路由给api。" in texts
            assert "api将会话转移给Ext 1001<1001>。" in texts
            assert "Hi from the CRM" in texts  # the whole history moves with it
    finally:
        await switch.stop()


async def test_agent_transfers_to_the_platform_and_chat_logs_show_api(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            _, mine = await h.api("1003", "GET", "/me")
            assert mine["platform"] is True  # offered as a transfer target (§13.35)
            assert await h.post_webhook(webhook("t-1", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            crm = await h.login(CRM)
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={crm}") as ws:
                status, data = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                           {"platform": True})
                assert status == 200 and data["session"]["route"]["type"] == "api"
                [changed] = await deltas(ws, "messaging.session.changed")
                assert changed["session"]["id"] == sid
                # the customer's next message goes to the platform, as event 30031
                assert await h.post_webhook(webhook("t-2", to=EXT_NUMBER,
                                                    text="still there?")) == 204
                [event] = await deltas(ws, "messaging.api.message")
                assert event["event"] == 30031 and event["message"]["text"] == "still there?"
            assert await h.sessions("1003") == [] and await h.sessions(CRM) == [sid]
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                       {"platform": True})
            assert status == 404  # no longer the agent's
            status, data = await h.api(CRM, "POST", f"/sessions/{sid}/transfer",
                                       {"platform": True})
            assert status == 409 and data["error"] == "refused"
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                       {"platform": True, "extension": "1001"})
            assert status in (400, 404)
            status, _ = await h.api(CRM, "POST", f"/sessions/{sid}/messages", {"text": "ok"})
            assert status == 202
            status, data = await h.api(CRM, "POST", f"/sessions/{sid}/close")
            assert status == 200 and data["session"]["state"] == "closed"
            # an inbound session routed to the platform, for the chat logs too
            assert await h.post_webhook(webhook("t-3", to=API_NUMBER)) == 204
            [api_sid] = await h.sessions(CRM)

            async def logs(**query: str) -> list[int]:
                status, data = await h.api("1002", "GET", "/chat-logs?" + "&".join(
                    f"{k}={v}" for k, v in query.items()))
                assert status == 200, data
                return [row["id"] for row in data["sessions"]]

            # §8.2: "api" finds the platform's sessions: routed there (the recipient) ...
            assert await logs(recipient="api") == [api_sid]
            assert await logs(sender="api", recipient="api", relation="or") == [api_sid]
            # ... and in a transferred session the platform is the party of its messages
            status, history = await h.api("1002", "GET", f"/chat-logs/{sid}/messages")
            assert status == 200
            parties = [(m["sender"], m["recipient"], m["content"])
                       for m in history["messages"]]
            assert ("api", "+8618012121222", "ok") in parties
            assert ("+8618012121222", "api", "still there?") in parties
            status, timeline = await h.api("1002", "GET", f"/chat-logs/{sid}/timeline")
            descriptions = [e["description"] for e in timeline["timeline"]]
            assert "Ext 1003将会话转移给api。" in descriptions
            assert "api关闭会话" in descriptions
    finally:
        await switch.stop()


async def test_without_an_integration_the_platform_is_not_offered(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base, integrations=False,
                                  api_route=False))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            _, mine = await h.api("1003", "GET", "/me")
            assert mine["platform"] is False
            assert await h.post_webhook(webhook("n-1", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                       {"platform": True})
            assert status == 409 and data["error"] == "not_configured"
            assert await h.sessions("1003") == [sid]  # nothing moved
            status, data = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                       {"platform": "yes"})
            assert status == 400
    finally:
        await switch.stop()


def _issues(tmp_path: Path, cfg: dict[str, Any]) -> list[tuple[int, str, str]]:
    text = yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "c.yaml", tmp_path)
    lines = text.splitlines()
    return [(i.line, i.path, i.message + " @ " + lines[i.line - 1]) for i in info.value.issues]


def test_check_refuses_the_api_destination_without_an_integration(tmp_path: Path) -> None:
    [(line, path, message)] = _issues(tmp_path, raw_config(tmp_path, "http://127.0.0.1:9",
                                                           integrations=False))
    assert path == "message_channels[0].numbers[0].destination.type"
    assert "messaging_api.integrations" in message and message.endswith("type: api")
    cfg = raw_config(tmp_path, "http://127.0.0.1:9")
    cfg["messaging_api"] = {"integrations": ["4321"]}
    issues = _issues(tmp_path, cfg)
    assert ("messaging_api.integrations[0]", "no extension 4321") in [
        (p, m.split(" is defined")[0]) for _, p, m in issues]
    cfg["messaging_api"] = {"integrations": []}
    assert [p for _, p, _ in _issues(tmp_path, cfg)] == ["messaging_api.integrations"]
    cfg["messaging_api"] = {"integration": [CRM]}
    assert "unknown key 'integration'" in " ".join(m for _, _, m in _issues(tmp_path, cfg))
    cfg = raw_config(tmp_path, "http://127.0.0.1:9")
    cfg["message_channels"][0]["numbers"][0]["destination"]["target"] = "1001"
    [(_, path, _)] = _issues(tmp_path, cfg)
    assert path == "message_channels[0].numbers[0].destination.target"
    config_ok = parse_config(yaml.safe_dump(raw_config(tmp_path, "http://127.0.0.1:9")),
                             "c.yaml", tmp_path)
    assert config_ok.messaging_api == (CRM,)


def test_a_live_chat_channel_routed_to_the_platform(tmp_path: Path) -> None:
    """The channel-level destination (Live Chat, WhatsApp, Messenger) may be the platform
    too; the platform is always there, so the widget greets with the online greeting
    (within business hours) like a message queue's."""
    import datetime as dt

    from softswitch.messaging.livechat import greeting

    cfg = raw_config(tmp_path, "http://127.0.0.1:9")
    cfg["message_channels"].append({
        "name": "Web", "type": "livechat", "number": "LC00001",
        "domains": ["www.example.com"], "destination": {"type": "api"}})
    [_, web] = parse_config(yaml.safe_dump(cfg), "c.yaml", tmp_path).message_channels
    dest = web.numbers[0].destination
    assert (dest.type, dest.target) == ("api", "api")
    options = web.options
    when = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    assert greeting(options, dest.type, dest.target, when, (), (), lambda e: False,
                    lambda e: "dnd")[0] == "online_greeting"
    del cfg["messaging_api"]
    issues = _issues(tmp_path, cfg)
    assert [p for _, p, _ in issues] == ["message_channels[0].numbers[0].destination.type"]
    cfg["message_channels"].pop(0)
    [(_, path, _)] = _issues(tmp_path, cfg)
    assert path == "message_channels[0].destination.type"
