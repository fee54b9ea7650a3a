"""Agent state and callback requests that survive a restart (DESIGN.md "Storage": state that
must survive a restart is written when it changes, not at exit).

What is kept (migration 5), per agent and queue in ``agent_state``: signed in or out (and
since when, which orders the restored sign-ins for Linear / Round Robin), paused with its
reason and since when, in wrap-up until when; and every pending callback request in
``callback_requests`` (queue, caller, number, join time = its place in the queue order,
request time, expiry). Times are wall-clock epoch seconds.

- `AgentStateRows` (sans-IO) turns the ACD events on the bus into those writes:
  AgentSignedIn/Out, AgentPaused/Resumed, WrapupStarted/Ended, CallbackRequested (with the
  caller, join time and expiry it carries) and the TaskLeft that ends a request (served,
  failed, expired, removed). `AgentStateRecorder` subscribes it to the event bus and hands
  the writes to the store's batching writer, so a crash (SIGKILL) loses at most the writes
  of the last few milliseconds.
- `restore_agent_state` runs once at start-up, after the registrations are restored and
  before SIP listens (softswitch.app.SipRouter.restore): it puts every persisted sign-in,
  pause and wrap-up back with `acd.Acd.restore_agent` (oldest sign-in first), every pending
  callback request with `acd.Acd.restore_callback` (oldest join first: they keep their order,
  ahead of every new caller), gives the queue-call shell its side of each request, and
  subscribes the recorder.

Decisions:
- §6.4 "existing dynamic agents are not affected" by the default status: after restoring,
  every membership without a row gets one with its current state, so an agent is "new to a
  queue" exactly once; the default status applies to agents without a row only.
- Reports across a restart, the same for a clean stop and a crash: a restored sign-in or
  pause is not a new one, so the report rows left open by the previous run continue (the
  downtime counts as signed in / paused: the agent did nothing to end it); rows of state
  that was not restored (the agent left the queue in the new configuration) end at the
  restart. See softswitch.reports.rows (`ReportRows.resume`, `reconcile`).
- A persisted state naming a queue or agent the configuration no longer has is dropped with
  a log line; a callback request of a queue that no longer exists is logged as a warning
  with the number to call (the managers call back by hand) and deleted.
- Callback requests restored past their expiry fail at once as "no idle agent" (the queue
  had none while the switch was down), which completes their report rows.
- The missed-call counter of auto-pause is not kept: §2.4 says a restart clears it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from acd import Acd, Output
from acd.events import (
    AgentPaused,
    AgentResumed,
    AgentSignedIn,
    AgentSignedOut,
    CallbackRequested,
    TaskLeft,
    WrapupEnded,
    WrapupStarted,
)
from softswitch.events import EventBus, Subscription
from softswitch.log import get_logger

log = get_logger("agent_state")

Write = tuple[str, tuple[Any, ...]]

_UPSERT = ("INSERT INTO agent_state (agent, queue, {cols}, updated_at) VALUES (?,?,{marks},?)"
           " ON CONFLICT (agent, queue) DO UPDATE SET {sets}, updated_at=excluded.updated_at")


def _upsert(*cols: str) -> str:
    return _UPSERT.format(cols=", ".join(cols), marks=",".join("?" * len(cols)),
                          sets=", ".join(f"{c}=excluded.{c}" for c in cols))


_SIGNED_IN = _upsert("signed_in", "signed_in_at")
_SIGNED_OUT = _upsert("signed_in", "paused", "pause_reason", "paused_at")
_PAUSED = _upsert("paused", "pause_reason", "paused_at")
_WRAPUP = _upsert("wrapup_until")
_KNOWN = ("INSERT INTO agent_state (agent, queue, signed_in, signed_in_at, updated_at)"
          " VALUES (?,?,?,?,?) ON CONFLICT (agent, queue) DO NOTHING")
_FORGET_AGENT = "DELETE FROM agent_state WHERE agent=? AND queue=?"
_REQUEST = ("INSERT INTO callback_requests (task, queue, caller, number, joined_at,"
            " requested_at, expires_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (task, queue)"
            " DO UPDATE SET caller=excluded.caller, number=excluded.number,"
            " joined_at=excluded.joined_at, requested_at=excluded.requested_at,"
            " expires_at=excluded.expires_at")
_REQUEST_DONE = "DELETE FROM callback_requests WHERE task=? AND queue=?"


class RowStore(Protocol):
    def write(self, sql: str, params: tuple[Any, ...]) -> None: ...

    async def fetch(self, sql: str,
                    params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True, slots=True)
class SavedMember:
    """One ``agent_state`` row."""

    agent: str
    queue: str
    signed_in: bool
    signed_in_at: float | None
    paused: bool
    pause_reason: str
    paused_at: float | None
    wrapup_until: float | None


@dataclass(frozen=True, slots=True)
class SavedCallback:
    """One ``callback_requests`` row."""

    task: str
    queue: str
    caller: str
    number: str
    joined_at: float
    requested_at: float
    expires_at: float


@dataclass(slots=True)
class SavedState:
    """Everything `load_saved_state` read: the state, oldest first, and the report rows the
    previous run left open (for `softswitch.reports.rows.ReportRows.resume`)."""

    members: list[SavedMember] = field(default_factory=list)
    callbacks: list[SavedCallback] = field(default_factory=list)
    open_sessions: list[tuple[str, str, str, float]] = field(default_factory=list)
    open_pauses: list[tuple[str, str, str, float]] = field(default_factory=list)
    open_callbacks: list[tuple[str, str, str, str, float]] = field(default_factory=list)


async def load_saved_state(store: RowStore) -> SavedState:
    saved = SavedState()
    for r in await store.fetch(
            "SELECT agent, queue, signed_in, signed_in_at, paused, pause_reason, paused_at,"
            " wrapup_until FROM agent_state ORDER BY signed_in_at, rowid"):
        saved.members.append(SavedMember(str(r[0]), str(r[1]), bool(r[2]), r[3], bool(r[4]),
                                         str(r[5]), r[6], r[7]))
    for r in await store.fetch(
            "SELECT task, queue, caller, number, joined_at, requested_at, expires_at"
            " FROM callback_requests ORDER BY joined_at, rowid"):
        saved.callbacks.append(SavedCallback(str(r[0]), str(r[1]), str(r[2]), str(r[3]),
                                             float(r[4]), float(r[5]), float(r[6])))
    saved.open_sessions = [(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in
                           await store.fetch("SELECT agent, queue, session_uid, signed_in_at"
                                             " FROM agent_sessions WHERE signed_out_at IS NULL"
                                             " ORDER BY id")]
    saved.open_pauses = [(str(r[0]), str(r[1]), str(r[2]), float(r[3])) for r in
                         await store.fetch("SELECT agent, queue, pause_uid, paused_at FROM"
                                           " agent_pauses WHERE ended_at IS NULL ORDER BY id")]
    saved.open_callbacks = [(str(r[0]), str(r[1]), str(r[2]), str(r[3]), float(r[4])) for r in
                            await store.fetch("SELECT task, queue, call_uid, caller,"
                                              " call_joined_at FROM callbacks WHERE outcome"
                                              " IS NULL AND requested_at IS NOT NULL"
                                              " ORDER BY id")]
    return saved


class AgentStateRows:
    """ACD events in, ``agent_state`` / ``callback_requests`` writes out. ``wall_offset``:
    wall clock minus the engine's clock (the events carry engine time)."""

    def __init__(self, wall_offset: float, pending: Iterable[tuple[str, str]] = ()) -> None:
        self.wall_offset = wall_offset
        self._pending = set(pending)  # (task, queue) of the requests in the table
        self._handlers: dict[type, Callable[[Any], list[Write]]] = {
            AgentSignedIn: self._signed_in, AgentSignedOut: self._signed_out,
            AgentPaused: self._paused, AgentResumed: self._resumed,
            WrapupStarted: self._wrapup_started, WrapupEnded: self._wrapup_ended,
            CallbackRequested: self._callback_requested, TaskLeft: self._task_left,
        }

    def wall(self, at: float) -> float:
        return round(at + self.wall_offset, 3)

    def handle(self, event: object) -> list[Write]:
        handler = self._handlers.get(type(event))
        return handler(event) if handler is not None else []

    def _signed_in(self, e: AgentSignedIn) -> list[Write]:
        return [(_SIGNED_IN, (e.agent, e.queue, 1, self.wall(e.at), self.wall(e.at)))]

    def _signed_out(self, e: AgentSignedOut) -> list[Write]:
        return [(_SIGNED_OUT, (e.agent, e.queue, 0, 0, "", None, self.wall(e.at)))]

    def _paused(self, e: AgentPaused) -> list[Write]:
        return [(_PAUSED, (e.agent, e.queue, 1, e.reason, self.wall(e.at), self.wall(e.at)))]

    def _resumed(self, e: AgentResumed) -> list[Write]:
        return [(_PAUSED, (e.agent, e.queue, 0, "", None, self.wall(e.at)))]

    def _wrapup_started(self, e: WrapupStarted) -> list[Write]:
        return [(_WRAPUP, (e.agent, q, self.wall(e.until), self.wall(e.at))) for q in e.queues]

    def _wrapup_ended(self, e: WrapupEnded) -> list[Write]:
        return [(_WRAPUP, (e.agent, q, None, self.wall(e.at))) for q in e.queues]

    def _callback_requested(self, e: CallbackRequested) -> list[Write]:
        self._pending.add((e.task, e.queue))
        return [(_REQUEST, (e.task, e.queue, e.caller, e.number, self.wall(e.joined),
                            self.wall(e.at), self.wall(e.expires)))]

    def _task_left(self, e: TaskLeft) -> list[Write]:
        if (e.task, e.queue) not in self._pending:
            return []
        self._pending.discard((e.task, e.queue))
        return [(_REQUEST_DONE, (e.task, e.queue))]

    def known_members(self, acd: Acd, now: float) -> list[Write]:
        """Rows for the memberships that have none yet (their state now), so that the
        default status of dynamic agents applies to each agent and queue once (§6.4)."""
        out: list[Write] = []
        for queue in acd.queues():
            for agent, _state in acd.queue_members(queue):
                signed_in = acd.is_signed_in(agent, queue)
                out.append((_KNOWN, (agent, queue, int(signed_in),
                                     self.wall(now) if signed_in else None, self.wall(now))))
        return out


class AgentStateRecorder:
    """Writes the `AgentStateRows` of every event published on ``bus`` to ``store``."""

    def __init__(self, bus: EventBus, store: RowStore, rows: AgentStateRows) -> None:
        self.rows = rows
        self.store = store
        self._sub: Subscription | None = bus.subscribe(self.handle)

    def handle(self, event: object) -> None:
        for sql, params in self.rows.handle(event):
            self.store.write(sql, params)

    def close(self) -> None:
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None


class QueueShell(Protocol):
    """What the restore needs of softswitch.queue.QueueCalls."""

    acd: Acd

    def clock(self) -> float: ...

    def execute(self, out: Output) -> None: ...

    def adopt_callback(self, task_id: str, queue: str, caller: str, number: str) -> None: ...


class ReportSink(Protocol):
    """softswitch.reports.ReportRecorder: its rows and its store."""

    @property
    def rows(self) -> Any: ...

    @property
    def store(self) -> Any: ...


async def restore_agent_state(store: RowStore, bus: EventBus, queues: QueueShell,
                              reports: ReportSink | None) -> AgentStateRecorder:
    """Start-up: put the persisted state back into the ACD (see the module docstring), then
    keep persisting it. Returns the recorder (``close()`` it at shutdown)."""
    saved = await load_saved_state(store)
    acd = queues.acd
    now = queues.clock()
    offset = time.time() - now
    recorder = AgentStateRecorder(bus, store, AgentStateRows(
        offset, ((c.task, c.queue) for c in saved.callbacks)))
    if reports is not None:
        for sql, params in reports.rows.resume(saved.open_sessions, saved.open_pauses,
                                               saved.open_callbacks, now):
            reports.store.write(sql, params)
    members = {(agent, q) for q in acd.queues() for agent, _ in acd.queue_members(q)}
    restored = 0
    for m in saved.members:
        if (m.agent, m.queue) not in members:
            log.info("agent state not restored: no longer a member", agent=m.agent,
                     queue=m.queue)
            store.write(_FORGET_AGENT, (m.agent, m.queue))
            continue
        until = None if m.wrapup_until is None else m.wrapup_until - offset
        queues.execute(acd.restore_agent(m.agent, m.queue, now, signed_in=m.signed_in,
                                         paused=m.paused, reason=m.pause_reason,
                                         wrapup_until=until))
        paused, reason = acd.pause_state(m.agent, m.queue)
        log.info("agent restored", agent=m.agent, queue=m.queue,
                 signed_in=acd.is_signed_in(m.agent, m.queue), paused=paused, reason=reason)
        restored += 1
    queue_numbers = set(acd.queues())
    for c in saved.callbacks:
        if c.queue not in queue_numbers:
            log.warning("callback request dropped: its queue is no longer configured",
                        queue=c.queue, caller=c.caller, number=c.number)
            store.write(_REQUEST_DONE, (c.task, c.queue))
            continue
        queues.adopt_callback(c.task, c.queue, c.caller, c.number)
        queues.execute(acd.restore_callback(c.task, c.queue, now, caller=c.caller,
                                            number=c.number, joined=c.joined_at - offset,
                                            expires=c.expires_at - offset))
        log.info("callback request restored", queue=c.queue, caller=c.caller,
                 number=c.number, position=acd.position(c.task))
    for sql, params in recorder.rows.known_members(acd, now):
        store.write(sql, params)
    if reports is not None:
        state = [(agent, q, acd.is_signed_in(agent, q), *acd.pause_state(agent, q))
                 for q in acd.queues() for agent, _ in acd.queue_members(q)]
        for sql, params in reports.rows.reconcile(state, now):
            reports.store.write(sql, params)
    log.info("agent state restored", members=restored, callbacks=len(saved.callbacks))
    return recorder


# ----------------------------------------------------------------------------- presence

_PRESENCE = ("INSERT INTO extension_presence (extension, status, changed_at, changed_by)"
             " VALUES (?,?,?,?) ON CONFLICT (extension) DO UPDATE SET status=excluded.status,"
             " changed_at=excluded.changed_at, changed_by=excluded.changed_by")


def presence_write(extension: str, status: str, at: float, by: str) -> Write:
    """The row of an extension's presence status (migration 11), written when it changes
    (softswitch.web.presence_state); ``at`` is wall-clock epoch seconds."""
    return (_PRESENCE, (extension, status, round(at, 3), by))


async def load_presence(store: RowStore) -> dict[str, tuple[str, float]]:
    """Every persisted presence status: extension -> (status, changed_at)."""
    return {str(r[0]): (str(r[1]), float(r[2])) for r in await store.fetch(
        "SELECT extension, status, changed_at FROM extension_presence")}
