"""Queue reports (queue-admin.md §8). `rows`: what every queue call writes as it happens
(sans-IO); `recorder`: the shell subscribing it to the event bus. The 12 reports are SQL
over those tables (a later issue); `tests/reports/` shows the Queue Performance metrics."""

from .recorder import ReportRecorder, sla_times
from .rows import ReportRows

__all__ = ["ReportRecorder", "ReportRows", "sla_times"]
