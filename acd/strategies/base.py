"""The idle-agent ordering every ring strategy shares (DESIGN.md principle 3).

Each queue (and, under skill-based routing, each skill level of a queue) keeps the agents
that may ring now in a list sorted by the strategy's key. An agent enters and leaves it on the
events that change its availability, so choosing whom to ring never scans the queue's members.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, insort
from collections.abc import Collection, Iterator
from typing import Any

from acd.ids import AgentId
from acd.model import Membership

Key = tuple[Any, ...]


class AgentOrdering(ABC):
    """Idle agents of one queue (or one skill level) in the order the strategy rings them."""

    __slots__ = ("_entries", "_keys", "_members")

    def __init__(self) -> None:
        self._entries: list[Key] = []  # (*key, agent) sorted
        self._keys: dict[AgentId, Key] = {}
        self._members: dict[AgentId, Membership] = {}

    @abstractmethod
    def key(self, member: Membership) -> Key:
        """The sort key of an idle agent; smaller rings first."""

    def choose(self, tried: Collection[AgentId]) -> list[Membership]:
        """Agents to ring for a task that already rang ``tried`` in this round; [] if every
        idle agent here was tried. Default: the first untried agent in key order."""
        for entry in self._entries:
            agent = entry[-1]
            if agent not in tried:
                return [self._members[agent]]
        return []

    def rung(self, member: Membership) -> None:
        """Told which agent was chosen (Round Robin remembers it)."""
        return None  # most strategies have no memory

    def add(self, member: Membership) -> None:
        """Insert, or move if the agent's key changed."""
        agent = member.agent.extension
        key = (*self.key(member), agent)
        old = self._keys.get(agent)
        if old == key:
            return
        if old is not None:
            del self._entries[bisect_left(self._entries, old)]
        self._keys[agent] = key
        self._members[agent] = member
        insort(self._entries, key)

    def remove(self, member: Membership) -> None:
        agent = member.agent.extension
        old = self._keys.pop(agent, None)
        if old is not None:
            del self._entries[bisect_left(self._entries, old)]
            del self._members[agent]

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, agent: object) -> bool:
        return agent in self._keys

    def __iter__(self) -> Iterator[Membership]:
        """Idle agents in ring order."""
        return (self._members[e[-1]] for e in self._entries)
