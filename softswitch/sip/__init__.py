"""SIP protocol stack (RFC 3261 and friends): the API the rest of the switch codes against.

Everything except `endpoint` and `transport` is sans-IO: plain objects fed with messages and
a monotonic `now` (float seconds), returning what to send and what happened, plus a
`next_deadline()`. The asyncio shell (`SipEndpoint`) owns sockets and the one timer.

Messages (`message`, `headers`, `uri`, `errors`)
-------------------------------------------------
- `parse_message(data: bytes, *, stream=False) -> Request | Response`; raises `SipParseError`
  (`.reason` text, `.status` 400/505, `.request` = the partly parsed Request when it can be
  answered -- it has a Via and a CSeq header, so the client can match the answer, which
  goes to the source address -- else None -> drop silently). Follows RFC 4475 case by case
  (see tests/sip/test_torture.py). The endpoint does the answering (400 + Warning).
  Linear in the message size for any bytes, with the limits of `limits` (64 KB message,
  8 KB line, 256 headers, 10-digit Content-Length, 1 KB Request-URI, 128 list elements,
  64 parameters): over one, `.phrase` is a reason phrase naming it, `.status` 400, 414 or
  513.
- `Request(method, uri: SipUri | str, headers=[(name, value), ...], body=b"")`,
  `Response(status, reason=None, headers=..., body=b"")`. `bytes(msg)` serialises (it always
  writes the right Content-Length). Header access: `msg.get(name) -> str | None`,
  `msg.get_all(name) -> list[str]` (list headers split at commas), `msg.has(name)`,
  `msg.add(name, value, first=False)`, `msg.set(name, value)`, `msg.remove(name)`; names are
  case-insensitive and compact forms work ("m" == "Contact").
- Typed, parsed on first use: `msg.via` (top `Via`), `msg.vias`, `msg.from_`, `msg.to`
  (`Address`, `.tag`), `msg.call_id: str`, `msg.cseq` (`CSeq(number, method)`),
  `msg.contacts: list[Address]` (`[Address.parse("*")]` with `.is_wildcard` for `*`;
  `addr.expires` = the expires param), `msg.expires: int | None`,
  `msg.max_forwards: int | None`, `msg.routes`, `msg.record_routes`, `msg.content_type`
  ("application/sdp"), `msg.event` / `msg.subscription_state` (`(value, params)` or None,
  RFC 6665), `msg.alert_info: list[Address]`, `msg.body: bytes`.
  Request: `.method`, `.uri: SipUri`; Response: `.status`, `.reason`. Changing a typed
  value in place (e.g. `msg.via.params["received"] = ip`) is reflected in `bytes(msg)`;
  to replace a header use `msg.set("To", addr)` or `msg.to = addr`.
- `request.create_response(status, reason=None, *, to_tag=None, headers=(), body=b"")`
  copies Via/From/To/Call-ID/CSeq (and Record-Route for dialog-creating 1xx/2xx) per §8.2.6;
  copied header values are shared with the request (add the To tag with `to_tag`, which
  copies the To, rather than editing `resp.to` in place).
- `SipUri.parse(text)`: `.scheme .user .password .host .port .params .headers`; `str(uri)`.
  `Address(uri, display_name=None, params=None)`, `Address.parse(text)`; `str(addr)`.
  `Via(transport, host, port, params)` with `.branch .rport .received`. `CSeq(number, method)`.
- `new_branch() -> str` ("z9hG4bK..."), `new_tag() -> str`, `new_call_id() -> str`.
- `StreamFramer().feed(data) -> list[bytes | "ping"]` (TCP framing by Content-Length, RFC 5626
  CRLF keepalive); raises `SipParseError` when the stream's framing is lost.

Transactions (`transaction`, `events`) -- sans-IO, RFC 3261 §17 + RFC 6026
--------------------------------------------------------------------------
- `Peer(transport, host, port)`: NamedTuple, transport "udp" | "tcp" (the far end of a
  message; for TCP it also names the connection).
- `TimerConfig(t1=0.5, t2=4.0, t4=5.0)`.
- `TransactionLayer(timers=TimerConfig())`:
    `send_request(request, peer, now) -> ClientTransaction` (request must carry its top Via
    with a `z9hG4bK` branch), `send_response(server_txn, response, now)`,
    `send_stateless(message, peer)`, `receive(message, peer, now)`,
    `handle_timers(now)`, `next_deadline() -> float | None`,
    `pop_outputs() -> list[Output]` (everything the calls above produced, in order).
- Outputs (`events`): `SendMessage(message, peer)`; to the TU: `RequestReceived(transaction,
  request)` (new request, not ACK/CANCEL), `ResponseReceived(transaction, response)` (1xx and
  final; 2xx retransmissions too, unless the TU registered an ACK with `set_ack()`),
  `AckReceived(request, transaction | None)` (ACK for a 2xx we sent, or stray ACK),
  `CancelReceived(request, transaction | None)` (the layer already answered the CANCEL with
  200, or 481 when no INVITE matched; the TU answers 487 on the INVITE),
  `TransactionTimedOut(transaction, timer)` (B/F: no final response -> treat as 408;
  H: no ACK for our non-2xx final; L: no ACK for our 2xx), `TransactionTerminated(transaction)`,
  `StrayResponse(response, peer)` (matched no transaction).
- Transactions: `ClientInviteTransaction`, `ClientNonInviteTransaction`,
  `ServerInviteTransaction`, `ServerNonInviteTransaction` with `.state` (`TransactionState`),
  `.request`, `.method`, `.peer`, `.key`, `.last_response`, `.call_id`, `.next_deadline()`.
  Once a transaction only waits out its last timer (final response sent/received, 2xx
  ACKed) it keeps the wire bytes it may have to repeat and releases `.request` (reading it
  then raises RuntimeError) and `.last_response` (None): keep your own reference to the
  request. This keeps the garbage collector's pauses short under load. A server
  INVITE transaction that sent a 2xx retransmits it over UDP (T1 doubling to T2, §13.3.1.4)
  until the ACK arrives (`AckReceived`) or 64*T1 passes (`TransactionTimedOut(timer="L")`).
  Over TCP no retransmission timers run (A, E, G are not started; D, I, J, K are 0).
  The INVITE server transaction sends "100 Trying" itself on creation; a 100 the TU sends
  afterwards is ignored (no duplicate on the wire). A merged request (§8.2.2.2: same From
  tag/Call-ID/CSeq, another branch, while the first is unanswered) gets 482 from the layer.

Endpoint (`endpoint`, `transport`) -- asyncio shell
----------------------------------------------------
- `SipEndpoint(on_request, *, on_ack=None, on_cancel=None, on_ack_timeout=None,
  timers=TimerConfig(), user_agent="softswitch", advertised_host=None,
  tcp_idle_timeout=900.0, logger=None, supported=frozenset(), max_tcp_connections=10000,
  rate_limit=None)`
    (connections beyond the limit are closed at once; `rate_limit`, a
    `ratelimit.RequestRateLimit`, drops the requests of a flooding source before they are
    parsed, unanswered, and logs each block once); before `on_request` it answers
    416 for a Request-URI scheme other than sip/sips/tel and 420 (+ Unsupported) for a
    Require naming an option tag not in `supported` (§8.2.2.1, §8.2.2.3).
    `on_request(txn: ServerTransaction, request)`: every new request except ACK/CANCEL;
      `txn.peer` is the source address (received/rport) -- record it for NAT/TCP reuse.
      If the callback raises `SipParseError` the endpoint answers 400 with the reason; any
      other exception is logged and answered 500. It never takes the process down.
    `on_ack(request, txn | None)`, `on_cancel(request, invite_txn | None)`,
    `on_ack_timeout(txn)`.
  `await listen(transport, host, port) -> Peer` (port 0 = ephemeral; returns the bound one),
  `local_peer(transport) -> Peer` (for Via/Contact),
  `send_request(request, destination: Peer, *, on_response=None) -> OutgoingRequest`:
      adds our Via (fresh branch, rport) when the request has none, and Max-Forwards;
      `OutgoingRequest.final` is an `asyncio.Future[Response]` (a synthesized 408 on
      Timer B/F, 503 on transport failure); `on_response(response)` sees every response
      (1xx and final); `OutgoingRequest.cancel()` sends CANCEL per §9.1 (waits for a 1xx);
      `OutgoingRequest.send_ack(ack)` sends the ACK for a 2xx and re-sends it on 2xx
      retransmissions.
  `send_response(txn, response) -> bool` (False: already answered, nothing sent),
  `send_stateless(message, destination)`,
  `await close()`; `stats` (received / sent / malformed / malformed_dropped / rate_limited
  counters), `connection_count`,
  `layer.transaction_count`.
- UDP sockets are read in batches (up to 32 datagrams per readiness event, 8 MB receive
  buffer); TCP connections are kept in a table by remote address, closed after
  `tcp_idle_timeout` seconds without traffic, and answer RFC 5626 CRLF pings.
- Logging: structlog; every transaction and message line carries `call_id`. Malformed
  input is logged at most once a second at info level (the rest at debug, counted).

Dialogs (`dialog`) -- sans-IO, RFC 3261 §12
-------------------------------------------
- `Dialog.create_uac(request, response)` / `Dialog.create_uas(request, response)` (response =
  the 1xx-with-tag/2xx sent or received). Fields: `id` (`DialogId(call_id, local_tag,
  remote_tag)`), `local_uri`, `remote_uri`, `remote_target: SipUri`, `route_set:
  list[Address]`, `local_cseq`, `remote_cseq`, `state` (EARLY / CONFIRMED / TERMINATED).
  `create_request(method, *, body=b"", content_type=None, headers=()) -> Request`
  (BYE, re-INVITE, INFO, NOTIFY, ...; CSeq incremented), `create_ack(invite) -> Request`
  (ACK for a 2xx), `receive_request(request) -> Response | None` (500 for a lower CSeq;
  target refresh on re-INVITE), `receive_response(response)` (confirm / target refresh),
  `next_hop() -> SipUri`.
- `create_cancel(invite) -> Request` (§9.1), `dialog_id_of(message, *, uas) -> DialogId`.

Auth (`auth`) -- RFC 2617/7616/8760 digest, sans-IO
---------------------------------------------------
- `DigestAuthenticator(realm, lookup, *, secret=None, nonce_ttl=300.0,
  algorithms=("MD5",))`; `lookup(username) -> str | HA1 | None` (plain password,
  or `HA1(md5=..., sha256=...)` hex digests).
  `challenge(request, now, *, stale=False, source="") -> Response` (401 + WWW-Authenticate
  for REGISTER and other non-proxy requests, 407 + Proxy-Authenticate for INVITE, MESSAGE,
  SUBSCRIBE; one challenge per offered algorithm: `offered(request, source)`, SHA-256 on
  top for a client that showed it speaks it).
  `verify(request, now, source="") -> AuthResult` with `.status` (`AuthStatus.OK / MISSING
  / STALE / FAILED`), `.username`, `.reason`.
  `authenticate(request, now, source="") -> tuple[AuthResult, Response | None]`: the
  response to send (challenge, stale challenge) or None when OK.
- UAC side: `authorize(challenge_response, request, username, password) -> Request` (the
  request again with the next CSeq and Authorization/Proxy-Authorization, no Via).
- `BruteForceGuard(max_failures=20, window=60.0, ban_time=300.0, trusted=())`:
  `is_banned(host, now)`, `record_failure(host, now) -> Ban | None` (the ban this failure
  started), `lift(host) -> Ban | None`, `bans(now)`, `banned_hosts(now)`, `next_deadline()`,
  `handle_timer(now) -> list[Ban]` (the bans that ended; forgets old failures). Hosts in
  `trusted` networks are never banned. `Ban(address, failures, since, until)`.

SDP (`sdp`) -- RFC 4566 / RFC 3264 subset
-----------------------------------------
- `SessionDescription.parse(data: bytes)` (raises `SdpParseError`), `bytes(sdp)`; fields
  `origin`, `session_name`, `connection` (address or None), `media: list[MediaDescription]`.
  `MediaDescription`: `media`, `port`, `proto`, `formats: list[str]`, `connection`,
  `direction` ("sendrecv"/"sendonly"/"recvonly"/"inactive"), `rtpmap: dict[int, RtpMap]`,
  `fmtp: dict[int, str]`, `ptime`.
- `create_offer(address, port, *, codecs=("PCMU", "PCMA"), telephone_event=True,
  direction="sendrecv", session_id=None) -> SessionDescription`,
  `create_answer(offer, address, port, *, codecs=("PCMU", "PCMA"), direction=None) ->
  SessionDescription | None` (None: no common codec -> 488; keeps the offer's order),
  `anchor(sdp, address, port) -> SessionDescription` (copy with c=/m= rewritten for media
  anchoring), `is_on_hold(sdp) -> bool`, `audio(sdp) -> MediaDescription | None`.
"""

from .auth import HA1, AuthResult, AuthStatus, BruteForceGuard, DigestAuthenticator, authorize
from .dialog import Dialog, DialogId, DialogState, create_cancel, dialog_id_of
from .endpoint import OutgoingRequest, SipEndpoint
from .errors import SipParseError
from .events import (
    AckReceived,
    CancelReceived,
    Output,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TransactionTerminated,
    TransactionTimedOut,
)
from .headers import Address, CSeq, Via
from .message import (
    Message,
    Request,
    Response,
    StreamFramer,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
    reason_phrase,
)
from .sdp import (
    MediaDescription,
    RtpMap,
    SdpParseError,
    SessionDescription,
    anchor,
    audio,
    create_answer,
    create_offer,
    is_on_hold,
)
from .transaction import (
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ClientTransaction,
    Peer,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    ServerTransaction,
    TimerConfig,
    Transaction,
    TransactionLayer,
    TransactionState,
)
from .uri import SipUri

__all__ = [
    "HA1", "AckReceived", "Address", "AuthResult", "AuthStatus", "BruteForceGuard", "CSeq",
    "CancelReceived", "ClientInviteTransaction", "ClientNonInviteTransaction",
    "ClientTransaction", "Dialog", "DialogId", "DialogState", "DigestAuthenticator",
    "MediaDescription", "Message", "OutgoingRequest", "Output", "Peer", "Request",
    "RequestReceived", "Response", "ResponseReceived", "RtpMap", "SdpParseError",
    "SendMessage", "ServerInviteTransaction", "ServerNonInviteTransaction",
    "ServerTransaction", "SessionDescription", "SipEndpoint", "SipParseError", "SipUri",
    "StrayResponse", "StreamFramer", "TimerConfig", "Transaction", "TransactionLayer",
    "TransactionState", "TransactionTerminated", "TransactionTimedOut", "Via", "anchor",
    "audio", "authorize", "create_answer", "create_cancel", "create_offer", "dialog_id_of",
    "is_on_hold", "new_branch", "new_call_id", "new_tag", "parse_message", "reason_phrase",
]
