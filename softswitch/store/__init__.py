"""Storage: SQLite through aiosqlite, WAL journal, versioned schema, one writer task.

Hot paths (REGISTER, call end) never await the database: they hand a write to `Store`, which
queues it; the writer task takes everything queued so far and applies it in ONE transaction,
so a burst of a thousand REGISTERs costs a handful of commits. `flush()` waits until every
write queued before it is on disk (used at shutdown and by tests). Reads go through the same
connection.

Call records are crash-safe (migration 5): `open_cdr` writes a call's row when the call
starts (state 'open'), `save_dialog` what ending each of its legs needs once it is
confirmed, `write_cdr` completes the row (and forgets the dialogs) when the call ends. At
the next start-up `interrupt_open_calls` closes the rows a crash left open and
`call_dialogs` lists the legs to hang up (softswitch.calls.records).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from softswitch.log import get_logger
from softswitch.store.migrations import MIGRATIONS, Migration
from softswitch.store.records import CallRecord, DialogRow, Disposition, RegistrationRow

__all__ = ["CallRecord", "DialogRow", "Disposition", "RecordStore", "RegistrationRow",
           "SchemaError", "Store", "open_store"]

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
_CDR_COLUMNS = ("call_id", "caller", "callee", "start_time", "answer_time", "end_time",
                "duration", "billsec", "disposition", "hangup_side", "hangup_cause", "sip_code",
                "caller_rtp", "callee_rtp", "recording")
# The complete row: an UPDATE of the open row, or an INSERT when that row never made it (its
# write failed, or the call was never opened).
_COMPLETE_CDR = (
    f"INSERT INTO cdr (record_uid, state, {', '.join(_CDR_COLUMNS)})"
    f" VALUES (?,'closed',{','.join('?' * len(_CDR_COLUMNS))})"
    " ON CONFLICT (record_uid) DO UPDATE SET state='closed', "
    + ", ".join(f"{c}=excluded.{c}" for c in _CDR_COLUMNS)
)
_OPEN_CDR = ("INSERT INTO cdr (record_uid, state, call_id, caller, callee, start_time)"
             " VALUES (?,'open',?,?,?,?) ON CONFLICT (record_uid) DO NOTHING")
_ANSWER_CDR = "UPDATE cdr SET answer_time=? WHERE record_uid=? AND state='open'"
_INTERRUPT_CDR = (
    "UPDATE cdr SET state='closed', disposition='INTERRUPTED', hangup_side='switch',"
    " hangup_cause=?, billsec=CASE WHEN answer_time IS NULL THEN 0 END"
    " WHERE state='open' AND record_uid=?")
_DIALOG_COLUMNS = ("record_uid", "leg", "call_id", "local_address", "remote_address",
                   "remote_target", "route_set", "next_cseq", "transport", "host", "port")
_SAVE_DIALOG = (
    f"INSERT INTO call_dialogs ({', '.join(_DIALOG_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_DIALOG_COLUMNS))})"
    " ON CONFLICT (record_uid, leg) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _DIALOG_COLUMNS[2:])
)
_DELETE_DIALOGS = "DELETE FROM call_dialogs WHERE record_uid=?"
_DELETE_DIALOG = "DELETE FROM call_dialogs WHERE record_uid=? AND leg=?"


class SchemaError(Exception):
    """The database was written by a newer switch (unknown schema version)."""


class RecordStore:
    """What both backends share: the switch's rows as statements queued with `_put` (applied
    in order, in batches, by the backend's writer task) and read with `fetch`. Statements
    are written with ``?`` placeholders; the PostgreSQL store rewrites them to ``$n``
    (softswitch.store.postgres)."""

    _closed = False
    write_errors = 0
    _pending_writes = 0  # queued or being applied

    def _start_writer(self) -> None:
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]] | asyncio.Future[None] | None]
        self._queue = asyncio.Queue()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(),
                                                              name="store-writer")

    async def _stop_writer(self) -> None:
        """Commit everything queued and stop the writer (close)."""
        self._closed = True
        self._queue.put_nowait(None)
        await self._writer

    async def _apply(self, writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply a batch of queued writes (in one transaction where it can)."""
        raise NotImplementedError

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SELECT (reports, restore at start-up, tests). A read sees every write
        queued before it: with writes pending it waits for them to commit first (reads are
        rare and never on a call's hot path)."""
        if self._pending_writes:
            await self.flush()
        return await self._fetch(sql, params)

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _put(self, sql: str, params: tuple[Any, ...]) -> None:
        if self._closed:
            raise RuntimeError("store is closed")
        self._pending_writes += 1
        self._queue.put_nowait((sql, params))

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
                try:
                    await self._apply(writes)
                finally:
                    self._pending_writes -= len(writes)
            for w in waiters:
                if not w.done():
                    w.set_result(None)
            if stop:
                return


    async def close(self) -> None:
        raise NotImplementedError

    async def schema_version(self) -> int:
        raise NotImplementedError

    # -- writes (never awaited on hot paths)

    def save_registration(self, row: RegistrationRow) -> None:
        self._put(_UPSERT_REGISTRATION, (
            row.aor, row.contact, row.expires_at, row.received_host, row.received_port,
            row.transport, row.call_id, row.cseq, row.q, row.user_agent,
            row.registered_at or time.time()))

    def delete_registration(self, aor: str, contact: str) -> None:
        self._put(_DELETE_REGISTRATION, (aor, contact))

    def open_cdr(self, record_uid: str, call_id: str, caller: str, callee: str,
                 start_time: float) -> None:
        """A call started: its row, state 'open', no disposition yet."""
        self._put(_OPEN_CDR, (record_uid, call_id, caller, callee, start_time))

    def answer_cdr(self, record_uid: str, answer_time: float) -> None:
        """The open call was answered (its billable time starts)."""
        self._put(_ANSWER_CDR, (answer_time, record_uid))

    def write_cdr(self, cdr: CallRecord, record_uid: str | None = None) -> None:
        """The call ended: its row completed (state 'closed'; inserted when the open row is
        missing, always for `record_uid` None), and its legs' dialogs forgotten."""
        duration, billsec = cdr.duration, cdr.billsec
        self._put(_COMPLETE_CDR, (
            record_uid or uuid.uuid4().hex,
            cdr.call_id, cdr.caller, cdr.callee, cdr.start_time, cdr.answer_time,
            cdr.end_time, None if duration is None else round(duration, 3),
            None if billsec is None else round(billsec, 3), cdr.disposition,
            cdr.hangup_side, cdr.hangup_cause, cdr.sip_code,
            json.dumps(cdr.caller_rtp) if cdr.caller_rtp is not None else None,
            json.dumps(cdr.callee_rtp) if cdr.callee_rtp is not None else None,
            cdr.recording))
        if record_uid is not None:
            self._put(_DELETE_DIALOGS, (record_uid,))

    def save_dialog(self, row: DialogRow) -> None:
        """One leg of an open call is confirmed: what a BYE to it needs after a crash."""
        self._put(_SAVE_DIALOG, (
            row.record_uid, row.leg, row.call_id, row.local_address, row.remote_address,
            row.remote_target, json.dumps(list(row.route_set)), row.next_cseq,
            row.transport, row.host, row.port))

    def delete_dialog(self, record_uid: str, leg: str) -> None:
        self._put(_DELETE_DIALOG, (record_uid, leg))

    def write(self, sql: str, params: tuple[Any, ...]) -> None:
        """Queue one INSERT/UPDATE (report rows: softswitch.reports); applied in order."""
        self._put(sql, params)

    # -- reads

    async def registrations(self) -> list[RegistrationRow]:
        return [RegistrationRow(*r) for r in await self.fetch(
                "SELECT aor, contact, expires_at, received_host, received_port, transport,"
                " call_id, cseq, q, user_agent, registered_at FROM registrations")]

    async def call_records(self, call_id: str | None = None) -> list[CallRecord]:
        """The closed rows (ended calls, and calls a crash interrupted); an open call's row
        is not a record yet."""
        sql = ("SELECT call_id, caller, callee, start_time, answer_time, end_time, disposition,"
               " hangup_side, hangup_cause, sip_code, caller_rtp, callee_rtp, recording FROM cdr"
               " WHERE state='closed'")
        params: tuple[Any, ...] = ()
        if call_id is not None:
            sql += " AND call_id=?"
            params = (call_id,)
        rows = await self.fetch(sql + " ORDER BY id", params)
        return [CallRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
                           json.loads(r[10]) if r[10] else None,
                           json.loads(r[11]) if r[11] else None, r[12]) for r in rows]

    async def interrupt_open_calls(self, cause: str) -> list[tuple[str, str, str, str]]:
        """Close every row left open (the switch stopped without ending its call: a crash)
        as INTERRUPTED by the switch with `cause`; the end stays unknown (NULL end_time and
        duration; billsec 0 when unanswered, else NULL). Returns (record_uid, call_id,
        caller, callee) of each, once they are committed."""
        rows = [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in await self.fetch(
            "SELECT record_uid, call_id, caller, callee FROM cdr WHERE state='open'"
            " ORDER BY id")]
        for row in rows:
            self._put(_INTERRUPT_CDR, (cause, row[0]))
        await self.flush()
        return rows

    async def call_dialogs(self) -> list[DialogRow]:
        """The persisted dialogs of calls not ended (after a crash: legs to hang up)."""
        rows = await self.fetch(f"SELECT {', '.join(_DIALOG_COLUMNS)} FROM call_dialogs"
                                " ORDER BY record_uid, leg")
        return [DialogRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])),
                          int(r[7]), r[8], r[9], int(r[10])) for r in rows]


class Store(RecordStore):
    """The switch's SQLite database. Use `await Store.open(path)`, then `close()`."""

    def __init__(self, db: aiosqlite.Connection, path: str) -> None:
        self._db = db
        self.path = path
        self._start_writer()

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

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async with self._db.execute(sql, params) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def _apply(self, writes: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Apply queued writes in one transaction, consecutive same statements grouped.

        The whole batch runs in ONE hop to the database thread (aiosqlite's `_execute` with
        its sqlite3 connection): a call writes several rows over its life (open, answer,
        dialogs, completion), and one loop round trip per statement cost the event loop
        ~10 us each, against one per batch."""
        run: Any = self._db._execute  # aiosqlite: run a function on the database thread
        failed, dropped = await run(_apply_batch, self._db._conn, writes)
        if failed is not None:
            self.write_errors += 1
            log.error("database write failed, retried one by one", error=failed)
        for error, sql in dropped:
            log.error("database write dropped", error=error, sql=sql[:40])

    async def schema_version(self) -> int:
        return await current_version(self._db)

    # -- shutdown

    async def close(self) -> None:
        """Commit everything queued, stop the writer, close the database."""
        if self._closed:
            return
        try:
            await self._stop_writer()
        finally:
            await self._db.close()


def statement_runs(writes: list[tuple[str, tuple[Any, ...]]]
                   ) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Consecutive writes of the same statement as one run (one executemany each), in
    order."""
    i = 0
    while i < len(writes):
        sql = writes[i][0]
        j = i
        while j < len(writes) and writes[j][0] == sql:
            j += 1
        yield sql, [w[1] for w in writes[i:j]]
        i = j


def _apply_batch(conn: sqlite3.Connection, writes: list[tuple[str, tuple[Any, ...]]]
                 ) -> tuple[str | None, list[tuple[str, str]]]:
    """On the database thread: the writes in one transaction; when that fails, each on its
    own so one bad write loses only itself. Returns the batch's error (None when it
    committed) and (error, statement) of each write dropped."""
    try:
        for sql, run in statement_runs(writes):
            conn.executemany(sql, run)
        conn.commit()
        return None, []
    except Exception as exc:  # noqa: BLE001 - one bad write must not lose the others
        conn.rollback()
        dropped: list[tuple[str, str]] = []
        for sql, params in writes:
            try:
                conn.execute(sql, params)
                conn.commit()
            except Exception as exc2:  # noqa: BLE001
                dropped.append((str(exc2), sql))
                conn.rollback()
        return str(exc), dropped


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


async def open_store(database: Any) -> RecordStore:
    """The store a `softswitch.config.DatabaseConfig` names: SQLite for ``sqlite:///...``,
    PostgreSQL (softswitch.store.postgres) for ``postgresql://...``."""
    if database.postgresql:
        from softswitch.store.postgres import PostgresStore

        return await PostgresStore.open(database.url)
    return await Store.open(database.path)
