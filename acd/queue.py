"""A call queue's runtime indexes (DESIGN.md principle 3: indexes, not scans).

* ``order``: sequence numbers of every task holding a place (arrival order; callback
  requests keep theirs), for positions;
* ``ready``: the subset that may be offered now (not ringing, not in its retry interval, not
  entering a callback number), head first;
* ``levels``: per skill level an `AgentOrdering` of the agents that may ring now (one level,
  1, when skill-based routing is off), and ``idle_levels``, the non-empty levels, best first.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort

from acd.config import QueueConfig, RingStrategy
from acd.ids import AgentId
from acd.model import Membership, Task
from acd.stats import QueueStatistics
from acd.strategies import AgentOrdering, make_ordering


class Queue:
    __slots__ = ("config", "number", "members", "levels", "idle_levels", "idle", "order",
                 "ready", "by_seq", "serving", "present_leave", "present_join", "handle_time",
                 "stats", "window_total", "window_within", "_rng", "ring_in_use", "empty_rules",
                 "pending")

    def __init__(self, config: QueueConfig, rng: random.Random) -> None:
        self.config = config
        self.number = config.number
        self.members: dict[AgentId, Membership] = {}
        self.levels: dict[int, AgentOrdering] = {}
        self.idle_levels: list[int] = []
        self.idle = 0
        self.order: list[int] = []
        self.ready: list[int] = []
        self.by_seq: dict[int, Task] = {}
        self.serving = 0  # signed in, not paused, registered (EWT)
        self.present_leave = 0  # agents that are not "no agent" for leave-when-empty
        self.present_join = 0  # ... for join-empty-disallowed
        self.handle_time = config.estimated_handle_time
        self.stats = QueueStatistics(config.number, config.sla.time)
        self.window_total = 0
        self.window_within = 0
        self._rng = rng
        self.pending: list[Membership] = []  # became idle, not yet in their ordering
        self.ring_in_use = config.ring_in_use
        self.empty_rules = (config.leave_when_empty is not None
                            or config.join_empty_disallowed is not None)

    @property
    def auto_pause_applies(self) -> bool:
        """§2.4: auto-pause has no effect under Ring All."""
        return (self.config.auto_pause_missed_calls > 0
                and self.config.strategy is not RingStrategy.RING_ALL)

    # --- idle agents ---------------------------------------------------------------------

    def add_idle(self, member: Membership) -> None:
        """The member may ring now. It reaches its ordering lazily (`_flush_pending`, before
        the next choice), because an agent that frees up is usually offered a waiting caller
        at once and leaves the index again within the same input."""
        if member.available:
            if not member.pending:  # ring in use: its key may have changed
                self.levels[member.skill].add(member)
            return
        member.available = True
        self.idle += 1
        if not member.pending:
            member.pending = True
            self.pending.append(member)

    def remove_idle(self, member: Membership) -> None:
        if not member.available:
            return
        member.available = False
        self.idle -= 1
        if member.pending:
            return  # never reached the ordering; the flush skips it
        ordering = self.levels[member.skill]
        ordering.remove(member)
        if not ordering.entries:
            del self.idle_levels[bisect_left(self.idle_levels, member.skill)]

    def _flush_pending(self) -> None:
        for member in self.pending:
            member.pending = False
            if not member.available:
                continue
            level = member.skill
            ordering = self.levels.get(level)
            if ordering is None:
                ordering = self.levels[level] = make_ordering(self.config.strategy, self._rng)
            if not ordering.entries:
                insort(self.idle_levels, level)
            ordering.add(member)
        self.pending.clear()

    def choose(self, task: Task) -> list[Membership]:
        """Agents to ring for ``task``: the best skill level that still has an agent the
        task has not rung in this round, by the level's strategy (§3); when every idle agent
        was tried, a new round starts from the best level."""
        if self.pending:
            self._flush_pending()
        for level in self.idle_levels:
            ordering = self.levels[level]
            picks = ordering.choose(task.tried)
            if picks:
                return picks
        if task.tried:
            task.tried = ()
            for level in self.idle_levels:
                picks = self.levels[level].choose(())
                if picks:
                    return picks
        return []

    # --- tasks ---------------------------------------------------------------------------

    def add_task(self, task: Task) -> None:
        self.order.append(task.seq)  # seqs grow: appending keeps the order sorted
        self.by_seq[task.seq] = task

    def remove_task(self, task: Task) -> None:
        self.set_ready(task, False)
        i = bisect_left(self.order, task.seq)
        if i < len(self.order) and self.order[i] == task.seq:
            del self.order[i]
        self.by_seq.pop(task.seq, None)

    def set_ready(self, task: Task, ready: bool) -> None:
        if ready == task.ready:
            return
        task.ready = ready
        if ready:
            insort(self.ready, task.seq)
        else:
            del self.ready[bisect_left(self.ready, task.seq)]

    def position(self, task: Task) -> int:
        """1 = next in line."""
        return bisect_left(self.order, task.seq) + 1
