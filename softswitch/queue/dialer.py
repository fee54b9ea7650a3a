"""Calls the switch places itself for queue calls: ring an agent, call a callback customer,
transfer a caller to an extension (RFC 3261 §13.2 UAC; forking by softswitch.calls.fork).

`OutboundCall` forks one INVITE per registered contact of an extension (or one to a trunk),
each with its own Call-ID, all offering the same media leg of the switch (media.MediaLeg).
The branch rules are the switch's one `Fork`, the same as an extension call's: the first 2xx
wins, the others are CANCELled (or ACKed and BYEd when they answered too late), a trunk's
401/407 is answered once with its credentials, and when every branch failed the owner gets
the same final status an extension caller would (§16.7 step 6, softswitch.calls.fork). Its
owner gets exactly one of ``on_answered(call)`` or ``on_failed(call, status)``; nothing
after ``cancel()``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from media import MediaLeg
from softswitch.apps.indialog import InDialogPolicy
from softswitch.calls.b2bua import (
    ALLOW,
    apply_media,
    media_params,
    with_trunk_credentials,
)
from softswitch.calls.fork import (
    AnswerWith,
    Authenticate,
    ByeBranch,
    CancelBranch,
    Fork,
    ForkCommand,
    ForkFailed,
    ForkTarget,
    SendInvite,
)
from softswitch.clock import Clock
from softswitch.log import get_logger
from softswitch.registrar import request_target
from softswitch.sip import Address, Request, Response, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.endpoint import OutgoingRequest
from softswitch.sip.transaction import Peer
from softswitch.trunks import TrunkAccount

if TYPE_CHECKING:
    from softswitch.queue.seams import Endpoint, Target

log = get_logger("queue")


@dataclass
class OutboundBranch:
    request: Request
    peer: Peer
    outgoing: OutgoingRequest | None = None
    dialog: Dialog | None = None
    final: bool = False
    answered: bool = False
    # a trunk target: its credentials answer one 401/407 (softswitch.trunks)
    trunk: TrunkAccount | None = None
    response: Response | None = None  # its last final response (a challenge)


@dataclass(eq=False)
class OutboundCall:
    """One call from the switch to ``number`` (an extension), see the module docstring."""

    number: str
    leg: MediaLeg | None  # offered to the phone (None until the shell opened it)
    on_answered: Callable[[OutboundCall], None]
    on_failed: Callable[[OutboundCall, int], None]
    branches: list[OutboundBranch] = field(default_factory=list)
    winner: OutboundBranch | None = None
    state: str = "calling"  # calling | answered | failed | cancelled | ended
    owner: object = None  # what the controller hangs on it (its task, or (task, agent))
    fork: Fork = field(default_factory=Fork)
    _policy: InDialogPolicy | None = field(default=None, repr=False)

    @property
    def dialog(self) -> Dialog | None:
        return self.winner.dialog if self.winner else None

    @property
    def peer(self) -> Peer | None:
        return self.winner.peer if self.winner else None

    @property
    def call_ids(self) -> list[str]:
        return [b.request.call_id for b in self.branches]

    def policy(self) -> InDialogPolicy | None:
        """The one in-dialog policy (softswitch.apps.indialog) of the answered party's
        dialog with the switch: our offer and our Contact are the local side. Made once,
        at the first in-dialog request or ACK; None before the answer."""
        if self._policy is None and self.winner is not None \
                and self.winner.dialog is not None:
            try:
                offer = sdplib.SessionDescription.parse(self.winner.request.body)
            except Exception:  # noqa: BLE001 - our own offer: parses
                return None
            self._policy = InDialogPolicy(self.winner.dialog, offer,
                                          str(self.winner.request.get("Contact") or ""))
        return self._policy


class Dialer:
    """Builds and sends the INVITEs of `OutboundCall`s and carries out what their `Fork`
    returns; owns nothing but the SIP details."""

    def __init__(self, endpoint: Endpoint, domain: str, user_agent: str,
                 index: dict[str, OutboundCall], clock: Clock) -> None:
        self.endpoint = endpoint
        self.domain = domain
        self.user_agent = user_agent
        self.index = index  # branch Call-ID -> OutboundCall (for in-dialog requests)
        self.now = clock.monotonic

    def start(self, call: OutboundCall, targets: Sequence[Target], *, from_user: str,
              display: str, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        """INVITE every binding in ``targets`` (registrar bindings of ``call.number``, or a
        `softswitch.trunks.TrunkTarget`: then the trunk's ``from_user``, when set, is the From
        user the provider expects, and its credentials answer one 401/407)."""
        assert call.leg is not None, "the shell opens the call's leg before it is dialled"
        offer = bytes(sdplib.create_offer(call.leg.local_host, call.leg.local_port,
                                          codecs=codecs, telephone_event=True))
        for binding in targets:
            # a trunk target is shaped like a binding (softswitch.trunks.TrunkTarget)
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
        call.fork.name = call.number
        self._execute(call, call.fork.start(
            [ForkTarget(credentials=bool(getattr(b.trunk, "username", None)))
             for b in call.branches], self.now()))

    def _execute(self, call: OutboundCall, commands: list[ForkCommand]) -> None:
        # the owner hears of the outcome last, when the other branches are CANCELled
        commands = sorted(commands, key=lambda c: isinstance(c, (AnswerWith, ForkFailed)))
        for cmd in commands:
            if isinstance(cmd, SendInvite):
                self._send(call, call.branches[cmd.branch])
            elif isinstance(cmd, CancelBranch):
                branch = call.branches[cmd.branch]
                if not branch.final and branch.outgoing is not None:
                    branch.outgoing.cancel()
            elif isinstance(cmd, ByeBranch):
                self._bye_branch(call.branches[cmd.branch])
            elif isinstance(cmd, Authenticate):
                self._authenticate(call, cmd.branch)
            elif isinstance(cmd, AnswerWith):
                call.winner = call.branches[cmd.branch]
                call.state = "answered"
                call.on_answered(call)
            elif isinstance(cmd, ForkFailed):
                if call.state == "calling":
                    call.state = "failed"
                    call.on_failed(call, cmd.status)

    def _send(self, call: OutboundCall, branch: OutboundBranch) -> None:
        branch.final = False
        branch.outgoing = self.endpoint.send_request(
            branch.request, branch.peer,
            on_response=functools.partial(self._on_response, call, branch))

    def _authenticate(self, call: OutboundCall, index: int) -> None:
        branch = call.branches[index]
        try:
            branch.request = with_trunk_credentials(branch.request, branch.trunk,
                                                    branch.response)
        except ValueError as exc:
            log.info("trunk challenge not answerable", number=call.number, error=str(exc))
            status = branch.response.status if branch.response is not None else 407
            self._execute(call, call.fork.handle_response(index, status, self.now()))
            return
        self._send(call, branch)

    def _on_response(self, call: OutboundCall, branch: OutboundBranch,
                     response: Response) -> None:
        status = response.status
        index = next(i for i, b in enumerate(call.branches) if b is branch)
        if status < 200:
            self._execute(call, call.fork.handle_response(index, status, self.now()))
            return
        branch.final = True
        if status >= 300:
            branch.response = response
            self._execute(call, call.fork.handle_response(index, status, self.now()))
            return
        if branch.answered:
            return  # 2xx retransmission: the endpoint re-sends the ACK
        branch.answered = True
        try:
            branch.dialog = Dialog.create_uac(branch.request, response)
            assert branch.outgoing is not None  # it sent the request this answers
            branch.outgoing.send_ack(branch.dialog.create_ack(branch.request))
        except Exception as exc:  # noqa: BLE001 - a broken 2xx: that branch failed (488)
            log.warning("cannot confirm dialog", number=call.number, error=repr(exc))
            self._execute(call, call.fork.handle_unusable_answer(index, self.now()))
            return
        if call.fork.undecided:
            params = None
            with contextlib.suppress(Exception):
                params = media_params(sdplib.SessionDescription.parse(response.body))
            if params is None:
                self._execute(call, call.fork.handle_unusable_answer(index, self.now()))
                return
            if call.leg is not None:
                apply_media(call.leg, params)
        self._execute(call, call.fork.handle_response(index, status, self.now()))

    def _bye_branch(self, branch: OutboundBranch) -> None:
        if branch.dialog is not None:
            self.endpoint.send_request(branch.dialog.create_request("BYE"), branch.peer)

    def handle_timer(self, call: OutboundCall) -> None:
        """The fork's no-answer deadline (``call.fork.next_deadline()``) has come: for owners
        that leave the ring time to the fork (softswitch.calls.transfer)."""
        self._execute(call, call.fork.handle_timer(self.now()))

    def cancel(self, call: OutboundCall) -> None:
        """Stop ringing (CANCEL), or hang up when it was answered."""
        if call.state == "answered":
            self.hang_up(call)
            return
        if call.state == "calling":
            call.state = "cancelled"
        self._execute(call, call.fork.handle_cancel(self.now()))

    def hang_up(self, call: OutboundCall) -> None:
        if call.state == "answered" and call.winner is not None:
            call.state = "ended"
            self._bye_branch(call.winner)

    def send_in_dialog(self, call: OutboundCall, method: str, *, body: bytes = b"",
                       content_type: str | None = None) -> OutgoingRequest | None:
        if call.winner is None or call.winner.dialog is None:
            return None
        return self.endpoint.send_request(call.winner.dialog.create_request(
            method, body=body, content_type=content_type), call.winner.peer)
