"""The shells' clock (softswitch.clock): virtual time runs timers only when advanced."""

from __future__ import annotations

import asyncio

import pytest

from softswitch.clock import LoopClock, VirtualClock, sleep


def test_virtual_timers_run_in_time_order_when_advanced_and_can_be_cancelled() -> None:
    clock = VirtualClock(start=100.0, wall_start=1_000_000.0)
    ran: list[tuple[str, float]] = []
    clock.call_later(5.0, lambda: ran.append(("b", clock.monotonic())))
    clock.call_at(102.0, lambda: ran.append(("a", clock.monotonic())))
    dropped = clock.call_later(3.0, lambda: ran.append(("x", clock.monotonic())))
    dropped.cancel()
    # a timer set by a timer runs in the same step when it falls within it
    clock.call_at(104.0, lambda: clock.call_later(0.5, lambda: ran.append(
        ("chained", clock.monotonic()))))
    clock.advance(4.9)
    assert ran == [("a", 102.0), ("chained", 104.5)]
    assert clock.monotonic() == 104.9 and clock.wall() == 1_000_004.9
    clock.advance(0.1)
    assert ran[-1] == ("b", 105.0)
    assert clock.next_timer() is None
    with pytest.raises(ValueError):
        clock.advance_to(10.0)


async def test_sleep_waits_on_the_clock_not_the_loop() -> None:
    clock = VirtualClock()
    woke = asyncio.create_task(sleep(clock, 30.0))
    await asyncio.sleep(0)
    assert not woke.done()
    clock.advance(30.0)
    await asyncio.sleep(0)
    assert woke.done()


async def test_the_loop_clock_is_the_loops_time() -> None:
    loop = asyncio.get_running_loop()
    clock = LoopClock()
    assert abs(clock.monotonic() - loop.time()) < 0.1
    fired = asyncio.Event()
    clock.call_later(0.0, fired.set)
    await asyncio.wait_for(fired.wait(), 1.0)
