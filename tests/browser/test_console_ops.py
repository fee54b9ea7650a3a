"""The queue panel's call operations in a real browser (queue-manager-agent.md §4.7, §4.9,
§4.10): a manager listens to an agent's call from the panel (the switch calls the manager's
phone, which then hears the call), hangs up a waiting caller after the confirmation dialog,
and calls an agent by double-clicking its card.

These operations come from the live API's call operations; a switch whose OpenAPI document
does not list them offers no such button (tests/browser/test_console.py checks that), and
this test is skipped there, naming the missing operations.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from console_page import shot
from phones import Phone
from playwright.sync_api import Page, expect
from queue_support import phone
from test_console import (
    AGENT,
    CALLER,
    EXTENSIONS,
    MANAGER,
    OVERRIDES,
    QUEUE,
    Q,
    log_in,
    operations,
)

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop
NEEDED = {"monitor", "hangup", "agent_call"}


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE], overrides=OVERRIDES)
def test_manager_listens_hangs_up_and_calls_an_agent_from_the_panel(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page]) -> None:
    with urllib.request.urlopen(switch.http_url + "/api/v1/openapi.json", timeout=10) as r:
        paths = json.loads(r.read())["paths"]
    offered = operations(switch)
    if "/api/v1/queues/{queue}/agents/{agent}/call" in paths:
        offered.add("agent_call")
    if not NEEDED <= offered:
        pytest.skip(f"this switch does not offer {sorted(NEEDED - offered)}")

    boss_phone = phone(phone_factory, MANAGER, switch)
    agent = phone(phone_factory, AGENT, switch)
    caller = phone(phone_factory, CALLER, switch)
    page = page_factory("small")
    log_in(page, switch, MANAGER)
    page.click("#tab-panel")

    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    agent.answer(agent.wait_incoming())
    row = page.locator("#active-table tr[data-caller='3000']")
    expect(row).to_be_visible()
    row.locator(".op-listen").click()
    listen = boss_phone.wait_incoming(timeout=15)  # §4.7: the switch calls the manager
    boss_phone.answer(listen)
    boss_phone.wait_call_state(listen, "CONFIRMED")
    shot(page, "panel-listening")
    boss_phone.hangup(listen)
    caller.hangup(call)
    expect(row).to_have_count(0)

    # §4.9 hang up a waiting caller: the panel asks first
    page.click("#pause-6470-2000")  # the only signed-in agent: the next caller waits
    expect(page.locator("#agent-cards [data-agent='2000'] .state")).to_have_text("Paused")
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    waiting = page.locator("#waiting-table tr[data-caller='3000']")
    expect(waiting).to_be_visible()
    waiting.locator(".op-hangup").click()
    expect(page.locator("[role=alertdialog]")).to_be_visible()
    page.click("#confirm-ok")
    caller.wait_call_state(call, "DISCONNECTED", timeout=10)
    expect(waiting).to_have_count(0)

    # §4.10 double-click an agent's card: the manager's phone rings first
    page.locator("#agent-cards [data-agent='2000']").dblclick()
    ring = boss_phone.wait_incoming(timeout=15)
    boss_phone.answer(ring, 486)
