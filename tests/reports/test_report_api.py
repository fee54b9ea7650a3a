"""The report API over HTTP (softswitch.reports.web): who may ask, JSON with the manual's
cells, CSV download, the printable page with its chart, and clear errors."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from softswitch.config import parse_config
from softswitch.reports.web import ReportService, add_routes
from softswitch.store import Store
from softswitch.web.api import CREDENTIALS
from softswitch.web.auth import Credentials

from . import manual

CONFIG = """
sip: {listen: [udp:127.0.0.1:0], domain: 127.0.0.1}
extensions:
  - {number: "2000", name: Leo Ball, password: "pw-2000-secret"}
  - {number: "2001", name: Phillip Huff, password: "pw-2001-secret"}
  - {number: "2002", name: Terrell Smith, password: "pw-2002-secret"}
  - {number: "2004", name: Troy Daniel, password: "pw-2004-secret"}
  - {number: "2005", name: Kristin Hale, password: "pw-2005-secret"}
  - {number: "2009", name: Ada Admin, password: "pw-2009-secret"}
admins: ["2009"]
queues:
  - {number: "6400", name: Pre-Sales, strategy: ring_all, static_agents: ["2000"],
     managers: ["2005"]}
  - {number: "6401", name: Support, strategy: ring_all,
     static_agents: ["2000", "2001", "2002", "2004"], managers: ["2001"]}
"""

SHANGHAI = "&tz=Asia/Shanghai"


def auth(user: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:pw-{user}-secret".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class Recorder:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def is_banned(self, address: str) -> bool:
        return False

    def record_failure(self, address: str, via: str, **context: Any) -> bool:
        self.failures.append(address)
        return False


@pytest.fixture
async def api() -> AsyncIterator[tuple[TestClient[Any, Any], Recorder]]:
    store = await Store.open(":memory:")
    manual.seed_queue_calls(store)
    await store.flush()
    config = parse_config(CONFIG)
    bans = Recorder()
    app = web.Application()
    # the switch's one log-in (softswitch.web.auth), as softswitch.web.server installs it
    app[CREDENTIALS] = Credentials(
        password=lambda ext: getattr(config.extension(ext), "password", None),
        admins=lambda: frozenset(config.admins), bans=bans)
    add_routes(app, ReportService(store, lambda: config, bans,
                                  wall_clock=lambda: manual.at("01/01/2024 00:00:00")))
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client, bans
    await client.close()
    await store.close()


PERIOD = "from=2023-12-27&to=2023-12-28" + SHANGHAI


async def test_admin_gets_the_manual_table_as_json(api: Any) -> None:
    client, _ = api
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}", headers=auth("2009"))
    assert resp.status == 200
    body = await resp.json()
    shown = [[r["shown"][c["key"]] for c in body["columns"]] for r in body["rows"]]
    assert shown == manual.QUEUE_PERFORMANCE[1:]
    assert body["rows"][0]["values"]["avg_talk"] == 45.4
    assert body["filters"]["from"] == "2023-12-27T00:00:00+08:00"
    assert body["filters"]["to"] == "2023-12-28T23:59:59+08:00"


async def test_manager_sees_only_the_queues_managed(api: Any) -> None:
    client, _ = api
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}", headers=auth("2001"))
    body = await resp.json()
    assert [r["shown"]["queue"] for r in body["rows"]] == ["Support", "Total"]
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}&queue=6400",
                            headers=auth("2001"))
    assert resp.status == 403
    assert (await resp.json())["message"] == "2001 does not manage queue 6400"
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}", headers=auth("2002"))
    assert resp.status == 403  # an agent who manages nothing


async def test_log_in_required_and_failures_counted(api: Any) -> None:
    client, bans = api
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}")
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith("Basic")
    bad = {"Authorization": "Basic " + base64.b64encode(b"2009:nope").decode()}
    resp = await client.get(f"/api/v1/reports/queue_performance?{PERIOD}", headers=bad)
    assert resp.status == 401 and len(bans.failures) == 1


async def test_csv_download_is_the_printed_table(api: Any) -> None:
    client, _ = api
    resp = await client.get(f"/api/v1/reports/agent_missed?{PERIOD}&queue=6401&format=csv",
                            headers=auth("2009"))
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in resp.headers["Content-Disposition"]
    assert list(csv.reader(io.StringIO(await resp.text()))) == manual.AGENT_MISSED


async def test_printable_page_with_chart(api: Any) -> None:
    client, _ = api
    resp = await client.get("/api/v1/reports/queue_performance_activity?date=12/2023"
                            f"&queue=6401&granularity=day{SHANGHAI}&format=html",
                            headers=auth("2009"))
    page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert page.count("<polyline") == 3  # answered, missed, abandoned over the days
    svg = ElementTree.fromstring(page[page.index("<svg"):page.index("</svg>") + 6])
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert {"Dec 21", "Dec 22", "Dec 27", "Answered", "Missed", "Abandoned"} <= set(labels)
    assert "<td>Dec 22</td>" in page and "<td>69.57%</td>" in page


async def test_bad_requests_say_what_is_wrong(api: Any) -> None:
    client, _ = api
    cases = [
        ("queue_performance?from=2023-12-27", 400, "from and to are required"),
        ("queue_performance?from=27.12.2023&to=2023-12-28", 400, "from: expected a date"),
        (f"queue_performance?{PERIOD}&granularity=day", 400,
         "granularity: not a filter of the queue_performance report"),
        (f"queue_performance_activity?{PERIOD}&granularity=year", 400,
         "granularity: expected one of hour, day, week, month"),
        (f"queue_performance?{PERIOD}&queue=6499", 400, "queue: no queue 6499"),
        (f"queue_performance?{PERIOD}&exclude_abandoned_within=-3", 400,
         "exclude_abandoned_within: expected seconds"),
        ("nonsense?from=2023-12-27&to=2023-12-28", 404, "no report 'nonsense'"),
        ("queue_performance?date=2023-12", 400, "date: not a filter of the queue_performance"),
        ("queue_wait_talk?date=2023-13", 400, "date: expected YYYY, YYYY-MM"),
        (f"queue_performance?{PERIOD}&format=pdf", 400, "format: expected json, csv or html"),
    ]
    for query, status, message in cases:
        resp = await client.get(f"/api/v1/reports/{query}", headers=auth("2009"))
        assert resp.status == status, query
        assert message in (await resp.json())["message"], query


async def test_list_of_reports(api: Any) -> None:
    client, _ = api
    resp = await client.get("/api/v1/reports", headers=auth("2005"))
    types = {r["type"]: r for r in (await resp.json())["reports"]}
    assert len(types) == 12
    assert "exclude_abandoned_within" in types["agent_performance"]["filters"]
    assert types["callback_summary"]["time_series"]


def test_openapi_describes_every_filter() -> None:
    from softswitch.reports.request import COMMON, OPTIONAL, SERIES
    from softswitch.reports.web import PREFIX, openapi_paths

    item = openapi_paths()[PREFIX + "/{type}"]["get"]
    names = {p["name"] for p in item["parameters"]} - {"type"}
    assert names == set(COMMON) | set(OPTIONAL) | set(SERIES)
    assert len(item["parameters"][0]["schema"]["enum"]) == 12
