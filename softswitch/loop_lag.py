"""How long the event loop stalls: a probe fed by a periodic loop callback.

Everything the switch does (SIP, the 20 ms media clock, queues, HTTP) runs on one asyncio
loop, so anything that holds the loop (a full garbage collection, a slow synchronous call)
delays every call at once: SIP retransmits after 500 ms and RTP packets wait. The probe asks
the loop to run a callback every ``interval`` seconds and measures how late each one ran;
the lateness of the callback is the time the loop was busy with something else when it was
due. A stall of S ms shows as a lateness between S - interval and S ms.

`LoopLag` is the sans-IO core (inputs: when the callback was due and when it ran; outputs:
the next deadline and summaries); `LoopLagMonitor` is the asyncio shell that schedules it
and that `GET /api/v1/health` reads (softswitch.app, key ``loop``). `GcPauses` times every
collection of the cyclic garbage collector (``loop.gc``: per generation the count, the
longest and the total pause since the start), so a stall can be told apart from a GC pause.

Decisions:
- Two windows: since the start, and since the previous read (the health endpoint is polled;
  a monitor sees each stall once in the second window even when the first one's maximum
  was reached long ago). Reading resets only the second window.
- Percentiles come from a fixed histogram (bucket bounds in ms below), so memory and cost
  stay constant for a process that runs for months: a percentile is reported as the upper
  bound of its bucket (never below the truth), and never above the window's maximum.
- ``max_stall_ms`` is wall-clock lateness: it includes time the OS ran other processes.
  ``max_busy_stall_ms`` is the part of each lateness the loop's thread spent on the CPU
  (its CPU time since the previous run, capped at the lateness): a stall of our own (a GC
  pause, a slow call) shows in both, a busy neighbour on a shared machine only in the first.
- The cost: one loop callback per 20 ms, a bisect and a thread-CPU-time read per callback
  (well under 0.1 % of one core).
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INTERVAL = 0.020  # seconds between two probe callbacks
#: upper bounds of the histogram buckets in ms; the last bucket is everything above
BUCKETS_MS: tuple[float, ...] = (1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300,
                                 500, 750, 1000, 2000, 5000, 10000)


@dataclass
class LagWindow:
    """Lateness samples of one window: count, maximum and the histogram."""

    started: float  # monotonic time the window began
    samples: int = 0
    max_ms: float = 0.0
    max_busy_ms: float = 0.0  # the part of a lateness the process spent on its own CPU
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))

    def add(self, lag_ms: float, busy_ms: float) -> None:
        self.samples += 1
        if lag_ms > self.max_ms:
            self.max_ms = lag_ms
        if busy_ms > self.max_busy_ms:
            self.max_busy_ms = busy_ms
        self.counts[bisect.bisect_left(BUCKETS_MS, lag_ms)] += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) of the lateness in ms, as the upper bound of its
        bucket, capped at the maximum seen (0.0 without samples)."""
        if not self.samples:
            return 0.0
        rank = max(1, -(-self.samples * q // 100))  # ceil: the sample at or above q %
        seen = 0
        for i, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                bound = BUCKETS_MS[i] if i < len(BUCKETS_MS) else self.max_ms
                return min(float(bound), self.max_ms)
        return self.max_ms

    def summary(self, now: float) -> dict[str, Any]:
        return {"max_stall_ms": round(self.max_ms, 1),
                "max_busy_stall_ms": round(self.max_busy_ms, 1),
                "p99_ms": round(self.percentile(99), 1),
                "p50_ms": round(self.percentile(50), 1), "samples": self.samples,
                "window_s": round(now - self.started, 1)}


class LoopLag:
    """The probe's state (sans-IO): feed `handle_tick(due, now)`, schedule the next callback
    at `next_deadline()`."""

    def __init__(self, now: float, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.total = LagWindow(now)
        self.recent = LagWindow(now)
        self._due = now + interval
        self._cpu: float | None = None

    def next_deadline(self) -> float:
        return self._due

    def handle_tick(self, now: float, cpu: float | None = None) -> None:
        """The callback due at `next_deadline()` ran at `now`; `cpu` is the loop thread's
        CPU time then (seconds), which splits a lateness into the loop's own work and the
        time the OS gave the CPU to other processes (a shared machine)."""
        lag = max(0.0, now - self._due)
        busy = lag
        if cpu is not None:
            if self._cpu is not None:
                busy = min(lag, max(0.0, cpu - self._cpu))
            self._cpu = cpu
        self.total.add(lag * 1000.0, busy * 1000.0)
        self.recent.add(lag * 1000.0, busy * 1000.0)
        # the next one is due one interval after this run: a long stall counts once
        self._due = now + self.interval

    def read(self, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """(since the start, since the previous read); starts a new second window."""
        total, recent = self.total.summary(now), self.recent.summary(now)
        self.recent = LagWindow(now)
        return total, recent


class GcPauses:
    """How long the cyclic garbage collector held the loop, per generation (a collection is
    synchronous: while it runs nothing else does). Fed by `gc.callbacks`; ``install`` /
    ``remove`` add and drop the hook."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.count = [0, 0, 0]
        self.max_ms = [0.0, 0.0, 0.0]
        self.total_ms = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self._started: float | None = None

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def remove(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        if self._started is None:
            return
        self.handle_collection(info["generation"], (self.clock() - self._started) * 1000.0,
                               info.get("collected", 0))
        self._started = None

    def handle_collection(self, generation: int, pause_ms: float, collected: int) -> None:
        g = min(max(generation, 0), 2)
        self.count[g] += 1
        self.total_ms[g] += pause_ms
        self.collected[g] += collected
        if pause_ms > self.max_ms[g]:
            self.max_ms[g] = pause_ms

    def summary(self) -> dict[str, Any]:
        return {f"gen{g}": {"collections": self.count[g], "max_ms": round(self.max_ms[g], 1),
                            "total_ms": round(self.total_ms[g], 1),
                            "collected": self.collected[g]} for g in range(3)}


class LoopLagMonitor:
    """Runs a `LoopLag` on the running loop (`start`/`stop`); `health()` is the ``loop``
    object of ``GET /api/v1/health``."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self.probe: LoopLag | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self.gc = GcPauses()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.probe = LoopLag(self._loop.time(), self.interval)
        self.gc.install()
        self._arm()

    def stop(self) -> None:
        self.gc.remove()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self) -> None:
        assert self._loop is not None and self.probe is not None
        self._handle = self._loop.call_at(self.probe.next_deadline(), self._tick)

    def _tick(self) -> None:
        assert self._loop is not None and self.probe is not None
        self.probe.handle_tick(self._loop.time(), time.thread_time())
        self._arm()

    def health(self) -> dict[str, Any]:
        """Since the start at the top level, since the previous read under ``last_read``;
        ``since`` is the wall-clock (UTC) start of each window."""
        if self.probe is None or self._loop is None:
            return {}
        now = self._loop.time()
        total, recent = self.probe.read(now)
        wall = time.time()
        for window in (total, recent):
            window["since"] = datetime.fromtimestamp(wall - window["window_s"], UTC) \
                .isoformat(timespec="seconds")
        return {**total, "interval_ms": round(self.interval * 1000), "last_read": recent,
                "gc": self.gc.summary()}
