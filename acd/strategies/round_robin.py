"""Round Robin with memory (循环响铃, §2.2).

In queue-agent order, the next idle agent after the one rung last time (remembered per queue,
and per skill level under skill-based routing) rings first, wrapping around. Static agents go
in list order, dynamic agents in sign-in order. Mixed: the next idle *static* agent after the
last rung static agent; only if no static agent is idle, the next idle dynamic agent after
the last rung dynamic agent.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection

from acd.ids import AgentId
from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key

STATIC, DYNAMIC = 0, 1


class RoundRobin(AgentOrdering):
    __slots__ = ("_last",)

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[int, int] = {}  # group -> position of the last rung agent

    def key(self, member: Membership) -> Key:
        if member.static:
            return (STATIC, member.list_index)
        return (DYNAMIC, member.signin_seq)

    def rung(self, member: Membership) -> None:
        group, pos = self.key(member)
        self._last[group] = pos

    def choose(self, tried: Collection[AgentId]) -> list[Membership]:
        entries = self.entries
        for group in (STATIC, DYNAMIC):
            lo = bisect_right(entries, (group,))
            hi = bisect_right(entries, (group, float("inf")))
            if lo == hi:
                continue
            last = self._last.get(group)
            start = lo if last is None else bisect_right(entries, (group, last, "\uffff"), lo, hi)
            for i in (*range(start, hi), *range(lo, start)):
                entry = entries[i]
                if entry[-2] not in tried:
                    return [entry[-1]]
        return []
