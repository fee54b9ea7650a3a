"""Retention (config ``retention``): the daily purge on the injected clock deletes old
records and recordings, keeps open rows and recent ones, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from virtualclock import VirtualClock

from softswitch.config import RetentionConfig, parse_config
from softswitch.store import CallRecord, Disposition
from softswitch.store.retention import DailyPurge

ZONE = ZoneInfo("Europe/Berlin")
DAY = 86400.0


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


def seed(store: Any, tmp_path: Path, now: float) -> dict[str, Path]:
    files = {}
    for name, age_days in (("old", 100), ("mid", 40), ("new", 1)):
        wav = tmp_path / f"{name}.wav"
        wav.write_bytes(b"RIFF")
        files[name] = wav
        start = now - age_days * DAY
        store.write_cdr(CallRecord(f"c-{name}", "1001", "1002", start, start + 1, start + 60,
                                   Disposition.ANSWERED, "callee", "BYE", 200,
                                   recording=str(wav)))
        store.write("INSERT INTO queue_calls (call_uid, task, queue, caller, joined_at, status,"
                    " wait, talk, ended_at, recording) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (f"q-{name}", name, "6400", "555", start, "answered", 5.0, 50.0,
                     start + 55, str(wav)))
    old = now - 100 * DAY
    store.open_cdr("open-1", "c-open", "1001", "1003", old)  # a call still "running"
    store.write("INSERT INTO agent_sessions (session_uid, agent, queue, signed_in_at)"
                " VALUES (?,?,?,?)", ("s-open", "1001", "6400", old))  # still signed in
    store.write("INSERT INTO agent_sessions (session_uid, agent, queue, signed_in_at,"
                " signed_out_at, duration) VALUES (?,?,?,?,?,?)",
                ("s-old", "1001", "6400", old, old + 60, 60.0))
    return files


@pytest.fixture
def store(any_store: Any) -> Any:
    """Both backends (tests/conftest.py)."""
    return any_store


async def test_daily_purge_at_its_local_time(store: Any, tmp_path: Path) -> None:
    clock = VirtualClock(at("2026-03-10T12:00:00"))
    files = seed(store, tmp_path, clock.now)
    await store.flush()
    retention = RetentionConfig(records_days=60, recordings_days=30, purge_at="03:30",
                                time_zone="Europe/Berlin")
    purge = DailyPurge(store, retention, clock, clock.sleep)
    assert purge.next_deadline() == at("2026-03-11T03:30:00")
    await purge.run_due(at("2026-03-11T03:29:59"))  # not yet
    assert files["old"].exists()
    purge.start()
    await clock.advance(at("2026-03-11T03:29:00"))
    assert purge.last is None and files["old"].exists()
    await clock.advance(at("2026-03-11T03:31:00"))
    assert purge.last is not None
    await purge.close()
    assert purge.next_deadline() == at("2026-03-12T03:30:00")
    assert not files["old"].exists() and not files["mid"].exists() and files["new"].exists()
    records = {r.call_id: r for r in await store.call_records()}
    assert set(records) == {"c-mid", "c-new"}  # 100 days old: gone; 40: kept (limit 60)
    assert records["c-mid"].recording is None and records["c-new"].recording is not None
    assert await store.fetch("SELECT call_uid, recording FROM queue_calls ORDER BY call_uid"
                             ) == [("q-mid", None), ("q-new", str(files["new"]))]
    assert await store.fetch("SELECT session_uid FROM agent_sessions") == [("s-open",)]
    assert [r[0] for r in await store.fetch("SELECT record_uid FROM cdr WHERE state='open'")
            ] == ["open-1"]
    assert purge.last.rows == {"cdr": 1, "queue_calls": 1, "agent_sessions": 1}


def test_retention_keys_are_checked() -> None:
    base = "sip: {listen: [udp:127.0.0.1:0], domain: x.org}\nextensions: []\n"
    cfg = parse_config(base + "retention: {records_days: 400, purge_at: '04:15',"
                              " time_zone: Asia/Shanghai}\n")
    assert cfg.retention == RetentionConfig(400, 0, "04:15", "Asia/Shanghai")
    from softswitch.config import ConfigError

    for bad, message in (("{records_days: -1}", "retention.records_days: expected a whole"),
                         ("{purge_at: '25:00'}", "retention.purge_at: expected a time of day"),
                         ("{time_zone: Mars/Base}", "retention.time_zone: unknown time zone"),
                         ("{keep: 3}", "unknown key 'keep'")):
        with pytest.raises(ConfigError) as info:
            parse_config(base + f"retention: {bad}\n")
        assert message in str(info.value), bad
