"""`softswitch run` with ``database: postgresql://...``: the switch migrates a fresh
PostgreSQL database, writes its report rows there as things happen (a static agent is
signed in from the start), and serves them at /api/v1/reports to an admin."""

from __future__ import annotations

import base64
import datetime as dt
import json
import signal
import urllib.request
from pathlib import Path

import switchproc

from softswitch.store.migrations import MIGRATIONS
from softswitch.store.postgres import PostgresStore


async def test_switch_runs_and_reports_on_postgresql(postgres_url: str,
                                                     tmp_path: Path) -> None:
    cfg = switchproc.base_config(tmp_path)
    cfg["database"] = postgres_url
    cfg["admins"] = ["1003"]
    cfg["queues"] = [{"number": "6400", "name": "Sales", "strategy": "ring_all",
                      "static_agents": ["1001"]}]
    sw = switchproc.start(tmp_path, cfg)
    try:
        today = dt.datetime.now(dt.UTC).date()
        url = (f"http://{sw.ready['http']}/api/v1/reports/agent_login?from={today}"
               f"&to={today + dt.timedelta(days=1)}&tz=UTC")
        token = base64.b64encode(b"1003:pw-1003").decode()
        request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.load(response)
    finally:
        assert sw.stop(signal.SIGTERM) == 0
    first = body["rows"][0]
    assert first["shown"]["agent"] == "1001-Ext 1001" and first["shown"]["logout"] == ""
    store = await PostgresStore.open(postgres_url)
    try:
        assert await store.schema_version() == MIGRATIONS[-1].version
        assert await store.fetch("SELECT agent, queue FROM agent_sessions") == [
            ("1001", "6400")]
    finally:
        await store.close()
