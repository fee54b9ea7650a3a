"""Time-based routing of queue calls (queue-admin.md §2.3).

Decision order: on a holiday of the queue's time zone the holiday destination wins (with the
holiday prompt first when "play holiday prompt" is on and the holiday has a prompt), unless
"ignore holiday destination" is set, in which case the business-hours rule decides; outside
business hours the outside-hours destination; otherwise the call joins the queue.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from acd.config import BusinessHours, Destination, Holiday, TimeBasedRouting


@dataclass(frozen=True, slots=True)
class TimeDecision:
    """Where a call goes: ``destination`` None = join the queue."""

    destination: Destination | None
    holiday: bool = False
    prompt: str = ""


def decide(rule: TimeBasedRouting, hours: BusinessHours, holidays: tuple[Holiday, ...],
           when: dt.datetime) -> TimeDecision:
    if when.tzinfo is None:
        raise ValueError("time-based routing needs an aware datetime (wall clock with zone)")
    local = when.astimezone(zoneinfo.ZoneInfo(rule.time_zone))
    today = local.date()
    if not rule.ignore_holiday_destination:
        for holiday in holidays:
            if holiday.time_zone == rule.time_zone and holiday.start <= today <= holiday.end:
                prompt = holiday.prompt if rule.play_holiday_prompt else ""
                return TimeDecision(rule.holiday, True, prompt)
    if not hours.is_open(local):
        return TimeDecision(rule.outside_business_hours)
    return TimeDecision(None)
