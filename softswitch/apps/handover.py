"""An answered party of an extension call sent to a destination of the one router
(softswitch.destinations): today the parked call whose park timeout ran out
(softswitch.calls.park `timeout_destination`, softswitch.calls.transfer `_abandoned`).

`parked_to_destination(...)` builds the seam `Transfers.route_destination`: given the
parked party's end (dialog, peer, media leg, the INVITE of its dialog) and the destination,

- `queue`: the queue calls adopt it (`QueueCalls.adopt_caller`, as a REFER to a queue
  number does): it waits in the queue with a record of its own;
- an application (IVR, voicemail, group voicemail, ring group, call flow, prompt) or an
  `external` number: the call shell adopts it (`CallShell.adopt`) and runs the
  application, or `ConnectFlow` for the external number, as it does for a queue's failover;
- anything else (hangup and extension are the transfer shell's own; a destination a
  reload removed): False, and the transfer shell plays goodbye.

Decision: the adopted party keeps its dialog's Call-ID as the shell's call id; the B2BUA
call's record ends there ("park timeout: to ivr 700"), and the shell writes no second record
(as for a queue's failover), so the report sees one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acd.config import Destination
from softswitch.apps.connect import ConnectFlow
from softswitch.apps.flow import CallInfo
from softswitch.apps.indialog import InDialogPolicy, local_contact
from softswitch.destinations import DestinationRouter, ExternalRoute, FlowRoute, QueueRoute
from softswitch.log import get_logger
from softswitch.sip import sdp as sdplib

log = get_logger("apps")


def parked_to_destination(*, router: DestinationRouter, apps: Any, queues: Any,
                          endpoint: Any, language: str) -> Callable[[Any, Destination], bool]:
    """The seam for `Transfers.route_destination` (module docstring). `apps` is the call
    shell (softswitch.apps.shell.CallShell), `queues` the queue calls."""

    def route(end: Any, destination: Destination) -> bool:
        target = router.resolve(destination)
        call_id = end.dialog.call_id
        if isinstance(target, QueueRoute):
            return bool(queues.adopt_caller(call_id, target.number, end.party, end.dialog,
                                            end.peer, end.leg, end.request))
        if isinstance(target, FlowRoute):
            flow, kind = target.factory(), target.type.value
        elif isinstance(target, ExternalRoute):
            flow, kind = ConnectFlow(target.number, apps.ring_timeout), "external"
        else:
            log.warning("park timeout destination not available", call_id=call_id,
                        type=destination.type.value, target=destination.target,
                        reason=getattr(target, "reason", ""))
            return False
        leg = end.leg
        # its in-dialog requests get the shell's answers from now on, with our SDP as the
        # leg now has it (as the queue does for a caller transferred in)
        sdp = sdplib.create_offer(leg.local_host, leg.local_port,
                                  codecs=(getattr(leg.codec, "name", "PCMU"),),
                                  telephone_event=True)
        policy = InDialogPolicy(end.dialog, sdp,
                                local_contact(endpoint, end.peer.transport, destination.target))
        info = CallInfo(call_id, end.party, end.party, destination.target, language)
        apps.adopt(info=info, invite=end.request, peer=end.peer, tag=end.dialog.local_tag,
                   dialog=end.dialog, policy=policy, leg=leg, flow=flow, kind=kind)
        return True

    return route
