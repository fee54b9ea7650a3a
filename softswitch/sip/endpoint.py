"""`SipEndpoint`: the asyncio shell around the sans-IO transaction layer (RFC 3261 §17-18).

It owns the UDP sockets, the TCP listeners and connection table, one `TransactionLayer` and
one `asyncio.TimerHandle` re-armed to the layer's earliest deadline. The application gets
callbacks for new requests, ACKs, CANCELs and ACK timeouts, and sends requests/responses
through it.

Malformed input (RFC 3261 §21.4.1, RFC 4475): a request whose Via/From/To/Call-ID/CSeq parse
gets a 400 (505 for a wrong version) with a Warning header naming the problem; anything else
is dropped. Messages over the limits of `limits` get the same (the reason phrase names the
limit). With a `rate_limit` (`ratelimit.RequestRateLimit`), the requests of a source over
its budget are dropped before they are parsed. A callback raising `SipParseError` (a
header it read lazily was bad) also gets a 400; any other exception in a callback is logged
and answered 500. Nothing here lets one bad message disturb another transaction.

Decisions:
- A TCP connection that closes does not fail the client transactions sent over it: the far
  end may still answer over a new connection (§18.2.2), so Timers B/F decide (408). A
  connection that cannot be opened at all fails them at once with 503 (§8.1.3.1).
- Responses over UDP go to the request's source address and port (see transaction.py);
  over TCP back over the request's connection, else to Via received/sent-by (§18.2.2).
- Requests larger than the path MTU are still sent over UDP (§18.1.1's switch to TCP is
  not done): our messages are small, and phones rarely accept TCP they did not open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import structlog

from .errors import SipParseError
from .events import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
)
from .headers import Via
from .message import Message, Request, Response, new_branch, parse_message
from .ratelimit import RateVerdict, RequestRateLimit
from .transaction import (
    ClientInviteTransaction,
    ClientTransaction,
    Peer,
    ServerInviteTransaction,
    ServerTransaction,
    TimerConfig,
    TransactionLayer,
    TransactionState,
)
from .transport import TcpConnection, UdpTransport

__all__ = ["SipEndpoint", "OutgoingRequest"]

RequestCallback = Callable[[ServerTransaction, Request], None]
AckCallback = Callable[[Request, ServerInviteTransaction | None], None]
CancelCallback = Callable[[Request, ServerInviteTransaction | None], None]
AckTimeoutCallback = Callable[[ServerInviteTransaction], None]
ResponseCallback = Callable[[Response], None]


class OutgoingRequest:
    """A request we sent: its client transaction, the awaitable final response, CANCEL and
    2xx-ACK helpers."""

    __slots__ = (
        "endpoint",
        "transaction",
        "request",
        "destination",
        "final",
        "on_response",
        "provisional_received",
        "_cancel_wanted",
        "cancel_request",
    )

    def __init__(
        self,
        endpoint: SipEndpoint,
        transaction: ClientTransaction,
        destination: Peer,
        final: asyncio.Future[Response],
        on_response: ResponseCallback | None,
    ) -> None:
        self.endpoint = endpoint
        self.transaction = transaction
        self.request = transaction.request
        self.destination = destination
        #: resolves with the first final response (a synthesized 408 on Timer B/F, 503 on
        #: transport failure)
        self.final = final
        self.on_response = on_response
        self.provisional_received = False
        self._cancel_wanted = False
        self.cancel_request: Request | None = None

    def cancel(self) -> None:
        """CANCEL this INVITE (§9.1): sent now if a provisional response has arrived, else as
        soon as one does; nothing happens once a final response is in."""
        if self.request.method != "INVITE" or self.final.done() or self._cancel_wanted:
            return
        self._cancel_wanted = True
        if self.provisional_received:
            self._send_cancel()

    def _send_cancel(self) -> None:
        from .dialog import create_cancel

        if self.cancel_request is not None or self.final.done():
            return
        self.cancel_request = create_cancel(self.request)
        self.endpoint.send_request(self.cancel_request, self.destination)

    def send_ack(self, ack: Request, destination: Peer | None = None) -> None:
        """Send the ACK for a 2xx (built by the dialog, §13.2.2.4) and re-send it whenever the
        2xx is retransmitted."""
        dest = destination or self.destination
        self.endpoint.send_stateless(ack, dest)
        txn = self.transaction
        if isinstance(txn, ClientInviteTransaction):
            txn.set_ack(ack)


class MessageCounts:
    """Requests delivered to the TU by method and responses sent by status code (the
    /metrics counters, softswitch.web.metrics): two dict increments per message."""

    __slots__ = ("requests", "responses")

    def __init__(self) -> None:
        self.requests: dict[str, int] = {}
        self.responses: dict[int, int] = {}


class SipEndpoint:
    """UDP/TCP transports + transaction layer + timer; see the package docstring."""

    def __init__(
        self,
        on_request: RequestCallback,
        *,
        on_ack: AckCallback | None = None,
        on_cancel: CancelCallback | None = None,
        on_ack_timeout: AckTimeoutCallback | None = None,
        timers: TimerConfig | None = None,
        user_agent: str = "softswitch",
        advertised_host: str | None = None,
        tcp_idle_timeout: float = 900.0,
        logger: Any = None,
        supported: frozenset[str] = frozenset(),
        max_tcp_connections: int = 10_000,
        rate_limit: RequestRateLimit | None = None,
    ) -> None:
        self.on_request = on_request
        #: per-source request flood guard (Kamailio pike); None: no limit
        self.rate_limit = rate_limit
        self.counts = MessageCounts()
        #: option tags we implement; a Require naming any other gets 420 (§8.2.2.3)
        self.supported = frozenset(t.lower() for t in supported)
        self.on_ack = on_ack
        self.on_cancel = on_cancel
        self.on_ack_timeout = on_ack_timeout
        self.layer = TransactionLayer(timers)
        self.user_agent = user_agent
        self.advertised_host = advertised_host
        self.tcp_idle_timeout = tcp_idle_timeout
        self.max_tcp_connections = max_tcp_connections
        self.log = logger if logger is not None else structlog.get_logger("softswitch.sip")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._udp: list[UdpTransport] = []
        # With several UDP listeners: which socket a peer last spoke to, so answers and
        # requests to it leave from that address (bounded; see udp_datagram()).
        self._udp_route: dict[tuple[str, int], UdpTransport] = {}
        self._tcp_servers: list[tuple[asyncio.base_events.Server, Peer]] = []
        self._connections: dict[tuple[str, int], TcpConnection] = {}
        self._connecting: dict[tuple[str, int], list[bytes]] = {}
        self._outgoing: dict[ClientTransaction, OutgoingRequest] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._processing = False
        self._closed = False
        self.stats = {"received": 0, "sent": 0, "malformed": 0, "malformed_dropped": 0,
                      "rate_limited": 0}
        self._malformed_logged_at = -1e9
        self._malformed_suppressed = 0

    # -- set-up --------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    async def listen(self, transport: str, host: str, port: int) -> Peer:
        """Listen on `transport` ("udp" or "tcp") at host:port (0 = ephemeral); returns the
        bound address."""
        loop = self.loop
        transport = transport.lower()
        if transport == "udp":
            proto = UdpTransport.open(self, host, port)
            assert proto.local is not None
            self._udp.append(proto)
            self.log.info("sip listening", transport="udp", host=proto.local.host,
                          port=proto.local.port)
            return proto.local
        if transport == "tcp":
            server = await loop.create_server(lambda: TcpConnection(self), host, port)
            sock_host, sock_port = server.sockets[0].getsockname()[:2]
            local = Peer("tcp", str(sock_host), int(sock_port))
            self._tcp_servers.append((server, local))
            self.log.info("sip listening", transport="tcp", host=local.host, port=local.port)
            return local
        raise ValueError(f"unsupported SIP transport {transport!r}")

    def local_peer(self, transport: str = "udp") -> Peer:
        """Our address for `transport` (first listener), with `advertised_host` applied --
        what goes into Via sent-by and Contact."""
        transport = transport.lower()
        local: Peer | None = None
        if transport == "udp" and self._udp:
            local = self._udp[0].local
        elif transport == "tcp" and self._tcp_servers:
            local = self._tcp_servers[0][1]
        if local is None:
            raise ValueError(f"not listening on {transport}")
        if self.advertised_host:
            return Peer(local.transport, self.advertised_host, local.port)
        return local

    def bound_peer(self, transport: str = "udp") -> Peer:
        """The address our first `transport` listener is bound to (no `advertised_host`):
        where a client in this process reaches us."""
        transport = transport.lower()
        if transport == "udp" and self._udp and self._udp[0].local is not None:
            return self._udp[0].local
        if transport == "tcp" and self._tcp_servers:
            return self._tcp_servers[0][1]
        raise ValueError(f"not listening on {transport}")

    async def close(self) -> None:
        """Stop listening, close connections, cancel the timer. Pending `final` futures
        are cancelled."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for u in self._udp:
            u.close()
        for server, _ in self._tcp_servers:
            server.close()
        for conn in list(self._connections.values()):
            conn.close()
        for server, _ in self._tcp_servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 1.0)
            except TimeoutError:
                pass
        for out in self._outgoing.values():
            if not out.final.done():
                out.final.cancel()
            out.on_response = None
        self._outgoing.clear()

    # -- sending -------------------------------------------------------------------------

    def make_via(self, transport: str) -> Via:
        """Our Via for a new request: sent-by = our listening address, a fresh branch, and
        `rport` so answers come back to our socket (RFC 3581)."""
        local = self.local_peer(transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        return Via(transport.upper(), host, local.port,
                   {"branch": new_branch(), "rport": None})

    def send_request(
        self,
        request: Request,
        destination: Peer,
        *,
        on_response: ResponseCallback | None = None,
    ) -> OutgoingRequest:
        """Send `request` in a new client transaction. Adds our Via (fresh branch, rport)
        when the request has none, Max-Forwards: 70 and User-Agent when absent."""
        self._prepare_request(request, destination)
        now = self.loop.time()
        txn = self.layer.send_request(request, destination, now)
        fut: asyncio.Future[Response] = self.loop.create_future()
        out = OutgoingRequest(self, txn, destination, fut, on_response)
        self._outgoing[txn] = out
        self._process()
        return out

    def _prepare_request(self, request: Request, destination: Peer) -> None:
        if not request.has("Via"):
            request.insert_via(self.make_via(destination.transport))
        if not request.has("Max-Forwards"):
            request.add("Max-Forwards", "70")
        if self.user_agent and request.method != "ACK" and not request.has("User-Agent"):
            request.add("User-Agent", self.user_agent)

    def send_response(self, txn: ServerTransaction, response: Response) -> bool:
        """Answer a server transaction (retransmissions are handled by it). Returns False,
        and sends nothing, when the transaction was already answered finally (e.g. a 200
        racing the 487 of a CANCEL) -- logged, never raised, so a late answer cannot take a
        call handler down."""
        if not response.has("Server") and self.user_agent:
            response.add("Server", self.user_agent)
        counts = self.counts.responses
        counts[response.status] = counts.get(response.status, 0) + 1
        try:
            self.layer.send_response(txn, response, self.loop.time())
        except RuntimeError:
            self.log.warning("response to a finished transaction dropped", call_id=txn.call_id,
                             method=txn.method, status=response.status,
                             state=txn.state.value)
            return False
        self._process()
        return True

    def send_stateless(self, message: Message, destination: Peer) -> None:
        """Send outside any transaction: the ACK for a 2xx (§13.2.2.4), or a stateless
        response. A request without Via gets ours."""
        if isinstance(message, Request):
            self._prepare_request(message, destination)
        self._transmit(bytes(message), destination)

    def _transmit(self, data: bytes, peer: Peer) -> None:
        self.stats["sent"] += 1
        if peer.transport == "udp":
            if not self._udp:
                self.log.warning("no udp listener to send from", peer=f"{peer.host}:{peer.port}")
                return
            sock = self._udp[0]
            if len(self._udp) > 1:
                sock = self._udp_route.get((peer.host, peer.port), sock)
            sock.send(data, peer)
        elif peer.transport == "tcp":
            self._tcp_send(data, peer)
        else:
            self.log.warning("unsupported transport", transport=peer.transport)

    # -- TCP connection table --------------------------------------------------------------

    def has_connection(self, host: str, port: int) -> bool:
        """Is a TCP connection with ``host:port`` open (or being opened) right now?"""
        key = (host, port)
        return key in self._connections or key in self._connecting

    def _response_fallback(self, response: Response, peer: Peer) -> Peer:
        """§18.2.2: the connection the request came on is gone, so open one to the
        `received` address and the Via sent-by port (default 5060)."""
        try:
            via = response.via
        except SipParseError:
            return peer
        return Peer("tcp", via.received or peer.host, via.port or 5060)

    def _tcp_send(self, data: bytes, peer: Peer) -> None:
        key = (peer.host, peer.port)
        conn = self._connections.get(key)
        if conn is not None:
            conn.write(data)
            return
        pending = self._connecting.get(key)
        if pending is not None:
            pending.append(data)
            return
        self._connecting[key] = [data]
        self.loop.create_task(self._tcp_connect(peer))

    async def _tcp_connect(self, peer: Peer) -> None:
        key = (peer.host, peer.port)
        try:
            await asyncio.wait_for(
                self.loop.create_connection(lambda: TcpConnection(self), peer.host, peer.port),
                timeout=10.0,
            )
        except (OSError, TimeoutError) as exc:
            self._connecting.pop(key, None)
            self.log.info("tcp connect failed", peer=f"{peer.host}:{peer.port}", error=str(exc))
            self._transport_failed(peer)
            return
        # tcp_connection_made() flushed the queue.

    def tcp_connection_made(self, conn: TcpConnection) -> None:
        assert conn.peer is not None
        key = (conn.peer.host, conn.peer.port)
        if len(self._connections) >= self.max_tcp_connections and key not in self._connecting:
            # A connection flood must not exhaust file descriptors or memory; ours (opened
            # for pending requests) are always let through.
            self.log.warning("tcp connection refused: table full",
                             peer=f"{conn.peer.host}:{conn.peer.port}",
                             limit=self.max_tcp_connections)
            conn.peer = None  # not in the table
            conn.close()
            return
        self._connections[key] = conn
        pending = self._connecting.pop(key, None)
        if pending:
            for data in pending:
                conn.write(data)
        self.tcp_activity(conn)

    def tcp_activity(self, conn: TcpConnection) -> None:
        conn.last_activity = self.loop.time()
        if conn.idle_handle is None and self.tcp_idle_timeout > 0:
            conn.idle_handle = self.loop.call_later(
                self.tcp_idle_timeout, self._tcp_idle_check, conn
            )

    def _tcp_idle_check(self, conn: TcpConnection) -> None:
        conn.idle_handle = None
        idle = self.loop.time() - conn.last_activity
        if idle >= self.tcp_idle_timeout:
            conn.close()
        else:
            conn.idle_handle = self.loop.call_later(
                self.tcp_idle_timeout - idle, self._tcp_idle_check, conn
            )

    def tcp_connection_lost(self, conn: TcpConnection) -> None:
        if conn.idle_handle is not None:
            conn.idle_handle.cancel()
            conn.idle_handle = None
        if conn.peer is not None:
            key = (conn.peer.host, conn.peer.port)
            if self._connections.get(key) is conn:
                del self._connections[key]

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def _transport_failed(self, peer: Peer) -> None:
        """§8.1.3.1: a transport failure is reported to the TU as 503."""
        for txn, out in list(self._outgoing.items()):
            if txn.peer == peer and not out.final.done():
                resp = out.request.create_response(503, "Service Unavailable (transport)")
                out.final.set_result(resp)
                if out.on_response is not None:
                    self._call(out.on_response, resp)

    # -- receiving -----------------------------------------------------------------------

    def udp_datagram(self, sock: UdpTransport, data: bytes, peer: Peer) -> None:
        """A datagram arrived on one of our UDP sockets."""
        if len(self._udp) > 1:
            route = self._udp_route
            if len(route) >= 100_000 and (peer.host, peer.port) not in route:
                route.clear()  # crude bound against address-spraying floods
            route[(peer.host, peer.port)] = sock
        self.data_received(data, peer, False)

    def data_received(self, data: bytes, peer: Peer, stream: bool) -> None:
        """Entry point of the transports: parse and hand to the transaction layer."""
        if self._closed:
            return
        self.stats["received"] += 1
        if not stream and data[:1] in (b"\r", b"\n", b" ", b"\t", b"") and not data.strip():
            return  # UDP keepalive (RFC 5626 CRLF, or an empty datagram)
        limit = self.rate_limit
        if limit is not None and not data[:64].lstrip(b"\r\n").startswith(b"SIP/"):
            # Before parsing: a blocked source's flood costs a dictionary look-up, not a
            # parse. Everything that is not a response counts, garbage included.
            verdict = limit.check(peer.host, self.loop.time())
            if verdict is not RateVerdict.ADMIT:
                self.stats["rate_limited"] += 1
                if verdict is RateVerdict.BLOCK_STARTED:
                    self.log.warning("sip source blocked: request rate over the limit",
                                     source=peer.host, transport=peer.transport,
                                     requests=limit.requests, interval=limit.interval,
                                     block_time=limit.block_time)
                return
        try:
            msg = parse_message(data, stream=stream)
        except SipParseError as exc:
            self.reject_malformed(exc, peer)
            return
        try:
            self.layer.receive(msg, peer, self.loop.time())
            self._process()
        except Exception:
            # A bug must cost this one message, not the socket reader or other calls.
            self.log.exception("sip message handling failed", call_id=msg.get("Call-ID"),
                               peer=f"{peer.host}:{peer.port}")

    def reject_malformed(self, exc: SipParseError, peer: Peer) -> None:
        """Answer a malformed request 400 (or the status the parser chose, with its reason
        phrase naming a limit the message is over), or drop what cannot be answered;
        counted in `stats` either way."""
        self.stats["malformed"] += 1
        req = exc.request
        # A flood of garbage must not become a flood of log lines: at most one line per
        # second at info level, with the count of those not logged; the rest at debug.
        now = self.loop.time()
        if now - self._malformed_logged_at >= 1.0:
            log = self.log.info
            self._malformed_logged_at = now
            suppressed, self._malformed_suppressed = self._malformed_suppressed, 0
        else:
            log = self.log.debug
            self._malformed_suppressed += 1
            suppressed = 0
        if req is None or req.method == "ACK":
            self.stats["malformed_dropped"] += 1
            log("malformed message dropped", peer=f"{peer.host}:{peer.port}",
                reason=exc.reason, not_logged_before=suppressed)
            return
        log("malformed request rejected", call_id=req.get("Call-ID"), method=req.method,
            peer=f"{peer.host}:{peer.port}", status=exc.status, reason=exc.reason,
            not_logged_before=suppressed)
        resp = self._error_response(req, exc.status, exc.reason, exc.phrase)
        self._transmit(bytes(resp), peer)

    def _error_response(self, req: Request, status: int, reason: str,
                        phrase: str | None = None) -> Response:
        resp = req.create_response(status, phrase)
        host = self.advertised_host or (self._udp[0].local.host
                                        if self._udp and self._udp[0].local else "softswitch")
        text = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "?" for c in reason)
        resp.add("Warning", f'399 {host} "{text[:200]}"')
        return resp

    # -- driving the layer ---------------------------------------------------------------

    def _process(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            layer = self.layer
            while True:
                outs = layer.pop_outputs()
                if not outs:
                    break
                for o in outs:
                    self._dispatch(o)
        finally:
            self._processing = False
        self._rearm()

    def _dispatch(self, o: object) -> None:
        if isinstance(o, SendMessage):
            peer = o.peer
            if (peer.transport == "tcp" and isinstance(o.message, Response)
                    and (peer.host, peer.port) not in self._connections):
                peer = self._response_fallback(o.message, peer)
            self._transmit(bytes(o.message), peer)
        elif isinstance(o, RequestReceived):
            self._deliver_request(o.transaction, o.request)
        elif isinstance(o, TransactionTerminated):
            # (one per transaction: checked before the rarer outputs)
            txn = o.transaction
            if isinstance(txn, ClientTransaction):
                out = self._outgoing.pop(txn, None)
                if out is not None:
                    if not out.final.done():
                        out.final.set_result(out.request.create_response(408))
                    # No response can reach it any more; its callback usually closes over
                    # the call that holds this OutgoingRequest (a reference cycle):
                    # dropping it lets the ended call be freed by reference counting.
                    out.on_response = None
        elif isinstance(o, ResponseReceived):
            out = self._outgoing.get(o.transaction)
            if out is None:
                return
            resp = o.response
            if resp.status < 200:
                if not out.provisional_received:
                    out.provisional_received = True
                    if out._cancel_wanted:
                        out._send_cancel()
            elif not out.final.done():
                out.final.set_result(resp)
            if out.on_response is not None:
                self._call(out.on_response, resp)
        elif isinstance(o, AckReceived):
            if self.on_ack is not None:
                self._call(self.on_ack, o.request, o.transaction)
        elif isinstance(o, CancelReceived):
            self.log.debug("cancel received", call_id=o.request.call_id,
                           matched=o.transaction is not None)
            if self.on_cancel is not None:
                self._call(self.on_cancel, o.request, o.transaction)
        elif isinstance(o, TransactionTimedOut):
            txn = o.transaction
            self.log.info("transaction timed out", call_id=txn.call_id,
                          method=txn.method, timer=o.timer)
            if isinstance(txn, ClientTransaction):
                out = self._outgoing.get(txn)
                if out is not None and not out.final.done():
                    resp = out.request.create_response(408)
                    out.final.set_result(resp)
                    if out.on_response is not None:
                        self._call(out.on_response, resp)
            elif o.timer == "L" and isinstance(txn, ServerInviteTransaction):
                if self.on_ack_timeout is not None:
                    self._call(self.on_ack_timeout, txn)
        elif isinstance(o, StrayResponse):
            self.log.debug("stray response", call_id=o.response.call_id,
                           status=o.response.status)

    def _deliver_request(self, txn: ServerTransaction, request: Request) -> None:
        counts = self.counts.requests
        counts[request.method] = counts.get(request.method, 0) + 1
        # §8.2.2.1 / §8.2.2.3 checks every UAS does before its TU sees the request
        # (RFC 4475 §3.3.2, §3.3.3 and §3.3.6).
        if request.uri.scheme not in ("sip", "sips", "tel"):
            self._answer_if_open(txn, request.create_response(416))
            return
        if request.method != "CANCEL" and request.has("Require"):
            unknown = [t for t in request.get_all("Require")
                       if t and t.lower() not in self.supported]
            if unknown:
                self._answer_if_open(txn, request.create_response(
                    420, headers=[("Unsupported", ", ".join(unknown))]))
                return
        try:
            self.on_request(txn, request)
        except SipParseError as exc:
            self.log.info("bad header in request", call_id=request.call_id,
                          method=request.method, reason=exc.reason)
            self._answer_if_open(txn, self._error_response(request, 400, exc.reason))
        except Exception:
            self.log.exception("request handler failed", call_id=request.call_id,
                               method=request.method)
            self._answer_if_open(txn, request.create_response(500))

    def _answer_if_open(self, txn: ServerTransaction, response: Response) -> None:
        if txn.state in (TransactionState.TRYING, TransactionState.PROCEEDING):
            try:
                self.layer.send_response(txn, response, self.loop.time())
            except RuntimeError:
                pass

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            self.log.exception("sip callback failed")

    def _on_timer(self) -> None:
        # asyncio may run the handle a clock tick early; the deadline itself has passed.
        when = self._timer_when or 0.0
        self._timer = None
        self._timer_when = None
        self.layer.handle_timers(max(self.loop.time(), when))
        self._process()

    def _rearm(self) -> None:
        if self._closed:
            return
        d = self.layer.next_deadline()
        if d == self._timer_when:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_when = d
        if d is not None:
            self._timer = self.loop.call_at(d, self._on_timer)
