"""softswitch.store: migrations, WAL, batched writes, records surviving a reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from softswitch.store import CallRecord, Disposition, RegistrationRow, SchemaError, Store
from softswitch.store.migrations import MIGRATIONS, Migration


def reg(aor: str, contact: str, expires_at: float = 2e9) -> RegistrationRow:
    return RegistrationRow(aor, contact, expires_at, "127.0.0.1", 5062, "udp", "cid", 1,
                           None, "ua", 1.0)


async def test_new_database_is_at_latest_version_in_wal_mode(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "sub" / "db.sqlite3"))
    assert await store.schema_version() == MIGRATIONS[-1].version
    await store.close()
    con = sqlite3.connect(tmp_path / "sub" / "db.sqlite3")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]


async def test_old_database_is_migrated_forward_keeping_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path, MIGRATIONS[:1])
    store.save_registration(reg("1001", "sip:1001@127.0.0.1:5062"))
    await store.close()
    later = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "queue calls",
                                    "CREATE TABLE queue_call (id INTEGER PRIMARY KEY, "
                                    "queue TEXT NOT NULL)"))
    store = await Store.open(path, later)
    assert await store.schema_version() == later[-1].version
    assert [r.aor for r in await store.registrations()] == ["1001"]
    await store.close()
    # the current switch refuses a database written by that newer one, rather than guess
    with pytest.raises(SchemaError, match="newer than this switch knows"):
        await Store.open(path)


async def test_pause_rows_survive_the_rebuild_that_allows_ended_by_shutdown(
        tmp_path: Path) -> None:
    """Migration 4 rebuilds agent_pauses (SQLite cannot alter a CHECK): rows written by a
    version-3 switch are kept, and a pause may now end by 'shutdown'."""
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path, [m for m in MIGRATIONS if m.version <= 3])
    store.write("INSERT INTO agent_pauses (pause_uid, agent, queue, paused_at, reason, auto,"
                " counted, ended_at, ended_by, duration) VALUES (?,?,?,?,?,?,?,?,?,?)",
                ("p1", "1001", "6400", 10.0, "Lunch", 0, 1, 20.0, "resumed", 10.0))
    await store.close()
    store = await Store.open(path)
    assert await store.schema_version() == MIGRATIONS[-1].version
    store.write("INSERT INTO agent_pauses (pause_uid, agent, queue, paused_at)"
                " VALUES (?,?,?,?)", ("p2", "1002", "6400", 30.0))
    store.write("UPDATE agent_pauses SET ended_at=?, ended_by=?, duration=?"
                " WHERE pause_uid=?", (40.0, "shutdown", 10.0, "p2"))
    await store.flush()
    assert await store.fetch("SELECT id, pause_uid, reason, ended_by, duration"
                             " FROM agent_pauses ORDER BY id") == [
        (1, "p1", "Lunch", "resumed", 10.0), (2, "p2", "", "shutdown", 10.0)]
    await store.close()
    with pytest.raises(sqlite3.IntegrityError):  # other values are still refused
        con = sqlite3.connect(path)
        con.execute("UPDATE agent_pauses SET ended_by='lunch' WHERE id=1")


async def test_failed_migration_leaves_database_at_previous_version(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    broken = (*MIGRATIONS, Migration(99, "broken", "CREATE TABLE x (a); CREATE TABLE x (a)"))
    with pytest.raises(sqlite3.OperationalError):
        await Store.open(path, broken)
    store = await Store.open(path)
    assert await store.schema_version() == MIGRATIONS[-1].version
    await store.close()


async def test_registrations_upsert_delete_and_survive_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    store = await Store.open(path)
    for i in range(500):  # a burst, queued without awaiting
        store.save_registration(reg(f"{1000 + i % 5}", f"sip:{i % 5}@h:{i}"))
    store.save_registration(reg("1000", "sip:0@h:0", expires_at=123.0))
    store.delete_registration("1001", "sip:1@h:1")
    await store.close()
    store = await Store.open(path)
    rows = {(r.aor, r.contact): r for r in await store.registrations()}
    assert len(rows) == 499
    assert rows[("1000", "sip:0@h:0")].expires_at == 123.0
    assert ("1001", "sip:1@h:1") not in rows
    await store.close()


async def test_cdr_rows_with_duration_billsec_and_rtp_stats(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    store.write_cdr(CallRecord("c1", "1001", "1002", 100.0, 102.5, 110.0, Disposition.ANSWERED,
                               "callee", "BYE", 200, {"packets_received": 400}, None))
    store.write_cdr(CallRecord("c2", "1001", "1003", 100.0, None, 105.0, Disposition.CANCELLED,
                               "caller", "CANCEL", 487))
    await store.flush()
    c1, c2 = await store.call_records()
    assert (c1.duration, c1.billsec, c1.caller_rtp) == (10.0, 7.5, {"packets_received": 400})
    assert (c2.duration, c2.billsec, c2.disposition) == (5.0, 0.0, "CANCELLED")
    assert [r.call_id for r in await store.call_records("c2")] == ["c2"]
    await store.close()


async def test_bad_write_is_dropped_alone(tmp_path: Path) -> None:
    store = await Store.open(str(tmp_path / "db.sqlite3"))
    store.write_cdr(CallRecord("ok1", "a", "b", 1.0, None, 2.0, Disposition.FAILED, "switch",
                               "x"))
    store.write_cdr(CallRecord("bad", "a", "b", 1.0, None, 2.0, "NOT A DISPOSITION", "switch",
                               "x"))
    store.write_cdr(CallRecord("ok2", "a", "b", 1.0, None, 2.0, Disposition.BUSY, "callee",
                               "486"))
    await store.flush()
    assert [r.call_id for r in await store.call_records()] == ["ok1", "ok2"]
    assert store.write_errors == 1
    await store.close()
    with pytest.raises(RuntimeError):
        store.write_cdr(CallRecord("late", "a", "b", 1, None, 2, Disposition.BUSY, "x", "y"))
