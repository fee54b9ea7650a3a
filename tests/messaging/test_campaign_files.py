"""The SMS campaign content type File (omnichannel.md §7.3; softswitch.messaging.
campaign_files): the file uploaded to the switch (at most 100 MB, a sane name), sent to each
contact as MMS media whose URL the provider downloads from the switch without a log-in;
refused where MMS cannot go; files no campaign uses are swept after 72 hours."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fake_provider import FakeProvider
from switch_harness import QUEUE_NUMBER, Harness, started
from switch_harness import config as switch_config
from test_campaigns import config as sms_config

from softswitch.messaging.campaign_files import (
    MAX_BYTES,
    RETENTION,
    CampaignFiles,
    FileRefused,
    parts_of,
)
from softswitch.messaging.campaigns import CampaignError, parse_fields
from softswitch.messaging.config import ChannelNumber, Destination

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


async def chunks_of(data: bytes, size: int = 1 << 16) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def zeros(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    block = bytes(size)
    while total > 0:
        yield block[:min(size, total)]
        total -= size


async def test_the_100_mb_limit_and_the_file_name_rules(tmp_path: Path) -> None:
    files = CampaignFiles(tmp_path / "files", lambda: 1_000_000.0)
    exact = await files.save("big.bin", zeros(MAX_BYTES), "http://pbx.example")
    assert exact.size == MAX_BYTES and files.exists(exact.url)
    os.remove(files.root / exact.token / "big.bin")
    with pytest.raises(FileRefused) as info:
        await files.save("big.bin", zeros(MAX_BYTES + 1), "http://pbx.example")
    assert (info.value.status, info.value.code) == (413, "file_size")
    assert [p.name for p in files.root.iterdir()] == [exact.token]  # nothing kept
    for bad in ("", "x" * 128, "../etc.png", "a/b.png", ".hidden", "a\nb.png"):
        with pytest.raises(FileRefused) as info:
            await files.save(bad, chunks_of(PNG), "http://pbx.example")
        assert info.value.code == "file_name"
    with pytest.raises(FileRefused):
        await files.save("empty.png", chunks_of(b""), "http://pbx.example")
    ok = await files.save("x" * 123 + ".png", chunks_of(PNG), "http://pbx.example")
    assert ok.url.startswith("http://pbx.example/messaging/files/")
    assert parts_of(ok.url) == (ok.token, "x" * 123 + ".png")
    assert not files.exists("http://pbx.example/messaging/files/" + "0" * 32 + "/a.png")
    assert not files.exists("https://cdn.example.com/a.png")


async def test_unused_files_are_swept_after_72_hours(tmp_path: Path) -> None:
    now = [1_000_000.0]
    files = CampaignFiles(tmp_path / "files", lambda: now[0])
    used = await files.save("used.png", chunks_of(PNG), "http://pbx.example")
    unused = await files.save("unused.png", chunks_of(PNG), "http://pbx.example")
    now[0] += RETENTION
    assert files.sweep([used.url]) == 0  # 72 hours exactly: kept
    now[0] += 1
    assert files.sweep([used.url, "https://cdn.example.com/a.png"]) == 1
    assert files.exists(used.url) and not files.exists(unused.url)


def test_file_content_is_refused_where_mms_cannot_go() -> None:
    url = "http://pbx.example/messaging/files/" + "a" * 32 + "/promo.png"
    channel = sms_config("http://127.0.0.1:9")
    channel = replace(channel, numbers=(*channel.numbers, ChannelNumber(
        "Yeastar", Destination("extension", "3000"))))
    channels = {channel.name: channel}

    def parse(**more: Any) -> Any:
        fields = {"name": "彩信", "channel": channel.name, "sender": QUEUE_NUMBER,
                  "contacts": ["+12025550101"], "content_type": "file", "file": url}
        fields.update(more)
        return parse_fields(fields, channels, 0.0, lambda t, n: True, lambda ch: {},
                            lambda u: u == url)

    c = parse(text="")
    assert (c.text, c.media) == ("", (url,))
    assert c.as_json()["content_type"] == "file"
    assert parse(text="新品上市").text == "新品上市"  # text may go with the file
    for more, code, words in (
            ({"sender": "Yeastar"}, "media_unsupported", "alphanumeric sender ID"),
            ({"file": "https://cdn.example.com/a.png"}, "invalid_field", "uploaded"),
            ({"file": None}, "invalid_field", "file"),
            ({"media": ["https://cdn.example.com/a.png"]}, "invalid_field", "no template"),
            ({"content_type": "video"}, "invalid_field", "content_type")):
        with pytest.raises(CampaignError) as info:
            parse(**more)
        assert (info.value.code, words in info.value.message) == (code, True), more
    channels[channel.name] = replace(channel, provider="apidaze")
    with pytest.raises(CampaignError) as info:
        parse()
    assert info.value.code == "media_unsupported"
    assert "cannot send files (MMS)" in info.value.message


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    p = await FakeProvider().start()
    yield p
    await p.stop()


async def test_a_file_campaign_sends_the_uploaded_file_as_mms(tmp_path: Path,
                                                              provider: FakeProvider) -> None:
    switch = await started(switch_config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            status, data = await h.call("1001", "POST",
                                        "/campaigns/files?file_name=promo.png", data=PNG)
            assert status == 403  # admins only
            status, data = await h.call("1002", "POST",
                                        "/campaigns/files?file_name=%E6%96%B0%E5%93%81.png",
                                        data=PNG)
            assert status == 201, data
            url = data["file"]["url"]
            assert (data["file"]["name"], data["file"]["size"]) == ("新品.png", len(PNG))
            assert url.startswith(f"{h.base}/messaging/files/")
            status, data = await h.call("1002", "POST",
                                        "/campaigns/files?file_name=.png", data=PNG)
            assert (status, data["error"]) == (400, "file_name")

            contacts = ["+18300002001", "+18300002002", "+18300002003"]
            status, data = await h.call("1002", "POST", "/campaigns", {
                "name": "彩信活动", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
                "contacts": contacts, "content_type": "file", "file": url,
                "text": "新品上市🔥"})
            assert status == 201, data
            assert data["campaign"]["content_type"] == "file"
            cid = data["campaign"]["id"]
            data = await h.completed(cid)
            assert data["campaign"]["result"] == {"failed": 0, "succeeded": 3, "total": 3}
            assert sorted((r.body["to"], r.body["text"], tuple(r.body["media_urls"]))
                          for r in provider.sent) == [(n, "新品上市🔥", (url,))
                                                      for n in contacts]
            # the provider downloads it from the switch, no log-in
            async with aiohttp.ClientSession() as anonymous:
                async with anonymous.get(url) as r:
                    assert (r.status, await r.read()) == (200, PNG)
                    assert r.headers["Content-Type"] == "image/png"
                async with anonymous.get(url[:-5] + "x.png") as r:
                    assert r.status == 404

            # a URL that is not an uploaded file is refused, naming the field
            status, data = await h.call("1002", "POST", "/campaigns", {
                "name": "x", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
                "contacts": contacts, "content_type": "file",
                "file": f"{h.base}/messaging/files/{'0' * 32}/gone.png"})
            assert status == 400 and data["message"].startswith("file:")
    finally:
        await switch.stop()


async def test_a_file_of_a_campaign_not_yet_sent_outlives_the_72_hours(
        tmp_path: Path, provider: FakeProvider) -> None:
    """The sweep (at each upload and at start-up) keeps what a campaign still to send (a
    draft here) refers to, however old; an old file no campaign names goes."""
    switch = await started(switch_config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            urls = []
            for name in ("kept.png", "unused.png"):
                status, data = await h.call("1002", "POST",
                                            f"/campaigns/files?file_name={name}", data=PNG)
                assert status == 201, data
                urls.append(data["file"]["url"])
            status, data = await h.call("1002", "POST", "/campaigns", {
                "name": "later", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
                "contacts": ["+18300002001"], "content_type": "file", "file": urls[0],
                "text": "soon", "send_time": "draft"})
            assert status == 201, data
            assert data["campaign"]["status"] == "draft"
            root = tmp_path / "var" / "campaign-files"
            old = time.time() - RETENTION - 60
            for folder in root.iterdir():
                os.utime(folder, (old, old))
            status, data = await h.call("1002", "POST", "/campaigns/files?file_name=new.png",
                                        data=PNG)  # an upload sweeps
            assert status == 201, data
            async with aiohttp.ClientSession() as anonymous:
                async with anonymous.get(urls[0]) as r:
                    assert (r.status, await r.read()) == (200, PNG)
                async with anonymous.get(urls[1]) as r:
                    assert r.status == 404
    finally:
        await switch.stop()
