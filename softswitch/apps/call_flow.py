"""Call flows: route by business hours and holidays, or by a manual day/night toggle
(queue-admin.md §11.1 "Call Flow"; Yeastar's "business hours / holidays / manual switch" and
FreePBX's Call Flow Control with its BLF key are the reference).

A call flow is routing, not an application that answers: `CallFlowRouter.destination`
gives the destination a call to the flow goes to now; the destination router follows it.
Its toggle is a feature code (`toggle_code`, e.g. `*280`): dialling it flips the flow between
"forced night" and "following the schedule" (`ToggleFlow`), and a BLF key subscribed to
the same code lights while the night mode is forced (busy = forced, idle = schedule), as
FreePBX's Call Flow Control keys do: the resource a phone SUBSCRIBEs to (dialog package) is
the toggle code itself (`sip:*280@switch`), so one key value both shows the mode and dials
the toggle (softswitch.presence.resources.CallFlowToggleKey, wired by softswitch.apps.desk;
a NOTIFY on every toggle and at each subscription, the forced mode restored from the store
at start-up).

Decisions:
- The toggle has two states, "schedule" and "forced": forced means the out-of-hours
  destination whatever the time (the usual "closed for a meeting" use). The state survives
  restarts (the store keeps it) and reloads.
- On a holiday (and not `ignore_holiday_destination`) the holiday destination wins over the
  schedule; a forced night still wins over a holiday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from acd.config import BusinessHours, Destination, Holiday, TimeBasedRouting
from acd.timerouting import decide
from softswitch.apps.events import CallFlowToggled
from softswitch.apps.flow import Action, Answer, CallInfo, FlowBase, Hangup, Play, Publish


@dataclass(frozen=True, slots=True)
class CallFlowConfig:
    """One entry of the config's `call_flows` list."""

    number: str
    name: str
    in_hours: Destination
    rule: TimeBasedRouting  # time zone, outside-hours and holiday destinations
    toggle_code: str = ""  # feature code that flips the manual night mode ("" = none)


def call_flow_destination(config: CallFlowConfig, forced: bool, hours: BusinessHours,
                          holidays: tuple[Holiday, ...], when: dt.datetime) -> Destination:
    """Where a call to the flow goes at wall-clock time `when` (aware datetime)."""
    if forced:
        return config.rule.outside_business_hours
    decision = decide(config.rule, hours, holidays, when)
    return decision.destination or config.in_hours


class ToggleFlow(FlowBase):
    """Dialling the toggle code: answer, flip, say the new mode, hang up. `forced` is the
    state before the call."""

    def __init__(self, config: CallFlowConfig, forced: bool) -> None:
        super().__init__()
        self.config = config
        self.forced = forced
        self._playing: int | None = None

    def start(self, call: CallInfo, now: float) -> list[Action]:
        now_forced = not self.forced
        self._playing = self.next_id()
        return [Answer(),
                Publish(CallFlowToggled(now, self.config.number,
                                        "night" if now_forced else "", call.caller)),
                Play(self._playing, ["call-flow-night-mode" if now_forced
                                     else "call-flow-schedule-mode"])]

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        return [Hangup()] if play_id == self._playing else []
