"""Ring groups: ring all or sequential, per-member timeout, group timeout, failover
(queue-admin.md §11.1 "Ring Group"; the manual does not describe the group itself, so
FreePBX's ring groups (`ringall`, `hunt`) are the reference).

The switch answers the caller and plays the ring tone itself while members ring (as
Asterisk's Dial with the `r` option does; the call shell bridges answered calls only), and
connects the caller to whichever member picks up. Cost of that decision: a trunk caller's
call is answered (and billed by the provider) from the moment the group starts ringing.

- `ring_all`: every member at once through the one fork, for `group_timeout` seconds.
- `sequential`: one member at a time, each for `member_timeout` seconds, in list order; the
  group gives up when the list is exhausted or `group_timeout` has passed (the last attempt
  is cut to what is left of it).
Members are extension numbers or external numbers (routed by the outbound routes, like any
dialled number). When nobody answered, the caller goes to `failover`.

Decisions:
- A member's busy (486) or unavailable (480/404) answer moves on to the next member at
  once in sequential mode; in ring-all mode the fork's one final answer decides.
- A sequential attempt left with less than one second of the group timeout is not started.
- A member who answered and later hung up ends the call (the bridge is over; the group is
  not rung again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from acd.config import Destination, DestinationType
from softswitch.apps.flow import Action, Answer, Bridge, CallInfo, FlowBase, Hangup, RouteTo


class RingStrategy(enum.Enum):
    RING_ALL = "ring_all"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True, slots=True)
class RingGroupConfig:
    """One entry of the config's `ring_groups` list."""

    number: str
    name: str
    members: tuple[str, ...]
    strategy: RingStrategy = RingStrategy.RING_ALL
    member_timeout: float = 20.0
    group_timeout: float = 60.0
    failover: Destination = Destination(DestinationType.HANGUP)


MIN_ATTEMPT = 1.0


class RingGroupFlow(FlowBase):
    """One caller of a ring group."""

    def __init__(self, config: RingGroupConfig) -> None:
        super().__init__()
        self.config = config
        self.started = 0.0
        self.next_member = 0
        self._bridge: int | None = None
        self.answered = False
        self.over = False
        self.caller_id: str | None = None

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self.started = now
        if not self.config.members:
            return self._failover()
        if self.config.strategy is RingStrategy.RING_ALL:
            self._bridge = self.next_id()
            return [Answer(), Bridge(self._bridge, self.config.members,
                                     self.config.group_timeout)]
        return [Answer(), *self._ring_next(now)]

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        if bridge_id != self._bridge or self.over:
            return []
        self._bridge = None
        if 200 <= status < 300:  # answered, and the member has since hung up
            self.over = True
            return [Hangup()]
        if self.config.strategy is RingStrategy.SEQUENTIAL:
            return self._ring_next(now)
        return self._failover()

    def handle_hangup(self, now: float) -> list[Action]:
        self.over = True
        return []

    def _ring_next(self, now: float) -> list[Action]:
        left = self.config.group_timeout - (now - self.started)
        if self.next_member >= len(self.config.members) or left < MIN_ATTEMPT:
            return self._failover()
        member = self.config.members[self.next_member]
        self.next_member += 1
        self._bridge = self.next_id()
        return [Bridge(self._bridge, [member], min(self.config.member_timeout, left))]

    def _failover(self) -> list[Action]:
        self.over = True
        return [RouteTo(self.config.failover)]

