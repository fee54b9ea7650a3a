"""Queue call logs, dispositions and call notes (queue-manager-agent.md §4.11, §5, §8.2,
§9; queue-admin.md §6.6), read from and written to the report rows (`queue_calls`,
softswitch.reports) and the tables of migration 8.

Record types: ``inbound`` (an answered queue call) and ``missed`` (the queue's missed and
abandoned calls; ``outcome`` says which). Views (softswitch.web.permissions):

- manager (P9): every settled record of the queue;
- agent (P10), per the queue's ``panel_permissions.call_logs.scope``: ``inbound`` = the
  calls this agent answered, ``missed`` = the queue's missed and abandoned calls.

Dispositions move through the stages unhandled -> processing -> handled (§4.11); every
change is logged with who, when, from and to, and published as `disposition.changed` on
the live feed so every authorised client sees it.

Decisions:
- A disposition may also move back (a mistaken click is corrected the same way); the log
  keeps both changes. Auto-sync (§6.5, `disposition_auto_sync_hours`) follows forward moves
  only, and only moves records that are at an earlier stage (never back).
- Only missed and abandoned records have a disposition (§5.1: inbound rows show none); a
  record without a row is ``unhandled``.
- Deleting a record (§5.1 row delete icon / bulk Delete, §9.2 Delete) never touches the
  report row (`queue_calls`: the reports and the wallboard keep counting the call); it marks
  the record deleted (`queue_call_log_deletions`, migration 12). Who deletes what, the §9.2
  [PROPOSED] rule: a missed or abandoned record deleted by a manager holding "delete queue
  missed calls" (P9 ``delete_missed_calls``) is gone for everyone (the feed's
  `record.deleted` tells the other consoles); any other delete (an agent's, a manager's
  without that permission, an inbound record) hides the record from the deleter's own
  view only. A deleted record is no longer found by its id for that viewer (404).
- A note belongs to the caller's call in its queue (task, queue): it can be written while the
  call is connected, in wrap-up and afterwards, by the agent who answered it or by a
  manager of the queue; saving replaces the previous tags and text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

STAGES = ("unhandled", "processing", "handled")
MAX_RECORDS = 500

_SELECT = """
SELECT q.call_uid, q.task, q.queue, q.caller, q.joined_at, q.status, q.reason, q.agent,
       q.wait, q.talk, d.disposition, n.tags, n.text
FROM queue_calls q
LEFT JOIN queue_call_dispositions d ON d.call_uid = q.call_uid
LEFT JOIN queue_call_notes n ON n.task = q.task AND n.queue = q.queue
WHERE q.queue = ? AND q.status IS NOT NULL"""
# not deleted for everyone ('') nor by the viewer
_VISIBLE = (" AND NOT EXISTS (SELECT 1 FROM queue_call_log_deletions x WHERE"
            " x.call_uid = q.call_uid AND x.viewer IN ('', ?))")


def record_json(row: tuple[Any, ...]) -> dict[str, Any]:
    uid, task, queue, caller, joined, status, reason, agent, wait, talk, disp, tags, text = row
    missed = status != "answered"
    return {"id": uid, "call_id": task, "queue": queue, "caller": caller, "time": joined,
            "type": "missed" if missed else "inbound", "outcome": status, "reason": reason,
            "agent": agent, "wait": wait, "talk": talk,
            "disposition": (disp or "unhandled") if missed else None,
            "note": None if tags is None else {"tags": json.loads(tags), "text": text}}


class CallLogs:
    def __init__(self, store: Any, publish: Callable[[str, str, dict[str, Any]], None],
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.publish = publish
        self.wall = wall

    async def records(self, queue: str, *, view: str, agent: str, scope: frozenset[str],
                      kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The records ``view`` shows, newest first; ``kind`` inbound|missed narrows."""
        sql = _SELECT + _VISIBLE
        params: list[Any] = [queue, agent]
        want = {"inbound", "missed"} if kind is None else {kind}
        if view == "agent":
            want &= scope
        if not want:
            return []
        parts = []
        if "inbound" in want:
            if view == "agent":
                parts.append("(q.status = 'answered' AND q.agent = ?)")
                params.append(agent)
            else:
                parts.append("q.status = 'answered'")
        if "missed" in want:
            parts.append("q.status IN ('missed', 'abandoned')")
        sql += f" AND ({' OR '.join(parts)}) ORDER BY q.joined_at DESC LIMIT ?"
        params.append(min(limit, MAX_RECORDS))
        await self.store.flush()
        return [record_json(r) for r in await self.store.fetch(sql, tuple(params))]

    async def record(self, queue: str, call_uid: str,
                     viewer: str = "") -> dict[str, Any] | None:
        """The record unless deleted for everyone or by ``viewer``."""
        await self.store.flush()
        rows = await self.store.fetch(_SELECT + _VISIBLE + " AND q.call_uid = ?",
                                      (queue, viewer, call_uid))
        return record_json(rows[0]) if rows else None

    async def delete(self, record: dict[str, Any], by: str, everyone: bool) -> dict[str, Any]:
        """Mark ``record`` deleted for everyone or for ``by`` only (module docstring)."""
        now = self.wall()
        self.store.write(
            "INSERT INTO queue_call_log_deletions (call_uid, viewer, queue, deleted_at, "
            "deleted_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_uid, viewer) DO NOTHING",
            (record["id"], "" if everyone else by, record["queue"], now, by))
        await self.store.flush()
        deleted = {"id": record["id"], "queue": record["queue"], "by": by, "at": now,
                   "for": "everyone" if everyone else "me"}
        if everyone:
            self.publish("record.deleted", record["queue"], deleted)
        return deleted

    async def set_disposition(self, record: dict[str, Any], to: str, by: str,
                              sync_hours: int = 0) -> dict[str, Any]:
        """Store the change and its log line, then tell the feed; the change as sent. A
        forward move with ``sync_hours`` also moves the same caller's missed and abandoned
        calls to the same queue of the last ``sync_hours`` hours that are at an earlier
        stage (§6.5; their log lines say auto-synced)."""
        now = self.wall()
        change = self._change(record["id"], record["queue"], record["disposition"], to, by,
                              now, auto=False)
        synced: list[dict[str, Any]] = []
        if sync_hours and STAGES.index(to) > STAGES.index(record["disposition"]):
            earlier = STAGES[:STAGES.index(to)]
            rows = await self.store.fetch(
                "SELECT q.call_uid, COALESCE(d.disposition, 'unhandled') FROM queue_calls q "
                "LEFT JOIN queue_call_dispositions d ON d.call_uid = q.call_uid "
                "WHERE q.queue = ? AND q.caller = ? AND q.status IN ('missed', 'abandoned') "
                "AND q.joined_at >= ? AND q.joined_at <= ? AND q.call_uid != ?",
                (record["queue"], record["caller"], now - 3600.0 * sync_hours, now,
                 record["id"]))
            for uid, current in rows:
                if current in earlier:
                    synced.append(self._change(uid, record["queue"], current, to, by, now,
                                               auto=True))
        await self.store.flush()  # persisted before broadcast (§15.5)
        for c in (change, *synced):
            self.publish("disposition.changed", record["queue"], c)
        return dict(change, synced=[c["id"] for c in synced])

    def _change(self, uid: str, queue: str, previous: str, to: str, by: str, now: float,
                auto: bool) -> dict[str, Any]:
        self.store.write(
            "INSERT INTO queue_call_dispositions (call_uid, queue, disposition, changed_at, "
            "changed_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (call_uid) DO UPDATE SET "
            "disposition = excluded.disposition, changed_at = excluded.changed_at, "
            "changed_by = excluded.changed_by",
            (uid, queue, to, now, by))
        self.store.write(
            "INSERT INTO queue_call_disposition_log (call_uid, queue, from_state, to_state, "
            "changed_at, changed_by, auto_synced) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uid, queue, previous, to, now, by, int(auto)))
        return {"id": uid, "queue": queue, "from": previous, "to": to, "by": by, "at": now,
                "auto_synced": auto}

    async def history(self, call_uid: str) -> list[dict[str, Any]]:
        """§5.1 the operation log shown on hover."""
        rows = await self.store.fetch(
            "SELECT from_state, to_state, changed_at, changed_by, auto_synced FROM "
            "queue_call_disposition_log WHERE call_uid = ? ORDER BY id", (call_uid,))
        return [{"from": f, "to": t, "at": at, "by": by, "auto_synced": bool(a)}
                for f, t, at, by, a in rows]

    async def answered_by(self, queue: str, task: str) -> str | None:
        await self.store.flush()
        rows = await self.store.fetch(
            "SELECT agent FROM queue_calls WHERE queue = ? AND task = ? AND status = "
            "'answered' ORDER BY joined_at DESC LIMIT 1", (queue, task))
        return rows[0][0] if rows else None

    async def save_note(self, task: str, queue: str, tags: list[str], text: str,
                        by: str) -> dict[str, Any]:
        now = self.wall()
        self.store.write(
            "INSERT INTO queue_call_notes (task, queue, tags, text, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task, queue) DO UPDATE SET "
            "tags = excluded.tags, text = excluded.text, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (task, queue, json.dumps(tags), text, now, by))
        await self.store.flush()
        note = {"call_id": task, "queue": queue, "tags": tags, "text": text, "by": by,
                "at": now}
        self.publish("note.saved", queue, note)
        return note
