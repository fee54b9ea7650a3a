"""What the console's inbox needs from the messaging API (softswitch.messaging.api): unread
counts per agent that survive a restart, the list's last-message preview, and the options of
its dialogs (the numbers an agent may start sessions from, message queues, colleagues)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from fake_provider import FakeProvider
from switch_harness import (
    EXT_NUMBER,
    QUEUE_NUMBER,
    Harness,
    config,
    provider,
    started,
    webhook,
)

__all__ = ["provider"]  # the fixture, used by name


async def test_unread_counts_follow_read_marks_and_survive_a_restart(
        tmp_path: Path, provider: FakeProvider) -> None:
    cfg = config(tmp_path, provider.base)
    switch = await started(cfg)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            assert await h.post_webhook(webhook("u-1", text="one")) == 204
            assert await h.post_webhook(webhook("u-2", text="two")) == 204
            _, data = await h.api("1001", "GET", "/sessions")
            [row] = data["sessions"]
            sid = row["id"]
            # the customer's two messages; the creation's system message does not count
            assert row["unread"] == 2
            assert row["last_message"]["text"] == "two"
            assert row["last_message"]["type"] == "received"
            _, detail = await h.api("1001", "GET", f"/sessions/{sid}")
            first = next(m for m in detail["messages"] if m["text"] == "one")
            status, marked = await h.api("1001", "POST", f"/sessions/{sid}/read",
                                         {"message": first["id"]})
            assert status == 200 and marked["unread"] == 1
            # a mark never moves back
            status, marked = await h.api("1001", "POST", f"/sessions/{sid}/read",
                                         {"message": 1})
            assert marked["read"] == first["id"] and marked["unread"] == 1
            status, marked = await h.api("1001", "POST", f"/sessions/{sid}/read", {})
            assert status == 200 and marked["unread"] == 0
            # the marks are per agent: 1002 (same queue) has read nothing
            _, data = await h.api("1002", "GET", "/sessions")
            assert data["sessions"][0]["unread"] == 2
            # an agent's own reply is no unread message; the next customer message is
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/take_over")
            assert status == 200  # its system message is no unread message either
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/messages",
                                    {"text": "hi"})
            assert status == 202
            assert await h.post_webhook(webhook("u-3", text="three")) == 204
            _, data = await h.api("1001", "GET", "/sessions")
            assert data["sessions"][0]["unread"] == 1
            assert data["sessions"][0]["last_message"]["text"] == "three"
            # a session 1003 cannot see: 404, nothing marked
            status, _ = await h.api("1003", "POST", f"/sessions/{sid}/read", {})
            assert status == 404
            status, _ = await h.api("1001", "POST", f"/sessions/{sid}/read",
                                    {"message": 0})
            assert status == 400
    finally:
        await switch.stop()
    switch = await started(cfg)
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            _, data = await h.api("1001", "GET", "/sessions")
            assert [s["unread"] for s in data["sessions"]] == [1]
            _, data = await h.api("1002", "GET", "/sessions")
            assert data["sessions"] == []  # 1001 took it over
    finally:
        await switch.stop()


async def test_my_options_list_allowed_senders_queues_and_colleagues(
        tmp_path: Path, provider: FakeProvider) -> None:
    switch = await started(config(tmp_path, provider.base))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(switch, http)
            status, mine = await h.api("1001", "GET", "/me")
            assert status == 200
            # §9.2: only the number whose allowed_extensions list 1001
            assert mine["senders"] == [{"channel": "General SMS Channel", "type": "sms",
                                        "number": QUEUE_NUMBER}]
            assert mine["queues"] == [{"name": "Tech Support", "mode": "manual_take_over"}]
            colleagues = {c["extension"]: c["name"] for c in mine["colleagues"]}
            assert "1001" not in colleagues and colleagues["1002"] == "Ext 1002"
            _, other = await h.api("1003", "GET", "/me")
            assert other["senders"] == []  # not allowed on any number
            assert EXT_NUMBER not in {s["number"] for s in mine["senders"]}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{switch.http_address}/api/v1/messaging/me") as r:
                assert r.status == 401
    finally:
        await switch.stop()
