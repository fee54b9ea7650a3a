"""Least Recent (最久未被叫响铃, §2.2): the idle agent whose last call ended longest ago
rings first. "Last call" is the agent's last queue call in any queue (a person who just
finished a call in another queue has not rested); never-called agents come first, ties go by
sign-in order."""

from __future__ import annotations

from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key


class LeastRecent(AgentOrdering):
    __slots__ = ()

    def key(self, member: Membership) -> Key:
        return (member.agent.last_call_end, member.signin_seq)
