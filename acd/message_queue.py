"""Message queues: chat sessions routed to a queue's agents (omnichannel.md §5.1-§5.3).

A session arriving at a message queue is shown to all agents of the queue. What happens next
depends on the queue's chat assignment mode:

* manual take-over: every agent can view and reply until one clicks Take over; then only the
  taker sees the session;
* auto take-over: the first agent to reply takes it over (Take over also works);
* no take-over: every agent can view and reply throughout; Take over is rejected.

The session leaves the queue (TaskLeft) when it is taken over (Answered, by the taker) or
closed while still in the queue: Answered (by the first agent who replied) if an agent
replied, else Abandoned. Decisions for omnichannel.md §9.10/§9.11: in auto mode the first
reply wins and later replies by others are rejected; in no-take-over mode every reply is
accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from acd.commands import HideSession, ShowSession
from acd.config import MessageQueueConfig, TakeOverMode
from acd.events import (
    CallStatus,
    Event,
    InputRejected,
    LeaveReason,
    SessionTakenOver,
    TaskJoined,
    TaskLeft,
)
from acd.ids import AgentId, QueueId, TaskId
from acd.stats import QueueStatistics

if TYPE_CHECKING:  # avoids an import cycle
    from acd.engine import Output


@dataclass(slots=True)
class Session:
    id: TaskId
    queue: MessageQueueConfig
    arrived: float
    owner: AgentId | None = None
    first_reply: AgentId | None = None
    in_queue: bool = True
    repliers: set[AgentId] = field(default_factory=set)


Emit = Callable[[Event, "QueueStatistics | None"], None]


class MessageQueues:
    def __init__(self, configs: tuple[MessageQueueConfig, ...], emit: Emit) -> None:
        self.queues: dict[QueueId, MessageQueueConfig] = {c.name: c for c in configs}
        self.stats: dict[QueueId, QueueStatistics] = {
            c.name: QueueStatistics(c.name, 60.0) for c in configs}
        self._sessions: dict[TaskId, Session] = {}
        self._emit_raw = emit
        self._waiting: dict[QueueId, list[TaskId]] = {c.name: [] for c in configs}

    def reconfigure(self, configs: tuple[MessageQueueConfig, ...]) -> None:
        """A changed configuration (`softswitch reload`). Open sessions of a changed queue
        follow its new agents and assignment mode from their next reply or take-over; a
        removed queue takes no new sessions, and its open ones stay until closed (with
        their last configuration). Statistics are kept."""
        self.queues = {c.name: c for c in configs}
        for c in configs:
            self.stats.setdefault(c.name, QueueStatistics(c.name, 60.0))
            self._waiting.setdefault(c.name, [])
        for s in self._sessions.values():
            new = self.queues.get(s.queue.name)
            if new is not None:
                s.queue = new

    def has(self, task: TaskId) -> bool:
        return task in self._sessions

    def owner(self, task: TaskId) -> AgentId | None:
        s = self._sessions.get(task)
        return None if s is None else s.owner

    def visible_to(self, task: TaskId) -> tuple[AgentId, ...]:
        """Agents who see the session now (§6.5)."""
        s = self._sessions.get(task)
        if s is None:
            return ()
        return (s.owner,) if s.owner is not None else s.queue.agents

    def _emit(self, event: Event, queue: QueueId) -> None:
        self._emit_raw(event, self.stats.get(queue))

    def arrived(self, task: TaskId, queue: QueueId, caller: str, now: float,
                out: Output) -> None:
        config = self.queues[queue]
        self._sessions[task] = Session(task, config, now)
        waiting = self._waiting[queue]
        waiting.append(task)
        self._emit(TaskJoined(now, task, queue, caller, len(waiting)), queue)
        out.commands.append(ShowSession(task, queue, config.agents))

    def restore(self, task: TaskId, queue: QueueId, caller: str, joined: float,
                out: Output, repliers: tuple[AgentId, ...] = ()) -> None:
        """A session that was waiting in ``queue`` before a restart, waiting since
        ``joined`` (engine time): shown to the queue's agents again, not a new join (no
        TaskJoined; the statistics count it waiting, the report row of its first join goes
        on). ``repliers``: the agents who had replied in it, first replier first (the
        sessions' stored messages): its close still counts as Answered by the first."""
        config = self.queues[queue]
        self._sessions[task] = Session(task, config, joined,
                                       first_reply=repliers[0] if repliers else None,
                                       repliers=set(repliers))
        waiting = self._waiting[queue]
        waiting.append(task)
        stats = self.stats.get(queue)
        if stats is not None:
            stats.apply(TaskJoined(joined, task, queue, caller, len(waiting)))
        out.commands.append(ShowSession(task, queue, config.agents))

    def reply(self, task: TaskId, agent: AgentId, now: float, out: Output) -> None:
        s = self._session(task, agent, now, out, "message_reply")
        if s is None:
            return
        if s.owner is not None and s.owner != agent:
            self._reject(out, now, "message_reply", "another agent owns this session", task,
                         agent)
            return
        if s.first_reply is None:
            s.first_reply = agent
        s.repliers.add(agent)
        if s.owner is None and s.queue.chat_assignment_mode is TakeOverMode.AUTO:
            self._take(s, agent, now, out)

    def take_over(self, task: TaskId, agent: AgentId, now: float, out: Output) -> None:
        s = self._session(task, agent, now, out, "take_over")
        if s is None:
            return
        if s.queue.chat_assignment_mode is TakeOverMode.NONE:
            self._reject(out, now, "take_over", "this message queue does not allow take-over",
                         task, agent)
        elif s.owner is not None:
            self._reject(out, now, "take_over", "the session is already taken over", task,
                         agent)
        else:
            self._take(s, agent, now, out)

    def closed(self, task: TaskId, now: float, out: Output) -> None:
        s = self._sessions.pop(task)
        if s.in_queue:
            status = CallStatus.ANSWERED if s.first_reply else CallStatus.ABANDONED
            reason = LeaveReason.ANSWERED if s.first_reply else LeaveReason.ABANDONED
            self._leave(s, now, status, reason, s.first_reply)

    def _take(self, s: Session, agent: AgentId, now: float, out: Output) -> None:
        s.owner = agent
        name = s.queue.name
        self._emit(SessionTakenOver(now, s.id, name, agent), name)
        others = tuple(a for a in s.queue.agents if a != agent)
        if others:
            out.commands.append(HideSession(s.id, name, others))
        if s.in_queue:
            self._leave(s, now, CallStatus.ANSWERED, LeaveReason.ANSWERED, agent)

    def _leave(self, s: Session, now: float, status: CallStatus, reason: LeaveReason,
               agent: AgentId | None) -> None:
        s.in_queue = False
        self._waiting[s.queue.name].remove(s.id)
        self._emit(TaskLeft(now, s.id, s.queue.name, status, reason, now - s.arrived, agent),
                   s.queue.name)

    def _session(self, task: TaskId, agent: AgentId, now: float, out: Output,
                 what: str) -> Session | None:
        s = self._sessions.get(task)
        if s is None:
            self._reject(out, now, what, "unknown or closed session", task, agent)
            return None
        if agent not in s.queue.agents:
            self._reject(out, now, what, "not an agent of this message queue", task, agent)
            return None
        return s

    @staticmethod
    def _reject(out: Output, now: float, what: str, reason: str, task: TaskId,
                agent: AgentId) -> None:
        out.events.append(InputRejected(now, what, reason, task, agent))
