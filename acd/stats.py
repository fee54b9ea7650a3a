"""Real-time queue statistics for wallboards (queue-admin.md §1.4 Dashboard, §8.2 metrics).

`QueueStatistics` is maintained incrementally: the engine applies every event it emits, in
order, and nothing else. `recount` computes the same figures from a list of events in one
batch; a property test (tests/acd/test_stats_property.py) checks they agree.

Definitions (§8.2): total = calls that entered the queue and left it (answered + abandoned +
missed); average wait (answered) = sum of answered calls' waits / answered; average talk =
total talk / answered; average handle = (answered waits + talk) / answered; SLA per
`acd.sla`. Callers still waiting count in ``waiting`` only; callback requests keep a place and
count in ``waiting`` and ``callbacks``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from acd.events import (
    AgentMissedCall,
    CallbackRequested,
    CallEnded,
    CallStatus,
    Event,
    MemberRemoved,
    MemberState,
    MemberStateChanged,
    TaskJoined,
    TaskLeft,
)
from acd.ids import AgentId, QueueId, TaskId
from acd.sla import meets_sla, service_level


@dataclass(frozen=True)
class QueueSnapshot:
    queue: QueueId
    waiting: int
    callbacks: int
    longest_wait: float
    agents: Mapping[MemberState, int] = field(default_factory=dict)
    total: int = 0
    answered: int = 0
    abandoned: int = 0
    missed: int = 0
    agent_missed: int = 0
    avg_wait_answered: float = 0.0
    avg_talk: float = 0.0
    avg_handle: float = 0.0
    sla: float | None = None


class QueueStatistics:
    """Incremental wallboard figures of one queue."""

    __slots__ = ("queue", "sla_time", "_waiting", "_callbacks", "_agents", "_counts",
                 "answered", "abandoned", "missed", "agent_missed", "_wait_sum", "_talk_sum",
                 "_within")

    def __init__(self, queue: QueueId, sla_time: float) -> None:
        self.queue = queue
        self.sla_time = sla_time
        self._waiting: dict[TaskId, float] = {}  # insertion order = arrival order
        self._callbacks: set[TaskId] = set()
        self._agents: set[AgentId] = set()
        self._counts: dict[MemberState, int] = {s: 0 for s in MemberState}
        self.answered = self.abandoned = self.missed = self.agent_missed = 0
        self._wait_sum = 0.0
        self._talk_sum = 0.0
        self._within = 0

    def member_state_changed(self, previous: MemberState, state: MemberState) -> None:
        """Fast path of `apply` for a MemberStateChanged whose states differ."""
        counts = self._counts
        counts[previous] -= 1
        counts[state] += 1

    def apply(self, event: Event) -> None:
        if type(event) is MemberStateChanged:
            counts = self._counts
            if event.previous is not event.state:
                counts[event.previous] -= 1
                counts[event.state] += 1
            elif event.agent not in self._agents:  # an agent's first appearance
                self._agents.add(event.agent)
                counts[event.state] += 1
        elif isinstance(event, TaskJoined):
            self._waiting[event.task] = event.at
        elif isinstance(event, MemberRemoved):  # always logged out by then
            if event.agent in self._agents:
                self._agents.discard(event.agent)
                self._counts[MemberState.LOGGED_OUT] -= 1
        elif isinstance(event, TaskLeft):
            self._waiting.pop(event.task, None)
            self._callbacks.discard(event.task)
            if event.status is CallStatus.ANSWERED:
                self.answered += 1
                self._wait_sum += event.waited
                if meets_sla(event.waited, self.sla_time):
                    self._within += 1
            elif event.status is CallStatus.ABANDONED:
                self.abandoned += 1
            else:
                self.missed += 1
        elif isinstance(event, CallEnded):
            self._talk_sum += event.talked
        elif isinstance(event, CallbackRequested):
            self._callbacks.add(event.task)
        elif isinstance(event, AgentMissedCall):
            self.agent_missed += 1

    def snapshot(self, now: float) -> QueueSnapshot:
        oldest = next(iter(self._waiting.values()), None)
        total = self.answered + self.abandoned + self.missed
        n = self.answered
        return QueueSnapshot(
            queue=self.queue,
            waiting=len(self._waiting),
            callbacks=len(self._callbacks),
            longest_wait=0.0 if oldest is None else now - oldest,
            agents=dict(self._counts),
            total=total,
            answered=n,
            abandoned=self.abandoned,
            missed=self.missed,
            agent_missed=self.agent_missed,
            avg_wait_answered=self._wait_sum / n if n else 0.0,
            avg_talk=self._talk_sum / n if n else 0.0,
            avg_handle=(self._wait_sum + self._talk_sum) / n if n else 0.0,
            sla=service_level(self._within, total),
        )


def recount(events: Iterable[Event], queue: QueueId, sla_time: float,
            now: float) -> QueueSnapshot:
    """The same figures as `QueueStatistics`, computed in one pass over the whole stream."""
    mine = [e for e in events if getattr(e, "queue", None) == queue]
    joined = {e.task: e.at for e in mine if isinstance(e, TaskJoined)}
    left = [e for e in mine if isinstance(e, TaskLeft)]
    gone = {e.task for e in left}
    waiting = [at for task, at in joined.items() if task not in gone]
    callbacks = {e.task for e in mine if isinstance(e, CallbackRequested)} - gone
    last_state: dict[AgentId, MemberState] = {}
    for e in mine:
        if isinstance(e, MemberStateChanged):
            last_state[e.agent] = e.state
        elif isinstance(e, MemberRemoved):
            last_state.pop(e.agent, None)
    agents = {s: sum(1 for v in last_state.values() if v is s) for s in MemberState}
    answered = [e for e in left if e.status is CallStatus.ANSWERED]
    n = len(answered)
    wait_sum = 0.0
    for e in answered:
        wait_sum += e.waited
    talk_sum = 0.0
    for e in mine:
        if isinstance(e, CallEnded):
            talk_sum += e.talked
    within = sum(1 for e in answered if meets_sla(e.waited, sla_time))
    return QueueSnapshot(
        queue=queue,
        waiting=len(waiting),
        callbacks=len(callbacks),
        longest_wait=now - min(waiting) if waiting else 0.0,
        agents=agents,
        total=len(left),
        answered=n,
        abandoned=sum(1 for e in left if e.status is CallStatus.ABANDONED),
        missed=sum(1 for e in left if e.status is CallStatus.MISSED),
        agent_missed=sum(1 for e in mine if isinstance(e, AgentMissedCall)),
        avg_wait_answered=wait_sum / n if n else 0.0,
        avg_talk=talk_sum / n if n else 0.0,
        avg_handle=(wait_sum + talk_sum) / n if n else 0.0,
        sla=service_level(within, len(left)),
    )
