"""Messaging through a running switch (in the test's loop) and a local General SMS
provider: webhooks in (stored before the 204; hostile ones refused with nothing stored),
agents' REST operations and websocket deltas, replies out with the provider's answer shown
to the agent, and a message the provider could not take delivered after a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import switchproc
import yaml
from fake_provider import FakeProvider
from test_general_protocol import EXAMPLE

from softswitch.app import Switch
from softswitch.config import parse_config
from softswitch.messaging.general import sign

TOKEN = "429ced149ff9437695be795aff38407b"
SECRET = "s3cret"
QUEUE_NUMBER = "+14102161183"
EXT_NUMBER = "+865925503309"


def config(tmp_path: Path, base: str, **raw: Any) -> Any:
    cfg = switchproc.base_config(tmp_path)
    cfg["message_queues"] = [{"name": "Tech Support", "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    cfg["message_channels"] = [{
        "name": "General SMS Channel", "type": "sms", "provider": "general", "token": TOKEN,
        "api_key": "the-api-key", "secret": SECRET, "send_url": f"{base}/sendmessage",
        "numbers": [{"number": QUEUE_NUMBER,
                     "destination": {"type": "message_queue", "target": "Tech Support"},
                     "allowed_extensions": ["1001"]},
                    {"number": EXT_NUMBER,
                     "destination": {"type": "extension", "target": "1003"}}]}]
    cfg["admins"] = ["1002"]
    cfg.update(raw)
    return parse_config(yaml.safe_dump(cfg, allow_unicode=True), "c.yaml", tmp_path)


def webhook(pid: str, to: str = QUEUE_NUMBER, text: str = "Hello from PBX!",
            customer: str = "+8618012121222") -> bytes:
    doc = json.loads(json.dumps(EXAMPLE))
    p = doc["data"]["payload"]
    p.update(id=pid, text=text, to=[{"phone_number": to}])
    p["from"] = {"phone_number": customer}
    return json.dumps(doc).encode()


class Harness:
    def __init__(self, switch: Switch, http: aiohttp.ClientSession) -> None:
        self.switch = switch
        self.http = http
        self.base = f"http://{switch.http_address}"
        self.tokens: dict[str, str] = {}

    async def post_webhook(self, raw: bytes, signature: str | None = "good",
                           content_type: str = "application/json") -> int:
        headers = {"Content-Type": content_type}
        if signature == "good":
            headers["X-Signature-256"] = sign(SECRET, raw)
        elif signature is not None:
            headers["X-Signature-256"] = signature
        async with self.http.post(f"{self.base}/api/v1/webhooks/general/{TOKEN}", data=raw,
                                  headers=headers) as resp:
            return resp.status

    async def login(self, ext: str) -> str:
        if ext not in self.tokens:
            async with self.http.post(f"{self.base}/api/v1/login",
                                      json={"extension": ext, "password": f"pw-{ext}"}) as r:
                self.tokens[ext] = (await r.json())["token"]
        return self.tokens[ext]

    async def api(self, ext: str, method: str, path: str,
                  body: dict[str, Any] | None = None) -> tuple[int, Any]:
        token = await self.login(ext)
        async with self.http.request(method, f"{self.base}/api/v1/messaging{path}", json=body,
                                     headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.json()

    async def sessions(self, ext: str, which: str = "recent") -> list[int]:
        status, data = await self.api(ext, "GET", f"/sessions?list={which}")
        assert status == 200
        return [s["id"] for s in data["sessions"]]

    async def last_message(self, ext: str, sid: int,
                           done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The session's last message once ``done`` holds for it (delivery is answered by
        the provider after the API's 202), at most 2 s later."""
        for _ in range(100):
            _, data = await self.api(ext, "GET", f"/sessions/{sid}")
            last: dict[str, Any] = data["messages"][-1]
            if done(last):
                break
            await asyncio.sleep(0.02)
        return last

    async def stored(self) -> int:
        rows = await self.switch.store.fetch("SELECT COUNT(*) FROM messaging_messages")
        return int(rows[0][0])


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    p = await FakeProvider().start()
    yield p
    await p.stop()


async def started(cfg: Any) -> Switch:
    switch = Switch(cfg)
    await switch.start()
    return switch


_PENDING: dict[int, list[Any]] = {}


async def deltas(ws: aiohttp.ClientWebSocketResponse, kind: str, n: int = 1) -> list[Any]:
    """The next ``n`` deltas of ``kind`` (frames carry one delta or an array of them; the
    ones of other kinds read meanwhile are kept for later calls)."""
    pending = _PENDING.setdefault(id(ws), [])
    out: list[Any] = []
    while len(out) < n:
        match = next((d for d in pending if d.get("type") == kind), None)
        if match is not None:
            pending.remove(match)
            out.append(match)
            continue
        msg = await asyncio.wait_for(ws.receive(), 5)
        data = json.loads(msg.data)
        pending.extend(data if isinstance(data, list) else [data])
    return out


async def test_inbound_to_queue_take_over_reply_close(tmp_path: Path,
                                                      provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            token = await h.login("1002")
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
                assert await h.post_webhook(webhook("p-1")) == 204
                # committed before the 204
                assert await h.stored() >= 1
                [changed] = await deltas(ws, "messaging.session.changed")
                [new] = await deltas(ws, "messaging.message.new")
                sid = changed["session"]["id"]
                assert changed["agent"] == new["agent"] == "1002"
                assert new["message"]["text"] == "Hello from PBX!"
                assert new["message"]["sender"] == "+8618012121222"
                assert await h.sessions("1001") == [sid] == await h.sessions("1002")
                assert await h.sessions("1003") == []
                # 1001 takes over: 1002 is told and loses it
                status, data = await h.api("1001", "POST", f"/sessions/{sid}/take_over")
                assert status == 200 and data["session"]["owner"] == "1001"
                assert "Ext 1001从消息队列Tech Support中接管会话。" in [
                    m["text"] for m in data["messages"]]
                [gone] = await deltas(ws, "messaging.session.gone")
                assert gone["session"]["id"] == sid
                assert await h.sessions("1002") == []
                status, _ = await h.api("1002", "POST", f"/sessions/{sid}/messages",
                                        {"text": "not mine"})
                assert status == 404
                # 1002 is an admin: it reads any session (the chat logs' view, §6.5)
                status, data = await h.api("1002", "GET", f"/sessions/{sid}")
                assert status == 200 and data["session"]["owner"] == "1001"
                status, _ = await h.api("1003", "GET", f"/sessions/{sid}")
                assert status == 404  # an agent does not learn of others' sessions
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                       {"text": "Hello, World!"})
            assert status == 202 and data["message"]["status"] == "pending"
            last = await h.last_message("1001", sid, lambda m: m["status"] == "sent")
            assert last["status"] == "sent"
            [req] = provider.sent
            assert req.authorization == "Bearer the-api-key"
            assert req.body == {"from": QUEUE_NUMBER, "to": "+8618012121222",
                                "text": "Hello, World!"}
            # close: archived, no more sending, the next message opens a new session
            status, data = await h.api("1001", "POST", f"/sessions/{sid}/close")
            assert status == 200 and data["session"]["state"] == "closed"
            assert await h.sessions("1001", "archived") == [sid]
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages", {"text": "x"})
            assert status == 409
            assert await h.post_webhook(webhook("p-2", text="again")) == 204
            [second] = await h.sessions("1002")
            assert second > sid
            timeline = await switch.store.fetch(
                "SELECT kind FROM messaging_events WHERE session=? ORDER BY id", (sid,))
            assert [r[0] for r in timeline] == ["create", "takeover", "close"]
    finally:
        await switch.stop()


async def test_hostile_webhooks_are_refused_and_nothing_is_stored(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            raw = webhook("h-1")
            assert await h.post_webhook(raw, signature=None) == 400
            assert await h.post_webhook(raw, signature="sha256=" + "0" * 64) == 400
            assert await h.post_webhook(raw, signature=sign("wrong", raw)) == 400
            assert await h.post_webhook(raw, content_type="text/plain") == 400
            assert await h.post_webhook(webhook("h-2", to="+19999999999")) == 400
            assert await h.post_webhook(webhook("h-3", text="")) == 400
            assert await h.post_webhook(b'{"data": 1}') == 400
            big = webhook("h-4", text="x" * 70_000)
            assert await h.post_webhook(big) == 413
            async with http.post(f"{h.base}/api/v1/webhooks/general/{'0' * 32}", data=raw,
                                 headers={"Content-Type": "application/json",
                                          "X-Signature-256": sign(SECRET, raw)}) as resp:
                assert resp.status in (401, 404)
            assert await h.stored() == 0
            assert await h.post_webhook(raw) == 204
            count = await h.stored()
            assert await h.post_webhook(raw) == 400  # replayed: already stored
            assert await h.stored() == count
    finally:
        await switch.stop()


async def test_extension_route_transfer_archive_and_permissions(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            assert await h.post_webhook(webhook("e-1", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            assert await h.sessions("1001") == [] and await h.sessions("1002") == []
            status, _ = await h.api("1003", "POST", f"/sessions/{sid}/take_over")
            assert status == 409  # not a queue session
            status, _ = await h.api("1003", "POST", f"/sessions/{sid}/transfer",
                                    {"extension": "1002"})
            assert status == 200
            assert await h.sessions("1003") == [] and await h.sessions("1002") == [sid]
            _, data = await h.api("1002", "GET", f"/sessions/{sid}")
            assert [m["text"] for m in data["messages"]][1] == "Hello from PBX!"  # history
            status, _ = await h.api("1002", "POST", f"/sessions/{sid}/archive",
                                    {"archived": True})
            assert await h.sessions("1002") == [] and \
                await h.sessions("1002", "archived") == [sid]
            await h.api("1002", "POST", f"/sessions/{sid}/messages", {"text": "back"})
            assert await h.sessions("1002") == [sid]
            status, _ = await h.api("1002", "POST", f"/sessions/{sid}/transfer",
                                    {"queue": "Tech Support"})
            assert status == 200
            assert await h.sessions("1001") == [sid] == await h.sessions("1002")
            # starting a session needs the number's allowed extensions (§9.6)
            start = {"channel": "General SMS Channel", "number": QUEUE_NUMBER,
                     "customer": "+8613899990000"}
            status, _ = await h.api("1002", "POST", "/sessions", start)
            assert status == 403
            status, data = await h.api("1001", "POST", "/sessions", start)
            assert status == 200 and data["session"]["owner"] == "1001"
            assert await h.sessions("1002") == [sid]
            status, data = await h.api("1001", "GET", "/channels")
            assert status == 403  # admins only
    finally:
        await switch.stop()


async def test_provider_errors_are_shown_and_pending_messages_survive_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    provider.script = [(400, b'{"errors":[{"code":"10001","title":"Invalid \'to\' address",'
                             b'"detail":"The \'to\' address should be a single valid number."}]}')]
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            assert await h.post_webhook(webhook("r-1", to=EXT_NUMBER)) == 204
            [sid] = await h.sessions("1003")
            token = await h.login("1003")
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
                await h.api("1003", "POST", f"/sessions/{sid}/messages", {"text": "one"})
                [failed] = await deltas(ws, "messaging.message.status")
            assert failed["message"]["status"] == "failed"
            assert failed["message"]["error"] == "Invalid number"
            status, data = await h.api("1002", "GET", "/channels")  # an admin
            assert status == 200
            [channel] = data["channels"]
            assert (channel["status"], channel["webhook_path"]) == (
                "unknown", f"/api/v1/webhooks/general/{TOKEN}")
            rows = {n["number"]: n for n in channel["numbers"]}
            assert rows[EXT_NUMBER] == {"number": EXT_NUMBER, "total_sent": 1,
                                        "sent_successfully": 0, "failed": 1, "received": 1}
            assert rows[QUEUE_NUMBER]["received"] == 0
    finally:
        await switch.stop()
    # the provider is down: the reply stays pending across the restart
    await provider.stop()
    down = config(tmp_path, provider.base)
    switch = await started(down)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            await h.api("1003", "POST", f"/sessions/{sid}/messages", {"text": "two"})
            last = await h.last_message("1003", sid, lambda m: bool(m["error"]))
            assert (last["text"], last["status"], last["error"]) == (
                "two", "pending", "Third-party platform service unavailable")
    finally:
        await switch.stop()
    await provider.start()  # back, on the same port
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            last = await h.last_message("1003", sid, lambda m: m["status"] == "sent")
            assert (last["text"], last["status"]) == ("two", "sent")
            assert provider.sent[-1].body == {"from": EXT_NUMBER, "to": "+8618012121222",
                                              "text": "two"}
            assert [s for s in await h.sessions("1003")] == [sid]  # the session survived
    finally:
        await switch.stop()


async def test_every_messaging_example_of_the_openapi_document_is_accepted(
        tmp_path: Path, provider: FakeProvider) -> None:
    # an API integration: the transfer to the third-party platform is an example too
    switch = await started(config(tmp_path, provider.base,
                                  messaging_api={"integrations": ["1003"]}))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            async with http.get(f"{h.base}/api/v1/openapi.json") as resp:
                doc = await resp.json()
            assert not any("/webhooks/" in p for p in doc["paths"])  # tokens stay secret
            examples = []
            for path, methods in doc["paths"].items():
                for method, op in methods.items():
                    content = op.get("requestBody", {}).get("content", {}).get(
                        "application/json")
                    for ex in (content or {}).get("examples", {}).values():
                        if path.startswith("/api/v1/messaging/") and not path.startswith(
                                ("/api/v1/messaging/campaigns", "/api/v1/messaging/chat-logs")):
                            # (the admins' ones: test_admin_api)
                            examples.append((method.upper(), path, ex["value"]))
            assert len(examples) >= 5
            for n, (method, path, value) in enumerate(examples):
                _, data = await h.api("1001", "POST", "/sessions", {
                    "channel": "General SMS Channel", "number": QUEUE_NUMBER,
                    "customer": f"+861380000{n:04d}"})
                concrete = path.removeprefix("/api/v1/messaging").replace(
                    "{session}", str(data["session"]["id"]))
                status, body = await h.api("1001", method, concrete, value)
                assert status in (200, 202), (method, concrete, value, body)
    finally:
        await switch.stop()
