"""Call back the other party of a queue call-log record (queue-manager-agent.md §5.1 "Call
back (发起呼叫): double-click the record, or click the call icon on it → places a call to that
number"; §9.2 "Call: tap the record → places a call").

    POST /api/v1/queues/{queue}/records/{record}/callback      (websocket: record.call_back)

The switch places the call the way "call an agent" does (softswitch.calls.agentcall): it
rings the requester's own phone first, and once answered calls the record's number; the
two are bridged when it answers. Result: ``call_back: {id, requester, agent (the number
dialled), state}`` and ``number``.

Decisions:
- Who: whoever's call-log view shows the record (§5 managers with P9, §9 agents with P10
  within their scope; softswitch.web.operations); no other permission is named by the
  manual. The number is always the record's caller: the API dials no number the caller
  chose, so this is no way around the outbound-route permissions.
- A number that is an extension of the switch rings that extension's registered phones.
  Any other number goes out over the outbound route matching the queue's callback
  ``outbound_prefix`` + the number (the queue's own callbacks do the same, §4); the route
  must be permitted to the requester (403 otherwise); no matching route is 409.
- The requester needs a registered phone (409 otherwise), as for calling an agent.
"""

from __future__ import annotations

from typing import Any

from softswitch.web import operations as ops
from softswitch.web.errors import forbidden, invalid_state
from softswitch.web.permissions import Access


async def call_back(board: ops.Switchboard, access: Access, queue: str,
                    record_id: str) -> dict[str, Any]:
    from softswitch.calls.agentcall import AgentCalls
    from softswitch.trunks import OutboundRefused, trunk_target

    q, view = access.require_call_logs(queue)
    record = await ops.visible_record(board, access, queue, record_id, view,
                                      q.panel_permissions.call_log_scope)
    number = str(record["caller"])
    queues = board.desk.queues
    if number == access.extension:
        raise invalid_state("one does not call oneself", "id")
    requester = queues.registrar.targets(access.extension, queues.clock())
    if not requester:
        raise invalid_state(f"{access.extension} has no registered phone to call", "id")
    targets: list[Any] | None = None  # an extension: its phones when the requester answers
    dialled = number
    if number not in queues.extensions:
        prefix = q.callback.outbound_prefix if q.callback is not None else ""
        out = queues.trunks.outbound(prefix + number, (access.extension,)) \
            if queues.trunks is not None else None
        if isinstance(out, OutboundRefused):
            raise forbidden(f"{access.extension} may not use outbound route {out.route!r} "
                            f"to call {number}", "id")
        if out is None:
            raise invalid_state(f"no outbound route matches {prefix + number!r}", "id")
        targets = [trunk_target(queues.trunks.trunks[out.trunk], out.number)]
        dialled = out.number
    if board.agent_calls is None:
        board.agent_calls = AgentCalls(queues)
    call = board.agent_calls.start(access.extension, requester, dialled, targets)
    return {"call_back": call.as_json(), "number": number}
