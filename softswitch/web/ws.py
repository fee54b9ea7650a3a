"""The websocket /api/v1/ws: versioned JSON protocol (PROTOCOL.md beside this file).

Each connection is a `WsClient`: the feed (softswitch.web.live) writes each batch of deltas
as one frame straight into the connection's transport, without awaiting (everything a
client gets goes that way, so its messages stay in order). A client whose transport holds
more than ``MAX_PENDING_BYTES`` unsent is dropped: it gets nothing more, the socket is
closed with code 4008 and the reason (after what was already buffered; a peer that does not
take it within CLOSE_WAIT seconds is cut off), so a slow reader never slows the switch nor
the other clients.

Hostile input: a message over ``MAX_MESSAGE`` bytes closes the socket (1009, aiohttp);
malformed JSON, a non-object, an unknown type or invalid fields get an ``error`` reply
and the connection stays; more than ``FLOOD_LIMIT`` messages in one second closes it
(4029 "flood").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import BaseModel

from softswitch.log import get_logger
from softswitch.web import callback, callops, presence_state
from softswitch.web import operations as ops
from softswitch.web.api import BOARD, CREDENTIALS
from softswitch.web.auth import Principal
from softswitch.web.errors import ApiError
from softswitch.web.live import Feed, text_frame
from softswitch.web.models import (
    AgentStateRequest,
    DispositionRequest,
    NoteRequest,
    PeriodQuery,
    PresenceRequest,
    parse,
)
from softswitch.web.permissions import Access

log = get_logger("ws")

VERSION = 1
HEARTBEAT = 15.0  # s between heartbeats
HELLO_TIMEOUT = 10.0  # s to authenticate
MAX_MESSAGE = 64 * 1024
MAX_PENDING_BYTES = 4 * 1024 * 1024
FLOOD_LIMIT = 100  # messages per second from one client
CLIENTS = web.AppKey("ws_clients", set["WsClient"])
CLOSE_SLOW = 4008
CLOSE_FLOOD = 4029
CLOSE_AUTH = 4001
CLOSE_WAIT = 5.0


class WsClient:
    """One subscriber of the feed: its queues, and frames written straight to its socket's
    transport (never awaited); past ``max_pending`` unsent bytes it is dropped."""

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.BaseTransport,
                 principal: Principal, feed: Feed,
                 max_pending: int = MAX_PENDING_BYTES) -> None:
        self.ws = ws
        self.transport = transport
        self.principal = principal
        self.feed = feed
        self.queues: frozenset[str] = frozenset()
        self.key: object = (self.queues, principal.extension)
        self.after = feed.seq
        self.max_pending = max_pending
        self.dropped: str | None = None

    def subscribe(self, queues: frozenset[str], after: int) -> None:
        self.queues = queues
        self.key = (queues, self.principal.extension)
        self.after = after

    def wants(self, queues: frozenset[str], agent: str | None) -> bool:
        return not queues.isdisjoint(self.queues) or agent == self.principal.extension

    def write(self, frame: bytes) -> None:
        if self.dropped is not None:
            return
        transport = self.transport
        if transport.is_closing():
            self.dropped = "disconnected"
            self.feed.clients.discard(self)
            return
        transport.write(frame)  # type: ignore[attr-defined]
        unsent = transport.get_write_buffer_size()  # type: ignore[attr-defined]
        if unsent > self.max_pending:
            self.drop(f"slow consumer: {unsent} bytes unsent (limit {self.max_pending})")

    def push(self, text: str) -> None:
        self.write(text_frame(text))

    def send(self, message: dict[str, Any]) -> None:
        self.push(json.dumps(message, separators=(",", ":")))

    def drop(self, reason: str) -> None:
        self.dropped = reason
        self.feed.clients.discard(self)
        log.warning("websocket client dropped", extension=self.principal.extension,
                    reason=reason)
        asyncio.get_running_loop().create_task(self.close(CLOSE_SLOW, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code``: the frame follows what is still buffered; a client that
        does not take it within CLOSE_WAIT seconds is cut off."""
        self.dropped = self.dropped or reason
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()[:120]),
                                   CLOSE_WAIT)
        except Exception:  # noqa: BLE001 - a dead or stuck peer: cut it off
            self.transport.abort()  # type: ignore[attr-defined]


async def handle(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=None, compress=False)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    board = request.app[BOARD]
    creds = request.app[CREDENTIALS]
    source = request.remote or ""
    try:
        principal = await _authenticate(request, ws, creds, source)
    except ApiError as err:
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "error", **err.body()})
            await ws.close(code=CLOSE_AUTH, message=err.code.encode())
        return ws
    if principal is None:
        return ws
    feed = board.panels.feed
    client = WsClient(ws, transport, principal, feed)
    clients = request.app[CLIENTS]
    clients.add(client)
    feed.clients.add(client)  # its own agent changes, before any subscription
    access = Access(principal, board.desk.queues.acd.config)
    client.send({"type": "welcome", "version": VERSION, "extension": principal.extension,
                 "roles": access.roles(), "seq": feed.seq, "heartbeat": HEARTBEAT,
                 "server_time": time.time()})
    heartbeat = asyncio.get_running_loop().create_task(_heartbeats(client, board))
    window, count = 0, 0
    try:
        async for msg in ws:
            if client.dropped is not None:
                break
            if msg.type is not WSMsgType.TEXT:
                if msg.type is WSMsgType.BINARY:
                    client.send({"type": "error", "error": "bad_frame",
                                 "message": "text frames with JSON only"})
                continue
            second = int(time.monotonic())
            window, count = (second, 1) if second != window else (window, count + 1)
            if count > FLOOD_LIMIT:
                feed.clients.discard(client)
                await client.close(CLOSE_FLOOD, f"flood: over {FLOOD_LIMIT} messages/s")
                break
            await _message(client, board, msg.data)
    finally:
        feed.clients.discard(client)
        clients.discard(client)
        heartbeat.cancel()
    return ws


async def _authenticate(request: web.Request, ws: web.WebSocketResponse, creds: Any,
                        source: str) -> Principal | None:
    """Authorization header, ``?token=``, or a first ``hello`` message with a token."""
    header = request.headers.get("Authorization")
    if header:
        return creds.from_header(header, source)  # type: ignore[no-any-return]
    if "token" in request.query:
        return creds.from_token(request.query["token"], source)  # type: ignore[no-any-return]
    creds.refuse_banned(source)
    try:
        msg = await ws.receive(timeout=HELLO_TIMEOUT)
    except TimeoutError:
        raise ApiError(401, "unauthorized", "no hello with a token in time") from None
    if msg.type is not WSMsgType.TEXT:
        return None
    try:
        hello = json.loads(msg.data)
    except ValueError:
        raise ApiError(400, "bad_json", "the first message must be a JSON hello") from None
    if not isinstance(hello, dict) or hello.get("type") != "hello" or \
            not isinstance(hello.get("token"), str):
        raise ApiError(401, "unauthorized",
                       'first send {"type": "hello", "version": 1, "token": ...}')
    if hello.get("version", VERSION) != VERSION:
        raise ApiError(400, "unsupported_version", f"this switch speaks version {VERSION}",
                       "version")
    return creds.from_token(hello["token"], source)  # type: ignore[no-any-return]


async def _heartbeats(client: WsClient, board: ops.Switchboard) -> None:
    while client.dropped is None:
        await asyncio.sleep(HEARTBEAT)  # a liveness beat for the client, not sequencing
        client.send({"type": "heartbeat", "seq": board.panels.feed.seq,
                     "server_time": time.time()})


async def _message(client: WsClient, board: ops.Switchboard, data: str) -> None:
    try:
        message = json.loads(data)
    except ValueError as exc:
        client.send({"type": "error", "error": "bad_json", "message": f"not JSON: {exc}"})
        return
    if not isinstance(message, dict):
        client.send({"type": "error", "error": "bad_message",
                     "message": "a message is a JSON object with a type"})
        return
    mid = message.get("id")
    kind = message.get("type")
    try:
        handler = HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise ApiError(400, "unknown_type", f"unknown message type {kind!r}; expected "
                                                f"one of {', '.join(sorted(HANDLERS))}", "type")
        access = Access(client.principal, board.desk.queues.acd.config)
        reply = await handler(client, board, access, message)
        board.panels.feed.flush()  # the deltas the command caused come before its result
        if reply is not None:
            client.send({"type": "result", "id": mid, "ok": True, **reply})
    except ApiError as err:
        client.send({"type": "error", "id": mid, **err.body()})
    except Exception as exc:  # noqa: BLE001 - never a traceback to the client
        log.exception("websocket message failed", kind=kind, error=repr(exc))
        client.send({"type": "error", "id": mid, "error": "internal",
                     "message": "internal error; see the switch log"})


def _fields(message: dict[str, Any], *names: str) -> list[str]:
    out = []
    for name in names:
        value = message.get(name)
        if not isinstance(value, str):
            raise ApiError(400, "invalid_field", f"{name}: a string is required", name)
        out.append(value)
    return out


async def _subscribe(client: WsClient, board: ops.Switchboard, access: Access,
                     message: dict[str, Any]) -> dict[str, Any] | None:
    wanted = message.get("queues", "all")
    if wanted == "all":
        queues = access.viewable()
    elif isinstance(wanted, list) and all(isinstance(q, str) for q in wanted):
        for q in wanted:
            access.require_view(q, "queues")
        queues = list(dict.fromkeys(wanted))
    else:
        raise ApiError(400, "invalid_field", 'queues: a list of queue numbers or "all"',
                       "queues")
    resume = message.get("resume")
    if resume is not None and (not isinstance(resume, int) or isinstance(resume, bool)):
        raise ApiError(400, "invalid_field", "resume: the last seq received", "resume")
    period = parse(PeriodQuery, {"period": message.get("period", "today")}).period
    await board.panels.load_periods(queues)  # before the snapshot: nothing awaits after
    feed = board.panels.feed
    feed.flush()  # what is pending goes out under the old subscription first
    client.subscribe(frozenset(queues), feed.seq)
    feed.clients.add(client)
    missed = feed.replay(resume, client) if resume is not None else None
    if missed is not None:
        client.send({"type": "resumed", "id": message.get("id"), "after": resume,
                     "count": len(missed), "queues": queues})
        for text in missed:
            client.push(text)
        return None
    snapshot = board.panels.snapshot(queues, client.principal.extension, period)
    snapshot["id"] = message.get("id")
    snapshot["resumed"] = False if resume is not None else None
    client.send(snapshot)
    return None


async def _ping(client: WsClient, board: ops.Switchboard, access: Access,
                message: dict[str, Any]) -> dict[str, Any]:
    return {"pong": True, "seq": board.panels.feed.seq, "server_time": time.time()}


async def _agent_state(client: WsClient, board: ops.Switchboard, access: Access,
                       message: dict[str, Any]) -> dict[str, Any]:
    queue, agent = _fields(message, "queue", "agent")
    req = parse(AgentStateRequest, {k: v for k, v in message.items()
                                    if k in ("action", "reason")})
    return ops.set_agent_state(board, access, queue, agent, req)


async def _presence(client: WsClient, board: ops.Switchboard, access: Access,
                    message: dict[str, Any]) -> dict[str, Any]:
    (extension,) = _fields(message, "extension")
    req = parse(PresenceRequest, {k: v for k, v in message.items() if k == "status"})
    return presence_state.set_presence(board, access, extension, req.status)


async def _call_logs(client: WsClient, board: ops.Switchboard, access: Access,
                     message: dict[str, Any]) -> dict[str, Any]:
    (queue,) = _fields(message, "queue")
    kind = message.get("kind")
    limit = message.get("limit", 100)
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        raise ApiError(400, "invalid_field", "limit: a number from 1 to 500", "limit")
    return await ops.call_logs(board, access, queue, kind, limit)


async def _disposition(client: WsClient, board: ops.Switchboard, access: Access,
                       message: dict[str, Any]) -> dict[str, Any]:
    queue, record = _fields(message, "queue", "record")
    req = parse(DispositionRequest, {"disposition": message.get("disposition")})
    return await ops.set_disposition(board, access, queue, record, req)


async def _delete_record(client: WsClient, board: ops.Switchboard, access: Access,
                         message: dict[str, Any]) -> dict[str, Any]:
    queue, record = _fields(message, "queue", "record")
    return await ops.delete_record(board, access, queue, record)


async def _call_back(client: WsClient, board: ops.Switchboard, access: Access,
                     message: dict[str, Any]) -> dict[str, Any]:
    queue, record = _fields(message, "queue", "record")
    return await callback.call_back(board, access, queue, record)


async def _note(client: WsClient, board: ops.Switchboard, access: Access,
                message: dict[str, Any]) -> dict[str, Any]:
    queue, call = _fields(message, "queue", "call_id")
    req = parse(NoteRequest, {k: v for k, v in message.items() if k in ("tags", "text")})
    return await ops.save_note(board, access, queue, call, req)


_COMMON = ("type", "id", "queue", "call_id")


def _body(message: dict[str, Any]) -> dict[str, Any]:
    """The operation's own fields: everything but the envelope (unknown ones are 400)."""
    return {k: v for k, v in message.items() if k not in _COMMON}


Handler = Callable[[WsClient, ops.Switchboard, Access, dict[str, Any]],
                   Awaitable[dict[str, Any]]]


def _call_op(op: Callable[..., dict[str, Any]], model: type[BaseModel] | None = None) -> Handler:
    """A websocket handler of one call operation of `softswitch.web.callops`
    (CALL_OPERATIONS, the table REST's endpoints come from too): the call named by `queue`
    and `call_id`, and the operation's own fields validated by `model` (one
    implementation, both transports)."""

    async def handler(client: WsClient, board: ops.Switchboard, access: Access,
                      message: dict[str, Any]) -> dict[str, Any]:
        queue, call = _fields(message, "queue", "call_id")
        if model is None:
            return op(board, access, queue, call)
        return op(board, access, queue, call, parse(model, _body(message)))

    return handler


async def _call_agent(client: WsClient, board: ops.Switchboard, access: Access,
                      message: dict[str, Any]) -> dict[str, Any]:
    queue, agent = _fields(message, "queue", "agent")
    return callops.call_agent(board, access, queue, agent)


HANDLERS = {
    "subscribe": _subscribe,
    "ping": _ping,
    "agent.set_state": _agent_state,
    "presence.set": _presence,
    "calls.log": _call_logs,
    "record.set_disposition": _disposition,
    "record.delete": _delete_record,
    "record.call_back": _call_back,
    "note.save": _note,
    **{f"call.{op.name}": _call_op(op.run, op.model) for op in callops.CALL_OPERATIONS},
    "agent.call": _call_agent,
}
