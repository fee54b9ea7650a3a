"""A pickup from the queue panel tells the picker how it ended (PROTOCOL.md §3 `call.pickup`):
the manager's phone is busy the first time (486: "failed", "your phone is busy", the SIP
status), answers the second time ("picked up", and the caller is then connected to it)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from console_page import shot
from phones import Phone
from playwright.sync_api import Page, expect
from queue_support import phone
from test_console import AGENT, CALLER, EXTENSIONS, MANAGER, OVERRIDES, QUEUE, Q, log_in, operations

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE], overrides=OVERRIDES)
def test_pickup_outcome_is_shown_to_the_picker(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page]) -> None:
    if "pickup" not in operations(switch):
        pytest.skip("this switch does not offer pickup")
    boss_phone = phone(phone_factory, MANAGER, switch)
    phone(phone_factory, AGENT, switch)
    caller = phone(phone_factory, CALLER, switch)
    page = page_factory("small")
    log_in(page, switch, MANAGER)
    page.click("#tab-panel")
    page.click(f"#pause-{Q}-{AGENT[0]}")  # the only signed-in agent: the caller waits
    expect(page.locator(f"#agent-cards [data-agent='{AGENT[0]}'] .state")).to_have_text("Paused")
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    waiting = page.locator(f"#waiting-table tr[data-caller='{CALLER[0]}']")
    expect(waiting).to_be_visible()

    waiting.locator(".op-pickup").click()
    ring = boss_phone.wait_incoming(timeout=15)
    boss_phone.answer(ring, 486)
    failed = page.locator("#toasts .toast.error")
    expect(failed).to_contain_text(f"Pickup of the call of queue {Q} failed: your phone is busy "
                                   "(SIP 486)")
    shot(page, "panel-pickup-failed")
    expect(waiting).to_be_visible()  # the call is left as it was

    waiting.locator(".op-pickup").click()
    ring = boss_phone.wait_incoming(timeout=15)
    boss_phone.answer(ring)
    expect(page.locator("#toasts .toast.info").last).to_contain_text(
        f"Picked up the call of queue {Q}")
    boss_phone.wait_call_state(ring, "CONFIRMED")
    expect(waiting).to_have_count(0)
    boss_phone.hangup(ring)
    caller.wait_call_state(call, "DISCONNECTED", timeout=10)
