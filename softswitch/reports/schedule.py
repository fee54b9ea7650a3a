"""Scheduled reports (queue-admin.md §8.1 "Scheduled Reports"): each ``scheduled_reports``
entry of the config is run daily, weekly or monthly and e-mailed to its addresses with the
report as a CSV attachment.

`ReportSchedule` is the sans-IO core: wall-clock ``now`` in, the reports due (with the
period each covers) and ``next_deadline()`` out. `ScheduledReports` is the shell: one timer
on the injected clock, the report run over the store, the e-mail handed to the SMTP sender
(which queues and retries; nothing here waits for the mail server).

Decisions:
- A report covers the last whole period before it is sent, in its time zone: daily =
  yesterday, weekly = Monday 00:00 to Monday 00:00 (sent on Monday), monthly = the previous
  calendar month (sent on the 1st), at ``at`` local time. The time zone is the entry's
  ``time_zone``, else its first queue's time-based-routing zone, else UTC.
- A send time that passed while the switch was stopped is not caught up: the next one
  counts from the start (the report can still be asked for on demand).
- A day that has no ``at`` (DST skips it) sends at the first moment after the gap, as
  Python's zoneinfo resolves it; a repeated ``at`` sends once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from softswitch.log import get_logger
from softswitch.wallclock import follow_deadlines, next_local

from .catalog import run_report
from .output import to_csv, to_table
from .report import Directory, ReportFilters, Source

log = get_logger("reports")


@dataclass(frozen=True, slots=True)
class DueReport:
    entry: Any  # softswitch.config.ScheduledReport
    since: float
    until: float
    time_zone: str


def _local(epoch: float, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, zone)


def period_end(entry: Any, day: dt.date) -> dt.date | None:
    """The end (exclusive, a date) of the period a send on ``day`` covers; None when the
    entry does not send that day."""
    if entry.every == "daily":
        return day
    if entry.every == "weekly":
        return day if day.weekday() == 0 else None
    return day if day.day == 1 else None


def period_start(entry: Any, end: dt.date) -> dt.date:
    if entry.every == "daily":
        return end - dt.timedelta(days=1)
    if entry.every == "weekly":
        return end - dt.timedelta(days=7)
    previous = end - dt.timedelta(days=1)
    return previous.replace(day=1)


class ReportSchedule:
    """When each entry is due next; ``zones``: the time zone of each entry (by index)."""

    def __init__(self, entries: Sequence[Any], zones: Sequence[str], now: float) -> None:
        self.entries = list(entries)
        self.zones = [ZoneInfo(z) for z in zones]
        self._next = [self._after(i, now) for i in range(len(self.entries))]

    def _after(self, i: int, now: float) -> float:
        """The first send time strictly after ``now``."""
        entry = self.entries[i]
        return next_local(now, entry.at, self.zones[i],
                          lambda day: period_end(entry, day) is not None)

    def next_deadline(self) -> float | None:
        return min(self._next, default=None)

    def due(self, now: float) -> list[DueReport]:
        """The reports due at ``now``, each once, for its latest send time that passed
        (send times skipped by a clock jump are not caught up one by one)."""
        out: list[DueReport] = []
        for i, at in enumerate(self._next):
            if at > now:
                continue
            while (later := self._after(i, at)) <= now:
                at = later
            zone = self.zones[i]
            end = _local(at, zone).date()
            start = period_start(self.entries[i], end)
            out.append(DueReport(
                self.entries[i],
                dt.datetime.combine(start, dt.time(), zone).timestamp(),
                dt.datetime.combine(end, dt.time(), zone).timestamp(), zone.key))
            self._next[i] = later
        return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "report"


class ScheduledReports:
    """The shell: sleeps until the schedule's next deadline on the injected clock, runs the
    reports due and e-mails them (``sender``: softswitch.notify.SmtpSender or anything with
    ``send(Email)``). ``wall_clock``/``sleep`` are injected (tests run in virtual time)."""

    def __init__(self, entries: Sequence[Any], source: Source, names: Directory,
                 sender: Any, wall_clock: Callable[[], float],
                 sleep: Callable[[float], Any] = asyncio.sleep,
                 directory: str | None = None) -> None:
        self.names = names
        self.source = source
        self.sender = sender
        self.wall_clock = wall_clock
        self.sleep = sleep
        self.directory = Path(directory or Path(tempfile.gettempdir()) / "softswitch-reports")
        zones = [e.time_zone or names.time_zone(e.queues) for e in entries]
        self.schedule = ReportSchedule(entries, zones, wall_clock())
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="scheduled-reports")

    async def _run(self) -> None:
        await follow_deadlines(self.schedule.next_deadline, self.run_due, self.wall_clock,
                               self.sleep)

    async def run_due(self, now: float) -> int:
        """Run and send every report due at ``now``; returns how many were sent."""
        count = 0
        for due in self.schedule.due(now):
            try:
                await self.send(due)
                count += 1
            except Exception as exc:  # noqa: BLE001 - one failing report must not stop others
                log.error("scheduled report failed", report=due.entry.name, error=repr(exc))
        return count

    async def send(self, due: DueReport) -> None:
        from softswitch.notify import Email

        e = due.entry
        filters = ReportFilters(
            due.since, due.until, queues=tuple(e.queues), agents=tuple(e.agents),
            exclude_abandoned_within=e.exclude_abandoned_within,
            exclude_talk_within=e.exclude_talk_within, granularity=e.granularity,
            time_zone=due.time_zone, now=due.until)
        report = await run_report(e.report, self.source, filters, self.names)
        zone = ZoneInfo(due.time_zone)
        first = _local(due.since, zone).date()
        last = _local(due.until - 1, zone).date()
        span = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{_slug(e.name)}_{e.report}_{first:%Y-%m-%d}_{last:%Y-%m-%d}.csv"
        path.write_text(to_csv(report), encoding="utf-8")
        body = (f"{report.title}, {span} ({due.time_zone}), "
                f"{'queues ' + ', '.join(e.queues) if e.queues else 'all queues'}.\n"
                f"The table is attached as CSV.\n\n{to_table(report)}")
        for address in e.to:
            self.sender.send(Email(address, f"{e.name}: {report.title} {span}", body,
                                   attachments=(str(path),)))
        self.sent += 1
        log.info("scheduled report sent", report=e.name, to=list(e.to), period=span)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
