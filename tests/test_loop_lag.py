"""The event-loop stall probe (softswitch.loop_lag) in explicit time, and the ``loop`` object
of ``GET /api/v1/health`` on a switch started in the test's loop."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path

import switchproc
import yaml

from softswitch.app import Switch
from softswitch.config import parse_config
from softswitch.loop_lag import LoopLag


def test_a_stall_shows_as_the_maximum_and_in_the_high_percentiles() -> None:
    probe = LoopLag(now=0.0, interval=0.02)
    now = 0.0
    for _ in range(999):  # on time, under 1 ms late
        now = probe.next_deadline() + 0.0008
        probe.handle_tick(now)
    now = probe.next_deadline() + 0.250  # the loop was held for a quarter of a second
    probe.handle_tick(now)
    total, recent = probe.read(now)
    assert total["max_stall_ms"] == 250.0
    assert total["samples"] == 1000
    assert total["p50_ms"] == 1.0
    assert total["p99_ms"] == 1.0  # one sample in a thousand is above the 99th percentile
    assert recent == total


def test_reading_starts_a_new_recent_window_but_keeps_the_total() -> None:
    probe = LoopLag(now=0.0, interval=0.02)
    probe.handle_tick(probe.next_deadline() + 0.120)
    first_total, first_recent = probe.read(1.0)
    assert first_recent["max_stall_ms"] == 120.0
    for _ in range(100):
        probe.handle_tick(probe.next_deadline() + 0.004)
    total, recent = probe.read(3.0)
    assert recent["max_stall_ms"] == 4.0 and recent["samples"] == 100
    assert recent["p99_ms"] == 4.0  # the 3-5 ms bucket, capped at the maximum
    assert total["max_stall_ms"] == 120.0 and total["samples"] == 101
    assert recent["window_s"] == 2.0 and total["window_s"] == 3.0


def test_percentiles_never_exceed_the_maximum_and_early_runs_count_as_zero() -> None:
    probe = LoopLag(now=0.0, interval=0.02)
    probe.handle_tick(probe.next_deadline() - 0.001)  # asyncio may run a handle a bit early
    probe.handle_tick(probe.next_deadline() + 0.0112)
    total, _ = probe.read(1.0)
    assert total["max_stall_ms"] == 11.2
    assert total["p99_ms"] == 11.2  # bucket bound 15 ms, capped at the maximum
    assert total["p50_ms"] == 1.0  # the 0-1 ms bucket: an early run counts as on time


def _get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as r:
        data: dict[str, object] = json.loads(r.read())
        return data


async def test_health_reports_a_loop_stall(tmp_path: Path) -> None:
    """A switch whose loop is held for 300 ms says so in /api/v1/health (``loop``)."""
    cfg = parse_config(yaml.safe_dump(switchproc.base_config(tmp_path)), "c.yaml", tmp_path)
    switch = Switch(cfg)
    await switch.start()
    try:
        url = f"http://{switch.http_address}/api/v1/health"
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # a synchronous stall of the loop, as a full GC would be
        await asyncio.sleep(0.1)
        health = await loop.run_in_executor(None, _get, url)
        lag = health["loop"]
        assert isinstance(lag, dict)
        assert 280 <= lag["max_stall_ms"] <= 1000, lag
        assert lag["last_read"]["max_stall_ms"] == lag["max_stall_ms"]
        assert lag["interval_ms"] == 20 and "since" in lag
        health = await loop.run_in_executor(None, _get, url)
        lag = health["loop"]
        assert isinstance(lag, dict)
        assert lag["max_stall_ms"] >= 280  # since the start
        assert lag["last_read"]["max_stall_ms"] < 280  # since the previous read
    finally:
        await switch.stop()


def test_gc_pauses_are_counted_per_generation() -> None:
    from softswitch.loop_lag import GcPauses

    ticks = iter([0.0, 0.004, 1.0, 1.120])
    pauses = GcPauses(clock=lambda: next(ticks))
    pauses._on_gc("start", {"generation": 0})
    pauses._on_gc("stop", {"generation": 0, "collected": 3})
    pauses._on_gc("start", {"generation": 2})
    pauses._on_gc("stop", {"generation": 2, "collected": 0})
    summary = pauses.summary()
    assert summary["gen0"] == {"collections": 1, "max_ms": 4.0, "total_ms": 4.0,
                               "collected": 3}
    assert summary["gen2"]["max_ms"] == 120.0 and summary["gen1"]["collections"] == 0


def test_a_real_collection_is_seen() -> None:
    import gc

    from softswitch.loop_lag import GcPauses

    pauses = GcPauses()
    pauses.install()
    try:
        gc.collect()
    finally:
        pauses.remove()
    assert pauses.summary()["gen2"]["collections"] >= 1


def test_lateness_while_other_processes_ran_is_not_counted_as_busy() -> None:
    probe = LoopLag(now=0.0, interval=0.02)
    cpu = 0.0
    probe.handle_tick(probe.next_deadline(), cpu)
    cpu += 0.005  # 5 ms of own work, then the OS ran someone else for 200 ms
    probe.handle_tick(probe.next_deadline() + 0.200, cpu)
    cpu += 0.150  # a 150 ms collection of our own
    probe.handle_tick(probe.next_deadline() + 0.150, cpu)
    total, _ = probe.read(1.0)
    assert total["max_stall_ms"] == 200.0
    assert total["max_busy_stall_ms"] == 150.0
