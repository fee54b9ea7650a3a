"""Connecting an answered caller to an extension or an external number (a destination of
§11.1 reached after the switch answered: a prompt's next step, an IVR key, a queue's
failover): ring it with ringback, bridge on answer, hang up when either side does.

Decisions: nobody answering within the ring timeout, busy, or unreachable: the caller
hears "goodbye" and the switch hangs up (the manual names no further destination here).
"""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.apps.flow import Action, Answer, Bridge, CallInfo, FlowBase, Hangup
from softswitch.apps.prompt import PromptFlow


@dataclass
class ConnectFlow(FlowBase):
    number: str = ""
    timeout: float = 30.0
    _bridge: int = 0
    _call: CallInfo | None = None
    _goodbye: PromptFlow | None = None

    def start(self, call: CallInfo, now: float) -> list[Action]:
        self._bridge = self.next_id()
        self._call = call
        return [Answer(), Bridge(self._bridge, [self.number], self.timeout)]

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        if bridge_id != self._bridge or self._call is None:
            return []
        if status == 200:  # they talked; the far side hung up
            return [Hangup()]
        self._goodbye = PromptFlow(prompt="goodbye")
        return self._goodbye.start(self._call, now)

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        if self._goodbye is None:
            return []
        return self._goodbye.handle_playback_done(play_id, interrupted, now)

    def handle_timer(self, now: float) -> list[Action]:
        return self._goodbye.handle_timer(now) if self._goodbye is not None else []

    def next_deadline(self) -> float | None:
        return self._goodbye.next_deadline() if self._goodbye is not None else None
