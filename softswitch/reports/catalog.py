"""The 12 reports of queue-admin.md §8 by type name, with the filters each one reads: what
the API, the command line and the scheduled reports offer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .agent_calls import agent_call_summary, agent_missed, agent_performance
from .agent_sessions import agent_login, agent_pause
from .callbacks import callback_report, callback_summary
from .queue_performance import queue_performance, queue_performance_activity, queue_wait_talk
from .report import Directory, Report, ReportFilters, Source
from .satisfaction import satisfaction, satisfaction_details

ReportFunction = Callable[[Source, ReportFilters, Directory], Awaitable[Report]]


@dataclass(frozen=True, slots=True)
class ReportType:
    name: str
    section: str
    run: ReportFunction
    filters: frozenset[str]  # beyond from/to/queue/tz
    time_series: bool = False


REPORTS: dict[str, ReportType] = {r.name: r for r in (
    ReportType("queue_wait_talk", "8.3", queue_wait_talk,
               frozenset({"granularity"}), time_series=True),
    ReportType("queue_performance", "8.4", queue_performance,
               frozenset({"exclude_abandoned_within", "exclude_talk_within", "details"})),
    ReportType("queue_performance_activity", "8.5", queue_performance_activity,
               frozenset({"granularity", "exclude_abandoned_within", "details"}),
               time_series=True),
    ReportType("callback_summary", "8.6", callback_summary,
               frozenset({"granularity"}), time_series=True),
    ReportType("callback_report", "8.7", callback_report, frozenset({"callback_result"})),
    ReportType("satisfaction", "8.8", satisfaction, frozenset({"agent"})),
    ReportType("satisfaction_details", "8.9", satisfaction_details, frozenset({"agent"})),
    ReportType("agent_login", "8.10", agent_login, frozenset({"agent"})),
    ReportType("agent_pause", "8.11", agent_pause, frozenset({"agent", "pause_reason"})),
    ReportType("agent_missed", "8.12", agent_missed, frozenset({"agent"})),
    ReportType("agent_performance", "8.13", agent_performance,
               frozenset({"agent", "exclude_abandoned_within", "details"})),
    ReportType("agent_call_summary", "8.14", agent_call_summary, frozenset({"agent"})),
)}


async def run_report(name: str, source: Source, filters: ReportFilters,
                     names: Directory) -> Report:
    return await REPORTS[name].run(source, filters, names)
