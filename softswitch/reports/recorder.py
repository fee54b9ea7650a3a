"""The asyncio side of the report rows: subscribe `ReportRows` to the switch's event bus and
hand every write to the store's batching writer (never awaited on the call path)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from softswitch.events import EventBus, Subscription
from softswitch.log import get_logger

from .rows import ReportRows

log = get_logger("reports")


class RowStore(Protocol):
    def write(self, sql: str, params: tuple[Any, ...]) -> None: ...


class ReportRecorder:
    """Writes the report rows of every event published on ``bus`` to ``store``.

    ``monotonic_now``: the clock the ACD is fed with (``loop.time``); the wall-clock offset
    is taken once at start so rows of one call are consistent with each other."""

    def __init__(self, bus: EventBus, store: RowStore, sla_times: Mapping[str, float],
                 monotonic_now: float, wall_now: float | None = None) -> None:
        wall = time.time() if wall_now is None else wall_now
        self.rows = ReportRows(sla_times, wall - monotonic_now)
        self.store = store
        self.rows_written = 0
        self._sub: Subscription | None = bus.subscribe(self.handle)

    def reconfigure(self, acd_config: Any) -> None:
        """A reload: new and changed queues' SLA times; a removed queue's calls still in
        progress keep theirs."""
        self.rows.sla_times.update(sla_times(acd_config))

    def handle(self, event: object) -> None:
        for sql, params in self.rows.handle(event):
            self.store.write(sql, params)
            self.rows_written += 1

    def close(self, now: float | None = None) -> None:
        """Stop recording; with ``now`` (the ACD's clock) the open sign-in sessions and
        pauses are closed at that time first (the switch is stopping)."""
        if now is not None and self._sub is not None:
            for sql, params in self.rows.shutdown(now):
                self.store.write(sql, params)
                self.rows_written += 1
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None


def sla_times(acd_config: Any) -> dict[str, float]:
    """queue -> SLA time (s) from an `acd.AcdConfig` (None: no queues)."""
    if acd_config is None:
        return {}
    return {q.number: float(q.sla.time) for q in acd_config.queues}
