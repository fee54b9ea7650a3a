"""The agents' inbox (External Chat, omnichannel.md §9.3) in a real browser against a running
switch whose General SMS channel (§3.9) talks to a local fake provider:

- a customer's SMS, posted to the channel's webhook, appears live in both queue agents'
  inboxes with its unread count; the first agent opens it (keyboard), takes it over (the
  other agent's list loses it live), replies, and the provider receives the reply exactly as
  §3.9.4 says; a reply the provider refuses shows "failed" and the provider's prompt;
- archive and unarchive move it between Recent and Archived; a transfer to a colleague moves
  it to the colleague's inbox live; the colleague ends it (after the confirmation): the
  composer is disabled and the session is archived; the customer's next message opens a
  new session; the colleague removes the closed one from its list (right-click);
- an agent allowed on the number starts a session and its message reaches the provider; a
  transfer to the message queue shows it to both agents, waiting to be taken over;
- a message that arrives while the websocket is down shows once it has resumed;
- the labels switch to Chinese.

Screenshots at 1366x768 and 1920x1080 go to tests/browser/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from console_page import shot
from playwright.sync_api import Page, expect
from test_console import OVERRIDES, log_in

from benchmarks.peers.switch import Extension, RunningSwitch
from softswitch.messaging.general import sign

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "messaging"))
from fake_provider import FakeProvider  # noqa: E402

pytestmark = pytest.mark.interop

AGENT_A = ("2000", "agent-pw")
AGENT_B = ("2001", "agent2-pw")
TOKEN = "5b1c0e0cdd1a4d0f9c2b6a1e7f3d8c44"
SECRET = "webhook-secret"
NUMBER = "+14102161183"
CUSTOMER = "+8618012121222"
REFUSED = (400, b'{"errors":[{"code":"10001","title":"Invalid \'to\' address",'
                b'"detail":"The \'to\' address should be a single valid number."}]}')


class ProviderThread:
    """The fake General SMS provider (tests/messaging/fake_provider.py) on its own event
    loop in a thread, for a synchronous Playwright test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.provider = asyncio.run_coroutine_threadsafe(FakeProvider().start(),
                                                         self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def sent(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.provider.sent) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return [r.body for r in self.provider.sent]


def channel_overrides(base: str) -> dict[str, Any]:
    return dict(OVERRIDES, message_queues=[
        {"name": "Tech Support", "chat_assignment_mode": "manual_take_over",
         "agents": [AGENT_A[0], AGENT_B[0]]}], message_channels=[
        {"name": "General SMS Channel", "type": "sms", "provider": "general", "token": TOKEN,
         "api_key": "the-api-key", "secret": SECRET, "send_url": f"{base}/sendmessage",
         "numbers": [{"number": NUMBER,
                      "destination": {"type": "message_queue", "target": "Tech Support"},
                      "allowed_extensions": [AGENT_A[0]]}]}])


def post_sms(switch: RunningSwitch, pid: str, text: str, customer: str = CUSTOMER) -> None:
    """What the provider posts for an inbound SMS (§3.9.5), signed."""
    raw = json.dumps({"data": {"event_type": "message.received", "id": f"ev-{pid}",
                               "occurred_at": "2026-12-03T09:00:00.000+00:00",
                               "record_type": "event",
                               "payload": {"id": pid, "direction": "inbound",
                                           "from": {"phone_number": customer},
                                           "to": [{"phone_number": NUMBER,
                                                   "status": "webhook_delivered"}],
                                           "text": text, "media": [], "encoding": "GSM-7",
                                           "parts": 1, "record_type": "message",
                                           "received_at": "2026-12-03T09:00:00.000+00:00",
                                           "type": "SMS/MMS"}},
                      "meta": {"attempt": 1}}).encode()
    req = urllib.request.Request(f"{switch.http_url}/api/v1/webhooks/general/{TOKEN}",
                                 data=raw, method="POST",
                                 headers={"Content-Type": "application/json",
                                          "X-Signature-256": sign(SECRET, raw)})
    with urllib.request.urlopen(req, timeout=10) as reply:
        assert reply.status == 204


def two_agents_switch(switch_factory: Callable[..., RunningSwitch],
                      overrides: dict[str, Any]) -> RunningSwitch:
    """A switch with agents A and B only (no demo extensions, no call queues) and
    ``overrides`` (its message channels and queues)."""
    return switch_factory(extensions=[Extension(*AGENT_A), Extension(*AGENT_B)],
                          keep_demo_extensions=False, queues=[], overrides=overrides)


def row(page: Page, customer: str = CUSTOMER) -> Any:
    return page.locator(f"#session-list li.session[data-customer='{customer}']")


@pytest.mark.timeout(240)
def test_agent_inbox_receives_takes_over_replies_transfers_and_closes(
        switch_factory: Callable[..., RunningSwitch],
        page_factory: Callable[..., Page]) -> None:
    provider = ProviderThread()
    try:
        switch = two_agents_switch(switch_factory, channel_overrides(provider.provider.base))
        a = page_factory("small")
        b = page_factory("large")
        log_in(a, switch, AGENT_A)
        log_in(b, switch, AGENT_B)
        for page in (a, b):  # a messaging-only user lands on the inbox
            expect(page.locator("#tab-inbox")).to_have_attribute("aria-current", "page")
            expect(page.locator("#no-sessions")).to_be_visible()

        # the customer's SMS appears live in both queue agents' inboxes, unread
        post_sms(switch, "in-1", "Hello, my order did not arrive")
        for page in (a, b):
            expect(row(page)).to_be_visible()
            expect(row(page).locator(".unread-count")).to_have_text("1")
            expect(row(page).locator(".preview")).to_have_text("Hello, my order did not arrive")
            expect(row(page).locator(".channel")).to_contain_text("General SMS Channel")
            expect(page.locator("#tab-inbox")).to_have_text("External Chat (1)")
        shot(a, "inbox-new-session")

        # agent A opens it with the keyboard: history with the system message, read
        row(a).focus()
        a.keyboard.press("Enter")
        expect(a.locator("#chat-title")).to_have_text(CUSTOMER)
        system = a.locator("#chat-log .msg.system")
        expect(system.first).to_contain_text("PBX System")
        expect(system.first).to_contain_text(f"接收{CUSTOMER}的消息，会话路由给Tech Support。")
        expect(a.locator("#chat-log .msg.received .text")).to_have_text(
            "Hello, my order did not arrive")
        expect(row(a).locator(".unread-count")).to_have_count(0)
        expect(a.locator("#tab-inbox")).to_have_text("External Chat")
        expect(row(b).locator(".unread-count")).to_have_text("1")  # B's marks are B's

        # take over: B's list loses it live; the take-over is a system message
        a.click("#take-over")
        expect(system.last).to_contain_text("Extension 2000从消息队列Tech Support中接管会话。")
        expect(a.locator("#take-over")).to_have_count(0)
        expect(row(b)).to_have_count(0)

        # reply: Enter sends; the provider gets it; the message shows "Sent"
        a.fill("#composer", "Sorry about that, let me check")
        a.keyboard.press("Enter")
        mine = a.locator("#chat-log .msg.sent")
        expect(mine.last.locator(".text")).to_have_text("Sorry about that, let me check")
        expect(mine.last).to_have_attribute("data-status", "sent")
        expect(mine.last.locator(".delivery")).to_have_text("Sent")
        assert provider.sent(1)[0] == {"from": NUMBER, "to": CUSTOMER,
                                       "text": "Sorry about that, let me check"}
        # a reply the provider refuses: failed, with the provider's prompt (§3.9.4)
        provider.provider.script.append(REFUSED)
        a.fill("#composer", "Second reply")
        a.click("#send")
        expect(mine.last).to_have_attribute("data-status", "failed")
        expect(mine.last.locator(".delivery")).to_have_text("Failed")
        expect(mine.last.locator(".delivery-error")).to_have_text("Invalid number")
        expect(a.locator("#toasts .toast.error").last).to_contain_text(
            "Sending failed: Invalid number")
        shot(a, "inbox-chat")

        # archive, then unarchive
        a.click("#op-archive")
        expect(a.locator("#inbox-archived")).to_have_text("Archived (1)")
        expect(row(a)).to_have_count(0)  # the Recent list is shown
        a.click("#inbox-archived")
        expect(row(a)).to_be_visible()
        a.click("#op-unarchive")
        expect(a.locator("#inbox-recent")).to_have_text("Recent (1)")
        a.click("#inbox-recent")
        expect(row(a)).to_be_visible()

        # transfer to the colleague: it leaves A's inbox and appears in B's, live
        a.click("#op-transfer")
        a.select_option("#transfer-kind", "extension")
        a.select_option("#transfer-target", AGENT_B[0])
        a.click("#transfer-ok")
        expect(row(a)).to_have_count(0)
        expect(a.locator("#chat.empty")).to_be_visible()
        expect(row(b)).to_be_visible()
        row(b).click()
        expect(b.locator("#chat-log .msg.system").last).to_contain_text(
            "Extension 2000将会话转移给Extension 2001<2001>。")
        expect(b.locator("#chat-log .msg.sent")).to_have_count(2)  # the whole history

        # B ends it after the confirmation: no more sending, archived
        b.click("#op-close")
        expect(b.locator("[role=alertdialog]")).to_be_visible()
        b.click("#confirm-ok")
        expect(b.locator("#chat-log .msg.system").last).to_contain_text("会话已被关闭。")
        expect(b.locator("#composer")).to_be_disabled()
        expect(b.locator("#send")).to_be_disabled()
        expect(b.locator("#inbox-archived")).to_have_text("Archived (1)")
        shot(b, "inbox-closed")

        # the customer writes again: a new session, back in the queue for both
        post_sms(switch, "in-2", "Any news?")
        for page in (a, b):
            expect(row(page)).to_be_visible()
            expect(row(page).locator(".preview")).to_have_text("Any news?")
        new_id = row(a).get_attribute("data-session")
        closed_id = b.locator("#chat").get_attribute("data-session")
        assert new_id is not None and closed_id is not None and int(new_id) > int(closed_id)
        # B removes the closed one from its list (right-click, §9.3)
        b.click("#inbox-archived")
        closed = b.locator(f"#session-list li.session[data-session='{closed_id}']")
        closed.click(button="right")
        b.click("#menu-remove")
        b.click("#confirm-ok")
        expect(closed).to_have_count(0)
        expect(b.locator("#inbox-archived")).to_have_text("Archived (0)")
        b.click("#inbox-recent")

        # A may start sessions from the number (§9.2); B may not (no "+")
        expect(b.locator("#create-session")).to_have_count(0)
        a.click("#create-session")
        expect(a.locator("#create-sender option")).to_have_text(
            [f"{NUMBER}/General SMS Channel"])
        a.fill("#create-recipient", "+8613899990000")
        a.press("#create-recipient", "Enter")
        expect(a.locator("#chat-title")).to_have_text("+8613899990000")
        a.fill("#composer", "Your parcel ships today")
        a.keyboard.press("Enter")
        expect(a.locator("#chat-log .msg.sent").last).to_have_attribute("data-status", "sent")
        assert provider.sent(3)[2] == {"from": NUMBER, "to": "+8613899990000",
                                       "text": "Your parcel ships today"}

        # transfer to the message queue: both its agents see it, waiting to be taken over
        a.click("#op-transfer")
        a.select_option("#transfer-kind", "queue")
        a.select_option("#transfer-target", "Tech Support")
        a.click("#transfer-ok")
        expect(row(b, "+8613899990000")).to_be_visible()
        expect(row(a, "+8613899990000")).to_be_visible()  # A is an agent of the queue too
        expect(a.locator("#take-over")).to_be_visible()
        expect(a.locator("#chat-details")).to_contain_text(
            "Owner: waiting in message queue Tech Support")

        # the websocket drops: a message arriving meanwhile shows once it has resumed
        a.evaluate("() => { consoleApp.live.retry = 3; consoleApp.live.ws.close(); }")
        expect(a.locator("#offline")).to_be_visible()
        post_sms(switch, "in-3", "Are you there?", customer="+8613700000001")
        expect(a.locator("#offline")).to_be_hidden(timeout=15000)
        expect(row(a, "+8613700000001").locator(".unread-count")).to_have_text("1")
        expect(row(a, "+8613700000001").locator(".preview")).to_have_text("Are you there?")

        # added as a company contact (§6.2): the list shows name<number>, live
        sid = a.locator("#session-list li.session[data-customer='+8613700000001']"
                        ).get_attribute("data-session")
        api_post(switch, AGENT_B, f"/messaging/sessions/{sid}/contact",
                 {"new": {"name": "Li Lei"}})
        expect(row(a, "+8613700000001").locator(".customer")).to_have_text(
            "Li Lei<+8613700000001>")

        # Chinese labels (the manual's)
        a.select_option("#lang", "zh")
        expect(a.locator("#tab-inbox")).to_contain_text("外部聊天")
        expect(a.locator("#inbox-recent")).to_contain_text("最近")
        expect(a.locator("#op-close")).to_have_text("结束会话")
        expect(a.locator("#send")).to_have_text("发送")
        shot(a, "inbox-zh")
    finally:
        provider.stop()


def api_post(switch: RunningSwitch, who: tuple[str, str], path: str,
             body: dict[str, Any]) -> dict[str, Any]:
    def call(url: str, doc: dict[str, Any], headers: dict[str, str]) -> Any:
        req = urllib.request.Request(url, data=json.dumps(doc).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
        with urllib.request.urlopen(req, timeout=10) as reply:
            return json.loads(reply.read())

    token = call(f"{switch.http_url}/api/v1/login",
                 {"extension": who[0], "password": who[1]}, {})["token"]
    out: dict[str, Any] = call(f"{switch.http_url}/api/v1{path}", body,
                               {"Authorization": f"Bearer {token}"})
    return out


@pytest.mark.timeout(180)
def test_campaign_sessions_appear_live_under_the_campaign_filter(
        switch_factory: Callable[..., RunningSwitch],
        page_factory: Callable[..., Page]) -> None:
    """§13 item 48: a campaign in "create session" mode assigned to the queue: its session
    reaches the queue agent's inbox live and is listed under the Campaign tab; an inbound
    session is not; the tab's label is "群发活动" in Chinese."""
    provider = ProviderThread()
    admin = ("2009", "admin-pw")
    try:
        switch = switch_factory(
            extensions=[Extension(*AGENT_A), Extension(*AGENT_B), Extension(*admin)],
            keep_demo_extensions=False, queues=[],
            overrides=dict(channel_overrides(provider.provider.base), admins=[admin[0]]))
        a = page_factory("small")
        log_in(a, switch, AGENT_A)
        expect(a.locator("#inbox-campaign")).to_have_text("Campaign (0)")
        post_sms(switch, "in-c1", "Hello")  # an inbound session: not a campaign one
        expect(row(a)).to_be_visible()
        campaign_customer = "+18300002002"
        api_post(switch, admin, "/messaging/campaigns", {
            "name": "短信营销活动", "channel": "General SMS Channel", "sender": NUMBER,
            "contacts": [campaign_customer], "text": "限时特惠🔥", "mode": "session",
            "assign": {"type": "message_queue", "target": "Tech Support"}})
        expect(row(a, campaign_customer)).to_be_visible()  # live, in Recent
        expect(a.locator("#inbox-campaign")).to_have_text("Campaign (1)")
        a.click("#inbox-campaign")
        expect(a.locator("#session-list li.session")).to_have_count(1)
        expect(row(a, campaign_customer)).to_be_visible()
        expect(row(a, campaign_customer).locator(".preview")).to_have_text("限时特惠🔥")
        expect(row(a)).to_have_count(0)  # the inbound session is not a campaign's
        shot(a, "inbox-campaign-filter")
        assert provider.sent(1)[0] == {"from": NUMBER, "to": campaign_customer,
                                       "text": "限时特惠🔥"}
        a.select_option("#lang", "zh")
        expect(a.locator("#inbox-campaign")).to_have_text("群发活动 (1)")
    finally:
        provider.stop()
