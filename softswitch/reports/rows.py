"""The rows the queue reports need, derived from the event stream as it happens
(queue-admin.md §8; DESIGN.md "Storage": reports are SQL, not log replays). Sans-IO:
`ReportRows.handle(event)` returns the SQL writes; the shell (`recorder.ReportRecorder`)
hands them to the store's batching writer.

Tables (migration 2 in softswitch.store.migrations):

- ``queue_calls``: one row per pass of a task through a queue, inserted on TaskJoined,
  completed on TaskLeft (status, reason, agent, wait, SLA) and on CallEnded (talk).
- ``queue_offers``: one row per agent rung per ring round (OfferStarted), closed on
  OfferEnded with answered / missed (ring timeout) / rejected / cancelled.
- ``agent_sessions``: sign-in to sign-out per agent and queue (§8.10).
- ``agent_pauses``: one segment per pause state (§8.11); a reason change closes the segment
  as ``reason_changed`` and opens one with ``counted = 0``.
- ``callbacks``: request and outcome (§8.6, §8.7).
- ``surveys``: the caller's key and score (§8.8, §8.9), from `softswitch.events.SurveyAnswered`.
- ``queue_calls.recording`` (migration 3): the WAV's path, from
  `softswitch.calls.recording.RecordingStarted` (published when caller and agent are bridged).

Decisions (ambiguities of §8 and §14):
- Ring duration (§8.2 "call start -> answered / disconnect") is stored as ``wait`` (join to
  leave, engine time); it already contains every retry interval the caller sat through, so
  the manual's "ring duration + retry interval" (§14.8) is ``wait`` itself. ``ring`` (time the
  agents' phones actually rang, summed over offers) is stored beside it.
- SLA met: answered with ``wait <= sla_time`` (acd.sla.meets_sla: equality meets it, §14.7);
  stored per row as ``sla_met`` so the report is one SUM.
- Wall-clock times are the event's engine time plus ``wall_offset`` (the shell passes
  ``time.time() - loop.time()``), so a row's times are consistent with each other even when
  the shell writes them late.
- Sessions of agents signed in at start-up (static agents, dynamic ones whose default status
  is "logged in") open on the first MemberStateChanged out of logged_out, as the engine
  emits no AgentSignedIn for them.
- A callback whose number was invalid never was a request: it is a ``callbacks`` row with
  ``requested_at`` NULL and outcome failed / invalid_callback_number (the §8.7 fixture lists
  such a row with an empty number).
- Restart (stop or crash alike): sign-ins and pauses survive it (softswitch.store.agent_state
  restores them), so their rows do too: a sign-in session or pause segment open when the
  switch stopped or died stays open and the next start continues it (`ReportRows.resume`),
  the downtime included, as the agent never signed out nor resumed. `ReportRows.reconcile`
  then makes the open rows match the restored engine: it closes at the restart the rows of
  states that were not restored (agent removed from the queue) and opens rows for the
  signed-in or paused agents that have none (static agents on a fresh database). Pending
  callback requests continue their ``queue_calls`` and ``callbacks`` rows the same way.
  (`ReportRows.shutdown`, closing everything at a stop time, remains for a recorder that
  ends without a next start.)
- Hold duration (§8.2 "time on hold", 保持时长 "the time the call was held"): from
  `softswitch.calls.events.CallHoldChanged` (the switch's one hold event) of a queue call,
  which the queue-call shell publishes when the agent or the caller re-INVITEs a connected
  call to sendonly/inactive and back (extension calls have no queue row: ignored). It is the time at
  least one side held (both holding at once is not counted twice), written with the talk
  time on CallEnded; a call that ends on hold counts until its end. Talk duration stays
  "answered -> call end" as the manual defines it, so it includes the hold.
"""

from __future__ import annotations

import itertools
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from acd.events import (
    AgentPaused,
    AgentResumed,
    AgentSignedIn,
    AgentSignedOut,
    CallbackFailed,
    CallbackFailureReason,
    CallbackRequested,
    CallbackSucceeded,
    CallEnded,
    CallStatus,
    MemberState,
    MemberStateChanged,
    OfferEnded,
    OfferResult,
    OfferStarted,
    TaskJoined,
    TaskLeft,
)
from acd.sla import meets_sla
from softswitch.calls.events import CallHoldChanged
from softswitch.calls.recording import RecordingStarted
from softswitch.events import SurveyAnswered

Write = tuple[str, tuple[Any, ...]]

OFFER_OUTCOME = {OfferResult.ANSWERED: "answered", OfferResult.TIMED_OUT: "missed",
                 OfferResult.REJECTED: "rejected", OfferResult.CANCELLED: "cancelled"}

_INSERT_CALL = ("INSERT INTO queue_calls (call_uid, task, queue, caller, joined_at)"
                " VALUES (?,?,?,?,?)")
_LEAVE_CALL = ("UPDATE queue_calls SET left_at=?, answered_at=?, agent=?, status=?, reason=?,"
               " wait=?, ring=?, offers=?, sla_met=?, callback=? WHERE call_uid=?")
_END_CALL = "UPDATE queue_calls SET ended_at=?, talk=?, hold=? WHERE call_uid=?"
_CALL_RECORDING = "UPDATE queue_calls SET recording=? WHERE call_uid=?"
_INSERT_OFFER = ("INSERT INTO queue_offers (call_uid, task, queue, agent, caller,"
                 " call_joined_at, rang_at, attempt) VALUES (?,?,?,?,?,?,?,?)")
_END_OFFER = ("UPDATE queue_offers SET ended_at=?, outcome=?, ring_duration=?"
              " WHERE call_uid=? AND agent=? AND attempt=?")
_OPEN_SESSION = ("INSERT INTO agent_sessions (session_uid, agent, queue, signed_in_at)"
                 " VALUES (?,?,?,?)")
_CLOSE_SESSION = ("UPDATE agent_sessions SET signed_out_at=?, duration=? WHERE session_uid=?")
_OPEN_PAUSE = ("INSERT INTO agent_pauses (pause_uid, agent, queue, paused_at, reason, auto,"
               " counted) VALUES (?,?,?,?,?,?,?)")
_CLOSE_PAUSE = ("UPDATE agent_pauses SET ended_at=?, ended_by=?, duration=?"
                " WHERE pause_uid=?")
_REQUEST_CALLBACK = ("INSERT INTO callbacks (call_uid, task, queue, caller, call_joined_at,"
                     " requested_at, number) VALUES (?,?,?,?,?,?,?)")
_CALLBACK_OUTCOME = ("UPDATE callbacks SET callback_at=?, agent=?, outcome=?,"
                     " failure_reason=? WHERE call_uid=? AND requested_at IS NOT NULL"
                     " AND outcome IS NULL")
_INVALID_CALLBACK = ("INSERT INTO callbacks (call_uid, task, queue, caller, call_joined_at,"
                     " requested_at, number, callback_at, outcome, failure_reason)"
                     " VALUES (?,?,?,?,?,NULL,?,?,'failed',?)")
_INSERT_SURVEY = ("INSERT INTO surveys (call_uid, task, queue, agent, caller, call_joined_at,"
                  " answered_at, key, score) VALUES (?,?,?,?,?,?,?,?,?)")

# How many finished calls are remembered for a survey that comes after the call ended.
RECENT_CALLS = 10_000


@dataclass(slots=True)
class _Call:
    uid: str
    queue: str
    caller: str
    joined: float  # engine time
    ring: float = 0.0
    offers: int = 0
    callback: bool = False
    attempts: dict[str, int] = field(default_factory=dict)
    ringing: set[str] = field(default_factory=set)
    ring_since: float = 0.0
    hold: float = 0.0
    held_by: set[str] = field(default_factory=set)
    hold_since: float = 0.0


def _uids() -> Callable[[], str]:
    prefix = os.urandom(4).hex()
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


class ReportRows:
    """Event stream in, SQL writes out. ``sla_times``: queue -> SLA time in seconds."""

    def __init__(self, sla_times: Mapping[str, float], wall_offset: float,
                 new_uid: Callable[[], str] | None = None) -> None:
        self.sla_times = dict(sla_times)
        self.wall_offset = wall_offset
        self._uid = new_uid or _uids()
        self._calls: dict[tuple[str, str], _Call] = {}  # (task, queue) while in the engine
        self._recent: OrderedDict[str, _Call] = OrderedDict()  # task -> ended call
        self._sessions: dict[tuple[str, str], tuple[str, float]] = {}
        self._pauses: dict[tuple[str, str], tuple[str, float]] = {}
        self._handlers: dict[type, Callable[[Any], list[Write]]] = {
            TaskJoined: self._joined, TaskLeft: self._left, CallEnded: self._ended,
            OfferStarted: self._offer_started, OfferEnded: self._offer_ended,
            AgentSignedIn: self._signed_in, AgentSignedOut: self._signed_out,
            MemberStateChanged: self._member_state, AgentPaused: self._paused,
            AgentResumed: self._resumed, CallbackRequested: self._callback_requested,
            CallbackSucceeded: self._callback_succeeded, CallbackFailed: self._callback_failed,
            SurveyAnswered: self._survey, RecordingStarted: self._recording,
            CallHoldChanged: self.hold_changed,
        }

    def wall(self, at: float) -> float:
        return round(at + self.wall_offset, 3)

    def handle(self, event: object) -> list[Write]:
        handler = self._handlers.get(type(event))
        return handler(event) if handler is not None else []

    def handle_all(self, events: Iterable[object]) -> list[Write]:
        out: list[Write] = []
        for e in events:
            out += self.handle(e)
        return out

    # -- queue calls

    def _joined(self, e: TaskJoined) -> list[Write]:
        call = _Call(self._uid(), e.queue, e.caller, e.at)
        self._calls[(e.task, e.queue)] = call
        return [(_INSERT_CALL, (call.uid, e.task, e.queue, e.caller, self.wall(e.at)))]

    def _left(self, e: TaskLeft) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:
            return []
        answered = e.status is CallStatus.ANSWERED
        if call.ringing:  # left while phones still rang (their OfferEnded comes later)
            call.ring += e.at - call.ring_since
            call.ring_since = e.at
        if not answered:
            del self._calls[(e.task, e.queue)]
            self._remember(e.task, call)
        sla_met = answered and meets_sla(e.waited, self.sla_times.get(e.queue, 60.0))
        return [(_LEAVE_CALL, (
            self.wall(e.at), self.wall(e.at) if answered else None, e.agent, e.status.value,
            e.reason.value, round(e.waited, 3), round(call.ring, 3), call.offers,
            int(sla_met), int(call.callback), call.uid))]

    def _ended(self, e: CallEnded) -> list[Write]:
        call = self._calls.pop((e.task, e.queue), None)
        if call is None:
            return []
        self._remember(e.task, call)
        if call.held_by:  # ended on hold
            call.hold += e.at - call.hold_since
            call.held_by.clear()
        return [(_END_CALL, (self.wall(e.at), round(e.talked, 3), round(call.hold, 3),
                             call.uid))]

    def hold_changed(self, e: CallHoldChanged) -> list[Write]:
        call = self._calls.get((e.call_id, e.queue))
        if call is None:  # an extension call (no queue), or a queue call not in a row
            return []
        if e.held:
            if not call.held_by:
                call.hold_since = e.at
            call.held_by.add(e.party)
        elif e.party in call.held_by:
            call.held_by.discard(e.party)
            if not call.held_by:
                call.hold += e.at - call.hold_since
        return []

    def _recording(self, e: RecordingStarted) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:  # an extension call, or a queue call already over
            return []
        return [(_CALL_RECORDING, (e.path, call.uid))]

    def _remember(self, task: str, call: _Call) -> None:
        self._recent[task] = call
        self._recent.move_to_end(task)
        while len(self._recent) > RECENT_CALLS:
            self._recent.popitem(last=False)

    # -- offers

    def _offer_started(self, e: OfferStarted) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:
            return []
        out: list[Write] = []
        if not call.ringing:
            call.ring_since = e.at
        call.ringing.update(e.agents)
        for agent in e.agents:
            attempt = call.attempts.get(agent, 0) + 1
            call.attempts[agent] = attempt
            call.offers += 1
            out.append((_INSERT_OFFER, (call.uid, e.task, e.queue, agent, call.caller,
                                        self.wall(call.joined), self.wall(e.at), attempt)))
        return out

    def _offer_ended(self, e: OfferEnded) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None or e.agent not in call.attempts:
            return []
        call.ringing.discard(e.agent)
        if not call.ringing:  # time with at least one phone ringing, rounds not doubled
            call.ring += e.at - call.ring_since
        return [(_END_OFFER, (self.wall(e.at), OFFER_OUTCOME[e.result], round(e.rang, 3),
                              call.uid, e.agent, call.attempts[e.agent]))]

    # -- agents

    def _open_session(self, agent: str, queue: str, at: float) -> list[Write]:
        if (agent, queue) in self._sessions:
            return []
        uid = self._uid()
        self._sessions[(agent, queue)] = (uid, at)
        return [(_OPEN_SESSION, (uid, agent, queue, self.wall(at)))]

    def _signed_in(self, e: AgentSignedIn) -> list[Write]:
        return self._open_session(e.agent, e.queue, e.at)

    def _signed_out(self, e: AgentSignedOut) -> list[Write]:
        entry = self._sessions.pop((e.agent, e.queue), None)
        if entry is None:
            return []
        uid, since = entry
        return [(_CLOSE_SESSION, (self.wall(e.at), round(e.at - since, 3), uid))]

    def _member_state(self, e: MemberStateChanged) -> list[Write]:
        if e.previous is MemberState.LOGGED_OUT and e.state is not MemberState.LOGGED_OUT:
            return self._open_session(e.agent, e.queue, e.at)
        return []

    def _close_pause(self, agent: str, queue: str, at: float, ended_by: str) -> list[Write]:
        entry = self._pauses.pop((agent, queue), None)
        if entry is None:
            return []
        uid, since = entry
        return [(_CLOSE_PAUSE, (self.wall(at), ended_by, round(at - since, 3), uid))]

    def _paused(self, e: AgentPaused) -> list[Write]:
        changed = (e.agent, e.queue) in self._pauses
        out = self._close_pause(e.agent, e.queue, e.at, "reason_changed")
        uid = self._uid()
        self._pauses[(e.agent, e.queue)] = (uid, e.at)
        out.append((_OPEN_PAUSE, (uid, e.agent, e.queue, self.wall(e.at), e.reason,
                                  int(e.auto), int(not changed))))
        return out

    def _resumed(self, e: AgentResumed) -> list[Write]:
        return self._close_pause(e.agent, e.queue, e.at, "resumed")

    def shutdown(self, at: float) -> list[Write]:
        """The switch stops: every open sign-in session is closed (its agents are signed
        in again, in fresh rows, when the next start's engine reports them) and every open
        pause segment ends as ``shutdown``, so no row stays open for ever and durations
        stop at the moment the switch did."""
        out: list[Write] = []
        for (agent, queue) in list(self._pauses):
            out += self._close_pause(agent, queue, at, "shutdown")
        for uid, since in self._sessions.values():
            out.append((_CLOSE_SESSION, (self.wall(at), round(at - since, 3), uid)))
        self._sessions.clear()
        return out

    # -- after a restart (softswitch.store.agent_state)

    def resume(self, sessions: Iterable[tuple[str, str, str, float]],
               pauses: Iterable[tuple[str, str, str, float]],
               callbacks: Iterable[tuple[str, str, str, str, float]], at: float) -> list[Write]:
        """Continue the rows the previous run left open: ``sessions`` and ``pauses`` as
        (agent, queue, uid, wall-clock start), ``callbacks`` as (task, queue, call_uid,
        caller, wall-clock join) of pending requests. Of two open rows for one agent and
        queue (a run that died before this behaviour existed) the older one is closed now."""
        out: list[Write] = []
        for agent, queue, uid, since in sessions:
            old = self._sessions.get((agent, queue))
            if old is not None:
                out.append((_CLOSE_SESSION, (self.wall(at), round(at - old[1], 3), old[0])))
            self._sessions[(agent, queue)] = (uid, since - self.wall_offset)
        for agent, queue, uid, since in pauses:
            old = self._pauses.get((agent, queue))
            if old is not None:
                out.append((_CLOSE_PAUSE, (self.wall(at), "shutdown", round(at - old[1], 3),
                                           old[0])))
            self._pauses[(agent, queue)] = (uid, since - self.wall_offset)
        for task, queue, uid, caller, joined in callbacks:
            self._calls[(task, queue)] = _Call(uid, queue, caller, joined - self.wall_offset,
                                               callback=True)
        return out

    def resume_calls(self, calls: Iterable[tuple[str, str, str, str, float]]) -> None:
        """Continue the ``queue_calls`` rows of tasks put back in the engine at a restart
        without a new join (a chat session still waiting in its message queue,
        softswitch.messaging): (task, queue, call_uid, caller, wall-clock join)."""
        for task, queue, uid, caller, joined in calls:
            self._calls[(task, queue)] = _Call(uid, queue, caller, joined - self.wall_offset)

    def reconcile(self, members: Iterable[tuple[str, str, bool, bool, str]],
                  at: float) -> list[Write]:
        """After the engine was restored: ``members`` = (agent, queue, signed_in, paused,
        pause reason) of every membership. Rows of states that were not restored close at
        ``at`` (pauses as ``shutdown``); signed-in or paused members without an open row
        get one from ``at``."""
        out: list[Write] = []
        signed_in, paused = set(), set()
        for agent, queue, is_in, is_paused, reason in members:
            if is_in:
                signed_in.add((agent, queue))
                out += self._open_session(agent, queue, at)
            if is_paused:
                paused.add((agent, queue))
                if (agent, queue) not in self._pauses:
                    uid = self._uid()
                    self._pauses[(agent, queue)] = (uid, at)
                    out.append((_OPEN_PAUSE, (uid, agent, queue, self.wall(at), reason, 0,
                                              1)))
        for key in [k for k in self._pauses if k not in paused]:
            out += self._close_pause(*key, at, "shutdown")
        for key in [k for k in self._sessions if k not in signed_in]:
            uid, since = self._sessions.pop(key)
            out.append((_CLOSE_SESSION, (self.wall(at), round(at - since, 3), uid)))
        return out

    # -- callbacks and surveys

    def _callback_requested(self, e: CallbackRequested) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:
            return []
        call.callback = True
        return [(_REQUEST_CALLBACK, (call.uid, e.task, e.queue, call.caller,
                                     self.wall(call.joined), self.wall(e.at), e.number))]

    def _callback_succeeded(self, e: CallbackSucceeded) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:
            return []
        return [(_CALLBACK_OUTCOME, (self.wall(e.at), e.agent, "succeeded", None, call.uid))]

    def _callback_failed(self, e: CallbackFailed) -> list[Write]:
        call = self._calls.get((e.task, e.queue))
        if call is None:
            return []
        if e.reason is CallbackFailureReason.INVALID_NUMBER and not call.callback:
            return [(_INVALID_CALLBACK, (call.uid, e.task, e.queue, call.caller,
                                         self.wall(call.joined), e.number, self.wall(e.at),
                                         e.reason.value))]
        return [(_CALLBACK_OUTCOME, (self.wall(e.at), None, "failed", e.reason.value,
                                     call.uid))]

    def _survey(self, e: SurveyAnswered) -> list[Write]:
        call = self._recent.get(e.task) or self._calls.get((e.task, e.queue))
        uid = call.uid if call is not None else None
        joined = self.wall(call.joined) if call is not None else None
        return [(_INSERT_SURVEY, (uid, e.task, e.queue, e.agent, e.caller, joined,
                                  self.wall(e.at), e.key, e.score))]
