"""The Live Chat widget (omnichannel.md §3.12) in headless Chromium against the switch as a
real process: a web page from a local aiohttp page server includes the widget with the
manual's one <script> tag; the visitor chats in it, an agent's websocket client (aiohttp, in
a thread) receives the session, takes it over and replies, and the visitor sees the reply;
a reload resumes the chat; the same page from another domain gets no widget.

The domains: Chromium resolves ``www.yeasar.com`` (the channel's domain, the manual's
fixture) and ``evil.example`` to 127.0.0.1 (``--host-resolver-rules``), so both names reach
the same page server on the same port; only the host name, hence the page's Origin, differs.
The switch itself is reached as 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import struct
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from conftest import ARGS, CHROMIUM
from playwright.sync_api import Page, expect, sync_playwright

from benchmarks.peers.net import free_port
from benchmarks.peers.switch import EXAMPLE_CONFIG, RunningSwitch

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005fe02fea7d6a8c80000000049454e44ae426082")


class PageServer:
    """A website on loopback: ``/`` is a page with the widget's embed code."""

    def __init__(self, switch_http: str) -> None:
        self.switch_http = switch_http
        self.port = free_port(udp=False)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.runner: web.AppRunner | None = None

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text=(
            "<!doctype html><html><head><title>Shop</title></head><body><h1>Our shop</h1>"
            f'<script src="{self.switch_http}/live_chat.v1.0.0.js?channelNumber=LC00000">'
            "</script></body></html>"))

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            app = web.Application()
            app.router.add_get("/", self.page)
            self.runner = web.AppRunner(app, access_log=None)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> PageServer:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self.runner is not None:
                await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Agent(threading.Thread):
    """Extension 1001 on the live API: waits for a Live Chat session on its websocket,
    takes it over and replies ``reply``."""

    def __init__(self, base: str, password: str, reply: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.password = password
        self.reply = reply
        self.connected = threading.Event()
        self.seen: list[dict[str, Any]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self.work())
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    async def work(self) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.base}/api/v1/login", json={
                    "extension": "1001", "password": self.password}) as r:
                token = (await r.json())["token"]
            auth = {"Authorization": f"Bearer {token}"}
            async with http.ws_connect(f"{self.base}/api/v1/ws?token={token}") as ws:
                self.connected.set()
                sid = None
                while sid is None:
                    msg = await asyncio.wait_for(ws.receive(), 30)
                    data = json.loads(msg.data)
                    for d in data if isinstance(data, list) else [data]:
                        if d.get("type") == "messaging.message.new":
                            self.seen.append(d["message"])
                            if d["message"]["text"] == "I need help with my order":
                                sid = d["session"]["id"]
                async with http.post(f"{self.base}/api/v1/messaging/sessions/{sid}/take_over",
                                     headers=auth) as r:
                    assert r.status == 200, await r.text()
                async with http.post(f"{self.base}/api/v1/messaging/sessions/{sid}/messages",
                                     json={"text": self.reply}, headers=auth) as r:
                    assert r.status == 202, await r.text()


@pytest.fixture
def browser_page() -> Iterator[Callable[[], Page]]:
    rules = "MAP www.yeasar.com 127.0.0.1, MAP evil.example 127.0.0.1"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True,
            args=[*ARGS, f"--host-resolver-rules={rules}"])
        errors: list[str] = []

        def make() -> Page:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            return page

        try:
            yield make
        finally:
            context.close()
        assert errors == [], errors


def stored(switch: RunningSwitch) -> int:
    with sqlite3.connect(switch.db_path) as db:
        return int(db.execute("SELECT COUNT(*) FROM messaging_messages").fetchone()[0])


def png(width: int, height: int) -> bytes:
    """A white PNG of that size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack("!I", len(data)) + kind + data + \
            struct.pack("!I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff" * (3 * width) for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(
        "!IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows)) + \
        chunk(b"IEND", b"")


def loaded(page: Page, selector: str, width: int | None = None) -> None:
    """The image ``selector`` was served to the page (of ``width`` pixels when given)."""
    page.wait_for_function(
        "([sel, w]) => { const i = document.querySelector(sel); return i && i.complete &&"
        " i.naturalWidth > 0 && (w === null || i.naturalWidth === w); }", arg=[selector, width])


def test_visitor_chats_in_the_widget(switch_factory: Callable[..., RunningSwitch],
                                     browser_page: Callable[[], Page],
                                     tmp_path: Path) -> None:
    """With ``show_agent_info: name_and_avatar`` the agent's replies (and the session-end
    message after they took the chat) show Alice's name and her avatar file, served by the
    switch; before anyone handles the chat the default card ("Agent", the built-in
    avatar)."""
    avatar = tmp_path / "alice.png"
    avatar.write_bytes(png(2, 2))
    extensions = yaml.safe_load(EXAMPLE_CONFIG.read_text())["extensions"]
    for e in extensions:
        if e["number"] == "1001":
            e["avatar"] = str(avatar)
    switch = switch_factory(overrides={"extensions": extensions, "message_channels": [{
        "name": "Livechat", "type": "livechat", "number": "LC00000",
        "domains": ["www.yeasar.com"], "visitor_message_types": "text_and_images",
        "destination": {"type": "message_queue", "target": "Web Support"},
        "show_agent_info": "name_and_avatar",
        "pre_chat_form": [{"field": "name", "label": "Name", "required": True}]}]})
    base = switch.http_url
    agent = Agent(base, switch.password("1001"), "Hello Ann, let me check your order.")
    agent.start()
    assert agent.connected.wait(15)
    with PageServer(base) as site:
        # another website: the switch refuses the socket, the widget never shows
        evil = browser_page()
        with evil.expect_websocket() as info:
            evil.goto(f"http://evil.example:{site.port}/")
        refusal = info.value.wait_for_event("socketerror")
        assert "403" in str(refusal)
        expect(evil.locator("h1")).to_have_text("Our shop")
        assert evil.locator("#lc-bubble").count() == 0
        assert stored(switch) == 0

        page = browser_page()
        page.goto(f"http://www.yeasar.com:{site.port}/")
        bubble = page.locator("#lc-bubble")
        expect(bubble).to_be_visible()
        box = bubble.bounding_box()
        assert box is not None and box["x"] > 1000 and box["y"] > 600  # bottom-right
        bubble.click()
        messages = page.locator("#lc-messages")
        greeting = messages.locator(".lc-system").first
        expect(greeting.locator(".lc-text")).to_have_text("Hello! How can we help you?")
        # a queue's chat before anyone took it: the default agent card
        expect(greeting.locator(".lc-name")).to_have_text("Agent")
        loaded(page, "#lc-messages .lc-system .lc-avatar")  # the switch's built-in avatar
        page.fill("#lc-form input[name=name]", "Ann")
        page.click("#lc-start")
        page.fill("#lc-input", "I need help with my order")
        page.click("#lc-send")
        expect(messages.locator(".lc-visitor").first).to_have_text(
            "I need help with my order")
        expect(messages.locator(".lc-system").nth(1)).to_contain_text(
            "We have received your message")
        # the agent takes over and answers; the visitor sees it live
        expect(messages.locator(".lc-agent .lc-text")).to_have_text(
            "Hello Ann, let me check your order.", timeout=20_000)
        # show_agent_info name_and_avatar: the agent's real name and picture
        expect(messages.locator(".lc-agent .lc-name")).to_have_text("Alice Agent")
        loaded(page, "#lc-messages .lc-agent .lc-avatar", width=2)
        agent.join(20)
        assert agent.error is None, agent.error
        # an image
        image = tmp_path / "photo.png"
        image.write_bytes(PNG)
        page.set_input_files("#lc-file", str(image))
        expect(messages.locator(".lc-visitor img")).to_have_count(1)
        page.wait_for_function(  # the switch serves the stored file to the page
            "() => { const i = document.querySelector('#lc-messages .lc-visitor img');"
            " return i && i.complete && i.naturalWidth === 1; }")
        # a reload resumes the chat
        page.reload()
        page.locator("#lc-bubble").click()
        expect(page.locator("#lc-messages .lc-visitor").first).to_have_text(
            "I need help with my order")
        expect(page.locator("#lc-messages .lc-agent .lc-text")).to_have_text(
            "Hello Ann, let me check your order.")
        expect(page.locator("#lc-messages .lc-agent .lc-name")).to_have_text("Alice Agent")
        expect(page.locator("#lc-compose")).to_be_visible()  # the form is not asked again
        page.screenshot(path=str(Path(__file__).parent / "screenshots" / "livechat.png"))
        # the visitor ends the chat
        page.click("#lc-end")
        expect(page.locator("#lc-messages .lc-system .lc-text").last).to_have_text(
            "The chat has ended.")
        expect(page.locator("#lc-messages")).to_contain_text("This chat has ended.")
        # the session-end message comes from the agent who handled the chat
        end = page.locator("#lc-messages .lc-system", has_text="This chat has ended.")
        expect(end.locator(".lc-name")).to_have_text("Alice Agent")
