"""Scheduled reports (config ``scheduled_reports``): due daily, weekly and monthly in the
report's time zone, run in virtual time, e-mailed through a REAL SMTP server (aiosmtpd)
with the report as a CSV attachment."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from smtpinbox import Inbox, serve
from virtualclock import VirtualClock

from softswitch.config import ConfigError, ScheduledReport, SmtpConfig, parse_config
from softswitch.notify import SmtpSender
from softswitch.reports.schedule import ReportSchedule, ScheduledReports
from softswitch.store import Store

from . import manual
from .manual import at
from .test_report_api import CONFIG


def entry(every: str, **kw: Any) -> ScheduledReport:
    return ScheduledReport(name=f"Support {every}", report=kw.pop("report", "queue_performance"),
                           every=every, to=("mia@example.com",), at="07:00",
                           queues=("6401",), **kw)


def test_due_times_and_periods_in_the_report_time_zone() -> None:
    now = at("12/27/2023 12:00:00")  # a Wednesday, Asia/Shanghai
    schedule = ReportSchedule([entry("daily"), entry("weekly"), entry("monthly")],
                              [manual.ZONE] * 3, now)
    assert schedule.next_deadline() == at("12/28/2023 07:00:00")
    assert schedule.due(at("12/28/2023 06:59:59")) == []
    [daily] = schedule.due(at("12/28/2023 07:00:00"))
    assert (daily.since, daily.until) == (at("12/27/2023 00:00:00"), at("12/28/2023 00:00:00"))
    assert schedule.next_deadline() == at("12/29/2023 07:00:00")
    due = {d.entry.every: d for d in schedule.due(at("01/01/2024 07:00:00"))}
    assert set(due) == {"daily", "weekly", "monthly"}  # Monday the 1st: all three
    assert (due["weekly"].since, due["weekly"].until) == (at("12/25/2023 00:00:00"),
                                                          at("01/01/2024 00:00:00"))
    assert (due["monthly"].since, due["monthly"].until) == (at("12/01/2023 00:00:00"),
                                                            at("01/01/2024 00:00:00"))
    assert schedule.due(at("01/01/2024 07:00:01")) == []  # each sends once


@pytest.fixture
async def smtp() -> AsyncIterator[tuple[Inbox, int]]:
    box = Inbox()
    server = await serve(box)
    yield box, server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_daily_report_mailed_as_csv(smtp: tuple[Inbox, int], tmp_path: Any) -> None:
    box, port = smtp
    store = await Store.open(":memory:")
    manual.seed_queue_calls(store)
    await store.flush()
    clock = VirtualClock(at("12/27/2023 20:00:00"))
    sender = SmtpSender(SmtpConfig("127.0.0.1", port, sender="pbx@example.com"))
    jobs = ScheduledReports([entry("daily", time_zone=manual.ZONE)], store, manual.NAMES,
                            sender, clock, clock.sleep, directory=str(tmp_path))
    jobs.start()
    await clock.advance(at("12/28/2023 06:59:00"))
    assert jobs.sent == 0
    await clock.advance(at("12/28/2023 07:00:30"))
    rcpt, msg = await box.next()
    await jobs.close()
    await sender.close()
    await store.close()
    assert rcpt == ["mia@example.com"]
    assert msg["Subject"] == "Support daily: Queue Performance 2023-12-27"
    body, attachment = msg.get_payload()  # type: ignore[misc]
    assert "2023-12-27 (Asia/Shanghai), queues 6401" in body.get_payload(decode=True).decode()
    assert attachment.get_filename() == ("Support-daily_queue_performance_2023-12-27_"
                                         "2023-12-27.csv")
    rows = list(csv.reader(io.StringIO(attachment.get_payload(decode=True).decode())))
    assert rows[0] == manual.QUEUE_PERFORMANCE[0]
    assert rows[1] == manual.QUEUE_PERFORMANCE[2]  # Support on Dec 27, as in §8.4


def test_scheduled_reports_are_checked() -> None:
    base = CONFIG + "smtp: {host: 127.0.0.1}\n"
    cfg = parse_config(base + """
scheduled_reports:
  - {name: Weekly agents, report: agent_performance, every: weekly, at: "06:30",
     queues: ["6401"], exclude_abandoned_within: 5, to: [a@example.com, b@example.com]}
""")
    [weekly] = cfg.scheduled_reports
    assert (weekly.every, weekly.at, weekly.to) == ("weekly", "06:30",
                                                    ("a@example.com", "b@example.com"))
    for bad, message in (
            ("{name: x, report: queue_stats, every: daily, to: [a@example.com]}",
             "report: expected one of queue_wait_talk"),
            ("{name: x, report: agent_login, every: hourly, to: [a@example.com]}",
             "every: expected one of daily, weekly, monthly"),
            ("{name: x, report: agent_login, every: daily, to: []}",
             "to: expected at least one e-mail address"),
            ("{name: x, report: agent_login, every: daily, to: [a@example.com],"
             " queues: ['6499']}", "no queue 6499 is defined"),
            ("{name: x, report: agent_login, every: daily, to: [a@example.com], at: '7am'}",
             "at: expected a time of day HH:MM")):
        with pytest.raises(ConfigError) as info:
            parse_config(base + f"scheduled_reports:\n  - {bad}\n")
        assert message in str(info.value), bad
    with pytest.raises(ConfigError) as info:
        parse_config(CONFIG + "scheduled_reports:\n  - {name: x, report: agent_login,"
                              " every: daily, to: [a@example.com]}\n")
    assert "scheduled reports are sent by e-mail: configure smtp" in str(info.value)
