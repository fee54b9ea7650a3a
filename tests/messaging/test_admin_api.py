"""Campaigns and chat logs on a running switch's REST API (softswitch.messaging.admin_api):
admins only; a campaign created, sent through the local provider and its Details read; the
CSV upload (larger than the API's 64 KiB body limit) with its rejected rows; the chat logs'
list, timeline, history, deletion rule and download; the OpenAPI document lists them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fake_provider import FakeProvider
from switch_harness import QUEUE_NUMBER, config, provider, running, webhook

__all__ = ["provider"]  # the fixture, used by name

FIXTURE = Path(__file__).parent / "data" / "campaign_contacts.csv"


async def test_campaigns_and_chat_logs_over_the_api(tmp_path: Path,
                                                    provider: FakeProvider) -> None:
    provider.script = [(400, b'{"errors":[{"code":"10001","title":"Invalid"}]}')]
    async with running(config(tmp_path, provider.base)) as h:
        status, _ = await h.call("1001", "GET", "/campaigns")
        assert status == 403  # agents do not manage campaigns
        status, _ = await h.call("1001", "GET", "/chat-logs")
        assert status == 403

        # contacts from the manual's CSV, and a large file past the 64 KiB limit
        status, data = await h.call("1002", "POST",
                                    "/campaigns/import?file_name=contacts.csv",
                                    data=FIXTURE.read_bytes())
        assert status == 200 and len(data["contacts"]) == 10
        big = b"Number,Name\n" + b"".join(
            f"+1202600{i:04d},{'x' * 100}\n".encode() for i in range(1000)) + \
            b"12345,bad\n"
        assert len(big) > 64 * 1024
        status, data = await h.call("1002", "POST",
                                    "/campaigns/import?file_name=big.csv", data=big)
        assert status == 200 and len(data["contacts"]) == 1000
        assert data["rejected"] == [{"line": 1002, "value": "12345",
                                     "reason": "not an E.164 number (+ country code, "
                                               "digits)"}]
        status, data = await h.call("1002", "POST",
                                    "/campaigns/import?file_name=x.txt", data=b"Number\n")
        assert (status, data["error"]) == (400, "file_type")

        contacts = [{"number": f"+1830000200{i}", "name": f"客户 {chr(65 + i)}"}
                    for i in range(1, 6)]
        status, data = await h.call("1002", "POST", "/campaigns", {
            "name": "短信营销活动", "channel": "General SMS Channel",
            "sender": QUEUE_NUMBER, "contacts": contacts, "text": "限时特惠🔥",
            "mode": "session", "assign": {"type": "message_queue",
                                          "target": "Tech Support"}})
        assert status == 201, data
        cid = data["campaign"]["id"]
        data = await h.completed(cid)
        assert data["campaign"]["result"] == {"failed": 1, "succeeded": 4, "total": 5}
        details = data["details"]
        assert (details["failed"], details["succeeded"], details["total"]) == (1, 4, 5)
        assert details["contacts"][0] == {
            "name": "客户 B", "number": "+18300002001", "result": "failed",
            "reason": "Invalid number", "attempts": 1,
            "sent_at": details["contacts"][0]["sent_at"]}
        assert sorted(r.body["to"] for r in provider.sent) == [
            c["number"] for c in contacts]
        # the four sessions are the queue agents' (1001, 1002)
        assert len(await h.sessions("1001")) == 4
        status, data = await h.call("1002", "POST", f"/campaigns/{cid}/retry")
        assert status == 200 and data["campaign"]["status"] in ("retrying", "completed")
        data = await h.completed(cid)
        assert data["campaign"]["result"]["failed"] == 0
        assert len(provider.sent) == 6  # only the failed one again
        status, data = await h.call("1002", "POST", f"/campaigns/{cid}/copy")
        assert status == 201 and data["campaign"]["status"] == "draft"
        status, data = await h.call("1002", "GET", "/campaigns")
        assert [c["status"] for c in data["campaigns"]] == ["draft", "completed"]
        assert data["campaigns"][1]["reply_rate"] == 0

        # a customer replies: the campaign's session, and a reply counted
        assert await h.post_webhook(webhook("r-1", customer="+18300002002",
                                            text="我需要帮助")) == 204
        _, data = await h.call("1002", "GET", "/campaigns")
        assert data["campaigns"][1]["reply_rate"] == 20
        status, data = await h.call("1002", "GET",
                                    "/chat-logs?recipient=%2B18300002002")
        assert status == 200 and data["total"] == 1
        row = data["sessions"][0]
        assert (row["sender"], row["channel_type"]) == ("群发活动<短信营销活动>", "SMS")
        sid = row["id"]
        status, data = await h.call("1002", "GET", f"/chat-logs/{sid}/timeline")
        assert [e["title"] for e in data["timeline"]] == ["创建会话"]
        status, data = await h.call("1002", "GET", f"/chat-logs/{sid}/messages")
        assert [(m["type"], m["content"]) for m in data["messages"]] == [
            ("Received", "我需要帮助"), ("Sent", "限时特惠🔥")]
        assert data["messages"][0]["recipient"] == "Tech Support"
        status, data = await h.call("1002", "GET", "/chat-logs/download?all=1")
        assert status == 200
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert sorted(z.namelist()) == ["Chat_Data_Record.csv", "Session_Record.csv"]
            # one session per contact reached
            assert z.read("Session_Record.csv").decode().count("\r\n") == 1 + 5
        status, data = await h.call("1002", "DELETE", "/chat-logs", {"ids": [sid]})
        assert (status, data) == (200, {"deleted": [sid]})
        _, data = await h.call("1002", "GET", "/chat-logs")
        assert data["total"] == 4

        async with h.http.get(f"{h.base}/api/v1/openapi.json") as r:
            paths = (await r.json())["paths"]
        assert {"/api/v1/messaging/campaigns", "/api/v1/messaging/chat-logs/download",
                "/api/v1/messaging/chat-logs/{session}/messages"} <= set(paths)


async def test_the_admin_examples_of_the_openapi_document_are_accepted(
        tmp_path: Path, provider: FakeProvider) -> None:
    async with running(config(tmp_path, provider.base)) as h:
        examples = await h.openapi_examples(lambda path: path.startswith(
            ("/api/v1/messaging/campaigns", "/api/v1/messaging/chat-logs")))
        assert len(examples) >= 4
        for i in (1, 2):  # sessions 1 and 2 exist, with messages
            assert await h.post_webhook(webhook(f"e-{i}", customer=f"+1830000300{i}")) \
                == 204
        cid = None
        for method, path, value in sorted(examples, key=lambda e: e[0] != "POST"):
            if "{campaign}" in path:
                assert cid is not None
                path = path.replace("{campaign}", str(cid))
            path = path.replace("{session}", "1")
            status, body = await h.call("1002", method,
                                        path.removeprefix("/api/v1/messaging"), value)
            if path.endswith("/campaigns"):
                assert status == 201, body
                cid = body["campaign"]["id"]
                assert body["campaign"]["status"] == "scheduled"
            elif "/campaigns/" in path:
                assert status == 200, body
            else:  # the ids examples: valid requests (a system message is refused)
                assert status in (200, 409), body


async def test_recipients_from_the_company_contacts_in_e164(tmp_path: Path,
                                                            provider: FakeProvider) -> None:
    async with running(config(tmp_path, provider.base, contacts={"entries": [
    {"number": "+18300002001", "name": "客户 B"}, {"number": "1005", "name": "Desk"},
    {"number": "+18300002002", "name": "客户 C"}]})) as h:
        status, data = await h.call("1002", "POST", "/campaigns", {
            "name": "VIP", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
            "contacts": ["+18300002002"], "company_contacts": True, "text": "hi",
            "send_time": "draft"})
        assert status == 201, data
        assert data["campaign"]["recipients"] == "Company contacts"
        _, data = await h.call("1002", "GET", f"/campaigns/{data['campaign']['id']}")
        assert [(k["number"], k["name"]) for k in data["details"]["contacts"]] == [
            ("+18300002002", ""), ("+18300002001", "客户 B")]  # 1005 is not E.164
        status, data = await h.call("1002", "POST", "/campaigns", {
            "name": "none", "channel": "General SMS Channel", "sender": QUEUE_NUMBER,
            "text": "hi", "send_time": "draft"})
        assert status == 400 and "contacts" in data["message"]
