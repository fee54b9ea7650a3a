"""The echo test (`*43`, softswitch.dialplan): the switch answers and sends the caller's own
audio and RFC 4733 events straight back until the caller hangs up."""

from __future__ import annotations

from dataclasses import dataclass

from softswitch.apps.flow import Action, Answer, CallInfo, Echo, FlowBase


@dataclass
class EchoFlow(FlowBase):
    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer(), Echo(True)]
