"""The destination types served by call applications: IVR, ring group, call flow,
extension voicemail and group voicemail (queue-admin.md §11.1). Each registers with the
destination router (softswitch.destinations) at import; `softswitch.apps.catalog` imports
this module.

Their targets are numbers of the config's `ivrs`, `ring_groups`, `call_flows` and
`group_voicemails` sections, or an extension number for `voicemail` (every extension has a
box); `softswitch check` refuses targets that do not exist, and the destinations inside
these sections (IVR keys and fallbacks, ring-group failover, call-flow branches) are
checked like every other (`AppsConfig.destinations`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from acd.config import BusinessHours, Destination, DestinationType
from softswitch.apps.call_flow import CallFlowConfig, call_flow_destination
from softswitch.apps.context import AppContext
from softswitch.apps.flow import Action, CallInfo, FlowBase, RouteTo
from softswitch.apps.ivr import ExtensionDirectory, IvrFlow
from softswitch.apps.ring_group import RingGroupFlow
from softswitch.apps.voicemail import LeaveMessageFlow

# config section -> the destination type its numbers are
SECTION_TYPES = {"ivrs": DestinationType.IVR, "ring_groups": DestinationType.RING_GROUP,
                 "call_flows": DestinationType.CALL_FLOW,
                 "group_voicemails": DestinationType.GROUP_VOICEMAIL}


def _apps(config: Any) -> Any:
    from softswitch.apps.settings import AppsConfig

    return config.apps if isinstance(config.apps, AppsConfig) else AppsConfig()


def _ivr(config: Any, target: str) -> IvrFlow:
    return IvrFlow(_apps(config).ivrs[target],
                   ExtensionDirectory(e.number for e in config.extensions))


def _ring_group(config: Any, target: str) -> RingGroupFlow:
    return RingGroupFlow(_apps(config).ring_groups[target])


def leave_message(config: Any, target: str, context: AppContext) -> LeaveMessageFlow:
    """A caller leaving a message in box `target`: a new message id and file."""
    box = _apps(config).boxes()[target]
    message_id = uuid.uuid4().hex
    folder = context.voicemail_dir / box.number
    folder.mkdir(parents=True, exist_ok=True)
    return LeaveMessageFlow(box, message_id, str(folder / f"{message_id}.wav"),
                            context.mailboxes.count(box.number))


class CallFlowRoute(FlowBase):
    """A call to a call flow: routed at once to the branch in force (the flow answers
    nothing itself)."""

    def __init__(self, destination: Destination) -> None:
        super().__init__()
        self.destination = destination

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [RouteTo(self.destination)]


def call_flow_branch(config: Any, flow: CallFlowConfig, forced: bool,
                     wall: float) -> Destination:
    acd = config.acd
    hours = next((h for h in (acd.business_hours if acd is not None else ())
                  if h.time_zone == flow.rule.time_zone),
                 BusinessHours(flow.rule.time_zone, {}))
    return call_flow_destination(flow, forced, hours,
                                 acd.holidays if acd is not None else (),
                                 dt.datetime.fromtimestamp(wall, dt.UTC))


def _call_flow(config: Any, target: str, context: AppContext) -> CallFlowRoute:
    flow = _apps(config).call_flows[target]
    forced = context.call_flow_modes.get(target) == "night"
    return CallFlowRoute(call_flow_branch(config, flow, forced, context.wall()))


def _register() -> None:
    from softswitch.destinations import register_application

    def refs(config: Any) -> list[tuple[str, Destination]]:
        return list(_apps(config).destinations())

    register_application(DestinationType.IVR, _ivr, section="ivrs",
                         exists=lambda c, t: t in _apps(c).ivrs, references=refs)
    register_application(DestinationType.RING_GROUP, _ring_group, section="ring_groups",
                         exists=lambda c, t: t in _apps(c).ring_groups)
    register_application(DestinationType.CALL_FLOW, _call_flow, section="call_flows",
                         exists=lambda c, t: t in _apps(c).call_flows, contextual=True)
    register_application(DestinationType.VOICEMAIL, leave_message, section="extensions",
                         exists=lambda c, t: t in _apps(c).extension_boxes,
                         contextual=True)
    register_application(DestinationType.GROUP_VOICEMAIL, leave_message,
                         section="group_voicemails",
                         exists=lambda c, t: t in _apps(c).group_voicemails,
                         contextual=True)


_register()
