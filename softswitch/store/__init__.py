"""Storage: SQLite through aiosqlite, WAL journal, versioned schema, one writer task.

Hot paths (REGISTER, call end) never await the database: they hand a write to `Store`, which
queues it; the writer task takes everything queued so far and applies it in ONE transaction,
so a burst of a thousand REGISTERs costs a handful of commits. `flush()` waits until every
write queued before it is on disk (used at shutdown and by tests). Reads go through the same
connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from softswitch.log import get_logger
from softswitch.store.migrations import MIGRATIONS, Migration
from softswitch.store.records import CallRecord, Disposition, RegistrationRow

__all__ = ["CallRecord", "Disposition", "RegistrationRow", "SchemaError", "Store"]

log = get_logger("store")

_UPSERT_REGISTRATION = (
    "INSERT INTO registrations (aor, contact, expires_at, received_host, received_port,"
    " transport, call_id, cseq, q, user_agent, registered_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (aor, contact) DO UPDATE SET expires_at=excluded.expires_at,"
    " received_host=excluded.received_host, received_port=excluded.received_port,"
    " transport=excluded.transport, call_id=excluded.call_id, cseq=excluded.cseq,"
    " q=excluded.q, user_agent=excluded.user_agent, registered_at=excluded.registered_at"
)
_DELETE_REGISTRATION = "DELETE FROM registrations WHERE aor=? AND contact=?"
_INSERT_CDR = (
    "INSERT INTO cdr (call_id, caller, callee, start_time, answer_time, end_time, duration,"
    " billsec, disposition, hangup_side, hangup_cause, sip_code, caller_rtp, callee_rtp,"
    " recording) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


class SchemaError(Exception):
    """The database was written by a newer switch (unknown schema version)."""


class Store:
    """The switch's database. Use `await Store.open(path)`, then `close()`."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]] | asyncio.Future[None] | None]
        self._queue = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(),
                                                              name="store-writer")
        self._closed = False
        self.write_errors = 0

    @classmethod
    async def open(cls, path: str,
                   migrations: Sequence[Migration] = MIGRATIONS) -> Store:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await migrate(db, migrations)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    # -- writes (never awaited on hot paths)

    def _put(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError("store is closed")
        self._queue.put_nowait((sql, params))

    def save_registration(self, row: RegistrationRow) -> None:
        self._put(_UPSERT_REGISTRATION, (
            row.aor, row.contact, row.expires_at, row.received_host, row.received_port,
            row.transport, row.call_id, row.cseq, row.q, row.user_agent,
            row.registered_at or time.time()))

    def delete_registration(self, aor: str, contact: str) -> None:
        self._put(_DELETE_REGISTRATION, (aor, contact))

    def write_cdr(self, cdr: CallRecord) -> None:
        self._put(_INSERT_CDR, (
            cdr.call_id, cdr.caller, cdr.callee, cdr.start_time, cdr.answer_time,
            cdr.end_time, round(cdr.duration, 3), round(cdr.billsec, 3), cdr.disposition,
            cdr.hangup_side, cdr.hangup_cause, cdr.sip_code,
            json.dumps(cdr.caller_rtp) if cdr.caller_rtp is not None else None,
            json.dumps(cdr.callee_rtp) if cdr.callee_rtp is not None else None,
            cdr.recording))

    def write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue one INSERT/UPDATE (report rows: softswitch.reports); applied in order."""
        self._put(sql, params)

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT (reports, tests)."""
        async with self._db.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def flush(self) -> None:
        """Wait until every write queued so far is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(done)
        await done

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            batch = [item]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            waiters = [b for b in batch if isinstance(b, asyncio.Future)]
            writes = [b for b in batch if isinstance(b, tuple)]
            stop = any(b is None for b in batch)
            if writes:
                await self._apply(writes)
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            if stop:
                return

    async def _apply(self, writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply queued writes in one transaction, consecutive same statements grouped."""
        try:
            i = 0
            while i < len(writes):
                sql = writes[i][0]
                j = i
                while j < len(writes) and writes[j][0] == sql:
                    j += 1
                await self._db.executemany(sql, [w[1] for w in writes[i:j]])
                i = j
            await self._db.commit()
        except Exception as exc:  # noqa: BLE001 - one bad write must not lose the others
            self.write_errors += 1
            log.error("database write failed, retrying one by one", error=str(exc))
            await self._db.rollback()
            for sql, params in writes:
                try:
                    await self._db.execute(sql, params)
                    await self._db.commit()
                except Exception as exc2:  # noqa: BLE001
                    log.error("database write dropped", error=str(exc2), sql=sql[:40])
                    await self._db.rollback()

    # -- reads

    async def registrations(self) -> list[RegistrationRow]:
        async with self._db.execute(
                "SELECT aor, contact, expires_at, received_host, received_port, transport,"
                " call_id, cseq, q, user_agent, registered_at FROM registrations") as cur:
            return [RegistrationRow(*r) for r in await cur.fetchall()]

    async def call_records(self, call_id: str | None = None) -> list[CallRecord]:
        sql = ("SELECT call_id, caller, callee, start_time, answer_time, end_time, disposition,"
               " hangup_side, hangup_cause, sip_code, caller_rtp, callee_rtp, recording FROM cdr")
        params: tuple[Any, ...] = ()
        if call_id is not None:
            sql += " WHERE call_id=?"
            params = (call_id,)
        async with self._db.execute(sql + " ORDER BY id", params) as cur:
            rows = await cur.fetchall()
        return [CallRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                           json.loads(r[10]) if r[10] else None,
                           json.loads(r[11]) if r[11] else None, r[12]) for r in rows]

    async def schema_version(self) -> int:
        return await current_version(self._db)

    # -- shutdown

    async def close(self) -> None:
        """Commit everything queued, stop the writer, close the database."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        try:
            await self._writer
        finally:
            await self._db.close()


async def current_version(db: aiosqlite.Connection) -> int:
    async with db.execute("SELECT name FROM sqlite_master WHERE type='table' AND "
                          "name='schema_version'") as cur:
        if await cur.fetchone() is None:
            return 0
    async with db.execute("SELECT MAX(version) FROM schema_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(db: aiosqlite.Connection, migrations: Sequence[Migration]) -> int:
    """Apply the steps not yet applied, each in its own transaction. Returns the version."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                     " description TEXT NOT NULL, applied_at REAL NOT NULL)")
    await db.commit()
    version = await current_version(db)
    known = max((m.version for m in migrations), default=0)
    if version > known:
        raise SchemaError(f"the database is at schema version {version}, newer than this "
                          f"switch knows ({known}); refusing to use it")
    for step in sorted(migrations, key=lambda m: m.version):
        if step.version <= version:
            continue
        try:
            await db.execute("BEGIN")
            for statement in _statements(step.sql):
                await db.execute(statement)
            await db.execute("INSERT INTO schema_version VALUES (?,?,?)",
                             (step.version, step.description, time.time()))
            await db.commit()
        except Exception:
            await db.rollback()
            raise
        log.info("database migrated", version=step.version, step=step.description)
        version = step.version
    return version


def _statements(script: str) -> list[str]:
    """Split a migration script on ';' (the schema has no triggers or string semicolons)."""
    return [s.strip() for s in script.split(";") if s.strip()]
