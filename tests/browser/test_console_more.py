"""The console's later additions in a real browser against a running switch with real phones
(issue 18, queue-manager-agent.md):

- §7.5/§10.3: an agent sets its own presence status from the console's header; the switch
  keeps it (the API reads it back) and the managers' wallboard shows it at once;
- §2.5.1: the agent list's presence filter lists Online split into the six statuses (with
  the group's total) and Offline, with counts; unticking a status hides exactly its rows;
- §3.3.3: an answered queue call's recording icon shows "recording", turns "paused" when
  the manager pauses it from the panel and back when the agent resumes it over the API (a
  change from elsewhere arrives live);
- §5.1/§9.2: call back from the call log (the icon, and double-clicking the row) rings the
  manager's phone, then the caller's; an agent deletes a record from its own view, the
  manager ticks it and deletes it for everyone;
- §3.2: a queue group made in the panel's Custom dialog is kept by the switch (after a page
  reload) and shows its queues only, with the server's figures;
- §3.3.2/§3.3.4: a waiting call dragged onto an agent's card is redirected to that agent
  (its phone rings and takes the caller); the keyboard keeps the Redirect button;
- §7.1: "sign in to last signed-in queues" signs the agent in to the set the switch
  remembered, and only to it.

Screenshots at 1366x768 and 1920x1080 go to tests/browser/screenshots/.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from blf_keys import wait_until
from console_page import shot
from phones import Phone
from playwright.sync_api import Page, expect
from queue_support import phone
from test_console import (
    AGENT,
    AGENT2,
    CALLER,
    EXTENSIONS,
    MANAGER,
    OVERRIDES,
    QUEUE,
    QUEUE2,
    Q,
    api,
    log_in,
)

from benchmarks.peers.switch import RunningSwitch

pytestmark = pytest.mark.interop


def filter_label(page: Page, key: str) -> str:
    return page.locator(f"#presence-filter label:has(#pf-{key})").inner_text()


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE, QUEUE2], overrides=OVERRIDES)
def test_presence_status_filter_and_recording_icon(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page]) -> None:
    agent = phone(phone_factory, AGENT, switch)
    phone(phone_factory, AGENT2, switch)
    caller = phone(phone_factory, CALLER, switch)

    # the agent 2001 (in both queues) sets its own status from the header
    mine = page_factory("small")
    log_in(mine, switch, AGENT2)
    expect(mine.locator("#my-presence")).to_have_value("available")
    mine.select_option("#my-presence", "away")
    expect(mine.locator("#toasts")).to_contain_text("Presence: Away")
    assert api(switch, AGENT2, "GET", f"/extensions/{AGENT2[0]}/presence")["presence"] == "away"

    boss = page_factory("large")
    log_in(boss, switch, MANAGER)
    boss.click("#tab-wallboard")
    boss.click("#wb-toggle")  # the list view: the agent status list
    rows = boss.locator("#agent-table tbody tr")
    expect(rows).to_have_count(3)  # 2000 in 6470, 2001 in 6470 and 6471
    # §2.5.1: Online (3) = Available (1) + Away (2) + the other statuses (0); Offline (0)
    expect(boss.locator("#presence-filter label:has(#pf-away)")).to_have_text("Away (2)")
    assert filter_label(boss, "online") == "Online (3)"
    assert filter_label(boss, "available") == "Available (1)"
    for key, label in (("business_trip", "Business Trip"), ("dnd", "Do Not Disturb"),
                       ("lunch", "Lunch Break"), ("off_work", "Off Work"),
                       ("offline", "Offline")):
        assert filter_label(boss, key) == f"{label} (0)"
    expect(boss.locator("#agent-table tr[data-agent='2001'] .presence").first) \
        .to_contain_text("Away")
    boss.uncheck("#pf-away")
    expect(rows).to_have_count(1)
    expect(boss.locator("#agent-table tr[data-agent='2000']")).to_have_count(1)
    expect(boss.locator("#pf-online")).not_to_be_checked()  # not every status of the group
    shot(boss, "wallboard-presence-filter")
    boss.check("#pf-online")  # the group ticks all six
    expect(rows).to_have_count(3)
    boss.uncheck("#pf-online")
    expect(rows).to_have_count(0)
    boss.check("#pf-available")
    expect(rows).to_have_count(1)
    # the agent's next change arrives live (the agent.presence delta)
    mine.select_option("#my-presence", "lunch")
    expect(boss.locator("#presence-filter label:has(#pf-lunch)")).to_have_text(
        "Lunch Break (2)")
    boss.check("#pf-online")

    # §3.3.3 the recording icon of an answered queue call, live both ways
    boss.click("#tab-panel")
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    agent.answer(agent.wait_incoming())
    row = boss.locator("#active-table tr[data-caller='3000']")
    icon = row.locator(".rec")
    expect(icon).to_have_attribute("data-recording", "recording")
    expect(icon).to_have_attribute("aria-label", "Recording")
    row.locator(".op-rec-pause").click()
    expect(icon).to_have_attribute("data-recording", "paused")
    expect(icon).to_have_attribute("aria-label", "Recording paused")
    shot(boss, "panel-recording-paused")
    call_id = row.get_attribute("data-call")
    reply = api(switch, AGENT, "POST", f"/queues/{Q}/calls/{call_id}/recording",
                {"action": "resume"})  # the agent resumes its own call's recording
    assert reply["recording"] == "recording"
    expect(icon).to_have_attribute("data-recording", "recording")
    state = api(switch, MANAGER, "GET", f"/queues/{Q}")
    assert [c["recording"] for c in state["active"]] == ["recording"]
    caller.hangup(call)
    expect(row).to_have_count(0)


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE], overrides=OVERRIDES)
def test_call_log_call_back_and_delete(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page]) -> None:
    boss_phone = phone(phone_factory, MANAGER, switch)
    caller = phone(phone_factory, CALLER, switch)
    # the only signed-in agent is paused: the caller waits, then hangs up (abandoned)
    api(switch, AGENT, "POST", f"/queues/{Q}/agents/{AGENT[0]}/state", {"action": "pause"})
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")
    caller.hangup(call)

    boss = page_factory("small")
    log_in(boss, switch, MANAGER)
    boss.click("#tab-logs")
    row = boss.locator("#logs-table tr[data-caller='3000']")
    expect(row).to_have_count(1)
    shot(boss, "logs-operations")
    # §5.1 call back: the manager's phone rings, then the caller's; they talk
    row.locator(".op-callback").click()
    expect(boss.locator("#toasts")).to_contain_text("Calling 3000")
    ring = boss_phone.wait_incoming(timeout=15)
    boss_phone.answer(ring)
    back = caller.wait_incoming(timeout=15)
    caller.answer(back)
    boss_phone.wait_call_state(ring, "CONFIRMED")
    caller.wait_call_state(back, "CONFIRMED")
    caller.hangup(back)
    boss_phone.wait_call_state(ring, "DISCONNECTED", timeout=10)
    # double-clicking the record calls back too
    row.locator("td").nth(1).dblclick()
    ring = boss_phone.wait_incoming(timeout=15)
    boss_phone.answer(ring, 486)

    # an agent (P10) deletes the record from its own view; the manager still has it
    mine = page_factory("small")
    log_in(mine, switch, AGENT)
    mine.click("#tab-logs")
    own = mine.locator("#logs-table tr[data-caller='3000']")
    expect(own).to_have_count(1)
    own.locator(".op-delete").click()
    mine.click("#confirm-ok")
    expect(own).to_have_count(0)
    boss.click("#logs-refresh")
    expect(row).to_have_count(1)
    # the manager (P9 delete_missed_calls) ticks it and deletes it for everyone
    expect(boss.locator("#logs-delete")).to_be_disabled()
    row.locator(".log-select").check()
    expect(boss.locator("#logs-delete")).to_have_text("Delete (1)")
    boss.click("#logs-delete")
    boss.click("#confirm-ok")
    expect(row).to_have_count(0)
    records = api(switch, MANAGER, "GET", f"/queues/{Q}/calls")["records"]
    assert [r for r in records if r["caller"] == "3000"] == []


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=EXTENSIONS, queues=[QUEUE, QUEUE2], overrides=OVERRIDES)
def test_drag_a_call_to_an_agent_queue_groups_and_sign_in_to_last_queues(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page]) -> None:
    phone(phone_factory, AGENT, switch)
    agent2 = phone(phone_factory, AGENT2, switch)
    caller = phone(phone_factory, CALLER, switch)
    boss = page_factory("large")
    log_in(boss, switch, MANAGER)
    boss.click("#tab-panel")

    # §3.2 a queue group, saved on the switch for this user
    boss.click("#panel-groups")
    boss.click("#group-add")
    boss.fill("#g-name-0", "Service")
    boss.check("#groups-dialog [data-group='0'] .g-queue[data-queue='6470']")
    boss.fill("#groups-dialog [data-group='0'] .g-sla", "80")
    boss.fill("#groups-dialog [data-group='0'] .g-order", "1")
    boss.click("#group-save")
    expect(boss.locator("#toasts")).to_contain_text("Queue groups saved")
    assert api(switch, MANAGER, "GET", "/console/queue-groups")["groups"] == [
        {"name": "Service", "queues": ["6470"], "sla_alert_threshold": 80.0, "order": 1}]
    boss.reload()  # kept by the switch, not the page
    boss.select_option("#panel-queue", "g:Service")
    cards = boss.locator("#agent-cards .agent-card")
    expect(cards).to_have_count(2)  # 6470's 2000 and 2001; not 6471's 2001
    expect(boss.locator("#agent-cards .agent-card[data-queue='6471']")).to_have_count(0)
    figures = api(switch, MANAGER, "GET", "/console/figures?queues=6470")["figures"]
    expect(boss.locator("#stat-answered .value")).to_have_text(str(figures["answered"]))

    # §3.3.4 drag a waiting call onto an agent: redirected there, its phone rings
    api(switch, AGENT, "POST", f"/queues/{Q}/agents/{AGENT[0]}/state", {"action": "pause"})
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    row = boss.locator("#waiting-table tr[data-caller='3000']")
    expect(row).to_be_visible()
    expect(row.locator(".op-redirect")).to_be_visible()  # the keyboard's way stays
    row.drag_to(boss.locator("#agent-cards .agent-card[data-agent='2001']"))
    ring = agent2.wait_incoming(timeout=15)
    expect(boss.locator("#toasts")).to_contain_text("Redirected to 2001")
    agent2.answer(ring)
    caller.wait_call_state(call, "CONFIRMED")
    agent2.wait_call_state(ring, "CONFIRMED")
    expect(row).to_have_count(0)
    caller.hangup(call)

    def group_stats_follow() -> bool:  # live: the group's figures are the API's, again
        kpis = api(switch, MANAGER, "GET", f"/queues/{Q}")["kpis"]
        shown = {key: boss.locator(f"#stat-{key} .value").inner_text()
                 for key in ("answered", "missed", "abandoned")}
        return kpis["total"] > 0 and shown == {key: str(kpis[key]) for key in shown}

    wait_until(group_stats_follow, 15, "the group's statistics after the call")
    shot(boss, "panel-group-after-drag")

    # §7.1 sign in to the last signed-in queues: remembered {6470} by the switch
    api(switch, AGENT2, "POST", f"/queues/{Q}/agents/{AGENT2[0]}/state", {"action": "signin"})
    api(switch, AGENT2, "POST", f"/queues/{Q}/agents/{AGENT2[0]}/state", {"action": "signout"})
    mine = page_factory("small")
    log_in(mine, switch, AGENT2)
    mine.click("#tab-agent")
    expect(mine.locator("#last-queues")).to_contain_text("Support [6470]")
    expect(mine.locator("#last-queues")).not_to_contain_text("6471")
    mine.click("#all-signin-last")
    expect(mine.locator("#my-queues tr[data-queue='6470'] .state")).to_have_text("Signed in")
    expect(mine.locator("#my-queues tr[data-queue='6471'] .state")).to_have_text("Signed out")
    shot(mine, "agent-signed-in-to-last-queues")
