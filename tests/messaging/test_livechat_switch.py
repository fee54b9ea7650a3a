"""Live Chat through a running switch (in the test's loop): a visitor's websocket with its
page's Origin, the agents' REST API and live feed, the automatic messages, images, a resumed
visitor, and hostile input (wrong Origin, bad frames, oversized frames and images, flooding,
too many sessions), each refused with nothing stored."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import switchproc
import yaml
from switch_harness import Harness, deltas

from softswitch.app import Switch
from softswitch.config import parse_config
from softswitch.messaging.livechat import LIVECHAT, LiveChat

ORIGIN = "https://www.yeasar.com"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(2000)


def config(tmp_path: Path, **over: Any) -> Any:
    cfg = switchproc.base_config(tmp_path)
    cfg["message_queues"] = [{"name": "Tech Support", "chat_assignment_mode": "manual_take_over",
                              "agents": ["1001", "1002"]}]
    channel: dict[str, Any] = {
        "name": "Livechat", "type": "livechat", "number": "LC00000",
        "domains": ["www.yeasar.com"], "visitor_message_types": "text_and_images",
        "destination": {"type": "message_queue", "target": "Tech Support"},
        "pre_chat_form": [{"field": "name", "label": "Name", "required": True},
                          {"field": "email", "label": "Email"}]}
    channel.update(over)
    cfg["message_channels"] = [channel]
    return parse_config(yaml.safe_dump(cfg, allow_unicode=True), "c.yaml", tmp_path)


async def started(tmp_path: Path, **over: Any) -> Switch:
    switch = Switch(config(tmp_path, **over))
    await switch.start()
    return switch


def chat_of(switch: Switch) -> LiveChat:
    runner = switch._http_runner
    assert runner is not None
    return runner.app[LIVECHAT]


class Visitor:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def next(self, kind: str, **match: Any) -> dict[str, Any]:
        """The next frame of ``kind`` (others read meanwhile are kept)."""
        while True:
            for f in self.frames:
                if f["type"] == kind and all(f.get(k) == v for k, v in match.items()):
                    self.frames.remove(f)
                    return f
            msg = await asyncio.wait_for(self.ws.receive(), 5)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            self.frames.append(json.loads(msg.data))

    async def hello(self, token: str | None = None,
                    form: dict[str, str] | None = None) -> dict[str, Any]:
        await self.send(type="hello", visitor=token, form=form)
        return await self.next("welcome")


def ws_url(switch: Switch) -> str:
    return f"ws://{switch.http_address}/api/v1/livechat/LC00000/ws"


async def stored(switch: Switch) -> int:
    rows = await switch.store.fetch("SELECT COUNT(*) FROM messaging_messages")
    return int(rows[0][0])


async def test_visitor_chats_with_an_agent(tmp_path: Path) -> None:
    switch = await started(tmp_path)
    chat_of(switch).limiter.burst = 50  # this visitor is no flood (see the hostile test)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            token = await h.login("1002")
            async with http.ws_connect(f"{h.base}/api/v1/ws?token={token}") as agent_ws, \
                    http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)
                welcome = await v.hello()
                assert welcome["form"][0] == {"field": "name", "label": "Name",
                                              "required": True}
                assert welcome["form_done"] is False and welcome["images"] is True
                assert welcome["history"] == [] and welcome["session"] is None
                visitor = welcome["visitor"]
                # opening the window: a queue destination in (default) business hours
                await v.send(type="open")
                hi = await v.next("auto")
                assert hi["kind"] == "online_greeting"
                assert hi["message"]["text"] == "Hello! How can we help you?"
                # the form first; nothing is stored before
                await v.send(type="message", text="Hello?", id="c1")
                assert (await v.next("error"))["code"] == "form_required"
                await v.send(type="form", form={"email": "ann@example.com"})
                assert (await v.next("error"))["code"] == "bad_form"  # the name is required
                assert await stored(switch) == 0
                await v.send(type="form", form={"name": "Ann", "email": "ann@example.com"})
                await v.next("form_ok")
                await v.send(type="message", text="Hello?", id="c1")
                ack = await v.next("ack")
                assert ack["id"] == "c1" and ack["message"]["from"] == "visitor"
                first = await v.next("auto")
                assert first["kind"] == "first_reply"
                assert first["message"]["text"].startswith("Hello, thank you for contacting")
                # the queue's agents hear of it, with the form's answers in the history
                [changed] = await deltas(agent_ws, "messaging.session.changed")
                sid = changed["session"]["id"]
                assert changed["session"]["channel"] == "Livechat"
                assert changed["session"]["customer"].startswith("visitor-")
                news = await deltas(agent_ws, "messaging.message.new", 3)
                assert [n["message"]["text"] for n in news][0] == "Hello?"
                status, data = await h.api("1001", "GET", f"/sessions/{sid}")
                texts = [m["text"] for m in data["messages"]]
                assert "预聊天表单 / Pre-chat form: Name: Ann; Email: ann@example.com" in texts
                # the second message: no first reply again
                await v.send(type="message", text="Anyone?", id="c2")
                await v.next("ack", id="c2")
                # an agent takes over and answers: the visitor sees it live
                status, _ = await h.api("1001", "POST", f"/sessions/{sid}/take_over")
                assert status == 200
                status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                        {"text": "Hi Ann, how can I help?"})
                assert status == 202
                reply = await v.next("message")
                assert reply["message"]["from"] == "agent"
                assert reply["message"]["text"] == "Hi Ann, how can I help?"
                assert [f for f in v.frames if f["type"] == "auto"] == []
                last = await h.last_message("1001", sid, lambda m: m["status"] == "sent")
                assert last["status"] == "sent"
                # an image
                await ws.send_bytes(PNG)
                image = await v.next("ack")
                [url] = image["message"]["media"]
                async with http.get(f"{h.base}{url}") as resp:
                    assert resp.status == 200 and await resp.read() == PNG
            # a reload: the same token resumes the chat and its history
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)
                welcome = await v.hello(visitor)
                assert welcome["visitor"] == visitor
                assert welcome["session"] == {"id": sid, "open": True}
                assert welcome["form_done"] is False  # forgotten with the last socket...
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)  # ...and sent again by the widget with its hello
                welcome = await v.hello(visitor, form={"name": "Ann"})
                assert welcome["form_done"] is True
                shown = [(m["from"], m["text"]) for m in welcome["history"]]
                assert shown[:4] == [
                    ("visitor", "Hello?"),
                    ("system", "Hello, thank you for contacting us. We have received your "
                               "message; please wait a moment."),
                    ("visitor", "Anyone?"), ("agent", "Hi Ann, how can I help?")]
                assert welcome["history"][4]["media"] == [url]
                # the agent closes: the session-end message goes to the visitor
                status, _ = await h.api("1001", "POST", f"/sessions/{sid}/close")
                assert status == 200
                end = await v.next("auto")
                assert end["kind"] == "session_end"
                assert end["message"]["text"].startswith("This chat has ended.")
                await v.next("closed")
                # the next message opens a new session; the visitor ends that one
                await v.send(type="message", text="One more thing", id="c3")
                ack = await v.next("ack", id="c3")
                assert ack["session"] > sid
                assert (await v.next("auto"))["kind"] == "first_reply"
                await v.send(type="close")
                assert (await v.next("auto"))["kind"] == "session_end"
                await v.send(type="close")
                assert (await v.next("error"))["code"] == "no_session"
            events = await switch.store.fetch(
                "SELECT kind, actor FROM messaging_events WHERE session=? ORDER BY id",
                (ack["session"],))
            assert [tuple(e) for e in events] == [
                ("create", changed["session"]["customer"]),
                ("close", changed["session"]["customer"])]
    finally:
        await switch.stop()


async def test_auto_close_sends_the_session_end_message(tmp_path: Path) -> None:
    switch = await started(tmp_path, auto_close_days=1, pre_chat_form=[])
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
            v = Visitor(ws)
            await v.hello()
            await v.send(type="message", text="Hello?")
            ack = await v.next("ack")
            assert (await v.next("auto"))["kind"] == "first_reply"
            service = chat_of(switch).service
            closed = service.run(lambda inbox, now: inbox.expire(now + 86400 + 1))
            assert closed == [ack["session"]]
            assert (await v.next("auto"))["kind"] == "session_end"
    finally:
        await switch.stop()


async def test_hostile_visitors_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    switch = await started(tmp_path, pre_chat_form=[], max_active_sessions=1)
    try:
        async with aiohttp.ClientSession() as http:
            # the wrong website, or none: refused before the upgrade
            for headers in ({"Origin": "https://evil.example"}, {},
                            {"Origin": "https://www.yeasar.com.evil.example"}):
                async with http.get(ws_url(switch), headers={
                        **headers, "Connection": "Upgrade", "Upgrade": "websocket",
                        "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
                    assert resp.status == 403
            async with http.get(f"http://{switch.http_address}/api/v1/livechat/LC99999/ws",
                                headers={"Origin": ORIGIN}) as resp:
                assert resp.status in (401, 404)
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)
                await v.send(type="message", text="before hello")
                assert (await v.next("error"))["code"] == "hello_first"
                first_token = (await v.hello("not a token"))["visitor"]  # a new one
                assert first_token != "not a token"
                for raw, code in (("{nope", "bad_json"), ("[]", "bad_frame"),
                                  ('{"type": "dance"}', "bad_frame"),
                                  (json.dumps({"type": "message", "text": "x" * 2001}),
                                   "too_long"),
                                  (json.dumps({"type": "message", "text": "y" * 9000}),
                                   "too_large"),
                                  (json.dumps({"type": "message", "text": ""}), "bad_frame")):
                    await ws.send_str(raw)
                    assert (await v.next("error"))["code"] == code
                await ws.send_bytes(b"GIF89a" + bytes(100))
                assert (await v.next("error"))["code"] == "bad_image"
                assert await stored(switch) == 0
                # flooding: 5 frames, then refused until the bucket refills
                chat = chat_of(switch)
                chat.limiter.clock = lambda: 1000.0
                for i in range(8):
                    await v.send(type="message", text=f"m{i}", id=f"f{i}")
                acks = errors = 0
                while acks + errors < 8:
                    msg = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                    acks += msg["type"] == "ack"
                    errors += msg["type"] == "error" and msg["code"] == "rate_limited"
                assert (acks, errors) == (5, 3)
                count = await stored(switch)
                assert count == 5 + 2  # the creation's system message and the first reply
                chat.limiter.clock = lambda: 1002.0
                # a second visitor while the one session allowed is open: busy
                async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws2:
                    v2 = Visitor(ws2)
                    await v2.hello()
                    await v2.send(type="message", text="me too")
                    assert (await v2.next("error"))["code"] == "busy"
                assert await stored(switch) == count
                # an image over 10 MB closes the socket (1009), nothing stored
                with contextlib.suppress(ConnectionError):  # closed while it was sent
                    await ws.send_bytes(b"\x89PNG\r\n\x1a\n" + bytes(10 * 1024 * 1024))
                msg = await asyncio.wait_for(ws.receive(), 10)
                while msg.type == aiohttp.WSMsgType.TEXT:
                    msg = await asyncio.wait_for(ws.receive(), 10)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                # 1009 (message too big), or 1006 when the close beat the rest of the frame
                assert ws.close_code in (1009, 1006)
            assert await stored(switch) == count
            # the switch goes on: the visitor comes back with the same token
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                v = Visitor(ws)
                welcome = await v.hello(first_token)
                assert welcome["session"]["open"] and len(welcome["history"]) == 6
            files = list((tmp_path / "var" / "livechat").glob("*"))
            assert files == []
    finally:
        await switch.stop()


async def test_text_only_channel_refuses_images(tmp_path: Path) -> None:
    switch = await started(tmp_path, pre_chat_form=[], visitor_message_types="text",
                           destination={"type": "extension", "target": "1003"})
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
            v = Visitor(ws)
            welcome = await v.hello()
            assert welcome["images"] is False and welcome["form_done"] is True
            await ws.send_bytes(PNG)
            assert (await v.next("error"))["code"] == "no_images"
            # 1003 is not logged in: the offline greeting (§13.15)
            await v.send(type="open")
            assert (await v.next("auto"))["kind"] == "offline_greeting"
        assert await stored(switch) == 0
    finally:
        await switch.stop()


async def test_the_widget_script_is_served(tmp_path: Path) -> None:
    switch = await started(tmp_path)
    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://{switch.http_address}/live_chat.v1.0.0.js?channelNumber=LC00000") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/javascript")
            assert "/api/v1/livechat/" in await r.text()
    finally:
        await switch.stop()


async def test_a_socket_that_keeps_sending_garbage_is_closed(tmp_path: Path) -> None:
    switch = await started(tmp_path, pre_chat_form=[])
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
                token = (await Visitor(ws).hello())["visitor"]
                # at most 4 windows of one visitor at once
                tabs = [await http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN})
                        for _ in range(4)]
                for i, tab in enumerate(tabs):
                    v = Visitor(tab)
                    await v.send(type="hello", visitor=token)
                    kind = "welcome" if i < 3 else "error"
                    frame = await v.next(kind)
                    assert kind == "welcome" or frame["code"] == "too_many_tabs"
                for tab in tabs:
                    await tab.close()
                for _ in range(51):
                    await ws.send_str("{nope")
                codes = []
                while True:
                    msg = await asyncio.wait_for(ws.receive(), 5)
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        break
                    codes.append(json.loads(msg.data)["code"])
                assert codes == ["bad_json"] * 51
                assert ws.close_code == 1008
        assert await stored(switch) == 0
    finally:
        await switch.stop()


async def test_images_have_their_own_rate_limit(tmp_path: Path) -> None:
    switch = await started(tmp_path, pre_chat_form=[])
    chat = chat_of(switch)
    chat.limiter.clock = chat.image_limiter.clock = lambda: 500.0
    chat.limiter.burst = 50
    try:
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(ws_url(switch), headers={"Origin": ORIGIN}) as ws:
            v = Visitor(ws)
            await v.hello()
            for _ in range(6):
                await ws.send_bytes(PNG)
            kinds = []
            while len(kinds) < 6:
                frame = json.loads((await asyncio.wait_for(ws.receive(), 5)).data)
                if frame["type"] in ("ack", "error"):
                    kinds.append(frame.get("code", "ack"))
            assert kinds == ["ack"] * 5 + ["rate_limited"]
            assert len(list((tmp_path / "var" / "livechat").glob("*.png"))) == 5
            chat.image_limiter.clock = lambda: 560.0  # a minute later: one more
            await ws.send_bytes(PNG)
            assert (await v.next("ack"))["message"]["media"]
        assert not chat.visitors  # forgotten with its last socket
    finally:
        await switch.stop()
