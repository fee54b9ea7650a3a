"""The console's Reports page in a real browser (issue 19; queue-admin.md §8) against the switch
as a real process, over report rows written by real calls (pjsua2 phones):

- a queue manager opens Reports (an API refusal, e.g. a period ending before it starts, is
  shown as the API words it), asks Queue Performance for a period holding one answered and
  one abandoned call, and the table (headers, cells, the total row) is the JSON of
  /api/v1/reports/queue_performance for the same query; the "exclude abandoned within" filter
  reaches the API (the abandoned call drops out, the table is again the API's);
- "Download CSV" downloads the CSV of that query, whose rows are the table's;
- Queue Performance Activity by hour: the table is the API's, and "Open printable page" opens
  the printable HTML page, whose SVG chart is drawn (non-zero size) without console errors;
- the page in Chinese shows the manual's names;
- an admin gets every queue's report;
- an agent who manages no queue has no Reports tab, and its forced request is refused (403).

Screenshots at 1366x768 and 1920x1080 go to tests/browser/screenshots/.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from console_page import SHOTS, shot
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
    Q,
    api,
    log_in,
)

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop
ADMIN = ("2950", "admin-pw")


def report(switch: RunningSwitch, kind: str, query: dict[str, str]) -> Any:
    return api(switch, MANAGER, "GET", f"/reports/{kind}?{urllib.parse.urlencode(query)}")


def table(page: Page) -> tuple[list[str], list[list[str]], list[bool]]:
    """The Reports page's table: headers, cells, and which rows are marked total."""
    headers = page.locator("#report-table thead th").all_inner_texts()
    rows = page.locator("#report-table tbody tr")
    cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
    totals = [rows.nth(i).get_attribute("class") == "total" for i in range(rows.count())]
    return headers, cells, totals


def as_table(body: dict[str, Any]) -> tuple[list[str], list[list[str]], list[bool]]:
    """What the page must show for a JSON report: its labels, its shown cells, its totals."""
    columns = body["columns"]
    return ([c["label"] for c in columns],
            [[r["shown"][c["key"]] for c in columns] for r in body["rows"]],
            [r["total"] for r in body["rows"]])


def make_calls(switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    """One call answered by the agent, one abandoned while the agent is paused."""
    agent = phone(phone_factory, AGENT, switch)
    caller = phone(phone_factory, CALLER, switch)
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    incoming = agent.wait_incoming()
    agent.answer(incoming)
    agent.wait_call_state(incoming, "CONFIRMED")
    caller.hangup(call)
    caller.wait_call_state(call, "DISCONNECTED")
    api(switch, MANAGER, "POST", f"/queues/{Q}/agents/{AGENT[0]}/state", {"action": "pause"})
    call = caller.call(f"sip:{Q}@{switch.host}:{switch.port}")
    caller.wait_call_state(call, "CONFIRMED")  # the queue answers: the caller waits
    caller.hangup(call)
    caller.wait_call_state(call, "DISCONNECTED")


def wait_for_rows(switch: RunningSwitch, query: dict[str, str], total: str) -> dict[str, Any]:
    """The report once the switch has written the calls' rows (it writes them as calls end)."""
    deadline = time.monotonic() + 15
    while True:
        body = report(switch, "queue_performance", query)
        done = [r for r in body["rows"] if r["total"]]
        if done and done[0]["shown"]["total"] == total:
            return body
        assert time.monotonic() < deadline, f"the switch's report rows: {body}"
        time.sleep(0.2)  # polling the switch's store, not waiting for a timer


@pytest.mark.timeout(240)
@pytest.mark.switch_config(extensions=[*EXTENSIONS, Extension(*ADMIN)], queues=[QUEUE],
                           overrides=dict(OVERRIDES, admins=[ADMIN[0]]))
def test_manager_reports_equal_the_api_csv_and_printable_page_agent_refused(
        switch: RunningSwitch, phone_factory: Callable[..., Phone],
        page_factory: Callable[..., Page], tmp_path: Path) -> None:
    make_calls(switch, phone_factory)
    # the browser's local dates; a day either side holds today in any queue time zone
    day = dt.date.today()
    start, end = str(day - dt.timedelta(days=1)), str(day + dt.timedelta(days=1))
    period = {"from": start, "to": end, "queue": Q}
    expected = wait_for_rows(switch, period, "2")
    assert [r["shown"]["abandoned"] for r in expected["rows"]] == ["1", "1"]
    assert [r["shown"]["answered"] for r in expected["rows"]] == ["1", "1"]

    page = page_factory("small")
    log_in(page, switch, MANAGER)
    page.click("#tab-reports")
    expect(page.locator("#report-type option")).to_have_count(12)
    page.select_option("#report-type", "queue_performance")
    page.fill("#report-from", start)
    page.fill("#report-to", end)
    page.select_option("#report-queues", [Q])
    expect(page.locator("#report-granularity")).to_have_count(0)  # not a filter of §8.4
    expect(page.locator("#report-exclude-talk")).to_be_visible()
    page.press("#report-to", "Enter")  # the keyboard submits the form
    expect(page.locator("#report-table tbody tr")).to_have_count(len(expected["rows"]))
    assert table(page) == as_table(expected)
    assert table(page)[2] == [False, True]
    expect(page.locator("#report-title")).to_have_text(expected["title"])
    shot(page, "reports-queue-performance")

    # the API's refusal is shown as it says it
    page.fill("#report-from", end)
    page.fill("#report-to", start)
    page.click("#report-run")
    expect(page.locator("#report-error")).to_have_text("Error: to: must be after from")
    expect(page.locator("#report-table")).to_have_count(0)
    page.fill("#report-from", start)
    page.fill("#report-to", end)

    # the filter reaches the API: the abandoned call (a wait of seconds) drops out
    page.fill("#report-exclude-abandoned", "600")
    page.click("#report-run")
    filtered = report(switch, "queue_performance", dict(period, exclude_abandoned_within="600"))
    assert [r["shown"]["abandoned"] for r in filtered["rows"]] == ["0", "0"]
    expect(page.locator("#report-table tbody tr").first.locator("td[data-key='abandoned']"))\
        .to_have_text("0")
    assert table(page) == as_table(filtered)

    # Download CSV: the rows of the table
    with page.expect_download() as download:
        page.click("#report-csv")
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith("queue_performance_")
    headers, cells, _ = table(page)
    assert list(csv.reader(io.StringIO(saved.read_text("utf-8")))) == [headers, *cells]

    # Details (详情): the call-by-call drill-down of the same query, as the API gives it
    page.fill("#report-exclude-abandoned", "")
    page.check("#report-details")
    page.click("#report-run")
    details = report(switch, "queue_performance", dict(period, details="1"))
    assert len(details["rows"]) >= 2  # the answered and the abandoned call, one row each
    expect(page.locator("#report-table tbody tr")).to_have_count(len(details["rows"]))
    assert table(page) == as_table(details)
    page.uncheck("#report-details")

    # Queue Performance Activity by hour: the table, and its printable page with the chart
    page.fill("#report-exclude-abandoned", "")
    page.select_option("#report-type", "queue_performance_activity")
    expect(page.locator("#report-exclude-talk")).to_have_count(0)
    page.select_option("#report-granularity", "hour")
    page.click("#report-run")
    activity = report(switch, "queue_performance_activity", dict(period, granularity="hour"))
    expect(page.locator("#report-table tbody tr")).to_have_count(len(activity["rows"]))
    assert table(page) == as_table(activity)
    problems: list[str] = []
    with page.context.expect_page() as opened:
        page.click("#report-print")
    printable = opened.value
    printable.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    printable.on("pageerror", lambda exc: problems.append(str(exc)))
    printable.set_viewport_size({"width": 1366, "height": 768})
    chart = printable.locator("svg[role=img]")
    expect(chart).to_be_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0
    expect(printable.locator("h1")).to_have_text(activity["title"])
    expect(printable.locator("tr.total td").first).to_have_text("Total")
    assert printable.locator("polyline").count() == 3  # answered, missed, abandoned
    shot(printable, "reports-printable")
    assert problems == []
    printable.close()
    shot(page, "reports-activity")

    # Chinese: the manual's names
    page.select_option("#lang", "zh")
    expect(page.locator("#tab-reports")).to_have_text("队列通话报告")
    expect(page.locator("#report-type option[value='queue_performance']")).to_have_text("队列业绩")
    expect(page.locator("label[for='report-granularity'] span")).to_have_text("时间")
    expect(page.locator("#report-table tbody tr")).to_have_count(len(activity["rows"]))
    shot(page, "reports-zh")

    # an admin reports on every queue (no queue chosen: all of them)
    large = page_factory("large")
    log_in(large, switch, ADMIN)
    large.click("#tab-reports")
    expect(large.locator(f"#report-queues option[value='{Q}']")).to_have_text(f"{Q}-Support")
    large.fill("#report-from", start)
    large.fill("#report-to", end)
    large.press("#report-to", "Enter")
    expect(large.locator("#report-table tbody tr")).to_have_count(len(expected["rows"]))
    assert table(large) == as_table(expected)
    shot(large, "reports-admin")

    # an agent who manages no queue: no Reports tab, no page, and the server refuses
    agent = page_factory("small")
    log_in(agent, switch, AGENT2)
    expect(agent.locator("#tab-wallboard")).to_be_visible()
    expect(agent.locator("#tab-reports")).to_have_count(0)
    agent.goto(switch.http_url + "/#/reports")
    expect(agent.locator("#who")).to_contain_text(AGENT2[0])
    expect(agent.locator("#reports")).to_have_count(0)
    forced = agent.evaluate("""async (query) => {
        const token = JSON.parse(sessionStorage.getItem('console.session')).token;
        const r = await fetch('/api/v1/reports/queue_performance?' + query,
                              {headers: {Authorization: 'Bearer ' + token}});
        return [r.status, (await r.json()).error];
    }""", urllib.parse.urlencode(period))
    assert forced == [403, "forbidden"]
    shot(agent, "reports-agent-no-tab")
    assert (SHOTS / "reports-printable-1920.png").exists()

