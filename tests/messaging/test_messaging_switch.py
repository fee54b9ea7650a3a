"""Messaging through a running switch (in the test's loop) and a local General SMS
provider: webhooks in (stored before the 204; hostile ones refused with nothing stored),
agents' REST operations and websocket deltas, replies out with the provider's answer shown
to the agent, and a message the provider could not take delivered after a restart."""

from __future__ import annotations

from pathlib import Path

from fake_provider import FakeProvider
from switch_harness import (
    EXT_NUMBER,
    QUEUE_NUMBER,
    SECRET,
    TOKEN,
    config,
    deltas,
    provider,
    running,
    webhook,
)

from softswitch.messaging.general import sign

__all__ = ["provider"]  # the fixture, used by name


async def test_inbound_to_queue_take_over_reply_close(tmp_path: Path,
                                                      provider: FakeProvider) -> None:
    async with running(config(tmp_path, provider.base)) as h:
        token = await h.login("1002")
        async with h.http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
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
        timeline = await h.switch.store.fetch(
            "SELECT kind FROM messaging_events WHERE session=? ORDER BY id", (sid,))
        assert [r[0] for r in timeline] == ["create", "takeover", "close"]


async def test_hostile_webhooks_are_refused_and_nothing_is_stored(
        tmp_path: Path, provider: FakeProvider) -> None:
    async with running(config(tmp_path, provider.base)) as h:
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
        async with h.http.post(f"{h.base}/api/v1/webhooks/general/{'0' * 32}", data=raw,
                               headers={"Content-Type": "application/json",
                                        "X-Signature-256": sign(SECRET, raw)}) as resp:
            assert resp.status in (401, 404)
        assert await h.stored() == 0
        assert await h.post_webhook(raw) == 204
        count = await h.stored()
        assert await h.post_webhook(raw) == 400  # replayed: already stored
        assert await h.stored() == count


async def test_extension_route_transfer_archive_and_permissions(
        tmp_path: Path, provider: FakeProvider) -> None:
    async with running(config(tmp_path, provider.base)) as h:
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


async def test_provider_errors_are_shown_and_pending_messages_survive_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    provider.script = [(400, b'{"errors":[{"code":"10001","title":"Invalid \'to\' address",'
                             b'"detail":"The \'to\' address should be a single valid number."}]}')]
    async with running(config(tmp_path, provider.base)) as h:
        assert await h.post_webhook(webhook("r-1", to=EXT_NUMBER)) == 204
        [sid] = await h.sessions("1003")
        token = await h.login("1003")
        async with h.http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as ws:
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
    # the provider is down: the reply stays pending across the restart
    await provider.stop()
    down = config(tmp_path, provider.base)
    async with running(down) as h:
        await h.api("1003", "POST", f"/sessions/{sid}/messages", {"text": "two"})
        last = await h.last_message("1003", sid, lambda m: bool(m["error"]))
        assert (last["text"], last["status"], last["error"]) == (
            "two", "pending", "Third-party platform service unavailable")
    await provider.start()  # back, on the same port
    async with running(config(tmp_path, provider.base)) as h:
        last = await h.last_message("1003", sid, lambda m: m["status"] == "sent")
        assert (last["text"], last["status"]) == ("two", "sent")
        assert provider.sent[-1].body == {"from": EXT_NUMBER, "to": "+8618012121222",
                                          "text": "two"}
        assert [s for s in await h.sessions("1003")] == [sid]  # the session survived


async def test_every_messaging_example_of_the_openapi_document_is_accepted(
        tmp_path: Path, provider: FakeProvider) -> None:
    # an API integration: the transfer to the third-party platform is an example too
    async with running(config(tmp_path, provider.base,
                              messaging_api={"integrations": ["1003"]})) as h:
        async with h.http.get(f"{h.base}/api/v1/openapi.json") as resp:
            doc = await resp.json()
        assert not any("/webhooks/" in p for p in doc["paths"])  # tokens stay secret
        examples = await h.openapi_examples(  # (the admins' ones: test_admin_api)
            lambda path: path.startswith("/api/v1/messaging/") and not path.startswith(
                ("/api/v1/messaging/campaigns", "/api/v1/messaging/chat-logs")))
        assert len(examples) >= 5
        for n, (method, path, value) in enumerate(examples):
            _, data = await h.api("1001", "POST", "/sessions", {
                "channel": "General SMS Channel", "number": QUEUE_NUMBER,
                "customer": f"+861380000{n:04d}"})
            concrete = path.removeprefix("/api/v1/messaging").replace(
                "{session}", str(data["session"]["id"]))
            status, body = await h.api("1001", method, concrete, value)
            assert status in (200, 202), (method, concrete, value, body)
