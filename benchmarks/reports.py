"""Report speed (queue-admin.md §8 over a busy database): `python -m benchmarks.reports`.

Data: 1,000,000 queue calls over three months (January-March 2026, UTC) in 20 queues of 10
agents each, written as the switch writes them: 80 % answered, 8 % missed, 12 % abandoned;
with their rings (an answered call rang its agent, and a third of them rang another agent
first who missed; a missed call rang two agents; an abandoned call rang one agent half the
time: about 1.3 rings per call), a sign-in session per agent per day and three pauses per
agent per day. The rows go in through the migrated schema of each backend (bulk inserts).

Measured: the February queue performance report (§8.4) and agent performance report
(§8.13) over all queues, each run 3 times, median wall time of the whole report (SQL and
formatting). On SQLite (a file in a temporary folder) and on PostgreSQL (a throw-away
server, benchmarks/peers/postgres.py). Target: under 2 s each.

`--calls N` makes a smaller database (quick check). The last line is JSON with
month_queue_performance_s, month_agent_performance_s, pg_month_queue_performance_s,
pg_month_agent_performance_s (and the row counts).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from softswitch.reports.catalog import run_report
from softswitch.reports.report import Directory, ReportFilters
from softswitch.store import Store

QUEUES = [str(6400 + i) for i in range(20)]
AGENTS_PER_QUEUE = 10
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
DAYS = 90
MONTH = (dt.datetime(2026, 2, 1, tzinfo=dt.UTC).timestamp(),
         dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp())
CHUNK = 50_000
RUNS = 3

CALL_COLUMNS = ("call_uid", "task", "queue", "caller", "joined_at", "answered_at", "left_at",
                "ended_at", "agent", "status", "reason", "wait", "ring", "offers", "talk",
                "hold", "sla_met", "callback")
OFFER_COLUMNS = ("call_uid", "task", "queue", "agent", "caller", "call_joined_at", "rang_at",
                 "ended_at", "attempt", "outcome", "ring_duration")
SESSION_COLUMNS = ("session_uid", "agent", "queue", "signed_in_at", "signed_out_at",
                   "duration")
PAUSE_COLUMNS = ("pause_uid", "agent", "queue", "paused_at", "reason", "auto", "counted",
                 "ended_at", "ended_by", "duration")


def agents_of(queue: str) -> list[str]:
    q = QUEUES.index(queue)
    return [str(3000 + q * AGENTS_PER_QUEUE + i) for i in range(AGENTS_PER_QUEUE)]


def call_chunks(calls: int, seed: int = 7) -> Iterator[tuple[list[tuple[Any, ...]],
                                                             list[tuple[Any, ...]]]]:
    rng = random.Random(seed)
    span = DAYS * 86400.0
    calls_out: list[tuple[Any, ...]] = []
    offers_out: list[tuple[Any, ...]] = []
    for n in range(calls):
        uid = f"c{n}"
        queue = QUEUES[n % len(QUEUES)]
        agents = agents_of(queue)
        joined = round(START + rng.random() * span, 3)
        caller = f"555{rng.randrange(10**7):07d}"
        r = rng.random()
        wait = round(rng.uniform(1, 120), 3)
        if r < 0.80:
            agent = rng.choice(agents)
            talk = round(rng.uniform(30, 600), 3)
            offers = 1
            if rng.random() < 1 / 3:
                other = rng.choice([a for a in agents if a != agent])
                ring = min(wait, 20.0)
                offers_out.append((uid, uid, queue, other, caller, joined, joined,
                                   joined + ring, 1, "missed", ring))
                offers += 1
            offers_out.append((uid, uid, queue, agent, caller, joined, joined + wait - 2,
                               joined + wait, 1, "answered", 2.0))
            calls_out.append((uid, uid, queue, caller, joined, joined + wait, joined + wait,
                              joined + wait + talk, agent, "answered", "answered", wait, 2.0,
                              offers, talk, 0.0, int(wait <= 60), 0))
        elif r < 0.88:
            for agent in rng.sample(agents, 2):
                offers_out.append((uid, uid, queue, agent, caller, joined, joined,
                                   joined + 30, 1, "missed", 30.0))
            calls_out.append((uid, uid, queue, caller, joined, None, joined + wait, None,
                              None, "missed", "max_wait", wait, 60.0, 2, 0.0, 0.0, 0, 0))
        else:
            rang = 0
            if rng.random() < 0.5:
                offers_out.append((uid, uid, queue, rng.choice(agents), caller, joined,
                                   joined, joined + wait, 1, "cancelled", wait))
                rang = 1
            calls_out.append((uid, uid, queue, caller, joined, None, joined + wait, None,
                              None, "abandoned", "abandoned", wait, float(rang) * wait, rang,
                              0.0, 0.0, 0, 0))
        if len(calls_out) >= CHUNK:
            yield calls_out, offers_out
            calls_out, offers_out = [], []
    if calls_out:
        yield calls_out, offers_out


def agent_rows(seed: int = 8) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    sessions: list[tuple[Any, ...]] = []
    pauses: list[tuple[Any, ...]] = []
    for queue in QUEUES:
        for agent in agents_of(queue):
            for day in range(DAYS):
                start = START + day * 86400 + 8 * 3600 + rng.uniform(0, 1800)
                length = rng.uniform(7, 9) * 3600
                sessions.append((f"s{agent}-{day}", agent, queue, start, start + length,
                                 length))
                for k in range(3):
                    at = start + (k + 1) * 7200 + rng.uniform(0, 600)
                    pause = rng.uniform(60, 1800)
                    pauses.append((f"p{agent}-{day}-{k}", agent, queue, at,
                                   rng.choice(["", "Lunch", "Break"]), 0, 1, at + pause,
                                   "resumed", pause))
    return sessions, pauses


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"


async def fill_sqlite(path: str, calls: int) -> dict[str, int]:
    store = await Store.open(path)  # the migrated schema
    await store.close()
    con = sqlite3.connect(path)
    counts = {"queue_calls": 0, "queue_offers": 0}
    for call_rows, offer_rows in call_chunks(calls):
        con.executemany(_insert("queue_calls", CALL_COLUMNS), call_rows)
        con.executemany(_insert("queue_offers", OFFER_COLUMNS), offer_rows)
        counts["queue_calls"] += len(call_rows)
        counts["queue_offers"] += len(offer_rows)
        con.commit()
    sessions, pauses = agent_rows()
    con.executemany(_insert("agent_sessions", SESSION_COLUMNS), sessions)
    con.executemany(_insert("agent_pauses", PAUSE_COLUMNS), pauses)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    counts.update(agent_sessions=len(sessions), agent_pauses=len(pauses))
    return counts


async def fill_postgres(url: str, calls: int) -> None:
    import asyncpg  # type: ignore[import-untyped]

    from softswitch.store.postgres import PostgresStore

    store = await PostgresStore.open(url)
    await store.close()
    con = await asyncpg.connect(url)
    try:
        for call_rows, offer_rows in call_chunks(calls):
            await con.copy_records_to_table("queue_calls", records=call_rows,
                                            columns=list(CALL_COLUMNS))
            await con.copy_records_to_table("queue_offers", records=offer_rows,
                                            columns=list(OFFER_COLUMNS))
        sessions, pauses = agent_rows()
        await con.copy_records_to_table("agent_sessions", records=sessions,
                                        columns=list(SESSION_COLUMNS))
        await con.copy_records_to_table("agent_pauses", records=pauses,
                                        columns=list(PAUSE_COLUMNS))
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()


async def measure(store: Any) -> dict[str, float]:
    names = Directory(queues={q: f"Queue {q}" for q in QUEUES})
    filters = ReportFilters(*MONTH, time_zone="UTC", exclude_abandoned_within=5)
    out: dict[str, float] = {}
    for kind in ("queue_performance", "agent_performance"):
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            report = await run_report(kind, store, filters, names)
            report.grid()
            times.append(time.perf_counter() - started)
        out[kind] = statistics.median(times)
    return out


async def main(calls: int, skip_pg: bool) -> dict[str, Any]:
    result: dict[str, Any] = {"calls": calls}
    with tempfile.TemporaryDirectory(prefix="softswitch-bench-") as folder:
        path = str(Path(folder) / "reports.sqlite3")
        started = time.perf_counter()
        counts = await fill_sqlite(path, calls)
        print(f"SQLite filled in {time.perf_counter() - started:.1f} s: {counts}", flush=True)
        result.update(counts)
        store = await Store.open(path)
        try:
            times = await measure(store)
        finally:
            await store.close()
        result["month_queue_performance_s"] = round(times["queue_performance"], 3)
        result["month_agent_performance_s"] = round(times["agent_performance"], 3)
    if not skip_pg:
        from benchmarks.peers import postgres
        from softswitch.store.postgres import PostgresStore

        if not postgres.available():
            print("PostgreSQL is not installed: skipped", flush=True)
        else:
            with postgres.postgres_server() as server:
                async with postgres.database(server) as url:
                    started = time.perf_counter()
                    await fill_postgres(url, calls)
                    print(f"PostgreSQL filled in {time.perf_counter() - started:.1f} s",
                          flush=True)
                    store = await PostgresStore.open(url)
                    try:
                        times = await measure(store)
                    finally:
                        await store.close()
            result["pg_month_queue_performance_s"] = round(times["queue_performance"], 3)
            result["pg_month_agent_performance_s"] = round(times["agent_performance"], 3)
    return result


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(main(args.calls, args.skip_pg))
    print(f"{'report (one month, all queues)':34} {'SQLite':>8} {'PostgreSQL':>11}")
    for kind in ("queue_performance", "agent_performance"):
        pg_value = result.get(f"pg_month_{kind}_s")
        pg_text = f"{pg_value:.3f} s" if pg_value is not None else "-"
        print(f"{kind:34} {result[f'month_{kind}_s']:6.3f} s {pg_text:>11}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
