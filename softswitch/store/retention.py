"""Retention (config ``retention``): a daily purge of records and recordings older than the
configured number of days, on either store backend.

- Records (``records_days``): closed call records (``cdr``) by start time, and the queue
  report rows by the time their call, session, pause or survey began: ``queue_calls``,
  ``queue_offers``, ``agent_sessions``, ``agent_pauses``, ``callbacks``, ``surveys``.
  Rows still open (a call in progress, an agent still signed in or paused, a callback
  still pending) are never purged, however old.
- Recordings (``recordings_days``): the WAV files of calls that started before the limit
  are deleted and their rows forget the path (``recording`` NULL); a missing file is not an
  error. With both limits, records go first and take their recordings with them.

`purge_due` is the sans-IO part (which statements, which files, for a given ``now``);
`DailyPurge` runs it at ``purge_at`` local time every day on an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from softswitch.log import get_logger
from softswitch.wallclock import follow_deadlines, next_local

log = get_logger("store")

DAY = 86400.0

# table -> (time column, condition that the row is finished)
RECORD_TABLES: dict[str, tuple[str, str]] = {
    "cdr": ("start_time", "state = 'closed'"),
    "queue_offers": ("call_joined_at", "outcome IS NOT NULL"),
    "queue_calls": ("joined_at", "status IS NOT NULL AND (status <> 'answered'"
                                 " OR ended_at IS NOT NULL)"),
    "agent_sessions": ("signed_in_at", "signed_out_at IS NOT NULL"),
    "agent_pauses": ("paused_at", "ended_at IS NOT NULL"),
    "callbacks": ("call_joined_at", "outcome IS NOT NULL"),
    "surveys": ("answered_at", "1 = 1"),
}
RECORDING_TABLES = {"cdr": "start_time", "queue_calls": "joined_at"}


@dataclass(slots=True)
class PurgeResult:
    rows: dict[str, int] = field(default_factory=dict)
    recordings: int = 0


async def purge(store: Any, retention: Any, now: float) -> PurgeResult:
    """One purge at wall-clock ``now`` (``retention``: softswitch.config.RetentionConfig)."""
    result = PurgeResult()
    if retention.records_days:
        cutoff = now - retention.records_days * DAY
        await _delete_files(store, cutoff, result)
        for table, (column, finished) in RECORD_TABLES.items():
            [(count,)] = await store.fetch(
                f"SELECT COUNT(*) FROM {table} WHERE {column} < ? AND {finished}", (cutoff,))
            if count:
                store.write(f"DELETE FROM {table} WHERE {column} < ? AND {finished}",
                            (cutoff,))
                result.rows[table] = int(count)
    if retention.recordings_days:
        await _delete_files(store, now - retention.recordings_days * DAY, result)
    await store.flush()
    if result.rows or result.recordings:
        log.info("records purged", rows=result.rows, recordings=result.recordings)
    return result


async def _delete_files(store: Any, cutoff: float, result: PurgeResult) -> None:
    for table, column in RECORDING_TABLES.items():
        rows = await store.fetch(f"SELECT DISTINCT recording FROM {table} WHERE {column} < ?"
                                 " AND recording IS NOT NULL", (cutoff,))
        for (path,) in rows:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                result.recordings += 1
        if rows:
            store.write(f"UPDATE {table} SET recording = NULL WHERE {column} < ?"
                        " AND recording IS NOT NULL", (cutoff,))


class DailyPurge:
    """Runs `purge` every day at ``retention.purge_at`` in ``retention.time_zone``."""

    def __init__(self, store: Any, retention: Any, wall_clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.store = store
        self.retention = retention
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.zone = ZoneInfo(retention.time_zone)
        self._next: float | None = (next_local(wall_clock(), retention.purge_at, self.zone)
                                    if retention.records_days or retention.recordings_days
                                    else None)
        self.last: PurgeResult | None = None
        self._task: asyncio.Task[None] | None = None

    def next_deadline(self) -> float | None:
        return self._next

    async def run_due(self, now: float) -> None:
        if self._next is None or now < self._next:
            return
        self._next = next_local(now, self.retention.purge_at, self.zone)
        try:
            self.last = await purge(self.store, self.retention, now)
        except Exception as exc:  # noqa: BLE001 - tomorrow's purge tries again
            log.error("purge failed", error=repr(exc))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            follow_deadlines(self.next_deadline, self.run_due, self.wall_clock, self.sleep),
            name="daily-purge")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
