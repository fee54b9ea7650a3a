"""Fewest Calls (最少接通响铃, §2.2): the idle agent who has answered the fewest calls of this
queue (since the engine started) rings first; ties go to the least recent, then sign-in
order."""

from __future__ import annotations

from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key


class FewestCalls(AgentOrdering):
    __slots__ = ()

    def key(self, member: Membership) -> Key:
        return (member.answered, member.agent.last_call_end, member.signin_seq)
