"""The inbox's "Add to contacts" and "Session details" (omnichannel.md §6.2, §9.3) in a real
browser against a running switch with a General SMS channel (a local fake provider), a Live
Chat channel and a contact from the configuration file:

- the session details panel (the bottom-left icon) shows the source channel with its type,
  the channel number, the customer and the session's facts; once the customer is a company
  contact, that contact's fields, kept fresh when the contact is edited;
- "Add new contact": the customer's number prefilled and read-only, its type chosen; a bad
  e-mail is refused by the switch (400) and the dialog says which field, in English; saved,
  the chat title and the list row show name<number> and the contact has the number with
  the chosen type;
- another customer: a number that belongs to a contact already is refused (409
  number_exists); "Add to existing contact" searches the contacts, a configuration contact
  is shown read-only and refused (409 read_only); an API contact is picked, its fields are
  shown, edited (a bad e-mail refused, then corrected) and saved with the customer's
  number;
- in Chinese the dialog's labels and its refusals are the manual's language;
- a Live Chat visitor (no phone number) is not offered "Add to contacts"; its details show
  the Live Chat channel number.

Screenshots go to tests/browser/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from console_page import shot
from playwright.sync_api import Page, expect
from test_console import api, log_in
from test_console_inbox import (
    AGENT_A,
    AGENT_B,
    NUMBER,
    ProviderThread,
    channel_overrides,
    post_sms,
    row,
    two_agents_switch,
)

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop

FIRST = "+8618012121222"
SECOND = "+8613900000001"
KRISTIN = "+12025550100"
ORIGIN = "https://www.yeasar.com"


def overrides(base: str) -> dict[str, Any]:
    out = channel_overrides(base)
    out["contacts"] = {"match_last_digits": 7,
                       "entries": [{"name": "Kristin Hale", "number": KRISTIN}]}
    out["message_channels"] = [*out["message_channels"], {
        "name": "Livechat", "type": "livechat", "number": "LC00000",
        "domains": ["www.yeasar.com"], "pre_chat_form": [],
        "destination": {"type": "message_queue", "target": "Tech Support"}}]
    return out


async def visitor_writes(http_url: str, text: str) -> None:
    """A Live Chat visitor (the widget's websocket protocol) sends one message."""
    ws_url = http_url.replace("http://", "ws://") + "/api/v1/livechat/LC00000/ws"
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(ws_url, headers={"Origin": ORIGIN}) as ws:
        await ws.send_str(json.dumps({"type": "hello", "visitor": None, "form": None}))
        sent = False
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
            if frame["type"] == "welcome" and not sent:
                await ws.send_str(json.dumps({"type": "message", "text": text, "id": "v1"}))
                sent = True
            elif frame["type"] == "ack":
                return


def detail(page: Page, key: str) -> Any:
    return page.locator(f"#session-details dd[data-detail='{key}']")


@pytest.mark.timeout(240)
def test_add_customer_to_contacts_and_session_details(
        switch_factory: Callable[..., RunningSwitch],
        page_factory: Callable[..., Page]) -> None:
    provider = ProviderThread()
    try:
        switch = two_agents_switch(switch_factory, overrides(provider.provider.base))
        a = page_factory("small")
        log_in(a, switch, AGENT_A)
        post_sms(switch, "in-1", "Hello, I need help", customer=FIRST)
        row(a, FIRST).click()
        expect(a.locator("#chat-title")).to_have_text(FIRST)

        # session details: the bottom-left icon opens the right-hand panel
        expect(a.locator("#session-details")).to_have_count(0)
        a.click("#op-details")
        expect(a.locator("#session-details")).to_be_visible()
        expect(detail(a, "channel")).to_have_text("General SMS Channel (SMS)")
        expect(detail(a, "number")).to_have_text(NUMBER)
        expect(detail(a, "customer")).to_have_text(FIRST)
        expect(detail(a, "id")).to_have_text(row(a, FIRST).get_attribute("data-session") or "")
        expect(detail(a, "origin")).to_have_text("Customer message")
        expect(detail(a, "destination")).to_have_text("Message queue: Tech Support")
        expect(detail(a, "owner")).to_have_text("not taken over yet")
        expect(a.locator("#details-contact")).to_have_count(0)  # not a contact yet

        # Add new contact: the number prefilled, read-only; a bad e-mail is the switch's 400
        a.click("#op-contact")
        dialog = a.locator("#contact-dialog")
        expect(dialog).to_be_visible()
        expect(a.locator("#contact-mode-new")).to_be_checked()
        expect(a.locator("#contact-new-number-0")).to_have_value(FIRST)
        expect(a.locator("#contact-new-number-0")).to_have_attribute("readonly", "")
        a.fill("#contact-name", "Wang Fang")
        a.fill("#contact-company", "Acme Trading")
        a.fill("#contact-email", "wang.fang-at-acme")
        a.select_option("#contact-new-type-0", "business")
        a.click("#contact-ok")
        expect(a.locator("#contact-error")).to_have_text("Check this field: Email")
        expect(a.locator("#contact-email")).to_have_attribute("aria-invalid", "true")
        shot(a, "contact-new-error")
        a.fill("#contact-email", "wang.fang@acme.example")
        a.click("#contact-ok")
        expect(dialog).to_have_count(0)
        expect(a.locator("#chat-title")).to_have_text(f"Wang Fang<{FIRST}>")
        expect(row(a, FIRST).locator(".customer")).to_have_text(f"Wang Fang<{FIRST}>")
        # the panel now shows the contact's fields
        expect(detail(a, "contact_name")).to_have_text("Wang Fang")
        expect(detail(a, "contact_company")).to_have_text("Acme Trading")
        expect(detail(a, "contact_email")).to_have_text("wang.fang@acme.example")
        expect(detail(a, "contact_number_0")).to_have_text(FIRST)
        expect(a.locator("#session-details dt").filter(has_text="Business")).to_have_count(1)
        [wang] = [c for c in api(switch, AGENT_B, "GET", "/contacts")["contacts"]
                  if c["name"] == "Wang Fang"]
        assert wang["numbers"] == [{"type": "business", "number": FIRST}]
        assert (wang["company"], wang["email"]) == ("Acme Trading", "wang.fang@acme.example")

        # a second customer: a number of another contact is refused (409 number_exists)
        post_sms(switch, "in-2", "Me again, from my other phone", customer=SECOND)
        row(a, SECOND).click()
        expect(a.locator("#chat-title")).to_have_text(SECOND)
        expect(a.locator("#details-contact")).to_have_count(0)  # the panel stays open
        expect(detail(a, "customer")).to_have_text(SECOND)
        a.click("#op-contact")
        a.fill("#contact-name", "Fang Wang")
        a.click("#contact-add-number")
        a.fill("#contact-new-number-1", FIRST)
        a.click("#contact-ok")
        expect(a.locator("#contact-error")).to_have_text(
            "This number already belongs to another contact")

        # Add to existing contact: the configuration's contact is shown read-only, refused
        a.check("#contact-mode-existing")
        expect(a.locator("#contact-new")).to_be_hidden()
        a.fill("#contact-search", "kristin")
        a.press("#contact-search", "Enter")
        picks = a.locator("#contact-results .contact-pick")
        expect(picks).to_have_count(1)
        picks.first.click()
        expect(a.locator("#contact-read-only")).to_be_visible()
        expect(a.locator("#existing-name")).to_be_disabled()
        a.click("#contact-ok")
        expect(a.locator("#contact-error")).to_have_text(
            "This contact comes from the configuration file and cannot be changed here")
        # ... an API contact is picked by its number, shown, edited, saved with this number
        a.fill("#contact-search", FIRST[-6:])
        a.press("#contact-search", "Enter")
        expect(picks).to_have_count(1)
        expect(picks.first).to_contain_text("Wang Fang")
        picks.first.click()
        expect(a.locator("#existing-name")).to_have_value("Wang Fang")
        expect(a.locator("#existing-name")).to_be_enabled()
        expect(a.locator("#contact-read-only")).to_have_count(0)
        expect(a.locator("#contact-picked")).not_to_contain_text("null")
        expect(a.locator("#existing-company")).to_have_value("Acme Trading")
        expect(a.locator("#existing-email")).to_have_value("wang.fang@acme.example")
        expect(a.locator("#existing-number-0")).to_have_value(FIRST)
        expect(a.locator("#existing-number-1")).to_have_value(SECOND)
        expect(a.locator("#existing-number-1")).to_have_attribute("readonly", "")
        # an edit the switch refuses (the number is added first): the dialog stays open and
        # says which field; corrected, a second OK saves it
        a.fill("#existing-email", "wang.fang-at-acme")
        a.click("#contact-ok")
        expect(a.locator("#contact-error")).to_have_text("Check this field: Email")
        expect(a.locator("#existing-email")).to_have_attribute("aria-invalid", "true")
        a.fill("#existing-email", "wang.fang@acme.example")
        a.fill("#existing-company", "Acme Trading Ltd")
        shot(a, "contact-existing")
        a.click("#contact-ok")
        expect(a.locator("#contact-dialog")).to_have_count(0)
        expect(a.locator("#chat-title")).to_have_text(f"Wang Fang<{SECOND}>")
        expect(row(a, SECOND).locator(".customer")).to_have_text(f"Wang Fang<{SECOND}>")
        expect(detail(a, "contact_company")).to_have_text("Acme Trading Ltd")
        expect(detail(a, "contact_number_1")).to_have_text(SECOND)
        shot(a, "contact-details")
        wang = api(switch, AGENT_B, "GET", f"/contacts/{wang['id']}")["contact"]
        assert wang["company"] == "Acme Trading Ltd"
        assert wang["numbers"] == [{"type": "business", "number": FIRST},
                                   {"type": "mobile", "number": SECOND}]

        # Chinese: the labels and the refusals in the console's language
        a.select_option("#lang", "zh")
        expect(a.locator("#session-details h2")).to_have_text("会话详情")
        expect(a.locator("#session-details dt").first).to_have_text("消息来源渠道")
        a.click("#op-contact")
        expect(a.locator("#contact-dialog .choice").first).to_contain_text("添加新联系人")
        expect(a.locator("#contact-dialog .choice").nth(1)).to_contain_text("添加至现有联系人")
        a.fill("#contact-name", "Someone")
        a.click("#contact-ok")
        expect(a.locator("#contact-error")).to_have_text("此号码已属于其他联系人")
        shot(a, "contact-zh")
        a.click("#contact-cancel")
        a.select_option("#lang", "en")

        # a Live Chat visitor has no number: no "Add to contacts"; its details
        asyncio.run_coroutine_threadsafe(visitor_writes(switch.http_url, "Hi from the web"),
                                         provider.loop).result(20)
        visitor = a.locator("#session-list li.session[data-customer^='visitor-']")
        expect(visitor).to_have_count(1)
        visitor.click()
        expect(a.locator("#chat-log .msg.received .text")).to_have_text("Hi from the web")
        expect(a.locator("#op-transfer")).to_be_visible()
        expect(a.locator("#op-contact")).to_have_count(0)
        expect(detail(a, "channel")).to_have_text("Livechat (Live Chat)")
        expect(a.locator("#session-details dt").nth(1)).to_have_text("Live Chat channel number")
        expect(detail(a, "number")).to_have_text("LC00000")
        expect(a.locator("#details-contact")).to_have_count(0)
        # closing the panel
        a.click("#details-close")
        expect(a.locator("#session-details")).to_have_count(0)
        expect(a.locator("#op-details")).to_have_attribute("aria-pressed", "false")
    finally:
        provider.stop()
