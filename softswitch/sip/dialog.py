"""Dialogs (RFC 3261 §12) and CANCEL construction (§9.1). Sans-IO: a `Dialog` holds the
dialog state and builds in-dialog requests; the TU sends them through the endpoint.

Decisions:
- The local CSeq of a UAS-created dialog starts at 1 for our first request (§12.1.1 allows
  any value below 2**31).
- A request with a CSeq lower than the remote sequence number is answered 500 (§12.2.2);
  ACK and CANCEL carry the INVITE's number and are not checked.
- Target refresh (§12.2) on INVITE/re-INVITE, UPDATE, SUBSCRIBE, NOTIFY, REFER carrying a
  Contact, and on 2xx responses to them.
- Both loose (`;lr`) and strict routing are supported when building requests (§12.2.1.1).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

from .headers import Address, CSeq
from .message import HeaderValue, Message, Request, Response
from .uri import SipUri

__all__ = ["Dialog", "DialogId", "DialogState", "create_cancel", "dialog_id_of"]

_TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class DialogId(NamedTuple):
    """§12: Call-ID, local tag, remote tag."""

    call_id: str
    local_tag: str
    remote_tag: str


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def dialog_id_of(message: Message, *, uas: bool) -> DialogId:
    """The dialog id a message belongs to, seen from our side: for a request we receive
    (`uas=True`) the local tag is the To tag; for a response we receive (`uas=False`) the local
    tag is the From tag."""
    f = message.from_.tag or ""
    t = message.to.tag or ""
    if uas:
        return DialogId(message.call_id, t, f)
    return DialogId(message.call_id, f, t)


class Dialog:
    """One dialog, created by `create_uac` or `create_uas`."""

    __slots__ = (
        "call_id",
        "local_tag",
        "remote_tag",
        "local_address",
        "remote_address",
        "local_target",
        "remote_target",
        "route_set",
        "local_cseq",
        "remote_cseq",
        "secure",
        "state",
        "is_uac",
    )

    def __init__(
        self,
        *,
        call_id: str,
        local_address: Address,
        remote_address: Address,
        remote_target: SipUri,
        route_set: list[Address],
        local_cseq: int,
        remote_cseq: int | None,
        local_target: Address | None,
        secure: bool,
        state: DialogState,
        is_uac: bool,
    ) -> None:
        self.call_id = call_id
        self.local_address = local_address
        self.remote_address = remote_address
        self.local_tag = local_address.tag or ""
        self.remote_tag = remote_address.tag or ""
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_cseq = local_cseq
        self.remote_cseq = remote_cseq
        self.local_target = local_target
        self.secure = secure
        self.state = state
        self.is_uac = is_uac

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @property
    def local_uri(self) -> SipUri:
        return self.local_address.uri

    @property
    def remote_uri(self) -> SipUri:
        return self.remote_address.uri

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def create_uac(cls, request: Request, response: Response) -> Dialog:
        """§12.1.2: the dialog a 1xx-with-To-tag or 2xx response to our request creates."""
        contacts = response.contacts
        target = contacts[0].uri if contacts else request.uri
        local_contacts = request.contacts
        return cls(
            call_id=request.call_id,
            local_address=request.from_.copy(),
            remote_address=response.to.copy(),
            remote_target=target,
            route_set=[r.copy() for r in reversed(response.record_routes)],
            local_cseq=request.cseq.number,
            remote_cseq=None,
            local_target=local_contacts[0] if local_contacts else None,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            is_uac=True,
        )

    @classmethod
    def create_uas(cls, request: Request, response: Response) -> Dialog:
        """§12.1.1: the dialog our 1xx-with-To-tag or 2xx response to `request` creates."""
        contacts = request.contacts
        target = contacts[0].uri if contacts else request.from_.uri
        our_contacts = response.contacts
        return cls(
            call_id=request.call_id,
            local_address=response.to.copy(),
            remote_address=request.from_.copy(),
            remote_target=target,
            route_set=[r.copy() for r in request.record_routes],
            local_cseq=0,
            remote_cseq=request.cseq.number,
            local_target=our_contacts[0] if our_contacts else None,
            secure=request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            is_uac=False,
        )

    # -- building requests (§12.2.1.1) -----------------------------------------------------

    def next_hop(self) -> SipUri:
        """Where an in-dialog request goes (before DNS): the first route, else the remote
        target (§8.1.2)."""
        if self.route_set:
            return self.route_set[0].uri
        return self.remote_target

    def _base_request(self, method: str, cseq: int) -> Request:
        routes = self.route_set
        if routes and "lr" not in routes[0].uri.params:
            # Strict routing: the first route becomes the Request-URI, the remote target
            # goes last in Route (§12.2.1.1).
            ruri = routes[0].uri.copy()
            ruri.params = {k: v for k, v in ruri.params.items() if k not in ("method", "maddr")}
            route_values: list[Address] = [r for r in routes[1:]] + [Address(self.remote_target)]
        else:
            ruri = self.remote_target.copy()
            route_values = list(routes)
        req = Request(method, ruri)
        h = req.headers
        h.append(["max-forwards", "Max-Forwards", "70"])
        for r in route_values:
            h.append(["route", "Route", str(r)])
        h.append(["from", "From", self.local_address.copy()])
        h.append(["to", "To", self.remote_address.copy()])
        h.append(["call-id", "Call-ID", self.call_id])
        h.append(["cseq", "CSeq", CSeq(cseq, method)])
        return req

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, HeaderValue]] = (),
    ) -> Request:
        """A new in-dialog request (BYE, re-INVITE, INFO, NOTIFY, UPDATE, REFER, MESSAGE...)
        with the next local CSeq. No Via: the endpoint adds it when sending."""
        if method in ("ACK", "CANCEL"):
            raise ValueError("use create_ack() / create_cancel() for ACK and CANCEL")
        self.local_cseq += 1
        req = self._base_request(method, self.local_cseq)
        if method in _TARGET_REFRESH and self.local_target is not None:
            req.headers.append(["contact", "Contact", str(self.local_target)])
        for name, value in headers:
            req.add(name, value)
        if body:
            req.body = body
            req.set("Content-Type", content_type or "application/sdp")
        return req

    def create_ack(self, invite: Request, *, body: bytes = b"",
                   content_type: str | None = None) -> Request:
        """The ACK for a 2xx to `invite` (§13.2.2.4): same CSeq number, method ACK,
        credentials of the INVITE copied."""
        ack = self._base_request("ACK", invite.cseq.number)
        for name in ("Authorization", "Proxy-Authorization"):
            v = invite.get(name)
            if v is not None:
                ack.add(name, v)
        if body:
            ack.body = body
            ack.set("Content-Type", content_type or "application/sdp")
        return ack

    # -- receiving -----------------------------------------------------------------------

    def receive_request(self, request: Request) -> Response | None:
        """Apply an in-dialog request (§12.2.2). Returns the 500 to send for an out-of-order
        CSeq, else None (the TU answers). Updates the remote CSeq and the remote target;
        BYE terminates the dialog."""
        method = request.method
        if method not in ("ACK", "CANCEL"):
            n = request.cseq.number
            if self.remote_cseq is not None and n < self.remote_cseq:
                return request.create_response(500, "Server Internal Error (CSeq out of order)",
                                               headers=[("Retry-After", "0")])
            self.remote_cseq = n
        if method in _TARGET_REFRESH:
            contacts = request.contacts
            if contacts and not contacts[0].is_wildcard:
                self.remote_target = contacts[0].uri
        if method == "BYE":
            self.state = DialogState.TERMINATED
        elif method == "ACK" and self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
        return None

    def receive_response(self, response: Response) -> None:
        """Apply a response to one of our in-dialog requests or to the dialog-creating
        INVITE: a 2xx confirms an early dialog (route set recomputed, §13.2.2.4), target
        refresh from Contact (§12.2.1.2)."""
        code = response.status
        method = response.cseq.method
        if 200 <= code < 300:
            if self.state is DialogState.EARLY and self.is_uac:
                self.route_set = [r.copy() for r in reversed(response.record_routes)]
                self.remote_address = response.to.copy()
                self.remote_tag = self.remote_address.tag or self.remote_tag
            if self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
            if method in _TARGET_REFRESH:
                contacts = response.contacts
                if contacts and not contacts[0].is_wildcard:
                    self.remote_target = contacts[0].uri
            if method == "BYE":
                self.state = DialogState.TERMINATED
        elif code in (481, 408) and method != "INVITE":
            # §12.2.1.2: the dialog is gone at the far end.
            self.state = DialogState.TERMINATED
        elif code >= 300 and method == "INVITE" and self.state is DialogState.EARLY:
            self.state = DialogState.TERMINATED

    def __repr__(self) -> str:
        return f"<Dialog {self.state.value} {self.id}>"


def create_cancel(invite: Request) -> Request:
    """CANCEL for a pending INVITE (§9.1): Request-URI, Call-ID, From, To, CSeq number and the
    top Via identical to the INVITE's, Route copied, CSeq method CANCEL."""
    cancel = Request("CANCEL", invite.uri)
    h = cancel.headers
    h.append(["via", "Via", str(invite.via)])
    h.append(["max-forwards", "Max-Forwards", "70"])
    for e in invite.headers:
        if e[0] == "route":
            h.append(list(e))
    h.append(["from", "From", invite.from_])
    h.append(["to", "To", invite.to])
    h.append(["call-id", "Call-ID", invite.call_id])
    h.append(["cseq", "CSeq", CSeq(invite.cseq.number, "CANCEL")])
    return cancel
