"""Queue reports (queue-admin.md §8). `rows`: what every queue call writes as it happens
(sans-IO); `recorder`: the shell subscribing it to the event bus; `catalog`: the 12
reports, SQL over those tables (README.md in this folder); `web`, `command` and `schedule`:
the API, the `softswitch report` command and the e-mailed reports."""

from .recorder import ReportRecorder, sla_times
from .rows import ReportRows

__all__ = ["ReportRecorder", "ReportRows", "sla_times"]
