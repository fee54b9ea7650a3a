"""Agents' replies with a file (softswitch.messaging.files; omnichannel.md §3.1, §3.2):
the upload is streamed to disk, checked before anything is sent, sent to the provider as a
switch URL that serves the file without a log-in for 72 hours; hostile uploads (too large,
declared or streamed; a wrong type; a disguised type; empty; someone else's session) get a
clear 4xx and store nothing."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fake_provider import FakeProvider
from switch_harness import EXT_NUMBER, Harness, config, provider, started, webhook

from softswitch.messaging import files

__all__ = ["provider"]  # the fixture, used by name

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def test_the_limits_of_the_manual() -> None:
    mb = 1024 * 1024
    assert files.LIMITS == {"sms": 100 * mb, "whatsapp": 100 * mb, "messenger": 25 * mb,
                            "livechat": 10 * mb}
    assert files.LIVECHAT_TYPES == ("image/png", "image/jpeg")
    assert files.RETENTION == 72 * 3600


class Uploads:
    def __init__(self, h: Harness, directory: Path) -> None:
        self.h = h
        self.directory = directory

    async def post(self, ext: str, sid: int, data: bytes | AsyncIterator[bytes],
                   ctype: str = "image/png", text: str | None = None) -> tuple[int, dict]:
        token = await self.h.login(ext)
        params = {"text": text} if text is not None else {}
        async with self.h.http.post(
                f"{self.h.base}/api/v1/messaging/sessions/{sid}/files", data=data,
                params=params, headers={"Authorization": f"Bearer {token}",
                                        "Content-Type": ctype}) as resp:
            return resp.status, await resp.json()

    def stored(self) -> list[str]:
        return sorted(p.name for p in self.directory.iterdir()) \
            if self.directory.is_dir() else []


async def _session(h: Harness) -> int:
    assert await h.post_webhook(webhook("f-1", to=EXT_NUMBER)) == 204
    [sid] = await h.sessions("1003")
    return sid


async def test_a_file_reply_is_sent_as_a_switch_url_served_for_72_hours(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            up = Uploads(h, tmp_path / "var" / "messaging-files")
            sid = await _session(h)
            status, data = await up.post("1003", sid, PNG, text="the receipt")
            assert status == 202, data
            url = data["file"]["url"]
            assert url.startswith(f"http://{switch.http_address}/messaging/reply-files/")
            assert url.endswith(".png") and data["file"]["size"] == len(PNG)
            assert data["message"]["media"] == [url]
            assert data["message"]["text"] == "the receipt"
            last = await h.last_message("1003", sid, lambda m: m["status"] == "sent")
            assert last["media"] == [url]
            [req] = provider.sent
            assert req.body == {"from": EXT_NUMBER, "to": "+8618012121222",
                                "text": "the receipt", "media_urls": [url]}
            # the provider fetches it without a log-in
            async with aiohttp.ClientSession() as anonymous:
                async with anonymous.get(url) as resp:
                    assert resp.status == 200
                    assert resp.content_type == "image/png"
                    assert await resp.read() == PNG
                # 72 hours later it is gone (at once, and from the disk at the sweep)
                [name] = up.stored()
                old = time.time() - 72 * 3600 - 5
                os.utime(up.directory / name, (old, old))
                async with anonymous.get(url) as resp:
                    assert resp.status == 404
                assert await switch_files(switch).sweep() == [name]
                assert up.stored() == []
                async with anonymous.get(f"http://{switch.http_address}/messaging/reply-files/"
                                         "..%2fswitch.sqlite3") as resp:
                    assert resp.status == 404
    finally:
        await switch.stop()


def switch_files(switch: object) -> files.OutboundFiles:
    app = switch._http_runner.app  # type: ignore[attr-defined]
    return app[files.FILES]


async def test_hostile_uploads_are_refused_and_nothing_is_stored(
        tmp_path: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            up = Uploads(h, tmp_path / "var" / "messaging-files")
            sid = await _session(h)
            before = await h.stored()

            async def refused(status: int, code: str, *args: object, **kw: object) -> None:
                got, data = await up.post(*args, **kw)  # type: ignore[arg-type]
                assert (got, data["error"]) == (status, code), data
                assert up.stored() == [] and await h.stored() == before

            await refused(415, "unsupported_type", "1003", sid, b"MZ...", "application/x-msdos")
            await refused(415, "unsupported_type", "1003", sid, b"<html>", "image/png")
            await refused(400, "invalid_field", "1003", sid, b"", "image/png")
            await refused(404, "not_found", "1001", sid, PNG)  # not 1001's session
            await refused(404, "not_found", "1003", 999, PNG)
            await refused(400, "invalid_field", "1003", sid, PNG, text="x" * 2001)
            # streamed past the limit (chunked, no Content-Length): cut off, part deleted
            monkeypatch.setitem(files.LIMITS, "sms", 256 * 1024)

            async def chunks() -> AsyncIterator[bytes]:
                yield PNG
                for _ in range(10):
                    yield bytes(64 * 1024)

            await refused(413, "too_large", "1003", sid, chunks())
            assert provider.sent == []
            # under the limit, a file larger than the API's 64 KiB JSON body limit streams
            big = PNG + bytes(200 * 1024)
            status, data = await up.post("1003", sid, big)
            assert status == 202 and data["file"]["size"] == len(big)
            [name] = up.stored()
            assert (up.directory / name).read_bytes() == big
            (up.directory / name).unlink()
            await h.last_message("1003", sid, lambda m: m["status"] != "pending")
            provider.sent.clear()
            before = await h.stored()
            # a declared Content-Length over the limit: refused before the body is read
            token = await h.login("1003")
            host, port = switch.http_address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write((f"POST /api/v1/messaging/sessions/{sid}/files HTTP/1.1\r\n"
                          f"Host: {switch.http_address}\r\nAuthorization: Bearer {token}\r\n"
                          "Content-Type: image/png\r\nContent-Length: 104857601\r\n\r\n"
                          ).encode() + PNG[:100])
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 413")
            writer.close()
            assert up.stored() == [] and await h.stored() == before
            # a closed session takes no file
            await h.api("1003", "POST", f"/sessions/{sid}/close")
            before = await h.stored()
            await refused(409, "closed", "1003", sid, PNG)
    finally:
        await switch.stop()


async def test_whatsapp_window_messenger_limit_and_live_chat_images(
        tmp_path: Path) -> None:
    """WhatsApp: a file outside the 24-hour window is refused before it is read; inside,
    the Graph API gets the switch URL as an image link. Messenger: 25 MB. Live Chat: png and
    jpeg up to 10 MB, sent to the widget as the switch path."""
    import json

    from fake_providers import FakeApis
    from test_providers_switch import (
        FB_TOKEN,
        PAGE,
        PSID,
        TEMPLATES,
        WA_NUMBER,
        WA_TOKEN,
        post,
        wa_text,
    )
    from test_providers_switch import config as providers_config

    from softswitch.messaging.appkey import MESSAGING
    from softswitch.messaging.providers import meta

    apis = await FakeApis(templates=list(TEMPLATES)).start()
    switch = await started(providers_config(tmp_path, apis.base))
    mb = 1024 * 1024
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            up = Uploads(h, tmp_path / "var" / "messaging-files")
            status, data = await h.api("1001", "POST", "/sessions", {
                "channel": "WhatsApp", "number": WA_NUMBER, "customer": "+8613912345678"})
            sid = data["session"]["id"]
            before = await h.stored()
            status, data = await up.post("1001", sid, PNG)
            assert (status, data["error"]) == (409, "window_closed")
            assert up.stored() == [] and await h.stored() == before
            raw = wa_text("wamid.F")
            assert (await post(h, "whatsapp", WA_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("wa-secret", raw)}))[0] == 200
            status, data = await up.post("1001", sid, PNG)
            assert status == 202, data
            url = data["file"]["url"]
            await h.last_message("1001", sid, lambda m: m["status"] != "pending")
            [req] = [r for r in apis.sent("graph") if r.json.get("type") == "image"]
            assert url in json.dumps(req.json)
            # Messenger: at most 25 MB
            raw = json.dumps({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [
                {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": 1,
                 "message": {"mid": "m_f", "text": "a video?"}}]}]}).encode()
            assert (await post(h, "messenger", FB_TOKEN, raw, {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": meta.signature("fb-secret", raw)}))[0] == 200
            fb = next(s for s in await h.sessions("1001") if s != sid)
            token = await h.login("1001")
            host, port = switch.http_address.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write((f"POST /api/v1/messaging/sessions/{fb}/files HTTP/1.1\r\n"
                          f"Host: {switch.http_address}\r\nAuthorization: Bearer {token}\r\n"
                          f"Content-Type: video/mp4\r\nContent-Length: {25 * mb + 1}\r\n\r\n"
                          ).encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 413")
            writer.close()
            status, data = await up.post("1001", fb, b"\x00\x00\x00\x18ftypmp42", "video/mp4")
            assert status == 202 and data["file"]["url"].endswith(".mp4")
            await h.last_message("1001", fb, lambda m: m["status"] != "pending")
            [req] = [r for r in apis.sent("graph") if r.path == f"/{PAGE}/messages"]
            assert req.json["message"]["attachment"]["type"] == "video"
            assert req.json["message"]["attachment"]["payload"]["url"] == data["file"]["url"]
    finally:
        await switch.stop()
        await apis.stop()
    # Live Chat
    cfg = config(tmp_path / "lc", "http://127.0.0.1:9", message_channels=[
        {"name": "Web", "type": "livechat", "number": "LC00001",
         "domains": ["www.example.com"],
         "destination": {"type": "extension", "target": "1003"}}])
    switch = await started(cfg)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            up = Uploads(h, tmp_path / "lc" / "var" / "messaging-files")
            service = switch._http_runner.app[MESSAGING]  # type: ignore[union-attr]
            m = service.run(lambda inbox, now: inbox.receive(
                "Web", "LC00001", "visitor-0123456789abcdef", "hello", (), None, now))
            status, data = await up.post("1003", m.session, b"GIF89a....", "image/gif")
            assert (status, data["error"]) == (415, "unsupported_type")
            status, data = await up.post("1003", m.session, b"\x00" * 100, "application/pdf")
            assert status == 415
            assert files.LIMITS["livechat"] == 10 * mb
            status, data = await up.post("1003", m.session, PNG)
            assert status == 202, data
            [path] = data["message"]["media"]
            assert path.startswith("/messaging/reply-files/") and path.endswith(".png")
            async with http.get(f"http://{switch.http_address}{path}") as resp:
                assert resp.status == 200 and await resp.read() == PNG
    finally:
        await switch.stop()


async def test_a_file_of_a_message_not_yet_sent_outlives_the_72_hours(
        tmp_path: Path, provider: FakeProvider) -> None:
    """The provider is down for longer than the retention: the reply's file is still
    served and not swept while the message waits; once sent, the next sweep deletes it."""
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            up = Uploads(h, tmp_path / "var" / "messaging-files")
            sid = await _session(h)
            await provider.stop()
            status, data = await up.post("1003", sid, PNG, text="sent later")
            assert status == 202, data
            url = data["file"]["url"]
            last = await h.last_message("1003", sid, lambda m: bool(m["error"]))
            assert (last["status"], last["media"]) == ("pending", [url])
            [name] = up.stored()
            old = time.time() - 72 * 3600 - 5
            os.utime(up.directory / name, (old, old))
            assert await switch_files(switch).sweep() == []  # its message still waits
            assert up.stored() == [name]
            async with aiohttp.ClientSession() as anonymous:
                async with anonymous.get(url) as resp:
                    assert resp.status == 200 and await resp.read() == PNG
                await provider.start()  # back: the retry sends it
                for _ in range(300):
                    last = await h.last_message("1003", sid, lambda m: m["status"] == "sent")
                    if last["status"] == "sent":
                        break
                assert (last["status"], last["media"]) == ("sent", [url])
                assert await switch_files(switch).sweep() == [name]
                assert up.stored() == []
                async with anonymous.get(url) as resp:
                    assert resp.status == 404
    finally:
        await switch.stop()
