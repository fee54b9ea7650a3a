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

    __slots__ = ("entries", "_keys")

    def __init__(self) -> None:
        # (*key, agent, membership) sorted; agents are unique, so comparisons never reach the
        # membership object
        self.entries: list[Key] = []
        self._keys: dict[AgentId, Key] = {}

    @abstractmethod
    def key(self, member: Membership) -> Key:
        """The sort key of an idle agent; smaller rings first."""

    def choose(self, tried: Collection[AgentId]) -> list[Membership]:
        """Agents to ring for a task that already rang ``tried`` in this round; [] if every
        idle agent here was tried. Default: the first untried agent in key order."""
        for entry in self.entries:
            if entry[-2] not in tried:
                return [entry[-1]]
        return []

    def rung(self, member: Membership) -> None:
        """Told which agent was chosen (Round Robin remembers it)."""
        return None  # most strategies have no memory

    def add(self, member: Membership) -> None:
        """Insert, or move if the agent's key changed."""
        agent = member.agent.extension
        entry = (*self.key(member), agent, member)
        keys = self._keys
        old = keys.get(agent)
        if old is not None:
            if old == entry:
                return
            del self.entries[bisect_left(self.entries, old)]
        keys[agent] = entry
        insort(self.entries, entry)

    def remove(self, member: Membership) -> None:
        old = self._keys.pop(member.agent.extension, None)
        if old is not None:
            del self.entries[bisect_left(self.entries, old)]

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, agent: object) -> bool:
        return agent in self._keys

    def __iter__(self) -> Iterator[Membership]:
        """Idle agents in ring order."""
        return (e[-1] for e in self.entries)
