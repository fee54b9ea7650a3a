"""Jobs that happen at wall-clock times (scheduled reports, the daily purge): a loop that
sleeps on an injected clock until a sans-IO core's next deadline, then lets it run what is
due. Tests pass a virtual ``wall_clock`` and a ``sleep`` that advances it, so a month of
schedule runs in milliseconds."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

# A deadline is re-checked at least this often, so a clock step (NTP, a suspended host)
# delays a job by at most this much.
RECHECK = 3600.0


async def follow_deadlines(next_deadline: Callable[[], float | None],
                           run_due: Callable[[float], Awaitable[Any]],
                           wall_clock: Callable[[], float],
                           sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
    """Until there is no deadline left (or the task is cancelled)."""
    while (deadline := next_deadline()) is not None:
        wait = deadline - wall_clock()
        if wait > 0:
            await sleep(min(wait, RECHECK))
            continue
        await run_due(wall_clock())


def next_local(now: float, at: str, zone: ZoneInfo,
               day_ok: Callable[[dt.date], bool] = lambda day: True) -> float:
    """The first moment strictly after ``now`` when the local time in ``zone`` is ``at``
    (HH:MM) on a day ``day_ok`` accepts (within 400 days)."""
    hour, minute = (int(x) for x in at.split(":"))
    day = dt.datetime.fromtimestamp(now, zone).date()
    for _ in range(400):
        if day_ok(day):
            moment = dt.datetime.combine(day, dt.time(hour, minute), zone).timestamp()
            if moment > now:
                return moment
        day += dt.timedelta(days=1)
    raise ValueError("no accepted day within 400 days")
