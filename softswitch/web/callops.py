"""Call operations of the queue panel (queue-manager-agent.md §4.2-§4.9; queue-admin.md §7.4),
shared by REST (softswitch.web.rest) and the websocket (softswitch.web.ws): pick up and
redirect a ringing call, transfer, park, toggle recording, hang up.

Each operation names a queue and a call. The call is either a *queue call* of that queue
(softswitch.queue.controller: waiting, ringing agents, or answered by an agent) or an
*extension call* (softswitch.calls.b2bua) one of whose parties is an agent of that queue
(the agent's own calls shown on the panel). The order of checks is fixed: the queue
exists (404), the caller holds the §7.4 permission in it (403 ``forbidden`` naming the
permission), the request fields (400 ``invalid_field``), the call (404 naming ``call``), its
state (409 ``invalid_state``). A refusal changes nothing. The queue calls act through
the controller's live API hooks (``api_*``), the extension calls through the B2BUA's
operations, the very code path of the phones' REFER, park and pickup codes.

Decisions:
- Admins (operators) are neither managers nor agents: the §7.4 matrix gives them no call
  operation (they use the phones or `softswitch` commands); permissions.py decides the same
  for call logs.
- Pick up (§4.2, P3): the picker's own phone rings first and the call stays as it is
  meanwhile (waiting, its agents ringing); once the picker answers, a queue call leaves
  the queue for it and counts as Missed for the queue (the ACD's `handle_task_removed`,
  §4.2's proposal; softswitch.calls.queuepickup), an extension call is answered with the
  picker as its callee (the B2BUA's pickup). When the picker's phone does not answer,
  declines, is busy, or the call stopped ringing first (an agent answered, the caller
  hung up), the pickup fails and the call is left as it was. The command's result comes
  at once with ``pickup: {pickup, id, queue, by, state: "ringing"}``; the outcome is
  the ``call.pickup`` delta (``state`` answered or failed, ``reason`` no_answer,
  declined, busy, unavailable, answered_elsewhere or call_ended, ``status`` the picker's
  SIP status) sent to the picker's own websocket clients. A REST-only client sees the
  outcome on its phone and on the panel (the call still waiting, or gone).
- Redirect (§4.3, P2): a waiting queue call to an extension, an extension's voicemail
  (``voicemail: true``), a ring group or a queue, through the one destination router.
  For a ringing extension call the target rings instead (a blind transfer is not possible
  before answer), so redirecting an extension call is refused 409.
- Transfer (§4.4, P2): blind. A queue call transfers its caller (the customer: the party
  §4.4 proposes for a drag) to an extension or, with ``voicemail: true``, that extension's
  voicemail; ``party: callee`` is refused 409 for queue calls (the agent's
  leg belongs to the queue). Extension calls take ``party`` caller/callee: that party is
  sent to the target and the other (the transferor) leaves; ``mode: attended`` with
  ``consult_call_id`` (a connected call between the transferor and the target) joins
  ``party`` with the target and ends both of the transferor's calls (the B2BUA's attended
  transfer, as a phone's REFER with Replaces).
- Park (§4.5, P5): an extension call's ``party`` goes to the B2BUA's lot and the other
  party leaves. An answered queue call parks its caller (``party: callee`` is 409): the
  queue shell hands the caller's dialog and media leg to the lot (QueueCalls.
  api_release_caller, Transfers.park_handed_over), where it is a parked call like any
  other: music on hold, retrieval by dialling the slot, the timeout rings the parker back
  and then goes to the lot's timeout destination. The parker is the call's agent (the
  one whose conversation it was, as for a phone's park), not the manager who clicked.
  For the ACD and the queue reports the agent's call ends there, as if the agent had hung
  up (Answered, talk time up to the park, then wrap-up); the queue call's CDR row ends
  ANSWERED, hang-up side ``callee``, cause "parked in slot S by X (live API)"; the parked
  call then has a CDR row of its own (caller -> the slot number, answered at the park)
  that ends with it, as a transfer into a queue gives the B2BUA's row and the queue's.
  The slot is checked before anything moves: a full lot or a busy slot is 409 and the
  call goes on.
- Recording (§4.6): on one's own call an agent may pause or resume a running recording
  (the extension's "Pause/Resume" recording permission, which this switch grants every
  extension); anything else (another agent's call, or starting a recording) needs P6.
- Hang up (§4.9, P3): a waiting queue caller counts as Missed (§4.9's proposal).
- Call an agent (§4.10, no permission stated): the managers and agents of the queue who
  may open its queue panel (P8 ``queue_panel``); the requester's own phone rings first,
  then the agent's (softswitch.calls.agentcall).
- Monitor (§4.7, P4): managers only (P4 is not grantable to agents, §7.4), on answered
  queue calls (softswitch.calls.monitor); an extension call is refused 409.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from acd.config import Destination, DestinationType, QueueConfig
from softswitch.calls.control import CallState, Side
from softswitch.calls.transfer import TransferRefused
from softswitch.web.errors import ApiError, forbidden, invalid_state, not_found
from softswitch.web.models import (
    MonitorRequest,
    ParkRequest,
    RecordingRequest,
    RedirectRequest,
    TransferRequest,
)
from softswitch.web.operations import Switchboard
from softswitch.web.permissions import LABELS, Access


@dataclass
class LiveCall:
    """The call an operation acts on: a queue task or a B2BUA call."""

    call_id: str
    queue: str
    status: str  # answering | waiting | ringing | connected
    task: Any = None  # softswitch.queue.controller.QueueTask
    call: Any = None  # softswitch.calls.b2bua.Call
    agent: str | None = None  # the agent of an answered queue call

    def as_json(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "queue": self.queue,
                "kind": "queue" if self.task is not None else "extension",
                "status": self.status, "agent": self.agent}


def _queues(board: Switchboard) -> Any:
    return board.desk.queues


def _b2bua(board: Switchboard) -> Any:
    return board.desk.router.calls


def find_call(board: Switchboard, q: QueueConfig, call_id: str) -> LiveCall:
    """The queue call ``call_id`` of ``q``, or an extension call of one of its agents."""
    queues = _queues(board)
    task = queues.api_task(call_id)
    if task is not None and task.queue == q.number:
        state = queues.state(task)  # softswitch.queue.controller.QueueCalls.state
        if state == "connected":
            return LiveCall(call_id, q.number, "connected", task=task, agent=task.agent)
        if state in ("waiting", "collecting"):
            return LiveCall(call_id, q.number, "ringing" if task.offers else "waiting",
                            task=task)
        if state == "answering":  # being answered: only a hang-up applies
            return LiveCall(call_id, q.number, "answering", task=task)
        raise invalid_state(f"queue call {call_id} is {state}", "call")
    call = _b2bua(board).calls.get(call_id)
    agents = {m.extension for m in q.members}
    if call is not None and call.control.state is not CallState.ENDED and \
            agents.intersection(call.parties.values()):
        state = call.control.state
        status = "connected" if state is CallState.CONNECTED else "ringing"
        return LiveCall(call_id, q.number, status, call=call)
    raise not_found(f"no live call {call_id} of queue {q.number} or of its agents", "call")


def _require(access: Access, queue: str, permission: str) -> QueueConfig:
    return access.require(queue, permission)


def _refused(exc: TransferRefused, field: str) -> ApiError:
    status = 404 if exc.status in (404, 481) else 409
    code = "not_found" if status == 404 else "invalid_state"
    return ApiError(status, code, f"{exc.status} {exc.reason}", field)


def _known_extension(board: Switchboard, number: str, field: str) -> None:
    if number not in board.desk.queues.extensions:
        raise not_found(f"no extension {number}", field)


def hang_up(board: Switchboard, access: Access, queue: str, call_id: str) -> dict[str, Any]:
    """§4.9, P3: the switch ends the call on every phone in it."""
    q = _require(access, queue, "pickup_hangup")
    live = find_call(board, q, call_id)
    if live.task is not None:
        _queues(board).api_hang_up(live.task, access.extension)
    elif not _b2bua(board).hang_up(call_id, f"hung up by {access.extension} (live API)"):
        raise not_found(f"no live call {call_id}", "call")
    return {"hung_up": live.as_json()}


def pick_up(board: Switchboard, access: Access, queue: str, call_id: str) -> dict[str, Any]:
    """§4.2, P3: the picker's own phone rings; once it answers it has the call (module
    docstring). The result comes at once (``pickup.state: ringing``); the outcome follows
    as the ``call.pickup`` delta to the picker's websocket clients."""
    from softswitch.calls.queuepickup import QueuePickups, pickup_json

    q = _require(access, queue, "pickup_hangup")
    live = find_call(board, q, call_id)
    if live.status not in ("waiting", "ringing"):
        raise invalid_state(f"call {call_id} is {live.status}, not ringing", "call")
    queues = _queues(board)
    targets = queues.registrar.targets(access.extension, queues.clock())
    if not targets:
        raise invalid_state(f"{access.extension} has no registered phone to take the call",
                            "call")
    if live.task is not None:
        if board.pickups is None:
            board.pickups = QueuePickups(queues, lambda p: _pickup_outcome(board,
                                                                           p.as_json()))
        if board.pickups.ringing(live.task.id, access.extension):
            raise invalid_state(f"{access.extension}'s phone already rings to pick up "
                                f"call {call_id}", "call")
        pickup = board.pickups.start(live.task, access.extension, list(targets)).as_json()
    else:
        pickup_id, by = f"pickup-x{next(_EXTENSION_PICKUPS)}", access.extension

        def outcome(ok: bool, reason: str, status: int | None) -> None:
            _pickup_outcome(board, pickup_json(pickup_id, call_id, queue, by,
                                               "answered" if ok else "failed",
                                               "" if ok else reason, status))

        try:
            _b2bua(board).pickup(call_id, access.extension, outcome)
        except TransferRefused as exc:
            raise _refused(exc, "call") from None
        pickup = pickup_json(pickup_id, call_id, queue, by, "ringing")
    return {"picked_up": live.as_json(), "by": access.extension, "pickup": pickup}


_EXTENSION_PICKUPS = itertools.count(1)  # ids of the extension calls' pickups (pickup-x<n>)


def _pickup_outcome(board: Switchboard, pickup: dict[str, Any]) -> None:
    """The ``call.pickup`` delta: to the picker's own websocket clients (the feed's agent
    field), whatever they subscribed to."""
    board.panels.feed.publish("call.pickup", (), pickup, agent=pickup["by"])


def redirect(board: Switchboard, access: Access, queue: str, call_id: str,
             req: RedirectRequest) -> dict[str, Any]:
    """§4.3, P2: a waiting or ringing queue call leaves for an extension (or its
    voicemail), a ring group or a queue."""
    q = _require(access, queue, "call_distribution")
    live = find_call(board, q, call_id)
    if live.task is None:
        raise invalid_state("only queue calls are redirected; an extension call is "
                            "transferred once answered", "call")
    if live.status not in ("waiting", "ringing"):
        raise invalid_state(f"call {call_id} is {live.status}: only a waiting or ringing "
                            f"call is redirected (transfer an answered one)", "call")
    target = req.target
    extensions = board.desk.queues.extensions
    if req.voicemail:
        _known_extension(board, target, "target")
        dest = Destination(DestinationType.VOICEMAIL, target)
    elif target in extensions:
        dest = Destination(DestinationType.EXTENSION, target)
    elif target in _queues(board).queues:
        if target == queue:
            raise invalid_state(f"the call is already in queue {queue}", "target")
        dest = Destination(DestinationType.QUEUE, target)
    elif _resolves(board, Destination(DestinationType.RING_GROUP, target)):
        dest = Destination(DestinationType.RING_GROUP, target)
    else:
        raise not_found(f"no extension, ring group or queue {target}", "target")
    if not _resolves(board, dest):
        raise invalid_state(f"{dest.type.value} {target} is not available", "target")
    _queues(board).api_redirect(live.task, dest)
    return {"redirected": live.as_json(), "to": {"type": dest.type.value,
                                                 "target": dest.target}}


def _resolves(board: Switchboard, dest: Destination) -> bool:
    """The one destination router knows ``dest`` (softswitch.destinations)."""
    from softswitch.destinations import Unavailable

    router = _queues(board).destinations
    return router is not None and not isinstance(router.resolve(dest), Unavailable)


def transfer(board: Switchboard, access: Access, queue: str, call_id: str,
             req: TransferRequest) -> dict[str, Any]:
    """§4.4, P2: blind (to an extension) or attended (with a consultation call)."""
    q = _require(access, queue, "call_distribution")
    live = find_call(board, q, call_id)
    if live.status != "connected":
        raise invalid_state(f"call {call_id} is not answered: redirect it instead", "call")
    if req.mode == "attended":
        if live.task is not None:
            raise invalid_state("an attended transfer joins two extension calls; "
                                "queue calls are transferred blind", "mode")
        if not req.consult_call_id:
            raise ApiError(400, "invalid_field", "consult_call_id: the consultation call "
                                                 "is required for an attended transfer",
                           "consult_call_id")
        # `party` stays and is joined; the transferor is the other end, also in the
        # consultation call, whose other party is the target
        side = Side.CALLEE if req.party == "caller" else Side.CALLER
        consult = _b2bua(board).calls.get(req.consult_call_id)
        transferor = live.call.parties.get(side)
        if consult is None:
            raise not_found(f"no call {req.consult_call_id}", "consult_call_id")
        consult_side = next((s for s, p in consult.parties.items() if p == transferor),
                            None)
        if consult_side is None:
            raise invalid_state(f"{transferor} is not in call {req.consult_call_id}",
                                "consult_call_id")
        try:
            _b2bua(board).transfer_attended(call_id, side, req.consult_call_id, consult_side)
        except TransferRefused as exc:
            raise _refused(exc, "consult_call_id") from None
        return {"transferred": live.as_json(), "mode": "attended"}
    if not req.target:
        raise ApiError(400, "invalid_field", "target: the extension to transfer to",
                       "target")
    if live.task is not None:
        if req.party != "caller":
            raise invalid_state("a queue call transfers its caller (party: caller)",
                                "party")
        _known_extension(board, req.target, "target")
        dest = Destination(DestinationType.VOICEMAIL if req.voicemail
                           else DestinationType.EXTENSION, req.target)
        if not _resolves(board, dest):
            raise invalid_state(f"{dest.type.value} {req.target} is not available",
                                "target")
        _queues(board).api_transfer_caller(live.task, dest)
    elif req.voicemail:
        raise invalid_state("an extension call is not transferred to voicemail (queue "
                            "calls are)", "voicemail")
    else:
        # the transferee is `party`; the transferor (who leaves) is the other end
        transferor = Side.CALLEE if req.party == "caller" else Side.CALLER
        try:
            _b2bua(board).transfer_blind(call_id, transferor, req.target)
        except TransferRefused as exc:
            raise _refused(exc, "target") from None
    return {"transferred": live.as_json(), "mode": "blind", "target": req.target}


def park(board: Switchboard, access: Access, queue: str, call_id: str,
         req: ParkRequest) -> dict[str, Any]:
    """§4.5, P5: ``party`` waits in a free park slot (music on hold); the other leaves."""
    q = _require(access, queue, "parking")
    live = find_call(board, q, call_id)
    if live.status != "connected":
        raise invalid_state(f"call {call_id} is not answered", "call")
    if live.task is not None:
        return _park_queue_call(board, access, live, req)
    parker = Side.CALLEE if req.party == "caller" else Side.CALLER
    try:
        slot = _b2bua(board).park(call_id, parker, req.slot)
    except TransferRefused as exc:
        raise _refused(exc, "slot") from None
    return {"parked": live.as_json(), "slot": slot}


def _park_queue_call(board: Switchboard, access: Access, live: LiveCall,
                     req: ParkRequest) -> dict[str, Any]:
    """An answered queue call's caller goes to the B2BUA's parking lot (the queue shell
    hands its dialog and leg over, softswitch.calls.transfer.park_handed_over); the agent
    is the parker (rung back at the timeout)."""
    if req.party != "caller":
        raise invalid_state("a queue call parks its caller (party: caller); the agent's "
                            "leg belongs to the queue", "party")
    task, agent = live.task, live.agent or ""
    queues = _queues(board)

    def release(slot: str) -> Any:
        return queues.api_release_caller(
            task, f"parked in slot {slot} by {access.extension} (live API)")

    try:
        slot = _b2bua(board).park_handed_over(task.id, agent, req.slot, release)
    except TransferRefused as exc:
        raise _refused(exc, "call" if exc.status in (481, 482) else "slot") from None
    return {"parked": live.as_json(), "slot": slot}


def recording(board: Switchboard, access: Access, queue: str, call_id: str,
              req: RecordingRequest) -> dict[str, Any]:
    """§4.6: pause, resume or start the call's recording."""
    q = access.queue(queue)
    if access.can(queue, "recording"):
        live = find_call(board, q, call_id)
    else:
        # without P6 only one's own answered call, and only pause/resume
        own = _own_call(board, q, access, call_id)
        if own is None or req.action == "start":
            raise forbidden(f"{access.extension} lacks the permission to "
                            f"{LABELS['recording']} in queue {queue}"
                            + ("" if own is None else " (starting a recording needs it)"),
                            "call")
        live = own
    if live.status != "connected":
        raise invalid_state(f"call {call_id} is not answered", "call")
    recorder, key, legs, kind = _recorder(board, live)
    if recorder is None:
        raise invalid_state("this switch has no call recording", "action")
    state = recorder.state(key)
    if req.action == "start":
        if state is not None:
            raise invalid_state(f"the call is already {state}", "action")
        if legs is None:
            raise invalid_state("the call's media is not connected", "call")
        path = recorder.start(kind, key, legs[0], legs[1], queue=queue, force=True)
        if path is None:
            raise invalid_state("the recording could not be started (see the switch log)",
                                "action")
        if live.task is not None and live.task.recording is None:
            live.task.recording = path
        elif live.call is not None and live.call.recording is None:
            live.call.recording = path
    elif state is None:
        raise invalid_state("the call is not being recorded", "action")
    elif (req.action == "pause") != (state == "recording"):
        raise invalid_state(f"the recording is already {state}", "action")
    elif req.action == "pause":
        recorder.pause(key)
    else:
        recorder.resume(key)
    path = live.task.recording if live.task is not None else live.call.recording
    return {"recording": recorder.state(key), "path": path, "call": live.as_json()}


def _own_call(board: Switchboard, q: QueueConfig, access: Access,
              call_id: str) -> LiveCall | None:
    try:
        live = find_call(board, q, call_id)
    except ApiError:
        return None
    me = access.extension
    if live.task is not None and live.agent == me:
        return live
    if live.call is not None and me in live.call.parties.values():
        return live
    return None


def _recorder(board: Switchboard, live: LiveCall) -> tuple[Any, str, Any, str]:
    if live.task is not None:
        queues = _queues(board)
        return queues.recordings, live.task.id, queues.api_legs(live.task), "queue"
    b2bua = _b2bua(board)
    call = live.call
    legs = (call.leg_a, call.leg_b) if call.leg_a is not None and call.leg_b is not None \
        else None
    return b2bua.recordings, call.call_id, legs, "extension"


def monitor(board: Switchboard, access: Access, queue: str, call_id: str,
            req: MonitorRequest) -> dict[str, Any]:
    """§4.7, P4: ring the manager's own phone; once answered it listens, whispers to the
    agent or barges in."""
    from softswitch.calls.monitor import Monitors

    q = _require(access, queue, "monitoring")
    if not access.is_manager(q):
        raise forbidden(f"{access.extension} is not a manager of queue {queue}: call "
                        f"monitoring is for managers", "call")
    live = find_call(board, q, call_id)
    if live.task is None:
        raise invalid_state("monitoring applies to answered queue calls", "call")
    if live.status != "connected" or _queues(board).api_legs(live.task) is None:
        raise invalid_state(f"call {call_id} is not answered", "call")
    if access.extension in (live.agent, live.task.caller):
        raise invalid_state(f"{access.extension} is a party of call {call_id}", "call")
    if board.monitors is None:
        board.monitors = Monitors(_queues(board))
    monitors = board.monitors
    if any(s.supervisor == access.extension for s in monitors.active(call_id)):
        raise invalid_state(f"{access.extension} already monitors call {call_id}", "call")
    queues = _queues(board)
    targets = queues.registrar.targets(access.extension, queues.clock())
    if not targets:
        raise invalid_state(f"{access.extension} has no registered phone to call",
                            "call")
    session = monitors.start(live.task, access.extension, req.mode, targets)
    return {"monitor": session.as_json()}


def call_agent(board: Switchboard, access: Access, queue: str,
               agent: str) -> dict[str, Any]:
    """§4.10: ring the requester's phone, then the agent's, and bridge them."""
    from softswitch.calls.agentcall import AgentCalls

    q = access.queue(queue)
    if not (access.is_manager(q) or access.is_agent(q)) or \
            not access.can(queue, "queue_panel"):
        raise forbidden(f"{access.extension} may not call agents from queue {queue}'s panel: "
                        f"a manager or agent with {LABELS['queue_panel']} is needed",
                        "agent")
    if not any(m.extension == agent for m in q.members):
        raise not_found(f"{agent} is not an agent of queue {queue}", "agent")
    if agent == access.extension:
        raise invalid_state("one does not call oneself", "agent")
    queues = _queues(board)
    targets = queues.registrar.targets(access.extension, queues.clock())
    if not targets:
        raise invalid_state(f"{access.extension} has no registered phone to call", "agent")
    if board.agent_calls is None:
        board.agent_calls = AgentCalls(queues)
    return {"agent_call": board.agent_calls.start(access.extension, targets, agent).as_json()}


@dataclass(frozen=True)
class CallOperation:
    """One call operation as both transports expose it: REST ``POST
    /api/v1/queues/{queue}/calls/{call}/<name>`` with ``model`` validating the JSON body
    (softswitch.web.rest), and the websocket command ``call.<name>`` with the same model
    validating its fields (softswitch.web.ws). ``run(board, access, queue, call_id[,
    request])`` is the one implementation; ``summary`` documents it (OpenAPI)."""

    name: str
    run: Callable[..., dict[str, Any]]
    model: type[BaseModel] | None
    summary: str


CALL_OPERATIONS = (
    CallOperation("pickup", pick_up, None,
                  "Pick up a ringing call: it rings the caller's own extension (P3)"),
    CallOperation("redirect", redirect, RedirectRequest,
                  "Redirect a waiting or ringing queue call to an extension, its voicemail, "
                  "a ring group or a queue (P2)"),
    CallOperation("transfer", transfer, TransferRequest,
                  "Transfer an answered call, blind or attended (P2)"),
    CallOperation("park", park, ParkRequest,
                  "Park one party of an answered call in a free slot (P5)"),
    CallOperation("recording", recording, RecordingRequest,
                  "Pause, resume or start the call's recording (own call, or P6)"),
    CallOperation("monitor", monitor, MonitorRequest,
                  "Call the manager's phone to listen to, whisper in or barge into an "
                  "answered queue call (P4, managers)"),
    CallOperation("hangup", hang_up, None,
                  "Hang up a waiting or answered call on every phone in it (P3)"),
)
