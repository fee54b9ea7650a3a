"""A voice call to a session's customer (omnichannel.md §6.2 "Voice call from session",
§9.3, §9.5, §9.6, §13.39).

    POST /api/v1/messaging/sessions/{id}/call

Placed like the call back from the call logs (softswitch.web.callback) and "call an agent"
(softswitch.calls.agentcall): the agent's own phone rings first, and once it answers the
customer's number is called; the two are bridged when the customer answers. Result:
``call: {id, requester, agent (the number dialled), state}``, ``number`` (the customer's),
``route`` (the outbound route's name, or null for an extension).

Decisions:

* Who: an agent who sees the session (404 otherwise, its existence not disclosed); the
  session may be closed (a call does not reopen it, nor is it written into the history:
  the §8.4 timeline records no calls).
* The number: an SMS or WhatsApp customer's E.164 number as it is stored (``+`` and digits);
  a SIP MESSAGE customer is an extension of the switch, whose registered phones ring. A
  Messenger PSID has no phone number: 409 ``no_phone_number``.
* A Live Chat visitor is called in the widget (§3.12 "calls started by an agent"), on a
  channel in ``chat_and_call`` mode: the agent's phone rings first, then the visitor's open
  widget (softswitch.webrtc.calls has the rules and the refusals: 409 with ``calls_off``,
  ``closed``, ``visitor_offline``, ``call_active`` or ``call_busy``). The answer's
  ``call`` is ``{id, requester, visitor, state}``, ``number`` and ``route`` null.
* "Permission to dial external numbers" (§9.6) is the outbound routes' ``extensions``: the
  number goes out over the first route matching it (its prefix, e.g. ``+``) that permits
  the agent; routes that match but do not permit the agent are 403 ``forbidden`` naming
  the route, and no phone rings; no route at all is 409.
* The agent needs a registered phone (409), as for a call back.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from softswitch.messaging.appkey import MESSAGING
from softswitch.web.api import BOARD, Endpoint, principal
from softswitch.web.errors import ApiError

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


async def call_customer(request: web.Request) -> web.Response:
    from softswitch.calls.agentcall import AgentCalls
    from softswitch.trunks import OutboundRefused, trunk_target

    me = principal(request).extension
    raw = request.match_info["session"]
    service = request.app[MESSAGING]
    if raw.isdigit() and len(raw) <= 18:
        await service.recall(int(raw))  # a closed session is read back from the store
    s = service.inbox.sessions.get(int(raw)) if raw.isdigit() and len(raw) <= 18 else None
    if s is None or not service.inbox.sees(s, me):
        raise ApiError(404, "not_found", f"no session {raw} you can see")
    channel = service.channels.get(s.channel)
    kind = channel.type if channel is not None else ""
    number = s.customer
    board = request.app[BOARD]
    queues = board.desk.queues
    if kind == "livechat" and channel is not None:
        return await _call_visitor(request, s, channel, me, queues)
    if not ((kind == "sip" and number in queues.extensions)
            or (kind in ("sms", "whatsapp") and E164.match(number))):
        raise ApiError(409, "no_phone_number",
                       f"the customer of a {kind or 'removed'} channel has no phone number")
    if number == me:
        raise ApiError(409, "invalid_state", "one does not call oneself")
    requester = queues.registrar.targets(me, queues.clock())
    if not requester:
        raise ApiError(409, "invalid_state", f"{me} has no registered phone to call")
    targets: list[Any] | None = None  # an extension: its phones when the agent answers
    dialled, route = number, None
    if number not in queues.extensions:
        out = queues.trunks.outbound(number, (me,)) if queues.trunks is not None else None
        if isinstance(out, OutboundRefused):
            raise ApiError(403, "forbidden", f"{me} may not use outbound route "
                                             f"{out.route!r} to call {number}")
        if out is None:
            raise ApiError(409, "invalid_state", f"no outbound route matches {number!r}")
        targets = [trunk_target(queues.trunks.trunks[out.trunk], out.number)]
        dialled, route = out.number, out.route
    if board.agent_calls is None:
        board.agent_calls = AgentCalls(queues)
    call = board.agent_calls.start(me, requester, dialled, targets)
    return web.json_response({"call": call.as_json(), "number": number, "route": route})


async def _call_visitor(request: web.Request, s: Any, channel: Any, me: str,
                        queues: Any) -> web.Response:
    from softswitch.messaging.livechat import LIVECHAT
    from softswitch.webrtc.calls import CallRefused

    chat = request.app.get(LIVECHAT)
    if chat is None or chat.calls is None:
        raise ApiError(409, "calls_off", f"{channel.name} takes no calls (consultation "
                                         "mode chat)")
    channel = chat.current(channel)  # its call settings as now (a reload)
    requester = queues.registrar.targets(me, queues.clock())
    if not requester:
        raise ApiError(409, "invalid_state", f"{me} has no registered phone to call")
    visitor = chat.visitors.get((channel.name, s.customer))
    try:
        call = chat.calls.call_visitor(channel, s.customer, s, me, requester,
                                       None if visitor is None else visitor.form)
    except CallRefused as exc:
        raise ApiError(409, exc.code, exc.message) from None
    return web.json_response({"call": {"id": f"widgetcall-{call.id}", "requester": me,
                                       "visitor": s.customer, "state": "ringing_requester"},
                              "number": None, "route": None})


ENDPOINTS = [Endpoint(
    "POST", "/messaging/sessions/{session}/call", call_customer,
    "Call the session's customer: my phone rings, then the customer's number over an "
    "outbound route I may use (§6.2, §9.6), or a Live Chat visitor's open widget (§3.12)",
    tag="messaging")]
