"""Messaging rows in the switch's store (SQLite or PostgreSQL, softswitch.store; schema in
migration 13): `persist` queues what the sessions core changed, `load` reads back what a
restart needs. A webhook is answered only after `persist` and ``store.flush()``: what the
provider was told we have is on disk.

Decision: the start-up reads the open sessions (and a closed one with a message not yet
sent), with their messages; the closed ones are read when an agent opens one (`session`) or
pages through the Archived or Campaign list (`closed_page`: one page at a time of those
whose last activity is within ``KEEP_CLOSED_DAYS``, as the lists showed after a restart
before); older history stays in the database for the chat logs.

Indexes (migration 17): ``messaging_messages (sent_at)`` for the start-up's read of the
customers' last messages within the longest provider window (`load`), which otherwise
scanned every message ever stored."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from softswitch.messaging.sessions import (
    DeliveryStatus,
    Direction,
    Effect,
    Message,
    Origin,
    SaveEvent,
    SaveMessage,
    SaveSession,
    Session,
    SessionState,
)

KEEP_CLOSED_DAYS = 30
WINDOW_DAYS = 7  # the longest provider window (Messenger's human_agent tag, 7 days)

# the customers' last messages within a window (`load`), on messaging_messages_sent_at
WINDOW_READ = ("SELECT s.channel, s.number, s.customer, MAX(m.sent_at) FROM messaging_messages m"
               " JOIN messaging_sessions s ON s.id = m.session"
               " WHERE m.direction='received' AND m.sent_at >= ?"
               " GROUP BY s.channel, s.number, s.customer")
_SESSION_COLUMNS = ("id", "channel", "number", "customer", "origin", "created",
                    "last_activity", "route", "target", "owner", "state", "archived_by",
                    "removed_by")
_SAVE_SESSION = (
    f"INSERT INTO messaging_sessions ({', '.join(_SESSION_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_SESSION_COLUMNS))})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _SESSION_COLUMNS[1:]))
_MESSAGE_COLUMNS = ("id", "session", "channel", "sent_at", "direction", "sender", "body",
                    "media", "provider_id", "status", "error", "attempts")
_SAVE_MESSAGE = (
    f"INSERT INTO messaging_messages ({', '.join(_MESSAGE_COLUMNS)})"
    f" VALUES ({','.join('?' * len(_MESSAGE_COLUMNS))})"
    " ON CONFLICT (id) DO UPDATE SET provider_id=excluded.provider_id,"
    " status=excluded.status, error=excluded.error, attempts=excluded.attempts")
_SAVE_EVENT = ("INSERT INTO messaging_events (session, at, kind, actor, description)"
               " VALUES (?,?,?,?,?)")


def persist(store: Any, effects: Iterable[Effect], channel_of: dict[int, str]) -> None:
    """Queue the rows of these effects (``channel_of``: session id -> channel name; a new
    session's messages come before its row)."""
    effects = list(effects)
    for e in effects:
        if isinstance(e, SaveSession):
            channel_of[e.session.id] = e.session.channel
    for e in effects:
        if isinstance(e, SaveSession):
            s = e.session
            store.write(_SAVE_SESSION, (
                s.id, s.channel, s.number, s.customer, s.origin.value, s.created,
                s.last_activity, s.route, s.target, s.owner, s.state.value,
                json.dumps(sorted(s.archived_by)), json.dumps(sorted(s.removed_by))))
        elif isinstance(e, SaveMessage):
            m = e.message
            store.write(_SAVE_MESSAGE, (
                m.id, m.session, channel_of.get(m.session, ""), m.time, m.direction.value,
                m.sender, m.text, json.dumps(list(m.media)), m.provider_id, m.status.value,
                m.error, m.attempts))
        elif isinstance(e, SaveEvent):
            ev = e.event
            store.write(_SAVE_EVENT, (ev.session, ev.time, ev.kind, ev.actor, ev.description))


@dataclass
class Loaded:
    sessions: list[Session]
    messages: list[Message]
    last_session: int
    last_message: int
    # (channel, number, customer, time): the customers' last messages within the longest
    # provider window (Messenger's human_agent tag, 7 days), any session
    last_received: list[tuple[str, str, str, float]]
    # open session id -> the time of its last transfer (the timeline's): when it entered
    # the message queue it waits in, if it did so by a transfer (sessions.Inbox.restore)
    entered: dict[int, float]


def _session(r: Any) -> Session:
    return Session(int(r[0]), r[1], r[2], r[3], Origin(r[4]), float(r[5]), float(r[6]), r[7],
                   r[8], owner=r[9], state=SessionState(r[10]),
                   archived_by=set(json.loads(r[11])), removed_by=set(json.loads(r[12])))


def _message(r: Any) -> Message:
    return Message(int(r[0]), int(r[1]), float(r[3]), Direction(r[4]), r[5], r[6],
                   tuple(json.loads(r[7])), r[8], DeliveryStatus(r[9]), r[10], int(r[11]))


async def messages_of(store: Any, ids: list[int]) -> list[Message]:
    """The messages of these sessions, in order."""
    out: list[Message] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        out += [_message(r) for r in await store.fetch(
            f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messaging_messages WHERE session IN"
            f" ({','.join('?' * len(chunk))}) ORDER BY id", tuple(chunk))]
    return out


async def session(store: Any, session_id: int) -> tuple[Session, list[Message]] | None:
    """One session and its messages, as stored."""
    rows = await store.fetch(f"SELECT {', '.join(_SESSION_COLUMNS)} FROM messaging_sessions"
                             " WHERE id=?", (session_id,))
    if not rows:
        return None
    return _session(rows[0]), await messages_of(store, [session_id])


async def closed_page(store: Any, now: float, agent: str, skip: set[int], keep: Any,
                      after: tuple[float, int] | None, limit: int,
                      campaign: bool = False) -> tuple[list[Session], list[Message]]:
    """One page of the agent's closed sessions as the Archived list orders them (last
    activity, then id, both descending): the first ``limit`` after the cursor ``after``
    (the (last_activity, id) of the previous page's last row) among those active within
    ``KEEP_CLOSED_DAYS`` that ``agent`` owned or that had no owner (a queue's, the
    platform's), ``campaign``: made by a campaign only, ids in ``skip`` aside (they are in
    memory) and those ``keep(session)`` refuses (visibility is the core's); and their
    messages. Read in batches until ``limit`` are found or none are left, on the
    ``(state, last_activity)`` index."""
    since = now - KEEP_CLOSED_DAYS * 86400.0
    found: list[Session] = []
    batch = max(limit, 50)
    while len(found) < limit:
        where = ["state='closed'", "last_activity >= ?", "(owner = ? OR owner IS NULL)"]
        args: list[Any] = [since, agent]
        if campaign:
            where.append("origin='campaign'")
        if after is not None:
            where.append("(last_activity < ? OR (last_activity = ? AND id < ?))")
            args += [after[0], after[0], after[1]]
        got = [_session(r) for r in await store.fetch(
            f"SELECT {', '.join(_SESSION_COLUMNS)} FROM messaging_sessions"
            f" WHERE {' AND '.join(where)} ORDER BY last_activity DESC, id DESC LIMIT ?",
            (*args, batch))]
        found += [s for s in got if s.id not in skip and keep(s)][:limit - len(found)]
        if len(got) < batch:
            break
        after = (got[-1].last_activity, got[-1].id)
        batch = min(batch * 2, 2000)
    return found, await messages_of(store, [s.id for s in found])


async def latest_of(store: Any, channel: str, customer: str) -> int | None:
    """The id of the customer's last session on the channel."""
    rows = await store.fetch("SELECT MAX(id) FROM messaging_sessions WHERE channel=? AND"
                             " customer=?", (channel, customer))
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


async def load(store: Any, now: float) -> Loaded:
    rows = await store.fetch(
        f"SELECT {', '.join(_SESSION_COLUMNS)} FROM messaging_sessions WHERE state='open'"
        " OR id IN (SELECT session FROM messaging_messages WHERE status='pending')"
        " ORDER BY id")
    sessions = [_session(r) for r in rows]
    messages = await messages_of(store, [s.id for s in sessions])
    last = await store.fetch("SELECT MAX(id) FROM messaging_sessions")
    last_m = await store.fetch("SELECT MAX(id) FROM messaging_messages")
    received = [(r[0], r[1], r[2], float(r[3])) for r in await store.fetch(
        WINDOW_READ, (now - WINDOW_DAYS * 86400.0,))]
    entered: dict[int, float] = {}
    waiting = [s.id for s in sessions if s.open and s.owner is None]
    for i in range(0, len(waiting), 500):
        chunk = waiting[i:i + 500]
        for r in await store.fetch(
                "SELECT session, MAX(at) FROM messaging_events WHERE kind='transfer' AND"
                f" session IN ({','.join('?' * len(chunk))}) GROUP BY session", tuple(chunk)):
            entered[int(r[0])] = float(r[1])
    return Loaded(sessions, messages, int(last[0][0] or 0), int(last_m[0][0] or 0), received,
                  entered)


async def waiting_rows(store: Any) -> list[tuple[str, str, str, str, float]]:
    """The report rows (``queue_calls``) of chat sessions that were waiting in a message
    queue when the switch stopped: (task, queue, call_uid, caller, wall-clock join)."""
    rows = await store.fetch("SELECT task, queue, call_uid, caller, joined_at FROM queue_calls"
                             " WHERE left_at IS NULL AND task LIKE 'msg-%' ORDER BY joined_at")
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in rows]


async def seen(store: Any, channel: str, provider_id: str) -> bool:
    """A received message with this provider id is already stored (a replayed webhook)."""
    rows = await store.fetch("SELECT 1 FROM messaging_messages WHERE channel=? AND"
                             " provider_id=? AND direction='received'", (channel, provider_id))
    return bool(rows)


async def timeline(store: Any, session: int) -> list[dict[str, Any]]:
    rows = await store.fetch("SELECT at, kind, actor, description FROM messaging_events"
                             " WHERE session=? ORDER BY id", (session,))
    return [{"at": r[0], "kind": r[1], "actor": r[2], "description": r[3]} for r in rows]
