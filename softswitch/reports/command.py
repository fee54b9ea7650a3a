"""`softswitch report <type> --from --to [--queue ...] --config FILE`: a report printed as a
table, CSV or JSON, read straight from the database the config names (the switch need not
run; SQLite or PostgreSQL). Exit 0 on success, 2 on a bad config or filter."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from .catalog import REPORTS, run_report
from .output import to_csv, to_json, to_table
from .report import Directory, ReportFilters
from .request import ReportRequestError, parse_request

# option -> request parameter (softswitch.reports.request)
OPTIONS = {"from_": "from", "to": "to", "date": "date", "queue": "queue", "agent": "agent",
           "tz": "tz",
           "granularity": "granularity", "exclude_abandoned_within":
           "exclude_abandoned_within", "exclude_talk_within": "exclude_talk_within",
           "result": "result", "pause_reason": "pause_reason", "details": "details"}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("report", help="print a queue or agent report (queue-admin §8) from "
                                      "the database")
    p.add_argument("type", choices=list(REPORTS), metavar="TYPE",
                   help="one of: " + ", ".join(REPORTS))
    p.add_argument("--config", required=True, help="YAML configuration file")
    p.add_argument("--from", dest="from_", help="start: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS")
    p.add_argument("--to", help="end, inclusive: YYYY-MM-DD (the whole day) or "
                                "YYYY-MM-DDTHH:MM:SS")
    p.add_argument("--date", help="instead of --from/--to (time-series reports): a year "
                                  "YYYY, a month YYYY-MM or a day YYYY-MM-DD")
    p.add_argument("--queue", action="append", help="queue number (repeat or comma-separate)")
    p.add_argument("--agent", action="append", help="agent extension (repeat or comma-separate)")
    p.add_argument("--tz", help="time zone (default: the queue's, else UTC)")
    p.add_argument("--granularity", help="hour, day, week or month (time-series reports)")
    p.add_argument("--exclude-abandoned-within", help="seconds")
    p.add_argument("--exclude-talk-within", help="seconds")
    p.add_argument("--result", help="all, success or failed (callback_report)")
    p.add_argument("--pause-reason", help="a pause reason, '-' for none (agent_pause)")
    p.add_argument("--details", action="store_const", const="1",
                   help="the call-by-call drill-down (queue_performance, "
                        "queue_performance_activity, agent_performance)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")


def report_command(args: argparse.Namespace) -> int:
    from softswitch.config import ConfigError, load_config, report_issues
    from softswitch.log import configure_logging

    configure_logging("console", "warning", stream=sys.stderr)  # stdout carries the report

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        report_issues(args.config, exc.issues, "cannot read the database")
        return 2
    except OSError as exc:
        print(f"{args.config}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    params: dict[str, list[str]] = {}
    for option, name in OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            params[name] = value if isinstance(value, list) else [str(value)]
    names = Directory.from_config(config)
    try:
        asked = parse_request(args.type, params, names, now=time.time())
    except ReportRequestError as exc:
        print(f"softswitch report: {exc}", file=sys.stderr)
        return 2
    database = config.database
    if not database.postgresql and database.path != ":memory:" \
            and not Path(database.path).exists():
        print(f"softswitch report: no database at {database.path} (database: "
              f"{database.url})", file=sys.stderr)
        return 2
    return asyncio.run(_print(config, asked.type, asked.filters, names, args.format))


async def _print(config: Any, kind: str, filters: ReportFilters, names: Directory,
                 fmt: str) -> int:
    from softswitch.store import open_store

    store = await open_store(config.database)
    try:
        report = await run_report(kind, store, filters, names)
    finally:
        await store.close()
    text = {"table": to_table, "csv": to_csv, "json": to_json}[fmt](report)
    sys.stdout.write(text if fmt != "json" else text + "\n")
    return 0
