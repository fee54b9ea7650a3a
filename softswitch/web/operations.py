"""Operations of the live API, shared by REST (softswitch.web.rest) and the websocket
(softswitch.web.ws): each takes the caller's `Access`, checks the §7.4 permission, acts
and returns the JSON reply. A refusal raises ApiError (403 forbidden, 404 not_found,
409 invalid_state, 400 invalid_field), and then nothing changed.

Agent state changes go through `AgentDesk.apply_actions` (softswitch.agentdesk), the code
path of the feature codes: the ACD applies them, and the events reach the bus (BLF lamps,
report rows, the live feed) exactly as for a `*7` or `*07` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acd.events import InputRejected
from softswitch.features import Pause, Resume, SignIn, SignOut
from softswitch.web.calllogs import CallLogs
from softswitch.web.errors import ApiError, forbidden, invalid_state, not_found
from softswitch.web.models import AgentStateRequest, DispositionRequest, NoteRequest
from softswitch.web.panels import Panels
from softswitch.web.permissions import Access


@dataclass(eq=False)
class Switchboard:
    """What the operations act on: the switch's agent desk (ACD and feature-code path),
    the live panels and the call logs (None without a database)."""

    desk: Any  # softswitch.agentdesk.AgentDesk
    panels: Panels
    logs: CallLogs | None
    monitors: Any = None  # softswitch.calls.monitor.Monitors, made on first use (callops)
    agent_calls: Any = None  # softswitch.calls.agentcall.AgentCalls, likewise
    pickups: Any = None  # softswitch.calls.queuepickup.QueuePickups, likewise
    presence: Any = None  # softswitch.web.presence_state.PresenceStates


def set_agent_state(board: Switchboard, access: Access, queue: str, agent: str,
                    req: AgentStateRequest) -> dict[str, Any]:
    """§4.1 (others: P1) and §7 (one's own state)."""
    access.require_agent_change(queue, agent)
    acd = board.desk.queues.acd
    static = acd.is_static(agent, queue)
    signed_in = acd.is_signed_in(agent, queue)
    action: SignIn | SignOut | Pause | Resume
    if req.action in ("signin", "signout"):
        if static:
            raise invalid_state(f"{agent} is a static agent of queue {queue}: always signed "
                                f"in, cannot sign in or out", "action")
        if (req.action == "signin") == signed_in:
            raise invalid_state(f"{agent} is already signed "
                                f"{'in to' if signed_in else 'out of'} queue {queue}",
                                "action")
        action = SignIn(agent, queue) if req.action == "signin" else SignOut(agent, queue)
    elif not signed_in:
        raise invalid_state(f"{agent} is not signed in to queue {queue}", "action")
    elif req.action == "pause":
        reason = None
        if req.reason:
            directory = board.desk.plan.directory
            reason = directory.reason(req.reason) or directory.reason_named(req.reason)
            if reason is None:
                raise ApiError(400, "invalid_field", f"no pause reason {req.reason!r} (a "
                                                     f"name or code of pause_reasons)",
                               "reason")
        action = Pause(agent, queue, reason)
    else:
        if not acd.pause_state(agent, queue)[0]:
            raise invalid_state(f"{agent} is not paused in queue {queue}", "action")
        action = Resume(agent, queue)
    if req.reason and req.action != "pause":
        raise ApiError(400, "invalid_field", "only pause takes a reason", "reason")
    events = board.desk.apply_actions([action])
    rejected = [e for e in events if isinstance(e, InputRejected)]
    if rejected:
        raise invalid_state(rejected[0].reason, "action")
    return {"member": board.panels.member(agent, queue)}


def _logs(board: Switchboard) -> CallLogs:
    if board.logs is None:
        raise ApiError(503, "no_database", "this switch keeps no call logs (no database)")
    return board.logs


async def call_logs(board: Switchboard, access: Access, queue: str, kind: str | None,
                    limit: int) -> dict[str, Any]:
    """§5 (managers, P9) and §9 (agents, P10 with the §6.6 scope)."""
    q, view = access.require_call_logs(queue)
    if kind not in (None, "inbound", "missed"):
        raise ApiError(400, "invalid_field", "type: expected inbound or missed", "type")
    records = await _logs(board).records(queue, view=view, agent=access.extension,
                                         scope=q.panel_permissions.call_log_scope, kind=kind,
                                         limit=limit)
    return {"queue": queue, "view": view, "records": records}


async def set_disposition(board: Switchboard, access: Access, queue: str, record_id: str,
                          req: DispositionRequest) -> dict[str, Any]:
    """§4.11: managers with P9, agents with P10 whose scope includes missed calls."""
    q, view = access.require_call_logs(queue)
    if view == "agent" and "missed" not in q.panel_permissions.call_log_scope:
        raise forbidden(f"{access.extension} may not see queue {queue}'s missed calls "
                        f"(call_logs scope)")
    logs = _logs(board)
    record = await logs.record(queue, record_id, access.extension)
    if record is None:
        raise not_found(f"no record {record_id} in queue {queue}", "id")
    if record["type"] != "missed":
        raise invalid_state("only missed and abandoned calls have a disposition", "id")
    if record["disposition"] == req.disposition:
        raise invalid_state(f"the record is already {req.disposition}", "disposition")
    hours = board.desk.router.config.disposition_auto_sync_hours
    return {"change": await logs.set_disposition(record, req.disposition, access.extension,
                                                 hours)}


async def visible_record(board: Switchboard, access: Access, queue: str, record_id: str,
                          view: str, scope: frozenset[str]) -> dict[str, Any]:
    """A record the caller's view shows (§5 manager view: all; §9 agent view: its scope, and
    inbound records only of the calls it answered); 404 otherwise."""
    record = await _logs(board).record(queue, record_id, access.extension)
    if record is not None and view == "agent" and (
            record["type"] not in scope
            or (record["type"] == "inbound" and record["agent"] != access.extension)):
        record = None
    if record is None:
        raise not_found(f"no record {record_id} in queue {queue}", "id")
    return record


async def delete_record(board: Switchboard, access: Access, queue: str,
                        record_id: str) -> dict[str, Any]:
    """§5.1 / §9.2 delete a call-log record: see softswitch.web.calllogs (who deletes what:
    for everyone with P9 ``delete_missed_calls`` on a missed record, else for oneself)."""
    q, view = access.require_call_logs(queue)
    record = await visible_record(board, access, queue, record_id, view,
                                   q.panel_permissions.call_log_scope)
    everyone = record["type"] == "missed" and "delete_missed_calls" in access.granted(q)
    return {"deleted": await _logs(board).delete(record, access.extension, everyone)}


async def disposition_history(board: Switchboard, access: Access, queue: str,
                              record_id: str) -> dict[str, Any]:
    access.require_call_logs(queue)
    logs = _logs(board)
    if await logs.record(queue, record_id) is None:
        raise not_found(f"no record {record_id} in queue {queue}", "id")
    return {"id": record_id, "log": await logs.history(record_id)}


async def save_note(board: Switchboard, access: Access, queue: str, call_id: str,
                    req: NoteRequest) -> dict[str, Any]:
    """§8.2: the agent who answered the call, or a manager of the queue."""
    q = access.queue(queue)
    active = board.panels.tracker.active.get(call_id)
    agent = active.agent if active is not None and active.queue == queue else \
        await _logs(board).answered_by(queue, call_id)
    if agent is None:
        raise not_found(f"no answered call {call_id} in queue {queue}", "call_id")
    if agent != access.extension and not access.is_manager(q):
        raise forbidden(f"only the agent who answered the call ({agent}) or a manager of "
                        f"queue {queue} may write its note")
    return {"note": await _logs(board).save_note(call_id, queue, req.tags, req.text,
                                                 access.extension)}
