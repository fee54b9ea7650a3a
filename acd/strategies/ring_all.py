"""Ring All (同时响铃, queue-admin.md §2.2): every idle agent rings at once.

A new attempt rings all idle agents again, even those that missed the previous round; under
skill-based routing the round moves to the next level only once every idle agent of the
level has rung without answering (so the level is "unavailable", §3).
"""

from __future__ import annotations

from collections.abc import Collection

from acd.ids import AgentId
from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key


class RingAll(AgentOrdering):
    __slots__ = ()

    def key(self, member: Membership) -> Key:
        return (member.signin_seq,)

    def choose(self, tried: Collection[AgentId]) -> list[Membership]:
        if all(entry[-2] in tried for entry in self.entries):
            return []
        return list(self)
