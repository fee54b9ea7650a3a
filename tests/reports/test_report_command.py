"""`softswitch report` as a user runs it: a process reading the database file the config
names, printing the manual's table, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from softswitch.store import Store
from softswitch.store.migrations import MIGRATIONS

from . import manual
from .test_report_api import CONFIG


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "softswitch", "report", *args],
                          capture_output=True, text=True, timeout=60)


async def test_report_command_prints_table_csv_and_json(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "switch.sqlite3"), MIGRATIONS[:2])
    manual.seed_queue_calls(store)
    manual.seed_pauses(store)
    await store.close()  # the command brings the schema forward; its log stays off stdout
    config = tmp_path / "switch.yaml"
    config.write_text(CONFIG + "database: sqlite:///switch.sqlite3\n")
    period = ["--from", "2023-12-27", "--to", "2023-12-28", "--tz", "Asia/Shanghai",
              "--config", str(config)]

    table = run("queue_performance", "--queue", "6400,6401", *period)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "Queue Performance"
    assert lines[3].split() == ["Pre-Sales", "13", "5", "4", "4", "00:00:57", "00:00:11",
                                "00:00:23", "00:01:42", "00:00:45", "00:00:00", "38.46%",
                                "30.77%", "30.77%", "38.46%"]

    out = run("agent_pause", "--format", "csv", *period)
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[-1] == ["Total", "", "", "", "00:00:43", "3"]

    out = run("agent_performance", "--queue", "6401", "--exclude-abandoned-within", "5",
              "--format", "json", "--from", "2023-12-27", "--to", "2023-12-27",
              "--tz", "Asia/Shanghai", "--config", str(config))
    body = json.loads(out.stdout)
    assert body["rows"][2]["shown"]["max_wait"] == "00:00:16"

    bad = run("queue_performance", "--granularity", "day", *period)
    assert bad.returncode == 2
    assert "granularity: not a filter of the queue_performance report" in bad.stderr

    elsewhere = tmp_path / "other.yaml"
    elsewhere.write_text(CONFIG + "database: sqlite:///missing.sqlite3\n")
    missing = run("agent_login", "--from", "2023-12-27", "--to", "2023-12-27",
                  "--config", str(elsewhere))
    assert missing.returncode == 2 and "no database at" in missing.stderr
    assert not (tmp_path / "missing.sqlite3").exists()
