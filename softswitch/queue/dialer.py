"""Calls the switch places itself for queue calls: ring an agent, call a callback customer,
transfer a caller to an extension (RFC 3261 §13.2 UAC, §16.7 forking, §9 CANCEL).

`OutboundCall` forks one INVITE per registered contact of an extension, each with its own
Call-ID, all offering the same media leg of the switch (media.MediaLeg): the first 2xx wins,
the others are CANCELled (or ACKed and BYEd when they answered too late). Its owner gets
exactly one of ``on_answered(call)`` or ``on_failed(call, status)``; nothing after
``cancel()``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from softswitch.calls.b2bua import ALLOW, apply_media, media_params
from softswitch.log import get_logger
from softswitch.registrar import request_target
from softswitch.sip import Address, Request, Response, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.auth import authorize
from softswitch.sip.dialog import Dialog
from softswitch.sip.transaction import Peer

log = get_logger("queue")


@dataclass
class OutboundBranch:
    request: Request
    peer: Peer
    outgoing: Any = None
    dialog: Dialog | None = None
    final: bool = False
    trunk: Any = None  # a trunk target: its credentials answer one 401/407 (softswitch.trunks)


@dataclass(eq=False)
class OutboundCall:
    """One call from the switch to ``number`` (an extension), see the module docstring."""

    number: str
    leg: Any  # media.MediaLeg offered to the phone
    on_answered: Callable[[OutboundCall], None]
    on_failed: Callable[[OutboundCall, int], None]
    branches: list[OutboundBranch] = field(default_factory=list)
    winner: OutboundBranch | None = None
    state: str = "calling"  # calling | answered | failed | cancelled | ended
    statuses: list[int] = field(default_factory=list)
    owner: Any = None  # what the controller hangs on it (task, role)

    @property
    def dialog(self) -> Dialog | None:
        return self.winner.dialog if self.winner else None

    @property
    def peer(self) -> Peer | None:
        return self.winner.peer if self.winner else None

    @property
    def call_ids(self) -> list[str]:
        return [b.request.call_id for b in self.branches]


class Dialer:
    """Builds and sends the INVITEs of `OutboundCall`s; owns nothing but the SIP details."""

    def __init__(self, endpoint: Any, domain: str, user_agent: str,
                 index: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.domain = domain
        self.user_agent = user_agent
        self.index = index  # branch Call-ID -> OutboundCall (for in-dialog requests)

    def start(self, call: OutboundCall, targets: list[Any], *, from_user: str,
              display: str, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        """INVITE every binding in ``targets`` (registrar bindings of ``call.number``, or a
        `softswitch.trunks.TrunkTarget`: then the trunk's ``from_user``, when set, is the From
        user the provider expects, and its credentials answer one 401/407)."""
        offer = bytes(sdplib.create_offer(call.leg.local_host, call.leg.local_port,
                                          codecs=codecs, telephone_event=True))
        for binding in targets:
            peer = Peer(*request_target(binding, self.endpoint.has_connection))
            local = self.endpoint.local_peer(peer.transport)
            host = f"[{local.host}]" if ":" in local.host else local.host
            trunk = getattr(binding, "trunk", None)
            user = getattr(trunk, "from_user", None) or from_user
            request = Request("INVITE", SipUri.parse(binding.contact), headers=[
                ("From", Address(SipUri.parse(f"sip:{user}@{self.domain}"),
                                 display or None, {"tag": new_tag()})),
                ("To", Address(SipUri.parse(f"sip:{call.number}@{self.domain}"))),
                ("Call-ID", new_call_id()),
                ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:{user}@{host}:{local.port};transport={peer.transport}>"),
                ("Allow", ALLOW),
                ("User-Agent", self.user_agent),
                *headers,
                ("Content-Type", "application/sdp"),
            ], body=offer)
            call.branches.append(OutboundBranch(request, peer, trunk=trunk))
            self.index[request.call_id] = call
        for branch in call.branches:
            self._send(call, branch)

    def _send(self, call: OutboundCall, branch: OutboundBranch) -> None:
        branch.outgoing = self.endpoint.send_request(
            branch.request, branch.peer,
            on_response=lambda r, c=call, b=branch: self._on_response(c, b, r))

    def _on_response(self, call: OutboundCall, branch: OutboundBranch,
                     response: Response) -> None:
        status = response.status
        if status < 200:
            return
        if 200 <= status < 300:
            if branch.final:
                return  # 2xx retransmission: the endpoint re-sends the ACK
            branch.final = True
            try:
                branch.dialog = Dialog.create_uac(branch.request, response)
                branch.outgoing.send_ack(branch.dialog.create_ack(branch.request))
            except Exception as exc:  # noqa: BLE001 - a broken 2xx: hang that branch up
                log.warning("cannot confirm dialog", number=call.number, error=repr(exc))
                return
            if call.state != "calling":
                self._bye_branch(branch)  # answered too late (another won, or cancelled)
                return
            params = None
            with contextlib.suppress(Exception):
                params = media_params(sdplib.SessionDescription.parse(response.body))
            if params is None:
                self._bye_branch(branch)
                self._branch_failed(call, 488)
                return
            apply_media(call.leg, params)
            call.winner = branch
            call.state = "answered"
            for other in call.branches:
                if other is not branch and not other.final and other.outgoing is not None:
                    other.outgoing.cancel()
            call.on_answered(call)
            return
        if status in (401, 407) and call.state == "calling" and branch.trunk is not None \
                and getattr(branch.trunk, "username", None):
            trunk, branch.trunk = branch.trunk, None  # answer one challenge, not a loop
            try:
                branch.request = authorize(response, branch.request, trunk.username,
                                           trunk.password)
            except ValueError as exc:
                log.info("trunk challenge not answerable", number=call.number,
                         error=str(exc))
            else:
                self._send(call, branch)
                return
        branch.final = True
        self._branch_failed(call, status)

    def _branch_failed(self, call: OutboundCall, status: int) -> None:
        call.statuses.append(status)
        if call.state != "calling" or not all(b.final for b in call.branches):
            return
        call.state = "failed"
        statuses = call.statuses
        code = 486 if 486 in statuses or 600 in statuses or 603 in statuses else min(statuses)
        call.on_failed(call, code)

    def _bye_branch(self, branch: OutboundBranch) -> None:
        if branch.dialog is not None:
            self.endpoint.send_request(branch.dialog.create_request("BYE"), branch.peer)

    def cancel(self, call: OutboundCall) -> None:
        """Stop ringing (CANCEL), or hang up when it was answered."""
        if call.state == "answered":
            self.hang_up(call)
            return
        if call.state == "calling":
            call.state = "cancelled"
        for b in call.branches:
            if not b.final and b.outgoing is not None:
                b.outgoing.cancel()

    def hang_up(self, call: OutboundCall) -> None:
        if call.state == "answered" and call.winner is not None:
            call.state = "ended"
            self._bye_branch(call.winner)

    def send_in_dialog(self, call: OutboundCall, method: str, **kw: Any) -> Any:
        if call.winner is None or call.winner.dialog is None:
            return None
        return self.endpoint.send_request(call.winner.dialog.create_request(method, **kw),
                                          call.winner.peer)
