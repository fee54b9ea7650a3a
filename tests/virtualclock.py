"""A wall clock for tests of timed jobs: ``sleep`` waits until the test moves the clock on
with ``advance``, so a job runs exactly when its time comes and never races ahead."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class VirtualClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    async def advance(self, to: float) -> None:
        """Move the clock to ``to``, waking every sleeper on the way at its own time."""
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= to:
            wake, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake)
            if not future.done():
                future.set_result(None)
            await _settle()
        self.now = max(self.now, to)
        await _settle()


async def _settle() -> None:
    for _ in range(50):  # let woken tasks run to their next await (database round trips)
        await asyncio.sleep(0.001)
