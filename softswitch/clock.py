"""The clock the shells are given (DESIGN.md principles 1, 2 and 6: time is an argument).

Every asyncio shell above the sans-IO cores (the B2BUA, the queue-call controller and its
dialer, the agent desk, the recording hook) reads time and sets timers only through a
`Clock`: ``monotonic()`` is the ``now`` its cores are fed with, ``wall()`` the epoch
seconds that go into records, and ``call_at`` / ``call_later`` its timers, each returning a
handle with ``cancel()``. `LoopClock` is the production one (the running loop's time and
timers, ``time.time()``); `VirtualClock` is for tests and simulations: time stands still
until the test advances it, and the timers that fall due run then, in time order. A
coroutine that must wait (a pause after a prompt) awaits `sleep(clock, seconds)`, a timer of
its clock, never ``asyncio.sleep``.

Decision: ``wall()`` of a `VirtualClock` moves with its monotonic time (one offset, fixed at
construction), so a record's wall times and its durations agree as they do in production
between clock adjustments.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps: the ``now`` of every core."""
        ...

    def wall(self) -> float:
        """Epoch seconds (UTC) for records and reports."""
        ...

    def call_at(self, when: float, callback: Callable[..., object],
                *args: object) -> TimerHandle:
        """Run ``callback(*args)`` at monotonic time ``when``."""
        ...

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: object) -> TimerHandle:
        ...


class LoopClock:
    """Production: the running event loop's monotonic time and timers."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop or asyncio.get_running_loop()

    def monotonic(self) -> float:
        return self.loop.time()

    def wall(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[..., object],
                *args: object) -> TimerHandle:
        return self.loop.call_at(when, callback, *args)

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: object) -> TimerHandle:
        return self.loop.call_later(delay, callback, *args)


@dataclass(eq=False)
class VirtualTimer:
    when: float
    callback: Callable[..., object]
    args: tuple[object, ...]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class VirtualClock:
    """Tests and simulations: ``advance(seconds)`` moves time and runs the timers due, in
    time order (timers set by those callbacks run too when they fall within the step)."""

    start: float = 1000.0
    wall_start: float = 1_700_000_000.0
    _now: float = field(init=False)
    _timers: list[tuple[float, int, VirtualTimer]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self._now = self.start

    @property
    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self.wall_start + (self._now - self.start)

    def call_at(self, when: float, callback: Callable[..., object],
                *args: object) -> VirtualTimer:
        timer = VirtualTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[..., object],
                   *args: object) -> VirtualTimer:
        return self.call_at(self._now + delay, callback, *args)

    def next_timer(self) -> float | None:
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def advance(self, seconds: float) -> None:
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        if when < self._now:
            raise ValueError(f"time does not go back ({when} < {self._now})")
        while True:
            due = self.next_timer()
            if due is None or due > when:
                break
            _, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback(*timer.args)
        self._now = when


async def sleep(clock: Clock, seconds: float) -> None:
    """Wait ``seconds`` on ``clock`` (a timer of the clock resolving a future): virtual
    time in tests, the loop's time in production."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    handle = clock.call_later(seconds, wake)
    try:
        await future
    finally:
        handle.cancel()
