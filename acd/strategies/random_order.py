"""Random (随机响铃, §2.2): idle agents ring in random order.

Each time an agent becomes idle it draws a fresh random key; the ordering is therefore a
uniformly random permutation of the idle agents, and retries of one caller walk it without
repeating an agent until all were tried."""

from __future__ import annotations

import random

from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key


class RandomOrder(AgentOrdering):
    __slots__ = ("_rng",)

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self._rng = rng

    def key(self, member: Membership) -> Key:
        return (self._rng.random(),)

    def add(self, member: Membership) -> None:
        if member.agent.extension not in self:  # keep the draw while the agent stays idle
            super().add(member)
