"""Ring strategies (queue-admin.md §2.2): one module each, one ordering class each."""

from __future__ import annotations

import random

from acd.config import RingStrategy
from acd.strategies.base import AgentOrdering
from acd.strategies.fewest_calls import FewestCalls
from acd.strategies.least_recent import LeastRecent
from acd.strategies.linear import Linear
from acd.strategies.random_order import RandomOrder
from acd.strategies.ring_all import RingAll
from acd.strategies.round_robin import RoundRobin

__all__ = ["AgentOrdering", "FewestCalls", "LeastRecent", "Linear", "RandomOrder", "RingAll",
           "RoundRobin", "make_ordering"]


def make_ordering(strategy: RingStrategy, rng: random.Random) -> AgentOrdering:
    if strategy is RingStrategy.RING_ALL:
        return RingAll()
    if strategy is RingStrategy.LEAST_RECENT:
        return LeastRecent()
    if strategy is RingStrategy.FEWEST_CALLS:
        return FewestCalls()
    if strategy is RingStrategy.RANDOM:
        return RandomOrder(rng)
    if strategy is RingStrategy.ROUND_ROBIN:
        return RoundRobin()
    return Linear()
