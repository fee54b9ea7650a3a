"""The four SIP transaction state machines and the layer that matches messages to them
(RFC 3261 §17, with the RFC 6026 "Accepted" states). Sans-IO: inputs are messages and `now`,
outputs are appended to an output list (`SendMessage` commands and TU events, see
`events.py`), and `next_deadline()` tells the shell when to call `handle_timers(now)`.

Decisions:
- Over a reliable transport (anything but UDP) the retransmission timers A, E, G are never
  started and the wait timers D, I, J, K are zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
- An INVITE server transaction sends "100 Trying" itself as soon as it is created (§17.2.1
  allows it; a B2BUA never knows it will answer within 200 ms).
- RFC 6026: after a 2xx the INVITE server transaction enters Accepted for Timer L = 64*T1,
  absorbs INVITE retransmissions, and -- doing the UAS core's §13.3.1.4 job so every TU gets
  it right -- retransmits the 2xx over UDP (T1 doubling up to T2) until the ACK matching
  (Call-ID, CSeq number, From tag) arrives. No ACK by Timer L -> `TransactionTimedOut("L")`.
  The INVITE client transaction enters Accepted for Timer M = 64*T1 and passes 2xx
  retransmissions up, or re-sends the ACK the TU registered with `set_ack()`.
- Responses from a server transaction go to the request's source address and port (as if
  `rport` were always present, RFC 3581), which is what phones behind NAT need; over TCP the
  source address names the connection.
- CANCEL is answered by the layer (200, or 481 when no INVITE server transaction matches,
  §9.2) and reported with `CancelReceived`; the TU answers the INVITE with 487.
- Merged requests (§8.2.2.2: same From tag, Call-ID and CSeq outside a dialog, another
  branch) get 482 from the layer -- but only while the first copy is unanswered, because
  some phones re-use the CSeq for the retry after a 401/407.
- Transactions that only wait out their last timer keep wire bytes, not message objects
  (see `Transaction.request`), so the garbage collector has little to walk under load.
"""

from __future__ import annotations

import enum
import heapq
from itertools import count
from typing import NamedTuple

import structlog

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
from .headers import MAGIC_COOKIE, Via
from .message import Message, Request, Response

__all__ = [
    "Peer",
    "TimerConfig",
    "TransactionState",
    "Transaction",
    "ClientTransaction",
    "ServerTransaction",
    "ClientInviteTransaction",
    "ClientNonInviteTransaction",
    "ServerInviteTransaction",
    "ServerNonInviteTransaction",
    "TransactionLayer",
]

log = structlog.get_logger("softswitch.sip.transaction")

_DEBUG = 10  # logging.DEBUG
_debug_checked: tuple[object, bool] = (None, True)


def _debug_enabled() -> bool:
    """Whether structlog's current configuration lets debug lines through. Every state
    change of every transaction has a debug line; filtered out (the default `info` level)
    it must cost next to nothing, and a call through the lazy logger proxy costs more than
    the rest of the state change. Re-checked whenever the configured wrapper class
    changes."""
    global _debug_checked
    wrapper = structlog.get_config()["wrapper_class"]
    cached_for, enabled = _debug_checked
    if wrapper is cached_for:
        return enabled
    check = getattr(wrapper, "is_enabled_for", None)
    try:
        enabled = bool(check(None, _DEBUG)) if check is not None else True
    except Exception:  # noqa: BLE001 - an unusual wrapper: keep logging
        enabled = True
    _debug_checked = (wrapper, enabled)
    return enabled


class Peer(NamedTuple):
    """The far end of a message: transport ("udp" or "tcp"), host and port. For TCP it
    also identifies the connection."""

    transport: str
    host: str
    port: int

    @property
    def reliable(self) -> bool:
        return self.transport != "udp"


class TimerConfig(NamedTuple):
    """RFC 3261 §17.1.1.1 / Table 4 timer base values, seconds."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0


class TransactionState(enum.Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    ACCEPTED = "Accepted"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    TERMINATED = "Terminated"


_S = TransactionState
ServerKey = tuple[str, ...]


class Transaction:
    """Common state: the request, the peer, the timers (name -> deadline)."""

    __slots__ = (
        "_request",
        "method",
        "_wire",
        "peer",
        "key",
        "state",
        "reliable",
        "timers",
        "last_response",
        "call_id",
        "_out",
        "_cfg",
        "_timers",
        "_intervals",
        "_scheduled",
    )

    def __init__(
        self, request: Request, peer: Peer, key: tuple[str, ...], timers: TimerConfig,
        outputs: list[Output],
    ) -> None:
        self._request: Request | None = request
        self.method = request.method
        self._wire: bytes | None = None
        self.peer = peer
        self.key = key
        self.reliable = peer.transport != "udp"
        self.last_response: Response | None = None
        self.call_id = request.call_id
        self._out = outputs
        self._cfg = timers
        self._timers: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._scheduled: float | None = None
        self.state = _S.TRYING

    @property
    def request(self) -> Request:
        """The request that created the transaction. Non-INVITE transactions release it (and
        `last_response`) once they wait out Timer J/K in Completed, keeping only the
        response's bytes: tens of thousands of such waiting transactions would otherwise
        keep millions of objects alive for the garbage collector to walk (a 1,000
        REGISTER/s load showed 0.5-0.9 s collector pauses)."""
        r = self._request
        if r is None:
            raise RuntimeError(f"{self!r} is finished; its request was released")
        return r

    def _release(self) -> None:
        self._request = None
        self.last_response = None

    def next_deadline(self) -> float | None:
        t = self._timers
        if not t:
            return None
        return min(t.values())

    def _set_state(self, state: TransactionState) -> None:
        if _debug_enabled():
            log.debug(
                "transaction state",
                call_id=self.call_id,
                txn=type(self).__name__,
                method=self.method,
                old=self.state.value,
                new=state.value,
            )
        self.state = state
        if state is _S.TERMINATED:
            self._timers.clear()
            self._out.append(TransactionTerminated(self))

    def _send(self, message: Message | bytes) -> None:
        self._out.append(SendMessage(message, self.peer))

    def _start(self, name: str, now: float, interval: float) -> None:
        self._intervals[name] = interval
        self._timers[name] = now + interval

    def _stop(self, *names: str) -> None:
        for n in names:
            self._timers.pop(n, None)

    def handle_timer(self, now: float) -> None:
        """Fire every timer whose deadline has passed (in deadline order)."""
        while True:
            due = [(d, n) for n, d in self._timers.items() if d <= now]
            if not due:
                return
            due.sort()
            for _d, name in due:
                if name in self._timers and self._timers[name] <= now:
                    del self._timers[name]
                    self._fire(name, now)

    def _fire(self, name: str, now: float) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.method} {self.state.value} {self.key}>"


class ClientTransaction(Transaction):
    """Base of the client transactions (§17.1)."""

    __slots__ = ()

    def __init__(
        self, request: Request, peer: Peer, timers: TimerConfig, outputs: list[Output]
    ) -> None:
        via = request.via
        branch = via.branch or ""
        super().__init__(request, peer, (branch, request.method), timers, outputs)

    def start(self, now: float) -> None:
        raise NotImplementedError

    def handle_response(self, response: Response, now: float) -> None:
        raise NotImplementedError


class ClientNonInviteTransaction(ClientTransaction):
    """§17.1.2, Figure 6: Trying -> Proceeding -> Completed -> Terminated; timers E, F, K."""

    __slots__ = ()

    def start(self, now: float) -> None:
        self.state = _S.TRYING
        self._send(self.request)
        self._start("F", now, 64 * self._cfg.t1)
        if not self.reliable:
            self._start("E", now, self._cfg.t1)

    def handle_response(self, response: Response, now: float) -> None:
        st = self.state
        if st is _S.TRYING or st is _S.PROCEEDING:
            self.last_response = response
            if response.status < 200:
                if st is _S.TRYING:
                    self._set_state(_S.PROCEEDING)
                self._out.append(ResponseReceived(self, response))
                return
            self._stop("E", "F")
            self._out.append(ResponseReceived(self, response))
            if self.reliable:
                self._set_state(_S.TERMINATED)
            else:
                self._set_state(_S.COMPLETED)
                self._start("K", now, self._cfg.t4)
                self._release()
        # Completed: retransmitted finals are absorbed.

    def _fire(self, name: str, now: float) -> None:
        if name == "E":
            if self.state is _S.TRYING:
                self._send(self.request)
                self._start("E", now, min(2 * self._intervals["E"], self._cfg.t2))
            elif self.state is _S.PROCEEDING:
                self._send(self.request)
                self._start("E", now, self._cfg.t2)
        elif name == "F":
            if self.state in (_S.TRYING, _S.PROCEEDING):
                self._stop("E")
                self._out.append(TransactionTimedOut(self, "F"))
                self._set_state(_S.TERMINATED)
        elif name == "K":
            self._set_state(_S.TERMINATED)


class ClientInviteTransaction(ClientTransaction):
    """§17.1.1, Figure 5 with RFC 6026 Accepted: Calling -> Proceeding -> Completed /
    Accepted -> Terminated; timers A, B, D, M. Sends the ACK for non-2xx finals itself.
    While waiting out Timer D or M it keeps only the ACK's bytes (see `request`)."""

    __slots__ = ()

    def start(self, now: float) -> None:
        self.state = _S.CALLING
        self._send(self.request)
        self._start("B", now, 64 * self._cfg.t1)
        if not self.reliable:
            self._start("A", now, self._cfg.t1)

    def set_ack(self, ack: Request) -> None:
        """Register the TU's ACK for the 2xx (already sent by the TU, so it carries its
        Via): retransmitted 2xx are then answered with it and no longer passed up."""
        self._wire = bytes(ack)

    def handle_response(self, response: Response, now: float) -> None:
        st = self.state
        code = response.status
        if st is _S.CALLING or st is _S.PROCEEDING:
            if code < 200:
                self.last_response = response
                self._stop("A", "B")
                if st is _S.CALLING:
                    self._set_state(_S.PROCEEDING)
                self._out.append(ResponseReceived(self, response))
            elif code < 300:
                self._stop("A", "B")
                self._set_state(_S.ACCEPTED)
                self._start("M", now, 64 * self._cfg.t1)
                self._out.append(ResponseReceived(self, response))
                self._release()
            else:
                self._stop("A", "B")
                self._wire = bytes(self._build_ack(response))
                self._send(self._wire)
                self._out.append(ResponseReceived(self, response))
                if self.reliable:
                    self._set_state(_S.TERMINATED)
                else:
                    self._set_state(_S.COMPLETED)
                    self._start("D", now, 32.0)
                self._release()
        elif st is _S.COMPLETED:
            if code >= 300 and self._wire is not None:
                self._send(self._wire)
        elif st is _S.ACCEPTED:
            if 200 <= code < 300:
                if self._wire is not None:
                    self._send(self._wire)
                else:
                    self._out.append(ResponseReceived(self, response))

    def _build_ack(self, response: Response) -> Request:
        """ACK for a non-2xx final response (§17.1.1.3)."""
        req = self.request
        ack = Request("ACK", req.uri)
        ack.headers.append(["via", "Via", req.via])
        ack.headers.append(["max-forwards", "Max-Forwards", "70"])
        for e in req.headers:
            if e[0] == "route":
                ack.headers.append(list(e))
        ack.headers.append(["from", "From", req.from_])
        ack.headers.append(["to", "To", response.to])
        ack.headers.append(["call-id", "Call-ID", req.call_id])
        ack.headers.append(["cseq", "CSeq", f"{req.cseq.number} ACK"])
        return ack

    def _fire(self, name: str, now: float) -> None:
        if name == "A":
            if self.state is _S.CALLING:
                self._send(self.request)
                self._start("A", now, 2 * self._intervals["A"])
        elif name == "B":
            if self.state is _S.CALLING:
                self._stop("A")
                self._out.append(TransactionTimedOut(self, "B"))
                self._set_state(_S.TERMINATED)
        elif name in ("D", "M"):
            self._set_state(_S.TERMINATED)


class ServerTransaction(Transaction):
    """Base of the server transactions (§17.2)."""

    __slots__ = ("merge_key",)

    def __init__(
        self, request: Request, peer: Peer, key: tuple[str, ...], timers: TimerConfig,
        outputs: list[Output],
    ) -> None:
        super().__init__(request, peer, key, timers, outputs)
        self.merge_key: tuple[str, str, int, str] | None = None

    def handle_request(self, request: Request, now: float) -> None:
        """A retransmission of the request (or, for INVITE, the ACK) arrived."""
        raise NotImplementedError

    def send_response(self, response: Response, now: float) -> None:
        raise NotImplementedError


class ServerNonInviteTransaction(ServerTransaction):
    """§17.2.2, Figure 8: Trying -> Proceeding -> Completed -> Terminated; timer J."""

    __slots__ = ()

    def handle_request(self, request: Request, now: float) -> None:
        if self.state is _S.COMPLETED and self._wire is not None:
            self._send(self._wire)
        elif self.state is _S.PROCEEDING and self.last_response is not None:
            self._send(self.last_response)

    def send_response(self, response: Response, now: float) -> None:
        st = self.state
        if st is _S.COMPLETED or st is _S.TERMINATED:
            raise RuntimeError(f"{self!r} already answered")
        if response.status < 200:
            self.last_response = response
            self._send(response)
            if st is _S.TRYING:
                self._set_state(_S.PROCEEDING)
        elif self.reliable:
            self.last_response = response
            self._send(response)
            self._set_state(_S.TERMINATED)
        else:
            # Serialised once: sent now and re-sent for retransmitted requests (Timer J).
            self._wire = bytes(response)
            self._send(self._wire)
            self._set_state(_S.COMPLETED)
            self._start("J", now, 64 * self._cfg.t1)
            self._release()

    def _fire(self, name: str, now: float) -> None:
        if name == "J":
            self._set_state(_S.TERMINATED)


class ServerInviteTransaction(ServerTransaction):
    """§17.2.1, Figure 7 with RFC 6026 Accepted: Proceeding -> Completed -> Confirmed /
    Accepted -> Terminated; timers G, H, I, L and the 2xx retransmission timer ("G2").
    Final responses are kept as bytes for retransmission; the request and response objects
    are released once nothing but absorbing is left (non-2xx final sent, or 2xx ACKed)."""

    __slots__ = ("ack_received", "cancelled", "accept_key")

    def __init__(
        self, request: Request, peer: Peer, key: tuple[str, ...], timers: TimerConfig,
        outputs: list[Output],
    ) -> None:
        super().__init__(request, peer, key, timers, outputs)
        self.state = _S.PROCEEDING
        self.ack_received = False
        self.cancelled = False
        #: (Call-ID, CSeq number, From tag): how the ACK for our 2xx is recognised
        self.accept_key = _accepted_key(request)

    def handle_request(self, request: Request, now: float) -> None:
        st = self.state
        if request.method == "ACK":
            if st is _S.COMPLETED:
                self._stop("G", "H")
                if self.reliable:
                    self._set_state(_S.TERMINATED)
                else:
                    self._set_state(_S.CONFIRMED)
                    self._start("I", now, self._cfg.t4)
            elif st is _S.ACCEPTED:
                self.receive_2xx_ack(request)
            return
        # A retransmitted INVITE.
        if st is _S.PROCEEDING:
            if self.last_response is not None:
                self._send(self.last_response)
        elif st is _S.COMPLETED and self._wire is not None:
            self._send(self._wire)
        # Accepted / Confirmed: absorbed (RFC 6026 §7.1).

    def receive_2xx_ack(self, ack: Request) -> None:
        """The ACK for our 2xx (matched by the layer through the dialog)."""
        self._stop("G2")
        if not self.ack_received:
            self.ack_received = True
            self._out.append(AckReceived(ack, self))
            self._release()

    def send_response(self, response: Response, now: float) -> None:
        st = self.state
        code = response.status
        if st is _S.ACCEPTED and 200 <= code < 300:
            self._wire = bytes(response)
            self._send(self._wire)
            return
        if st is not _S.PROCEEDING:
            raise RuntimeError(f"{self!r} already answered")
        if code < 200:
            if code == 100 and self.last_response is not None:
                return  # we sent "100 Trying" already; a second one tells the caller nothing
            self.last_response = response
            self._send(response)
            return
        self._wire = bytes(response)
        self._send(self._wire)
        if code < 300:
            self.last_response = response
            self._set_state(_S.ACCEPTED)
            self._start("L", now, 64 * self._cfg.t1)
            if not self.reliable:
                self._start("G2", now, self._cfg.t1)
        else:
            self._set_state(_S.COMPLETED)
            self._start("H", now, 64 * self._cfg.t1)
            if not self.reliable:
                self._start("G", now, self._cfg.t1)
            self._release()

    def _fire(self, name: str, now: float) -> None:
        st = self.state
        if name == "G" and st is _S.COMPLETED:
            if self._wire is not None:
                self._send(self._wire)
            self._start("G", now, min(2 * self._intervals["G"], self._cfg.t2))
        elif name == "G2" and st is _S.ACCEPTED and not self.ack_received:
            if self._wire is not None:
                self._send(self._wire)
            self._start("G2", now, min(2 * self._intervals["G2"], self._cfg.t2))
        elif name == "H" and st is _S.COMPLETED:
            self._stop("G")
            self._out.append(TransactionTimedOut(self, "H"))
            self._set_state(_S.TERMINATED)
        elif name == "I" and st is _S.CONFIRMED:
            self._set_state(_S.TERMINATED)
        elif name == "L" and st is _S.ACCEPTED:
            self._stop("G2")
            if not self.ack_received:
                self._out.append(TransactionTimedOut(self, "L"))
            self._set_state(_S.TERMINATED)


def _server_key(request: Request, via: Via, method: str) -> ServerKey:
    """Server transaction matching key (§17.2.3), the method last. Requests without the
    magic cookie fall back to RFC 2543 matching (§17.2.3 end) on Call-ID, From tag, CSeq
    number and the top Via."""
    branch = via.branch
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return (branch, via.host, str(via.port or ""), method)
    return (
        "rfc2543",
        request.call_id,
        request.from_.tag or "",
        str(request.cseq.number),
        f"{via.host}:{via.port}",
        method,
    )


class TransactionLayer:
    """Creates, matches and times all transactions of one endpoint (§17.1.3, §17.2.3).

    Every input method appends its outputs to an internal list; the shell drains it with
    `pop_outputs()` after each call.
    """

    def __init__(self, timers: TimerConfig | None = None) -> None:
        self.timers = timers if timers is not None else TimerConfig()
        self._out: list[Output] = []
        self._client: dict[tuple[str, ...], ClientTransaction] = {}
        self._server: dict[ServerKey, ServerTransaction] = {}
        # INVITE server transactions in Accepted, by (Call-ID, CSeq number, From tag), so
        # the ACK for a 2xx (a new transaction, §17.1.1.3) finds its way.
        self._accepted: dict[tuple[str, int, str], ServerInviteTransaction] = {}
        # Requests outside a dialog by (From tag, Call-ID, CSeq number, method) -> the
        # server transaction key, to recognise merged requests (§8.2.2.2).
        self._merge_index: dict[tuple[str, str, int, str], ServerKey] = {}
        self._heap: list[tuple[float, int, Transaction]] = []
        self._seq = count()

    # -- outputs and timers ------------------------------------------------------------

    def pop_outputs(self) -> list[Output]:
        # Transactions append to this very list object, so it is copied and cleared, never
        # replaced.
        out = self._out
        if not out:
            return []
        items = out[:]
        out.clear()
        return items

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap:
            d, _, txn = heap[0]
            if txn._scheduled == d and txn.state is not _S.TERMINATED:
                return d
            heapq.heappop(heap)
        return None

    def handle_timers(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            d, _, txn = heapq.heappop(heap)
            if txn._scheduled != d or txn.state is _S.TERMINATED:
                continue
            txn._scheduled = None
            txn.handle_timer(now)
            self._after(txn)

    def _after(self, txn: Transaction) -> None:
        """Re-arm the transaction's timer entry, or forget it once terminated."""
        if txn.state is _S.TERMINATED:
            self._forget(txn)
            return
        d = txn.next_deadline()
        if d is not None and d != txn._scheduled:
            txn._scheduled = d
            heapq.heappush(self._heap, (d, next(self._seq), txn))

    def _forget(self, txn: Transaction) -> None:
        txn._scheduled = None
        if isinstance(txn, ClientTransaction):
            if self._client.get(txn.key) is txn:
                del self._client[txn.key]
        elif isinstance(txn, ServerTransaction):
            if self._server.get(txn.key) is txn:
                del self._server[txn.key]
            mk = txn.merge_key
            if mk is not None and self._merge_index.get(mk) == txn.key:
                del self._merge_index[mk]
            if isinstance(txn, ServerInviteTransaction):
                k = txn.accept_key
                if self._accepted.get(k) is txn:
                    del self._accepted[k]

    # -- client side -------------------------------------------------------------------

    def send_request(self, request: Request, peer: Peer, now: float) -> ClientTransaction:
        """Start a client transaction for `request` (which carries its top Via with a
        fresh branch) towards `peer`. ACK is not a transaction: use `send_stateless`."""
        if request.method == "ACK":
            raise ValueError("ACK is sent with send_stateless(), not as a transaction")
        txn: ClientTransaction
        if request.method == "INVITE":
            txn = ClientInviteTransaction(request, peer, self.timers, self._out)
        else:
            txn = ClientNonInviteTransaction(request, peer, self.timers, self._out)
        key = txn.key
        if key in self._client:
            raise ValueError(f"branch {key[0]!r} already in use for {key[1]}")
        self._client[key] = txn
        txn.start(now)
        self._after(txn)
        return txn

    def send_stateless(self, message: Message, peer: Peer) -> None:
        self._out.append(SendMessage(message, peer))

    # -- server side -------------------------------------------------------------------

    def send_response(self, txn: ServerTransaction, response: Response, now: float) -> None:
        txn.send_response(response, now)
        if isinstance(txn, ServerInviteTransaction) and txn.state is _S.ACCEPTED:
            self._accepted[txn.accept_key] = txn
        self._after(txn)

    # -- input -------------------------------------------------------------------------

    def receive(self, message: Message, peer: Peer, now: float) -> None:
        if isinstance(message, Request):
            self._receive_request(message, peer, now)
        else:
            assert isinstance(message, Response)
            self._receive_response(message, peer, now)

    def _receive_response(self, response: Response, peer: Peer, now: float) -> None:
        """§17.1.3: match on the top Via branch and the CSeq method."""
        txn = self._client.get((response.via.branch or "", response.cseq.method))
        if txn is None:
            self._out.append(StrayResponse(response, peer))
            return
        txn.handle_response(response, now)
        self._after(txn)

    def _receive_request(self, request: Request, peer: Peer, now: float) -> None:
        via = request.via
        _stamp_via(via, peer)
        method = request.method
        # An ACK for a non-2xx final belongs to the INVITE's transaction (§17.2.3).
        key = _server_key(request, via, "INVITE" if method == "ACK" else method)
        txn = self._server.get(key)
        if txn is not None:
            txn.handle_request(request, now)
            self._after(txn)
            return
        if method == "ACK":
            inv = self._accepted.get(_accepted_key(request))
            if inv is not None:
                inv.receive_2xx_ack(request)
                self._after(inv)
            else:
                self._out.append(AckReceived(request, None))
            return
        merge_key: tuple[str, str, int, str] | None = None
        if request.to.tag is None and method != "CANCEL":
            merge_key = (request.from_.tag or "", request.call_id, request.cseq.number, method)
            other = self._merge_index.get(merge_key)
            pending = self._server.get(other) if other is not None else None
            if (pending is not None and other != key
                    and pending.state in (_S.TRYING, _S.PROCEEDING)):
                # The same request reached us twice by different paths while the first is
                # still unanswered (a fork merging back, or a loop through ourselves):
                # §8.2.2.2 -> 482, no transaction. Once the first is answered, a repeat
                # with a new branch is taken as a (sloppy) new attempt, not a merge: some
                # phones re-use the CSeq after a 401.
                self._out.append(SendMessage(request.create_response(482), peer))
                return
            self._merge_index[merge_key] = key
        new: ServerTransaction
        if method == "INVITE":
            inv_txn = ServerInviteTransaction(request, peer, key, self.timers, self._out)
            inv_txn.merge_key = merge_key
            self._server[key] = inv_txn
            self._out.append(RequestReceived(inv_txn, request))
            # §17.2.1: 100 Trying at once; the TU's answer will take longer than 200 ms.
            inv_txn.send_response(request.create_response(100), now)
            self._after(inv_txn)
            return
        new = ServerNonInviteTransaction(request, peer, key, self.timers, self._out)
        new.merge_key = merge_key
        self._server[key] = new
        if method == "CANCEL":
            self._handle_cancel(new, request, key, now)
            return
        self._out.append(RequestReceived(new, request))
        self._after(new)

    def _handle_cancel(
        self, txn: ServerNonInviteTransaction, cancel: Request, key: ServerKey, now: float
    ) -> None:
        """§9.2: answer the CANCEL itself; tell the TU which INVITE it cancels."""
        inv = self._server.get(key[:-1] + ("INVITE",))
        if not isinstance(inv, ServerInviteTransaction):
            txn.send_response(cancel.create_response(481), now)
            self._after(txn)
            self._out.append(CancelReceived(cancel, None))
            return
        to_tag = None
        if inv.last_response is not None:
            to_tag = inv.last_response.to.tag
        txn.send_response(cancel.create_response(200, to_tag=to_tag), now)
        self._after(txn)
        if inv.state is _S.PROCEEDING and not inv.cancelled:
            inv.cancelled = True
            self._out.append(CancelReceived(cancel, inv))

    # -- introspection (tests, metrics) ------------------------------------------------

    @property
    def transaction_count(self) -> int:
        return len(self._client) + len(self._server)

    def find_server_transaction(self, request: Request) -> ServerTransaction | None:
        method = "INVITE" if request.method == "ACK" else request.method
        return self._server.get(_server_key(request, request.via, method))


def _accepted_key(request: Request) -> tuple[str, int, str]:
    return (request.call_id, request.cseq.number, request.from_.tag or "")


def _stamp_via(via: Via, peer: Peer) -> None:
    """RFC 3261 §18.2.1 `received` and RFC 3581 §4 `rport` on the top Via of a request."""
    params = via.params
    if "rport" in params:
        params["rport"] = str(peer.port)
        params["received"] = peer.host
    elif via.host != peer.host:
        params["received"] = peer.host
