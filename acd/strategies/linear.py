"""Linear (线性响铃, §2.2): the first idle agent in a fixed order rings first, with no memory
across callers (a caller's retries go down the list: the engine skips agents the caller
already rang in this round).

Order: static agents only -> their list order; dynamic only -> sign-in order; mixed -> the
sign-in order of all agents. Decision (ambiguity §14.3): static agents count as signed in
when the queue is loaded, in list order, so they precede every dynamic agent who signs in
later; dynamic agents configured as logged in at start follow them in list order.
"""

from __future__ import annotations

from acd.model import Membership
from acd.strategies.base import AgentOrdering, Key


class Linear(AgentOrdering):
    __slots__ = ()

    def key(self, member: Membership) -> Key:
        return (member.signin_seq,)
