"""The ACD engine: every routing rule of queue-admin.md §2-§9, sans-IO (see acd/__init__.py).

`Acd` takes ``handle_*(..., now)`` inputs and returns an `Output` of commands and events;
``next_deadline()`` says when to call ``tick(now)``. It reads no clock and does no I/O.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from acd.commands import (
    AnnouncePosition,
    CollectCallbackNumber,
    Command,
    Connect,
    DialCustomer,
    EndCallbackDialogue,
    HangUp,
    PlayPrompt,
    RingAgents,
    RouteTask,
    StartMusic,
    StopRinging,
)
from acd.config import (
    AcdConfig,
    CallbackMethod,
    Destination,
    DynamicAgentDefaultStatus,
    EmptyScenario,
    Member,
    Prompts,
    QueueConfig,
)
from acd.events import (
    AgentMissedCall,
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
    Event,
    InputRejected,
    LeaveReason,
    MemberRemoved,
    MemberState,
    MemberStateChanged,
    OfferEnded,
    OfferResult,
    OfferStarted,
    RouteReason,
    SlaEvaluated,
    TaskJoined,
    TaskLeft,
    TaskRouted,
    WrapupEnded,
    WrapupStarted,
)
from acd.ewt import estimated_wait, update_handle_time
from acd.ids import AgentId, QueueId, TaskId
from acd.message_queue import MessageQueues
from acd.model import Agent, Membership, Task, TaskState
from acd.priority import overall_weight
from acd.queue import Queue
from acd.sla import meets_sla, service_level
from acd.stats import QueueSnapshot, QueueStatistics
from acd.timerouting import decide

NEG_INF = float("-inf")
LOGGED_OUT, PAUSED, UNREGISTERED = (MemberState.LOGGED_OUT, MemberState.PAUSED,
                                    MemberState.UNREGISTERED)
IN_USE, RINGING, WRAP_UP, IDLE = (MemberState.IN_USE, MemberState.RINGING,
                                  MemberState.WRAP_UP, MemberState.IDLE)
# The callback dialogue (§4.2): a caller who presses no key for this long after the prompt
# started (or after their last key) hears the prompt again, once; after a second silence they
# are back in line with their place (`EndCallbackDialogue`).
CALLBACK_INPUT_TIMEOUT = 15.0
CALLBACK_PROMPTS = 2


class AcdInputError(ValueError):
    """An input names something the configuration does not have (unknown queue or agent), or
    reuses the id of a task that is still in the engine. Programming errors of the shell."""


@dataclass(slots=True)
class Output:
    """What one input produced: commands for the shell and the events, in order."""

    commands: list[Command] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def __iter__(self) -> Iterator[list[Any]]:  # `commands, events = acd.handle_...(...)`
        return iter((self.commands, self.events))


class Timer(IntEnum):
    RING_TIMEOUT = 0
    RETRY = 1
    MAX_WAIT = 2
    CALLBACK_OFFER = 3
    CALLBACK_EXPIRY = 4
    WRAPUP_AGENT = 5
    WRAPUP_MEMBER = 6
    QUEUE_ANNOUNCEMENT = 7
    POSITION_ANNOUNCEMENT = 8
    SLA_EVALUATION = 9
    CALLBACK_INPUT = 10


_WAITING = (TaskState.WAITING, TaskState.RINGING)
_ON_LINE = (TaskState.WAITING, TaskState.RINGING, TaskState.COLLECTING)


class Acd:
    """The engine. See the package docstring for the inputs, commands and events."""

    def __init__(self, config: AcdConfig, *, now: float = 0.0, seed: int | None = None,
                 agents_registered: bool = True) -> None:
        """``agents_registered``: whether agents' phones count as registered at start (a
        SIP shell passes False and reports registrations as they come)."""
        self.config = config
        self._rng = random.Random(seed)
        self._queues: dict[QueueId, Queue] = {}
        self._agents: dict[AgentId, Agent] = {}
        self._tasks: dict[TaskId, Task] = {}
        self._seq = 0
        self._signin_seq = 0
        self._heap: list[tuple[float, int, Timer, Any]] = []
        self._timers: dict[tuple[Timer, Any], int] = {}
        self._timer_seq = 0
        self._dirty: set[Queue] = set()
        self._changed: dict[Membership, MemberState] = {}  # membership -> state before input
        self._emptied: set[Queue] = set()
        self._out = Output()
        self._last_now = now
        self._pause_reasons = {r.code: r.reason for r in config.pause_reasons}
        self._pause_texts = {r.reason for r in config.pause_reasons}
        self.messages = MessageQueues(config.message_queues, self._emit_event)
        self._agents_registered = agents_registered
        for qc in config.queues:
            self._add_queue(qc, now)
        for q in self._queues.values():
            for m in q.members.values():
                # every member enters the wallboard counts as logged out (previous is state)
                self._emit(MemberStateChanged(now, m.agent.extension, q.number,
                                              MemberState.LOGGED_OUT, MemberState.LOGGED_OUT), q)
                self._refresh(m, now)
        self._flush_member_states(now)
        self._dirty.clear()
        self.initial_events: list[Event] = self._out.events
        self._out = Output()

    # ======================================================================================
    # Queries (for the shell, BLF and panels)
    # ======================================================================================

    def queues(self) -> list[QueueId]:
        return list(self._queues)

    def agent_queues(self, agent: AgentId) -> list[QueueId]:
        """The call queues the agent is a member of (static or dynamic)."""
        return list(self._agent(agent).memberships)

    def queue_members(self, queue: QueueId) -> list[tuple[AgentId, MemberState]]:
        """The queue's agents and their states, in configured order (queue panel)."""
        return [(a, m.state) for a, m in self._queue(queue).members.items()]

    def is_member(self, agent: AgentId, queue: QueueId) -> bool:
        """Whether the agent is (still) a member of the queue (no error for unknown ones)."""
        a = self._agents.get(agent)
        return a is not None and queue in a.memberships

    def member_state(self, agent: AgentId, queue: QueueId) -> MemberState:
        return self._membership(agent, queue).state

    def is_signed_in(self, agent: AgentId, queue: QueueId) -> bool:
        return self._membership(agent, queue).signed_in

    def pause_state(self, agent: AgentId, queue: QueueId) -> tuple[bool, str]:
        """(paused, reason text) — for the pause BLF keys (§6.2)."""
        m = self._membership(agent, queue)
        return m.paused, m.pause_reason

    def is_static(self, agent: AgentId, queue: QueueId) -> bool:
        return self._membership(agent, queue).static

    def task_state(self, task: TaskId) -> TaskState | None:
        """Where the engine has a call task (waiting, ringing, connected, a callback...);
        None once it has left (or was never known)."""
        t = self._tasks.get(task)
        return t.state if t is not None else None

    def position(self, task: TaskId) -> int | None:
        t = self._tasks.get(task)
        if t is None or t.seq not in t.queue.by_seq:
            return None
        return t.queue.position(t)

    def estimated_wait(self, task: TaskId) -> float | None:
        """acd.ewt for the task at its current position."""
        t = self._tasks.get(task)
        if t is None or t.seq not in t.queue.by_seq:
            return None
        q = t.queue
        return estimated_wait(q.position(t), q.serving, q.idle, q.handle_time)

    def statistics(self, queue: QueueId, now: float) -> QueueSnapshot:
        q = self._queues.get(queue)
        if q is not None:
            return q.stats.snapshot(now)
        stats = self.messages.stats.get(queue)
        if stats is None:
            raise AcdInputError(f"unknown queue {queue!r}")
        return stats.snapshot(now)

    def pause_reason(self, code_or_text: str) -> str | None:
        """The pause reason text for a feature code (``*03``) or text; None if unknown."""
        if code_or_text in self._pause_reasons:
            return self._pause_reasons[code_or_text]
        if code_or_text in self._pause_texts:
            return code_or_text
        return None

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            when, seq, kind, key = heap[0]
            if self._timers.get((kind, key)) == seq:
                return when
            heapq.heappop(heap)
        return None

    # ======================================================================================
    # Inputs: tasks
    # ======================================================================================

    def handle_task_arrived(self, task: TaskId, queue: QueueId, now: float, *,
                            caller: str = "", wall_clock: dt.datetime | None = None) -> Output:
        """A call (or chat) arrives for ``queue``. ``caller``: the caller's number (default
        callback number). ``wall_clock``: aware datetime, needed for time-based routing."""
        if queue in self.messages.queues:
            self._begin(now)
            if task in self._tasks or self.messages.has(task):
                raise AcdInputError(f"task {task!r} is already in the engine")
            self.messages.arrived(task, queue, caller, now, self._out)
            return self._end(now)
        q = self._queue(queue)
        if task in self._tasks or self.messages.has(task):
            raise AcdInputError(f"task {task!r} is already in the engine")
        qc = q.config
        if qc.time_based_routing is not None and wall_clock is None:
            raise AcdInputError(f"queue {queue} uses time-based routing: pass wall_clock")
        self._begin(now)
        cmds = self._out.commands
        if qc.time_based_routing is not None and wall_clock is not None:
            rule = qc.time_based_routing
            hours = next(h for h in self.config.business_hours if h.time_zone == rule.time_zone)
            decision = decide(rule, hours, self.config.holidays, wall_clock)
            if decision.destination is not None:
                if decision.prompt:
                    cmds.append(PlayPrompt(task, decision.prompt, qc.prompts.language))
                cmds.append(RouteTask(task, decision.destination))
                reason = (RouteReason.HOLIDAY if decision.holiday
                          else RouteReason.OUTSIDE_BUSINESS_HOURS)
                self._emit(TaskRouted(now, task, queue, decision.destination, reason))
                return self._end(now)
        count = len(q.order)
        if qc.max_callers and count >= qc.max_callers:
            self._reject_at_door(task, q, caller, now, LeaveReason.CAPACITY)
            return self._end(now)
        if qc.join_empty_disallowed is not None and q.present_join == 0:
            self._reject_at_door(task, q, caller, now, LeaveReason.JOIN_EMPTY)
            return self._end(now)
        self._seq += 1
        t = Task(task, q, caller, self._seq, now)
        self._tasks[task] = t
        q.add_task(t)
        self._emit(TaskJoined(now, task, queue, caller, count + 1))
        p = qc.prompts
        if p.join_announcement:
            cmds.append(PlayPrompt(task, p.join_announcement, p.language))
            t.prompt_pending = p.play_full_prompt_before_ringing
        cmds.append(StartMusic(task, p.ringback_tone))
        if qc.leave_when_empty is not None and q.present_leave == 0:
            self._failover(t, now, LeaveReason.EMPTY)
            return self._end(now)
        cb = qc.callback
        if cb is not None and cb.method is CallbackMethod.TIMEOUT:
            # scheduled first: when the timeout equals max wait (the manual's screenshot,
            # 60/60) the callback is offered before max wait, which then waits for the
            # dialogue's end
            self._schedule(Timer.CALLBACK_OFFER, task, now + cb.timeout)
        self._schedule(Timer.MAX_WAIT, task, now + qc.max_wait)
        if p.queue_announcement and p.queue_announcement_frequency > 0:
            self._schedule(Timer.QUEUE_ANNOUNCEMENT, task, now + p.queue_announcement_frequency)
        if ((p.announce_position or p.announce_estimated_wait_time or p.play_thank_you)
                and p.position_announcement_frequency > 0):
            self._schedule(Timer.POSITION_ANNOUNCEMENT, task,
                           now + p.position_announcement_frequency)
        if not t.prompt_pending:
            self._make_ready(t)
        return self._end(now)

    def handle_join_prompt_finished(self, task: TaskId, now: float) -> Output:
        """The join announcement finished (for "play full prompt before ringing", §2.5)."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or not t.prompt_pending:
            self._reject("join_prompt_finished", "no join announcement pending", task=task)
            return self._end(now)
        t.prompt_pending = False
        if t.state is TaskState.WAITING:
            self._make_ready(t)
        return self._end(now)

    def handle_task_left(self, task: TaskId, now: float) -> Output:
        """The caller hung up (abandoned while waiting, or ended the call after answer). For
        message queues: the session was closed. A registered callback request stays (its
        caller leg was hung up on the engine's own HangUp command)."""
        self._begin(now)
        if self.messages.has(task):
            self.messages.closed(task, now, self._out)
            return self._end(now)
        t = self._tasks.get(task)
        if t is None:
            self._reject("task_left", "unknown or finished task", task=task)
        elif t.state is TaskState.CONNECTED:
            self._call_ended(t, now)
        elif t.state in _ON_LINE:
            self._cancel_offers(t, now)
            self._leave(t, now, CallStatus.ABANDONED, LeaveReason.ABANDONED)
        elif t.state is TaskState.CALLBACK_DIALING:
            # the customer's leg ended before it was answered
            self._callback_failed(t, now, CallbackFailureReason.CUSTOMER_NO_ANSWER)
        # else: a registered callback request: the engine hung the caller up itself (HangUp),
        # so the end of that leg changes nothing; handle_task_removed withdraws a request
        return self._end(now)

    def handle_task_removed(self, task: TaskId, now: float) -> Output:
        """A manager moved the waiting task elsewhere (counted as Missed, §8.2)."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is TaskState.CONNECTED:
            self._reject("task_removed", "task is not waiting in a queue", task=task)
        else:
            self._cancel_offers(t, now)
            if t.state is TaskState.CALLBACK_DIALING and t.agent is not None:
                self._release_agent(t, now)
            self._leave(t, now, CallStatus.MISSED, LeaveReason.REMOVED)
        return self._end(now)

    def handle_key_pressed(self, task: TaskId, key: str, now: float) -> Output:
        """DTMF from a waiting caller: the callback key (§4) or a key-press event (§9.7).
        During the callback dialogue every key (the shell reads the number itself) restarts
        the no-input timer (``CALLBACK_INPUT_TIMEOUT``)."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is not None and t.state is TaskState.COLLECTING:
            # a key of the callback number: the caller is not silent
            self._schedule(Timer.CALLBACK_INPUT, task, now + CALLBACK_INPUT_TIMEOUT)
            return self._end(now)
        if t is None or t.state not in _WAITING:
            self._reject("key_pressed", "task is not waiting", task=task)
            return self._end(now)
        qc = t.queue.config
        cb = qc.callback
        if cb is not None and cb.method is CallbackMethod.PRESS_KEY and key == cb.key:
            self._start_collecting(t, now)
        elif key in qc.key_press_events:
            destination = qc.key_press_events[key]
            self._cancel_offers(t, now)
            self._out.commands.append(RouteTask(task, destination))
            self._emit(TaskRouted(now, task, t.queue.number, destination,
                                  RouteReason.KEY_PRESS), t.queue)
            self._leave(t, now, CallStatus.MISSED, LeaveReason.KEY_PRESS)
        else:
            self._reject("key_pressed", f"key {key!r} has no action in this queue", task=task)
        return self._end(now)

    def handle_callback_number(self, task: TaskId, number: str, now: float) -> Output:
        """The caller registered a callback number ("" = keep the number they called from).
        Fewer than 5 digits: the request fails as "invalid callback number" and the caller
        keeps waiting on the line."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is not TaskState.COLLECTING:
            self._reject("callback_number", "no callback number was asked for", task=task)
            return self._end(now)
        cb = t.queue.config.callback
        assert cb is not None
        number = number.strip().rstrip("#") or t.caller
        if not number.isdigit() or len(number) < cb.min_number_length:
            self._emit(CallbackFailed(now, task, t.queue.number, number,
                                      CallbackFailureReason.INVALID_NUMBER), t.queue)
            self._stop_collecting(t, now)
            return self._end(now)
        t.callback_number = number
        t.state = TaskState.CALLBACK
        for kind in (Timer.MAX_WAIT, Timer.QUEUE_ANNOUNCEMENT, Timer.POSITION_ANNOUNCEMENT,
                     Timer.CALLBACK_INPUT):
            self._cancel(kind, task)
        self._out.commands.append(HangUp(task))
        timeout = (cb.callback_timeout if cb.callback_timeout is not None
                   else t.queue.config.max_wait)
        expiry = t.arrived + timeout  # counted from joining the queue (see acd/__init__.py)
        if expiry <= now:  # auto mode whose timeout equals the callback timeout
            expiry = now + timeout
        self._emit(CallbackRequested(now, task, t.queue.number, number, t.caller, t.arrived,
                                     expiry), t.queue)
        self._schedule(Timer.CALLBACK_EXPIRY, task, expiry)
        self._make_ready(t)
        return self._end(now)

    def handle_callback_declined(self, task: TaskId, now: float) -> Output:
        """The caller did not want a callback after all: back to waiting on the line."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is not TaskState.COLLECTING:
            self._reject("callback_declined", "no callback number was asked for", task=task)
        else:
            self._stop_collecting(t, now)
        return self._end(now)

    def handle_callback_connected(self, task: TaskId, now: float) -> Output:
        """§4.2: the customer answered the callback; agent and customer are talking."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is not TaskState.CALLBACK_DIALING or t.agent is None:
            self._reject("callback_connected", "no callback is being dialled", task=task)
            return self._end(now)
        t.state = TaskState.CONNECTED
        t.answered_at = now
        self._emit(CallbackSucceeded(now, task, t.queue.number, t.agent, t.callback_number),
                   t.queue)
        self._emit(TaskLeft(now, task, t.queue.number, CallStatus.ANSWERED,
                            LeaveReason.CALLBACK_SUCCEEDED, now - t.arrived, t.agent), t.queue)
        self._count_sla(t.queue, CallStatus.ANSWERED, now - t.arrived)
        return self._end(now)

    def handle_callback_failed(self, task: TaskId, reason: CallbackFailureReason,
                               now: float) -> Output:
        """§4.2: dialling the customer failed (no answer) or the agent hung up."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is not TaskState.CALLBACK_DIALING:
            self._reject("callback_failed", "no callback is being dialled", task=task)
        else:
            self._callback_failed(t, now, reason)
        return self._end(now)

    # ======================================================================================
    # Inputs: offers and calls
    # ======================================================================================

    def handle_offer_answered(self, task: TaskId, agent: AgentId, now: float) -> Output:
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or agent not in t.ringing:
            self._reject("offer_answered", "this agent is not being offered this task",
                         task=task, agent=agent)
            return self._end(now)
        q = t.queue
        a = self._agents[agent]
        self._cancel(Timer.RING_TIMEOUT, task)
        t.ringing = tuple(x for x in t.ringing if x != agent)
        a.offers.discard(task)
        self._emit(OfferEnded(now, task, q.number, agent, OfferResult.ANSWERED,
                              now - t.ring_started), q)
        others = tuple(sorted(t.ringing))
        for other in others:
            self._agents[other].offers.discard(task)
            self._emit(OfferEnded(now, task, q.number, other, OfferResult.CANCELLED,
                                  now - t.ring_started), q)
        t.ringing = ()
        if others:
            self._out.commands.append(StopRinging(task, others))
        m = a.memberships[q.number]
        m.missed = 0
        m.answered += 1
        a.calls.add(task)
        t.agent = agent
        for kind in (Timer.MAX_WAIT, Timer.QUEUE_ANNOUNCEMENT, Timer.POSITION_ANNOUNCEMENT,
                     Timer.CALLBACK_OFFER, Timer.RETRY):
            self._cancel(kind, task)
        q.remove_task(t)
        qc = q.config
        if t.state is TaskState.CALLBACK_RINGING:
            self._cancel(Timer.CALLBACK_EXPIRY, task)
            t.state = TaskState.CALLBACK_DIALING
            cb = qc.callback
            self._out.commands.append(DialCustomer(task, q.number, agent, t.callback_number,
                                                   cb.outbound_prefix if cb else ""))
        else:
            t.state = TaskState.CONNECTED
            t.answered_at = now
            p = qc.prompts
            self._out.commands.append(Connect(task, q.number, agent, p.agent_announcement,
                                              p.announce_agent_id, p.hold_music))
            self._emit(TaskLeft(now, task, q.number, CallStatus.ANSWERED, LeaveReason.ANSWERED,
                                now - t.arrived, agent), q)
            self._count_sla(q, CallStatus.ANSWERED, now - t.arrived)
        for other in others:
            self._refresh_agent(self._agents[other], now)
        self._refresh_agent(a, now)
        return self._end(now)

    def handle_offer_rejected(self, task: TaskId, agent: AgentId, now: float) -> Output:
        """The agent declined, or the phone answered busy / unavailable: a missed call."""
        return self._offer_failed(task, agent, now, OfferResult.REJECTED, "offer_rejected")

    def handle_offer_timed_out(self, task: TaskId, agent: AgentId, now: float) -> Output:
        """The shell's own ring timer fired first (the engine also times offers out)."""
        return self._offer_failed(task, agent, now, OfferResult.TIMED_OUT, "offer_timed_out")

    def handle_call_ended(self, task: TaskId, now: float) -> Output:
        """The answered call ended (either side hung up). Wrap-up starts (§2.4)."""
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or t.state is not TaskState.CONNECTED:
            self._reject("call_ended", "no answered call with this task", task=task)
        else:
            self._call_ended(t, now)
        return self._end(now)

    # ======================================================================================
    # Inputs: agents
    # ======================================================================================

    def handle_agent_signed_in(self, agent: AgentId, queue: QueueId, now: float) -> Output:
        """§6.7 sign in (dynamic agents only)."""
        self._begin(now)
        m = self._membership(agent, queue)
        if m.static:
            self._reject("agent_signed_in", "static agents are always signed in",
                         agent=agent, queue=queue)
        elif m.signed_in:
            self._reject("agent_signed_in", "already signed in", agent=agent, queue=queue)
        else:
            m.signed_in = True
            m.signin_seq = self._next_signin()
            self._emit(AgentSignedIn(now, agent, queue))
            self._refresh(m, now)
        return self._end(now)

    def handle_agent_signed_out(self, agent: AgentId, queue: QueueId, now: float) -> Output:
        """§6.7 sign out (dynamic agents only); a paused agent is resumed first."""
        self._begin(now)
        m = self._membership(agent, queue)
        if m.static:
            self._reject("agent_signed_out", "static agents cannot sign out",
                         agent=agent, queue=queue)
        elif not m.signed_in:
            self._reject("agent_signed_out", "not signed in", agent=agent, queue=queue)
        else:
            if m.paused:
                m.paused, m.pause_reason = False, ""
                self._emit(AgentResumed(now, agent, queue))
            m.signed_in = False
            m.missed = 0
            self._emit(AgentSignedOut(now, agent, queue))
            self._cancel_agent_offers(m.agent, now, queue)
            self._refresh(m, now)
        return self._end(now)

    def handle_agent_paused(self, agent: AgentId, queue: QueueId, now: float,
                            reason: str = "") -> Output:
        """§6.1/§6.7 pause, optionally with a reason (its code ``*03`` or its text). Pausing
        again with another reason changes the reason (the pause report's "reason changed")."""
        self._begin(now)
        m = self._membership(agent, queue)
        text = self.pause_reason(reason) if reason else ""
        if text is None:
            self._reject("agent_paused", f"unknown pause reason {reason!r}", agent=agent,
                         queue=queue)
        elif not m.signed_in:
            self._reject("agent_paused", "not signed in", agent=agent, queue=queue)
        elif m.paused and m.pause_reason == text:
            self._reject("agent_paused", "already paused", agent=agent, queue=queue)
        else:
            self._pause(m, now, text, auto=False)
        return self._end(now)

    def handle_agent_resumed(self, agent: AgentId, queue: QueueId, now: float) -> Output:
        self._begin(now)
        m = self._membership(agent, queue)
        if not m.paused:
            self._reject("agent_resumed", "not paused", agent=agent, queue=queue)
        else:
            m.paused, m.pause_reason = False, ""
            self._emit(AgentResumed(now, agent, queue))
            self._refresh(m, now)
        return self._end(now)

    def handle_device_registered(self, agent: AgentId, now: float) -> Output:
        return self._device(agent, now, registered=True)

    def handle_device_unregistered(self, agent: AgentId, now: float) -> Output:
        return self._device(agent, now, registered=False)

    def handle_device_busy(self, agent: AgentId, now: float) -> Output:
        """The agent's phone is on a non-queue call (ring-in-use, §2.4)."""
        return self._device(agent, now, busy=True)

    def handle_device_idle(self, agent: AgentId, now: float) -> Output:
        return self._device(agent, now, busy=False)

    def handle_wrapup_over(self, agent: AgentId, now: float) -> Output:
        """The agent ends wrap-up early (e.g. a "ready" button)."""
        self._begin(now)
        a = self._agent(agent)
        wrapping = [m for m in a.memberships.values() if m.wrapup_until > now]
        if a.wrapup_until <= now and not wrapping:
            self._reject("wrapup_over", "not in wrap-up", agent=agent)
            return self._end(now)
        queues = tuple(sorted(a.memberships)) if a.wrapup_until > now else tuple(
            sorted(m.queue.number for m in wrapping))
        a.wrapup_until = NEG_INF
        self._cancel(Timer.WRAPUP_AGENT, agent)
        for m in wrapping:
            m.wrapup_until = NEG_INF
            self._cancel(Timer.WRAPUP_MEMBER, (agent, m.queue.number))
        self._emit(WrapupEnded(now, agent, queues))
        self._refresh_agent(a, now)
        return self._end(now)

    # ======================================================================================
    # Inputs: restoring the state persisted before a restart
    # ======================================================================================

    def restore_agent(self, agent: AgentId, queue: QueueId, now: float, *, signed_in: bool,
                      paused: bool = False, reason: str = "",
                      wrapup_until: float | None = None) -> Output:
        """Put back the agent's state in ``queue`` as it was before the switch restarted
        (the shell persisted it as it changed). It is not a new sign-in nor a new pause: no
        AgentSignedIn / AgentPaused, only MemberStateChanged (wallboard, panels).

        ``signed_in`` is ignored for static agents (always signed in). A dynamic agent
        restored signed out stays signed out whatever ``dynamic_agent_default_status``
        says: the default applies only to agents new to the queue (§6.4 "existing dynamic
        agents are not affected"). Restore sign-ins oldest first: Linear and Round Robin
        order dynamic agents by sign-in. ``reason``: the pause reason text as it was (kept
        even if the reason left the configuration). ``wrapup_until`` (engine time): the
        agent is in wrap-up for this queue until then."""
        self._begin(now)
        m = self._membership(agent, queue)
        if not m.static:
            m.signed_in = signed_in
            if signed_in:
                m.signin_seq = self._next_signin()
        m.paused = paused and m.signed_in
        m.pause_reason = reason if m.paused else ""
        if wrapup_until is not None and wrapup_until > now and wrapup_until > m.wrapup_until:
            m.wrapup_until = wrapup_until
            self._schedule(Timer.WRAPUP_MEMBER, (agent, queue), wrapup_until)
        self._refresh(m, now)
        return self._end(now)

    def restore_callback(self, task: TaskId, queue: QueueId, now: float, *, caller: str,
                         number: str, joined: float, expires: float) -> Output:
        """Put back a callback request that was pending before a restart (§4.2: the caller
        keeps their place). Call at start-up, oldest ``joined`` first, before calls
        arrive: the requests line up in that order, ahead of every later caller.
        ``joined`` and ``expires`` are engine times (the shell converts what it persisted).
        Not a new join nor a new request: no TaskJoined / CallbackRequested events (the
        queue's statistics count it waiting). A request whose ``expires`` passed while the
        switch was down fails now as "no idle agent"; any other is served as usual: when an
        agent is free the agent is rung first, then the customer dialled."""
        self._begin(now)
        q = self._queue(queue)
        if task in self._tasks or self.messages.has(task):
            raise AcdInputError(f"task {task!r} is already in the engine")
        self._seq += 1
        t = Task(task, q, caller, self._seq, joined)
        t.callback_number = number
        t.state = TaskState.CALLBACK
        self._tasks[task] = t
        q.add_task(t)
        q.stats.apply(TaskJoined(joined, task, queue, caller, len(q.order)))
        q.stats.apply(CallbackRequested(now, task, queue, number, caller, joined, expires))
        if expires <= now:
            self._callback_failed(t, now, CallbackFailureReason.NO_IDLE_AGENT)
        else:
            self._schedule(Timer.CALLBACK_EXPIRY, task, expires)
            self._make_ready(t)
        return self._end(now)

    # --- message queues (omnichannel.md §5.3) ---------------------------------------------

    def restore_message_session(self, task: TaskId, queue: QueueId, now: float, *,
                                caller: str, joined: float,
                                repliers: tuple[AgentId, ...] = ()) -> Output:
        """Put back a chat session that waited in message queue ``queue`` (not taken over)
        before a restart, waiting since ``joined`` (engine time): like `restore_callback`,
        not a new join (no TaskJoined event), so its report row continues. ``repliers``:
        the agents who had replied in it before the restart, first replier first."""
        self._begin(now)
        if queue not in self.messages.queues:
            raise AcdInputError(f"no message queue {queue!r}")
        if task in self._tasks or self.messages.has(task):
            raise AcdInputError(f"task {task!r} is already in the engine")
        self.messages.restore(task, queue, caller, min(joined, now), self._out, repliers)
        return self._end(now)

    def handle_message_reply(self, task: TaskId, agent: AgentId, now: float) -> Output:
        """An agent replied in a queue session; in auto take-over mode the first reply takes
        the session over. Rejected if another agent owns the session."""
        self._begin(now)
        self.messages.reply(task, agent, now, self._out)
        return self._end(now)

    def handle_take_over(self, task: TaskId, agent: AgentId, now: float) -> Output:
        """An agent clicked Take over (manual and auto modes; rejected in no-take-over)."""
        self._begin(now)
        self.messages.take_over(task, agent, now, self._out)
        return self._end(now)

    # --- configuration (softswitch reload) -----------------------------------------------

    def handle_reconfigure(self, config: AcdConfig, now: float) -> Output:
        """Apply a changed configuration to the running engine (`softswitch reload`).

        Kept: every task (its place, timers and ringing offers), every agent's sign-ins,
        pauses, wrap-ups, missed-call counters and calls in the queues that still exist, and
        every queue's statistics. Decisions:

        - A removed queue sends the callers on its line to its failover destination (the
          removed queue's last configuration; TaskLeft reason ``queue_removed``); its
          callback requests fail (CallbackFailed, no idle agent). Answered calls and a
          callback being dialled continue and end as usual.
        - A member removed from a queue is signed out of it (AgentSignedOut for a dynamic
          agent that was signed in, AgentResumed first if paused); an offer ringing them for
          that queue is withdrawn (StopRinging, not a missed call) and the caller is offered
          again at once; a connected call continues, without that queue's wrap-up.
        - An added member starts like at start-up: static agents signed in, dynamic ones as
          the queue's ``dynamic_agent_default_status`` says.
        - A member made static is signed in; one made dynamic stays signed in.
        - Strategy, skills and member order: the idle-agent orderings are rebuilt from the
          new settings. A shorter or longer ``max_wait`` applies to the callers already
          waiting (counted from their arrival); changed announcement frequencies restart
          from now. Ring timeout, retry interval, wrap-up, weights, prompts, failover and
          callback settings apply from the next offer, round or caller that uses them.
        - Message queues: see `MessageQueues.reconfigure`.
        """
        self._begin(now)
        numbers = {qc.number for qc in config.queues}
        for q in [q for n, q in self._queues.items() if n not in numbers]:
            self._remove_queue(q, now)
        self.config = config
        self._pause_reasons = {r.code: r.reason for r in config.pause_reasons}
        self._pause_texts = {r.reason for r in config.pause_reasons}
        for qc in config.queues:
            existing = self._queues.get(qc.number)
            if existing is None:
                q = self._add_queue(qc, now)
                for m in q.members.values():
                    self._emit(MemberStateChanged(now, m.agent.extension, q.number,
                                                  LOGGED_OUT, LOGGED_OUT), q)
                    self._refresh(m, now)
            elif existing.config != qc:
                self._change_queue(existing, qc, now)
        self._queues = {qc.number: self._queues[qc.number] for qc in config.queues}
        self.messages.reconfigure(config.message_queues)
        return self._end(now)

    # --- time --------------------------------------------------------------------------

    def tick(self, now: float) -> Output:
        """Run every deadline up to ``now``."""
        self._begin(now)
        return self._end(now)

    # ======================================================================================
    # Internals
    # ======================================================================================

    def _begin(self, now: float) -> None:
        if now < self._last_now:
            raise AcdInputError(f"time went backwards: {now} after {self._last_now}")
        self._last_now = now
        if self._heap and self._heap[0][0] <= now:
            self._run_timers(now)

    def _end(self, now: float) -> Output:
        self._settle(now)
        if self._heap and self._heap[0][0] <= now:
            self._run_timers(now)
        out = self._out
        self._out = Output()
        return out

    def _settle(self, now: float) -> None:
        if self._emptied:
            self._leave_empty_queues(now)
        if self._dirty:
            self._dispatch(now)
        if self._changed:
            self._flush_member_states(now)

    def _emit(self, event: Event, queue: Queue | None = None) -> None:
        """Append an event and apply it to its queue's statistics (``queue`` if the caller
        has it at hand, else looked up by the event's queue number)."""
        self._out.events.append(event)
        if queue is None:
            queue = self._queues.get(getattr(event, "queue", ""))
        if queue is not None:
            queue.stats.apply(event)

    def _emit_event(self, event: Event, stats: QueueStatistics | None) -> None:
        self._out.events.append(event)
        if stats is not None:
            stats.apply(event)

    def _reject(self, what: str, reason: str, *, task: TaskId | None = None,
                agent: AgentId | None = None, queue: QueueId | None = None) -> None:
        self._out.events.append(InputRejected(self._last_now, what, reason, task, agent,
                                              queue))

    def _queue(self, queue: QueueId) -> Queue:
        q = self._queues.get(queue)
        if q is None:
            raise AcdInputError(f"unknown queue {queue!r}")
        return q

    def _agent(self, agent: AgentId) -> Agent:
        a = self._agents.get(agent)
        if a is None:
            raise AcdInputError(f"{agent!r} is not an agent of any queue")
        return a

    def _membership(self, agent: AgentId, queue: QueueId) -> Membership:
        self._queue(queue)
        m = self._agent(agent).memberships.get(queue)
        if m is None:
            raise AcdInputError(f"agent {agent} is not a member of queue {queue}")
        return m

    def _next_signin(self) -> int:
        self._signin_seq += 1
        return self._signin_seq

    # --- timers ----------------------------------------------------------------------------

    def _schedule(self, kind: Timer, key: Any, when: float) -> None:
        self._timer_seq += 1
        self._timers[(kind, key)] = self._timer_seq
        heapq.heappush(self._heap, (when, self._timer_seq, kind, key))

    def _cancel(self, kind: Timer, key: Any) -> None:
        self._timers.pop((kind, key), None)

    def _run_timers(self, now: float) -> None:
        heap = self._heap
        timers = self._timers
        while heap and heap[0][0] <= now:
            when, seq, kind, key = heapq.heappop(heap)
            if timers.get((kind, key)) != seq:
                continue
            del timers[(kind, key)]
            self._last_now = when
            self._on_timer(kind, key, when)
            self._settle(when)

    def _on_timer(self, kind: Timer, key: Any, now: float) -> None:
        if kind is Timer.WRAPUP_AGENT:
            a = self._agents[key]
            queues = tuple(sorted(a.memberships))
            self._emit_wrapup_ended(a.extension, queues, now)
            self._refresh_agent(a, now)
            return
        if kind is Timer.WRAPUP_MEMBER:
            agent, queue = key
            self._emit_wrapup_ended(agent, (queue,), now)
            self._refresh(self._agents[agent].memberships[queue], now)
            return
        if kind is Timer.SLA_EVALUATION:
            q = self._queues[key]
            sla = service_level(q.window_within, q.window_total)
            threshold = q.config.sla.alert_threshold
            self._emit(SlaEvaluated(now, q.number, sla, threshold,
                                    sla is not None and sla < threshold), q)
            q.window_total = q.window_within = 0
            self._schedule(Timer.SLA_EVALUATION, key, now + q.config.sla.evaluation_interval)
            return
        t = self._tasks.get(key)
        if t is None:
            return
        if kind is Timer.RING_TIMEOUT:
            self._ring_timeout(t, now)
        elif kind is Timer.RETRY:
            if t.state in (TaskState.WAITING, TaskState.CALLBACK):
                self._make_ready(t)
        elif kind is Timer.MAX_WAIT:
            # during the callback dialogue the caller fails over when it ends unregistered
            # (_stop_collecting); the dialogue is bounded by CALLBACK_INPUT
            if t.state in _WAITING:
                self._failover(t, now, LeaveReason.MAX_WAIT)
        elif kind is Timer.CALLBACK_INPUT:
            if t.state is TaskState.COLLECTING:
                if t.callback_prompts < CALLBACK_PROMPTS:
                    self._ask_callback_number(t, now)
                else:
                    self._out.commands.append(EndCallbackDialogue(t.id))
                    self._stop_collecting(t, now)
        elif kind is Timer.CALLBACK_OFFER:
            if t.state in _WAITING:
                self._start_collecting(t, now)
        elif kind is Timer.CALLBACK_EXPIRY:
            if t.state is TaskState.CALLBACK:
                self._callback_failed(t, now, CallbackFailureReason.NO_IDLE_AGENT)
            elif t.state is TaskState.CALLBACK_RINGING:
                t.callback_offered = True  # expire when this ring round ends unanswered
        elif kind is Timer.QUEUE_ANNOUNCEMENT:
            if t.state in _WAITING:
                p = t.queue.config.prompts
                self._out.commands.append(PlayPrompt(t.id, p.queue_announcement, p.language))
                self._schedule(kind, t.id, now + p.queue_announcement_frequency)
        elif kind is Timer.POSITION_ANNOUNCEMENT:
            if t.state in _WAITING:
                q = t.queue
                p = q.config.prompts
                pos = q.position(t)
                ewt = (estimated_wait(pos, q.serving, q.idle, q.handle_time)
                       if p.announce_estimated_wait_time else None)
                self._out.commands.append(AnnouncePosition(
                    t.id, pos if p.announce_position else None, ewt, p.play_thank_you,
                    p.language))
                self._schedule(kind, t.id, now + p.position_announcement_frequency)

    def _emit_wrapup_ended(self, agent: AgentId, queues: tuple[QueueId, ...],
                           now: float) -> None:
        self._out.events.append(WrapupEnded(now, agent, queues))

    # --- agent availability ----------------------------------------------------------------

    def _device(self, agent: AgentId, now: float, *, registered: bool | None = None,
                busy: bool | None = None) -> Output:
        self._begin(now)
        a = self._agent(agent)
        if registered is not None:
            a.registered = registered
            if not registered:
                self._cancel_agent_offers(a, now, None)
        if busy is not None:
            a.device_busy = busy
        self._refresh_agent(a, now)
        return self._end(now)

    def _refresh_agent(self, a: Agent, now: float) -> None:
        """Recompute the agent's state in each of its queues (agent-wide facts once)."""
        if not a.registered:
            base = UNREGISTERED
        elif a.device_busy or a.calls:
            base = IN_USE
        elif a.offers:
            base = RINGING
        elif a.wrapup_until > now:
            base = WRAP_UP
        else:
            base = IDLE
        apply = self._apply_state
        for m in a.memberships.values():
            if not m.signed_in:
                apply(m, LOGGED_OUT, now)
            elif m.paused:
                apply(m, PAUSED, now)
            elif base is IDLE and m.wrapup_until > now:
                apply(m, WRAP_UP, now)
            else:
                apply(m, base, now)

    def _refresh(self, m: Membership, now: float) -> None:
        """Recompute one membership's state and keep every per-queue index in step."""
        a = m.agent
        if not m.signed_in:
            state = LOGGED_OUT
        elif m.paused:
            state = PAUSED
        elif not a.registered:
            state = UNREGISTERED
        elif a.device_busy or a.calls:
            state = IN_USE
        elif a.offers:
            state = RINGING
        elif a.wrapup_until > now or m.wrapup_until > now:
            state = WRAP_UP
        else:
            state = IDLE
        self._apply_state(m, state, now)

    def _apply_state(self, m: Membership, state: MemberState, now: float) -> None:
        """Availability (the idle-agent index), presence counts and the state change."""
        q = m.queue
        ring_in_use = q.ring_in_use
        if state is IDLE:
            available = True
        elif ring_in_use and (state is IN_USE or state is RINGING):
            available = not (m.agent.wrapup_until > now or m.wrapup_until > now)
        else:
            available = False
        if available:
            if not m.available:
                q.add_idle(m)
                self._dirty.add(q)
            elif ring_in_use:  # its ordering key may have changed while it stayed idle
                q.add_idle(m)
        elif m.available:
            q.remove_idle(m)
        signed_in = m.signed_in
        if q.empty_rules:
            a = m.agent
            qc = q.config
            key = (signed_in and not m.paused and a.registered,
                   self._present(m, a, qc.leave_when_empty),
                   self._present(m, a, qc.join_empty_disallowed))
        else:
            key = (signed_in and not m.paused and m.agent.registered, signed_in, signed_in)
        if key != m.presence:
            self._update_presence(m, q, key)
        if state is not m.state:
            # reported once per input, net of transient states (idle between a call and the
            # next offer), by _flush_member_states
            if m not in self._changed:
                self._changed[m] = m.state
            m.state = state

    def _flush_member_states(self, now: float) -> None:
        changed, self._changed = self._changed, {}
        events = self._out.events
        for m, previous in changed.items():
            state = m.state
            if state is not previous:
                q = m.queue
                events.append(MemberStateChanged(now, m.agent.extension, q.number, state,
                                                 previous))
                q.stats.member_state_changed(previous, state)

    def _update_presence(self, m: Membership, q: Queue,
                         key: tuple[bool, bool, bool]) -> None:
        """Per-queue counts: serving (EWT), present for leave-when-empty / join-empty."""
        old = m.presence
        q.serving += key[0] - old[0]
        q.present_leave += key[1] - old[1]
        q.present_join += key[2] - old[2]
        m.presence = key
        if (old[1] and not key[1] and q.present_leave == 0
                and q.config.leave_when_empty is not None):
            self._emptied.add(q)

    @staticmethod
    def _present(m: Membership, a: Agent, scenarios: frozenset[EmptyScenario] | None) -> bool:
        """§9.2: not "no agent". Signed-out agents never count; an agent in any selected
        scenario (unregistered, paused, in use) does not count either (Asterisk's
        joinempty/leavewhenempty semantics: the queue is empty when every member is)."""
        if not m.signed_in:
            return False
        if scenarios is None:
            return True
        if EmptyScenario.UNREGISTERED in scenarios and not a.registered:
            return False
        if EmptyScenario.PAUSED in scenarios and m.paused:
            return False
        if EmptyScenario.IN_USE in scenarios and a.in_use:
            return False
        return True

    def _pause(self, m: Membership, now: float, reason: str, *, auto: bool) -> None:
        m.paused = True
        m.pause_reason = reason
        m.missed = 0  # §2.4: the counter clears when the agent is paused
        self._emit(AgentPaused(now, m.agent.extension, m.queue.number, reason, auto))
        self._cancel_agent_offers(m.agent, now, m.queue.number)
        self._refresh(m, now)

    # --- dispatch -------------------------------------------------------------------------

    def _dispatch(self, now: float) -> None:
        """Offer ready tasks to idle agents: among the queues touched by this input, always
        the head task with the highest overall weight first (§5), equal weights by arrival
        (the global arrival sequence)."""
        dirty = self._dirty
        while dirty:
            best: Queue | None = None
            best_weight = best_seq = 0
            drop: list[Queue] = []
            for q in dirty:
                ready = q.ready
                if not ready or not q.idle:
                    drop.append(q)
                    continue
                seq = ready[0]
                priority = q.config.priority
                if priority.acceleration is None:
                    weight = priority.weight
                else:
                    weight = overall_weight(priority, now - q.by_seq[seq].arrived)
                if (best is None or weight > best_weight
                        or (weight == best_weight and seq < best_seq)):
                    best, best_weight, best_seq = q, weight, seq
            for q in drop:
                dirty.discard(q)
            if best is None:
                return
            t = best.by_seq[best_seq]
            picks = best.choose(t)
            if not picks:
                dirty.discard(best)
                continue
            self._offer(t, picks, now)

    def _offer(self, t: Task, picks: list[Membership], now: float) -> None:
        q = t.queue
        qc = q.config
        q.set_ready(t, False)
        t.state = (TaskState.CALLBACK_RINGING if t.state is TaskState.CALLBACK
                   else TaskState.RINGING)
        t.ring_started = now
        agents = []
        for m in picks:
            q.levels[m.skill].rung(m)
            ext = m.agent.extension
            m.agent.offers.add(t.id)
            agents.append(ext)
        ringing = tuple(agents)
        t.tried = (*t.tried, *ringing)
        t.ringing = ringing
        self._schedule(Timer.RING_TIMEOUT, t.id, now + qc.ring_timeout)
        self._out.commands.append(RingAgents(t.id, q.number, ringing, qc.ring_timeout,
                                             qc.alert_info, qc.name,
                                             t.state is TaskState.CALLBACK_RINGING))
        self._emit(OfferStarted(now, t.id, q.number, ringing), q)
        for m in picks:
            self._refresh_agent(m.agent, now)

    def _ring_timeout(self, t: Task, now: float) -> None:
        agents = tuple(sorted(t.ringing))
        if agents:
            self._out.commands.append(StopRinging(t.id, agents))
        for agent in agents:
            self._missed(t, self._agents[agent], now, OfferResult.TIMED_OUT)
        self._end_round(t, now, retry=True)

    def _offer_failed(self, task: TaskId, agent: AgentId, now: float, result: OfferResult,
                      what: str) -> Output:
        self._begin(now)
        t = self._tasks.get(task)
        if t is None or agent not in t.ringing:
            self._reject(what, "this agent is not being offered this task", task=task,
                         agent=agent)
            return self._end(now)
        self._missed(t, self._agents[agent], now, result)
        if not t.ringing:
            self._cancel(Timer.RING_TIMEOUT, task)
            self._end_round(t, now, retry=True)
        return self._end(now)

    def _missed(self, t: Task, a: Agent, now: float, result: OfferResult) -> None:
        """A ring that ended unanswered: a missed call for the agent (§2.4, §8.12)."""
        q = t.queue
        t.ringing = tuple(x for x in t.ringing if x != a.extension)
        a.offers.discard(t.id)
        self._emit(OfferEnded(now, t.id, q.number, a.extension, result, now - t.ring_started), q)
        m = a.memberships[q.number]
        m.missed += 1
        self._emit(AgentMissedCall(now, a.extension, q.number, t.id, m.missed), q)
        if q.auto_pause_applies and m.missed >= q.config.auto_pause_missed_calls and not m.paused:
            self._pause(m, now, "", auto=True)
        self._refresh_agent(a, now)

    def _end_round(self, t: Task, now: float, *, retry: bool) -> None:
        """The last ringing agent of the round is gone: wait the retry interval (§2.4)."""
        if t.state is TaskState.CALLBACK_RINGING:
            t.state = TaskState.CALLBACK
            if t.callback_offered:  # the callback expired while this round rang
                self._callback_failed(t, now, CallbackFailureReason.NO_IDLE_AGENT)
                return
        elif t.state is TaskState.RINGING:
            t.state = TaskState.WAITING
        else:
            return
        interval = t.queue.config.retry_interval
        if retry and interval > 0:
            self._schedule(Timer.RETRY, t.id, now + interval)
        else:
            self._make_ready(t)

    def _cancel_offers(self, t: Task, now: float) -> None:
        """Stop ringing for a task that goes elsewhere (no missed call for the agents)."""
        self._cancel(Timer.RING_TIMEOUT, t.id)
        if not t.ringing:
            return
        agents = tuple(sorted(t.ringing))
        self._out.commands.append(StopRinging(t.id, agents))
        t.ringing = ()
        for agent in agents:
            a = self._agents[agent]
            a.offers.discard(t.id)
            self._emit(OfferEnded(now, t.id, t.queue.number, agent, OfferResult.CANCELLED,
                                  now - t.ring_started), t.queue)
            self._refresh_agent(a, now)

    def _cancel_agent_offers(self, a: Agent, now: float, queue: QueueId | None) -> None:
        """The agent can no longer take offers (of ``queue``, or of all queues)."""
        for task in sorted(a.offers):
            t = self._tasks[task]
            if queue is not None and t.queue.number != queue:
                continue
            a.offers.discard(task)
            t.ringing = tuple(x for x in t.ringing if x != a.extension)
            self._out.commands.append(StopRinging(task, (a.extension,)))
            self._emit(OfferEnded(now, task, t.queue.number, a.extension, OfferResult.CANCELLED,
                                  now - t.ring_started), t.queue)
            if not t.ringing:
                self._cancel(Timer.RING_TIMEOUT, task)
                self._end_round(t, now, retry=False)

    def _make_ready(self, t: Task) -> None:
        if t.prompt_pending:
            return
        t.queue.set_ready(t, True)
        self._dirty.add(t.queue)

    # --- leaving ---------------------------------------------------------------------------

    def _leave(self, t: Task, now: float, status: CallStatus, reason: LeaveReason,
               agent: AgentId | None = None) -> None:
        q = t.queue
        for kind in Timer:
            if kind < Timer.WRAPUP_AGENT or kind in (Timer.QUEUE_ANNOUNCEMENT,
                                                     Timer.POSITION_ANNOUNCEMENT,
                                                     Timer.CALLBACK_INPUT):
                self._cancel(kind, t.id)
        q.remove_task(t)
        t.state = TaskState.GONE
        del self._tasks[t.id]
        self._emit(TaskLeft(now, t.id, q.number, status, reason, now - t.arrived, agent), q)
        self._count_sla(q, status, now - t.arrived)

    def _count_sla(self, q: Queue, status: CallStatus, waited: float) -> None:
        q.window_total += 1
        if status is CallStatus.ANSWERED and meets_sla(waited, q.config.sla.time):
            q.window_within += 1

    def _failover(self, t: Task, now: float, reason: LeaveReason) -> None:
        self._cancel_offers(t, now)
        destination = t.queue.config.failover
        self._out.commands.append(RouteTask(t.id, destination))
        self._emit(TaskRouted(now, t.id, t.queue.number, destination, RouteReason.FAILOVER),
                   t.queue)
        self._leave(t, now, CallStatus.MISSED, reason)

    def _reject_at_door(self, task: TaskId, q: Queue, caller: str, now: float,
                        reason: LeaveReason) -> None:
        """§9.2: capacity reached / join-empty: the call counts as entered and Missed."""
        destination: Destination = q.config.failover
        self._emit(TaskJoined(now, task, q.number, caller, len(q.order) + 1), q)
        self._out.commands.append(RouteTask(task, destination))
        self._emit(TaskRouted(now, task, q.number, destination, RouteReason.FAILOVER), q)
        self._emit(TaskLeft(now, task, q.number, CallStatus.MISSED, reason, 0.0), q)
        self._count_sla(q, CallStatus.MISSED, 0.0)

    def _leave_empty_queues(self, now: float) -> None:
        """§9.2 Leave When Empty: move the callers on the line to the failover destination."""
        queues, self._emptied = self._emptied, set()
        for q in sorted(queues, key=lambda x: x.number):
            if q.present_leave:
                continue
            for seq in list(q.order):
                t = q.by_seq.get(seq)
                if t is not None and t.state in _ON_LINE:
                    self._failover(t, now, LeaveReason.EMPTY)

    def _call_ended(self, t: Task, now: float) -> None:
        q = t.queue
        agent = t.agent
        assert agent is not None
        a = self._agents[agent]
        a.calls.discard(t.id)
        a.last_call_end = now
        talked = now - t.answered_at
        t.state = TaskState.GONE
        del self._tasks[t.id]
        self._emit(CallEnded(now, t.id, q.number, agent, talked), q)
        wrapup = q.config.wrapup
        q.handle_time = update_handle_time(q.handle_time, talked + wrapup)
        if q.number not in a.memberships:  # removed from the queue by a reload meanwhile
            wrapup = 0
        if wrapup > 0:
            until = now + wrapup
            if q.config.share_wrapup_time:
                a.wrapup_until = max(a.wrapup_until, until)
                self._schedule(Timer.WRAPUP_AGENT, agent, a.wrapup_until)
                queues = tuple(sorted(a.memberships))
            else:
                m = a.memberships[q.number]
                m.wrapup_until = until
                self._schedule(Timer.WRAPUP_MEMBER, (agent, q.number), until)
                queues = (q.number,)
            self._out.events.append(WrapupStarted(now, agent, queues, until))
        self._refresh_agent(a, now)

    def _release_agent(self, t: Task, now: float) -> None:
        if t.agent is not None:
            a = self._agents[t.agent]
            a.calls.discard(t.id)
            self._refresh_agent(a, now)

    # --- callbacks ---------------------------------------------------------------------------

    def _start_collecting(self, t: Task, now: float) -> None:
        self._cancel_offers(t, now)
        if t.state is TaskState.RINGING:
            t.state = TaskState.WAITING
        t.queue.set_ready(t, False)
        self._cancel(Timer.RETRY, t.id)
        t.state = TaskState.COLLECTING
        t.callback_prompts = 0
        self._ask_callback_number(t, now)

    def _ask_callback_number(self, t: Task, now: float) -> None:
        t.callback_prompts += 1
        self._schedule(Timer.CALLBACK_INPUT, t.id, now + CALLBACK_INPUT_TIMEOUT)
        self._out.commands.append(CollectCallbackNumber(t.id, t.caller))

    def _stop_collecting(self, t: Task, now: float) -> None:
        """The dialogue ended without a request: back in line with the same place, or to
        the failover destination when max wait passed meanwhile (§2.1)."""
        self._cancel(Timer.CALLBACK_INPUT, t.id)
        t.state = TaskState.WAITING
        if now >= t.arrived + t.queue.config.max_wait:
            self._failover(t, now, LeaveReason.MAX_WAIT)
            return
        self._make_ready(t)

    def _callback_failed(self, t: Task, now: float, reason: CallbackFailureReason) -> None:
        self._release_agent(t, now)
        self._emit(CallbackFailed(now, t.id, t.queue.number, t.callback_number, reason), t.queue)
        self._cancel_offers(t, now)
        self._leave(t, now, CallStatus.MISSED, LeaveReason.CALLBACK_FAILED)

    # --- reconfiguration (handle_reconfigure) ------------------------------------------------

    def _add_queue(self, qc: QueueConfig, now: float) -> Queue:
        q = Queue(qc, self._rng)
        self._queues[qc.number] = q
        static_set = {m.extension for m in qc.static_agents}
        for index, member in enumerate(qc.members):
            self._add_membership(q, member, index, member.extension in static_set)
        self._schedule(Timer.SLA_EVALUATION, q.number, now + qc.sla.evaluation_interval)
        return q

    def _add_membership(self, q: Queue, member: Member, index: int, static: bool) -> Membership:
        agent = self._agents.get(member.extension)
        if agent is None:
            agent = self._agents[member.extension] = Agent(member.extension,
                                                           self._agents_registered)
        m = Membership(q, agent, static, member.skill, index)
        agent.memberships[q.number] = m
        q.members[member.extension] = m
        if static or (q.config.dynamic_agent_default_status
                      is DynamicAgentDefaultStatus.LOGGED_IN):
            m.signed_in = True
            m.signin_seq = self._next_signin()
        return m

    def _remove_queue(self, q: Queue, now: float) -> None:
        for seq in list(q.order):
            t = q.by_seq.get(seq)
            if t is None:
                continue
            if t.state in _ON_LINE:
                self._failover(t, now, LeaveReason.QUEUE_REMOVED)
            else:  # a callback request keeping its place: nobody left to call back
                self._callback_failed(t, now, CallbackFailureReason.NO_IDLE_AGENT)
        for m in list(q.members.values()):
            self._remove_membership(m, now)
        self._cancel(Timer.SLA_EVALUATION, q.number)
        del self._queues[q.number]
        self._dirty.discard(q)
        self._emptied.discard(q)

    def _remove_membership(self, m: Membership, now: float) -> None:
        a, q = m.agent, m.queue
        self._cancel_agent_offers(a, now, q.number)
        if m.paused:
            m.paused, m.pause_reason = False, ""
            self._emit(AgentResumed(now, a.extension, q.number), q)
        if m.signed_in and not m.static:
            self._emit(AgentSignedOut(now, a.extension, q.number), q)
        m.signed_in = False
        if m.wrapup_until > now:
            self._out.events.append(WrapupEnded(now, a.extension, (q.number,)))
        m.wrapup_until = NEG_INF
        self._cancel(Timer.WRAPUP_MEMBER, (a.extension, q.number))
        self._refresh(m, now)  # leaves the idle index and the presence counts
        previous = self._changed.pop(m, m.state)
        if previous is not m.state:
            self._emit(MemberStateChanged(now, a.extension, q.number, m.state, previous), q)
        self._emit(MemberRemoved(now, a.extension, q.number), q)
        del q.members[a.extension]
        del a.memberships[q.number]
        if not a.memberships and not a.calls and not a.offers:
            self._cancel(Timer.WRAPUP_AGENT, a.extension)
            del self._agents[a.extension]

    def _change_queue(self, q: Queue, qc: QueueConfig, now: float) -> None:
        old = q.config
        wanted = {m.extension: (index, m) for index, m in enumerate(qc.members)}
        for ext in [e for e in q.members if e not in wanted]:
            self._remove_membership(q.members[ext], now)
        # out of the idle index while the fields its orderings are keyed by change
        for m in q.members.values():
            q.remove_idle(m)
        q.config = qc
        q.ring_in_use = qc.ring_in_use
        q.empty_rules = qc.leave_when_empty is not None or qc.join_empty_disallowed is not None
        q.stats.sla_time = qc.sla.time
        if qc.strategy is not old.strategy:
            q.levels.clear()
            q.idle_levels.clear()
        static_set = {m.extension for m in qc.static_agents}
        members: dict[AgentId, Membership] = {}
        for ext, (index, member) in wanted.items():
            static = ext in static_set
            kept = q.members.get(ext)
            if kept is None:
                m = self._add_membership(q, member, index, static)
                # a new member enters the wallboard counts as logged out (as at start-up)
                self._emit(MemberStateChanged(now, ext, q.number, LOGGED_OUT, LOGGED_OUT), q)
            else:
                m = kept
                m.skill = member.skill
                m.list_index = index
                if static and not m.signed_in:
                    m.signed_in = True
                    m.signin_seq = self._next_signin()
                    self._emit(AgentSignedIn(now, ext, q.number), q)
                m.static = static
            members[ext] = m
        q.members = members
        for m in members.values():
            self._refresh(m, now)
        if qc.max_wait != old.max_wait:
            for t in q.by_seq.values():
                if t.state in _ON_LINE:
                    self._schedule(Timer.MAX_WAIT, t.id, max(now, t.arrived + qc.max_wait))
        if qc.prompts != old.prompts:
            for t in q.by_seq.values():
                if t.state in _ON_LINE:
                    self._restart_announcements(t, old.prompts, qc.prompts, now)
        if qc.sla.evaluation_interval != old.sla.evaluation_interval:
            self._schedule(Timer.SLA_EVALUATION, q.number, now + qc.sla.evaluation_interval)
        if qc.leave_when_empty is not None and q.present_leave == 0:
            self._emptied.add(q)
        self._dirty.add(q)

    def _restart_announcements(self, t: Task, old: Prompts, new: Prompts, now: float) -> None:
        if (old.queue_announcement, old.queue_announcement_frequency) != (
                new.queue_announcement, new.queue_announcement_frequency):
            self._cancel(Timer.QUEUE_ANNOUNCEMENT, t.id)
            if new.queue_announcement and new.queue_announcement_frequency > 0:
                self._schedule(Timer.QUEUE_ANNOUNCEMENT, t.id,
                               now + new.queue_announcement_frequency)
        if old.position_announcement_frequency != new.position_announcement_frequency or (
                (old.announce_position or old.announce_estimated_wait_time
                 or old.play_thank_you) != (new.announce_position
                                            or new.announce_estimated_wait_time
                                            or new.play_thank_you)):
            self._cancel(Timer.POSITION_ANNOUNCEMENT, t.id)
            if ((new.announce_position or new.announce_estimated_wait_time
                 or new.play_thank_you) and new.position_announcement_frequency > 0):
                self._schedule(Timer.POSITION_ANNOUNCEMENT, t.id,
                               now + new.position_announcement_frequency)
