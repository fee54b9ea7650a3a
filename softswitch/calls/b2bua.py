"""The B2BUA shell: SIP dialogs and the RTP relay around `CallControl` (RFC 3261 §12-§16,
RFC 3264 offer/answer).

One `Call` per caller INVITE. The caller's leg (A) is a UAS dialog; each contact of the
callee gets its own UAC INVITE with its own Call-ID (a branch). Media is anchored: both
phones see only the switch's relay ports (media.MediaEngine legs "<call-id>/a" and
"<call-id>/b"), which relay without transcoding when both chose the same law.

Decisions:
- The callee is offered only what the caller offered of PCMU/PCMA/telephone-event, in the
  caller's order; the caller's answer then carries exactly the codec the callee chose, so
  the relay never has to transcode for a plain call.
- An INVITE without SDP (late offer, §13.2.1): the callee gets our offer; the caller's
  200 carries an offer of exactly the codec the callee chose, and its ACK the answer. A
  re-INVITE without SDP is passed through, but the SDP of its ACK is not relayed (gap).
- re-INVITE (hold/unhold) and INFO are relayed to the other side with the SDP re-anchored;
  a re-INVITE arriving while another is in progress gets 491 (§14.1).
- In-dialog requests to a phone go to the address its INVITE came from (A leg) or its
  registration's source address (B leg): NAT and TCP connection reuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from structlog.typing import FilteringBoundLogger

from media import MediaLeg
from media.engine import Direction
from softswitch.calls.control import (
    PICKED_UP,
    AnswerCaller,
    Authenticate,
    ByeBranch,
    CallControl,
    CallFinished,
    CallState,
    CancelBranch,
    Command,
    RejectCaller,
    SendBye,
    SendInvite,
    SendProvisional,
    Side,
)
from softswitch.calls.events import (
    CallAnswered,
    CallEnded,
    CallHoldChanged,
    CallRinging,
    CallStarted,
)
from softswitch.calls.park import ParkingConfig
from softswitch.calls.pickup import PickupConfig
from softswitch.calls.recording import CallRecorder
from softswitch.calls.records import CallRecords
from softswitch.clock import Clock, TimerHandle
from softswitch.dialplan import EXTENSION, EXTERNAL, FORBIDDEN, Destination, DialPlan
from softswitch.events import EventBus
from softswitch.log import get_logger
from softswitch.registrar import request_target
from softswitch.sip import Address, Request, Response, SipUri, new_call_id, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.endpoint import OutgoingRequest
from softswitch.sip.message import HeaderValue
from softswitch.sip.transaction import Peer, ServerTransaction
from softswitch.store.records import CallRecord
from softswitch.trunks import TrunkAccount, TrunkRouter

if TYPE_CHECKING:  # (the seams import this module: their Protocols are annotations here)
    from softswitch.calls.transfer import CallMoves, End
    from softswitch.queue.seams import CallMedia, Endpoint, Target

log = get_logger("calls")

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER, MESSAGE, REFER"
SUPPORTED_CODECS = ("PCMU", "PCMA")
_STATIC_PT = {0: "PCMU", 8: "PCMA"}
LINGER = 32.0  # seconds an ended call still answers retransmissions (64*T1)


def with_trunk_credentials(request: Request, trunk: TrunkAccount | None,
                           challenge: Response | None) -> Request:
    """``request`` again, with ``trunk``'s credentials answering ``challenge`` (a 401/407,
    RFC 3261 §22.2; softswitch.trunks); ValueError when there are none or it cannot be
    answered."""
    from softswitch.sip.auth import authorize

    if trunk is None or challenge is None or not getattr(trunk, "username", None):
        raise ValueError("no credentials for this branch")
    return authorize(challenge, request, trunk.username, trunk.password)


class QueueEntrance(Protocol):
    """Where a blind transfer to a queue number hands the transferee (the queue-call
    shell, softswitch.queue.controller.QueueCalls.adopt_caller)."""

    @property
    def queues(self) -> Mapping[str, object]:
        """Queue number -> its configuration."""
        ...

    def adopt_caller(self, call_id: str, queue: str, caller: str, dialog: Dialog,
                     peer: Peer, leg: MediaLeg, invite: Request) -> bool: ...


class DeviceObserver(Protocol):
    """Told when an extension starts and ends an extension call (the queue controller:
    device busy/idle for ring-in-use, spec/queue-admin.md §2.4)."""

    def call_started(self, ext: str) -> None: ...

    def call_ended(self, ext: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MediaParams:
    """What a leg needs from one SDP: where to send, payload type, codec, telephone-event
    payload type, and the phone's direction."""

    address: tuple[str, int] | None
    payload_type: int
    codec: str
    telephone_event_pt: int | None
    direction: str


def audio_formats(sdp: sdplib.SessionDescription
                  ) -> tuple[sdplib.MediaDescription | None, list[tuple[int, str]]]:
    """The audio stream of an SDP and its formats as (payload type, encoding name) in the
    SDP's order (rtpmap names, else the RFC 3551 static names PCMU/PCMA)."""
    audio = sdplib.audio(sdp)
    if audio is None:
        return None, []
    formats: list[tuple[int, str]] = []
    for fmt in audio.formats:
        try:
            n = int(fmt)
        except ValueError:
            continue
        rtpmap = audio.rtpmap.get(n)
        name = rtpmap.encoding if rtpmap is not None else _STATIC_PT.get(n)
        if name:
            formats.append((n, name))
    return audio, formats


def media_params(sdp: sdplib.SessionDescription) -> MediaParams | None:
    """The first PCMU/PCMA format of the audio stream (None when there is none)."""
    audio, formats = audio_formats(sdp)
    if audio is None or audio.port == 0:
        return None
    codec = pt = None
    te: int | None = None
    for n, name in formats:
        if name.upper() in SUPPORTED_CODECS and codec is None:
            codec, pt = name.upper(), n
        elif name.lower() == "telephone-event" and te is None:
            te = n
    if codec is None or pt is None:
        return None
    host = audio.connection or sdp.connection
    address = None if not host or host in ("0.0.0.0", "::") else (str(host), int(audio.port))
    return MediaParams(address, pt, codec, te, audio.direction or "sendrecv")


def offered_codecs(sdp: sdplib.SessionDescription) -> tuple[list[str], bool]:
    """The caller's supported codecs in its order, and whether it offered telephone-event."""
    codecs: list[str] = []
    te = False
    for _, name in audio_formats(sdp)[1]:
        if name.upper() in SUPPORTED_CODECS and name.upper() not in codecs:
            codecs.append(name.upper())
        elif name.lower() == "telephone-event":
            te = True
    return codecs, te


def answer_one_codec(offer: sdplib.SessionDescription, leg: MediaLeg
                     ) -> tuple[MediaParams, sdplib.SessionDescription] | None:
    """RFC 3264 answer from `leg`'s address to a phone's offer, with the phone's first
    codec only (a multi-codec answer makes phones re-INVITE again); None when nothing in
    the offer is usable (the request gets 488)."""
    params = media_params(offer)
    answer = sdplib.create_answer(offer, leg.local_host, leg.local_port,
                                  codecs=(params.codec,) if params else SUPPORTED_CODECS)
    if params is None or answer is None:
        return None
    return params, answer


_MIRROR: dict[str, Direction] = {"sendonly": "recvonly", "recvonly": "sendonly",
                                  "inactive": "inactive", "sendrecv": "sendrecv"}


def apply_media(leg: MediaLeg, params: MediaParams) -> None:
    """Point a relay leg at what a phone's SDP says; the leg's direction mirrors the
    phone's (the phone is sendonly when it holds: we then only receive from it)."""
    leg.set_remote(params.address, params.payload_type, params.codec, params.telephone_event_pt)
    leg.set_direction(_MIRROR.get(params.direction, "sendrecv"))


@dataclass
class Branch:
    """One forked INVITE toward one contact of the callee."""

    id: int
    request: Request
    peer: Peer
    outgoing: OutgoingRequest | None = None
    dialog: Dialog | None = None
    answered: bool = False
    finished: bool = False
    # a trunk INVITE: its credentials answer one 401/407 (softswitch.trunks)
    trunk: TrunkAccount | None = None
    response: Response | None = None  # its last final response (a challenge, a 3xx)


@dataclass
class Call:
    control: CallControl
    invite: Request
    # the caller's server INVITE transaction; None for a party handed over already
    # answered (Transfers.park_handed_over): there is no INVITE left to answer
    txn: ServerTransaction | None
    caller_peer: Peer
    a_tag: str
    offer: sdplib.SessionDescription | None  # the caller's SDP offer (None: late offer)
    wall_start: float
    mono_start: float
    kind: str = EXTENSION
    leg_a: MediaLeg | None = None
    leg_b: MediaLeg | None = None
    branches: dict[int, Branch] = field(default_factory=dict)
    a_dialog: Dialog | None = None
    b_branch: Branch | None = None
    answer_sdp: bytes | None = None  # what the caller got as its answer
    a_acked: bool = False
    reinvite_busy: bool = False
    timer: TimerHandle | None = None
    pending: set[asyncio.Task[object]] = field(default_factory=set)
    log: FilteringBoundLogger = field(default_factory=lambda: log)
    leg_call_ids: list[str] = field(default_factory=list)
    origins: dict[Side, sdplib.Origin] = field(default_factory=dict)  # our SDP o= line per side
    observed: list[str] = field(default_factory=list)  # parties reported busy (observer)
    ringing_published: bool = False  # CallRinging sent (first 180/183)
    held_by: set[str] = field(default_factory=set)  # "caller" / "callee" holding the other
    recording: str | None = None  # the WAV's path (softswitch.calls.recording)
    record_uid: str = ""  # its cdr row (softswitch.calls.records)
    parties: dict[Side, str] = field(default_factory=dict)  # who is at each end now
    moves: CallMoves | None = None  # transfer, park, pickup state (softswitch.calls.transfer)

    @property
    def call_id(self) -> str:
        return self.control.call_id


class B2BUA:
    """All calls of the switch."""

    def __init__(self, *, endpoint: Endpoint, media: CallMedia, store: object,
                 dialplan: DialPlan, lookup: Callable[[str, float], Sequence[Target]],
                 domain: str,
                 no_answer_timeout: float, clock: Clock, events: EventBus,
                 trunks: TrunkRouter | None = None, observer: DeviceObserver | None = None,
                 recordings: CallRecorder | None = None,
                 user_agent: str = "softswitch", parking: ParkingConfig | None = None,
                 pickup: PickupConfig | None = None, language: str = "en",
                 queues: QueueEntrance | None = None) -> None:
        """``events``: CallStarted/Ringing/Answered/HoldChanged/Ended go there
        (softswitch.calls.events); ``trunks``: "external" destinations; ``observer``: told of
        each party of an extension call; ``recordings``: every answered extension call;
        ``parking``, ``pickup``: the park slots and pickup codes (softswitch.calls.transfer),
        ``language`` of the prompts a transferred party hears; ``queues``: where a
        transfer to a queue number goes."""
        self.endpoint = endpoint
        self.clock = clock  # every time and timer of the calls (softswitch.clock)
        self.media = media
        self.store = store
        self.records = CallRecords(store)  # crash-safe CDR rows (softswitch.calls.records)
        self.dialplan = dialplan
        self.lookup = lookup
        self.domain = domain
        self.no_answer_timeout = no_answer_timeout
        self.user_agent = user_agent
        self.calls: dict[str, Call] = {}  # caller's Call-ID -> call
        self._by_leg_call_id: dict[str, tuple[Call, Side, Branch | None]] = {}
        self._by_txn: dict[int, Call] = {}
        self._accepting = True
        self._loop = asyncio.get_event_loop()
        self._linger: deque[tuple[float, Call]] = deque()
        self._linger_timer: TimerHandle | None = None
        self._outgoing_byes: list[OutgoingRequest] | None = None  # collected during shutdown
        self.events = events
        self.observer = observer
        self.recordings = recordings
        self.trunks = trunks
        from softswitch.calls.transfer import Transfers

        # REFER, park, pickup (softswitch.calls.transfer); the live API calls its operations
        self.transfers = Transfers(self, parking=parking, pickup=pickup, language=language,
                                   queues=queues)

    def active_count(self) -> int:
        return sum(1 for c in self.calls.values() if c.control.state is not CallState.ENDED)

    # ------------------------------------------------------------------ new calls

    def handle_invite(self, txn: ServerTransaction, request: Request, caller: str,
                      destination: Destination | None = None) -> None:
        """A new, authenticated INVITE from extension `caller` (100 Trying already sent);
        `destination` skips the dial plan (a trunk call routed by its inbound route)."""
        now = self.clock.monotonic()
        call_id = request.call_id
        if not self._accepting:
            self._respond(txn, request, 503, "Shutting Down")
            return
        existing = self.calls.get(call_id)
        if existing is not None:
            if existing.control.state is not CallState.ENDED:
                self._respond(txn, request, 482, "Loop Detected")
                return
            self._forget(existing)  # a new attempt re-using the Call-ID of an ended one
        if destination is None and self.transfers.handle_invite(txn, request, caller):
            return  # an extension dialled a park slot or a pickup code, or sent Replaces
        dialed = request.uri.user or ""
        control = CallControl(call_id, caller, dialed, now, self.no_answer_timeout)
        call = Call(control, request, txn, txn.peer, new_tag(), None, self.clock.wall(), now)
        call.log = log.bind(call_id=call_id, caller=caller, callee=dialed)
        call.parties[Side.CALLER] = caller
        call.record_uid = self.records.open(call_id, caller, dialed, call.wall_start)
        self.calls[call_id] = call
        self._by_leg_call_id[call_id] = (call, Side.CALLER, None)
        call.leg_call_ids.append(call_id)
        self._by_txn[id(txn)] = call
        if request.body:
            if (request.content_type or "").lower() != "application/sdp":
                self._execute(call, control.handle_route_failed(415, "Unsupported Media Type",
                                                                now))
                return
            try:
                call.offer = sdplib.SessionDescription.parse(request.body)
            except Exception as exc:  # noqa: BLE001 - unreadable SDP is the caller's error
                call.log.info("bad SDP offer", error=str(exc))
                self._execute(call, control.handle_route_failed(400, "Bad SDP", now))
                return
            codecs, _ = offered_codecs(call.offer)
            if not codecs:
                self._execute(call, control.handle_route_failed(488, "Not Acceptable Here",
                                                                now))
                return
        # else: late offer (RFC 3261 §13.2.1): our 200 carries the offer, the ACK the answer
        if destination is None:
            destination = self.dialplan.route(dialed, caller)
        call.kind = destination.kind
        self._publish(CallStarted(now, call_id, caller, dialed, destination.kind))
        call.log.debug("call routed", destination=destination.kind, target=destination.target)
        if destination.kind == EXTENSION:
            targets = self.lookup(destination.target, now)
            if not targets:
                self._execute(call, control.handle_route_failed(480, "Temporarily Unavailable",
                                                                now))
                return
            control.callee = destination.target
            call.parties[Side.CALLEE] = destination.target
            self._observe(call, caller)
            self._spawn(call, self._start_branches(call, destination.target, targets))
        elif destination.kind == EXTERNAL and self.trunks is not None \
                and destination.target in self.trunks.trunks and destination.args:
            from softswitch.trunks import trunk_target

            target = trunk_target(self.trunks.trunks[destination.target], destination.args[0])
            control.callee = target.number
            call.parties[Side.CALLEE] = target.number
            call.log.info("calling out through trunk", trunk=destination.target,
                          number=target.number)
            self._observe(call, caller)
            self._spawn(call, self._start_branches(call, target.number, [target]))
        elif destination.kind == FORBIDDEN:
            self._refuse_forbidden(call, destination, now)
        else:
            self._execute(call, control.handle_route_failed(404, "Not Found", now))

    def _refuse_forbidden(self, call: Call, destination: Destination, now: float) -> None:
        """The caller may not use the outbound route (softswitch.trunks, route
        permissions): "403 Forbidden (outbound route not permitted)" and a log line."""
        call.log.warning("outbound route not permitted", route=destination.target,
                         reason=destination.args[0] if destination.args else "")
        self._execute(call, call.control.handle_route_failed(
            403, "Forbidden (outbound route not permitted)", now))

    def _spawn(self, call: Call, coro: Coroutine[object, object, object]) -> None:
        task = self._loop.create_task(coro)
        call.pending.add(task)
        task.add_done_callback(lambda t: self._task_done(call, t))

    def _task_done(self, call: Call, task: asyncio.Task[object]) -> None:
        call.pending.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            call.log.error("call task failed", error=repr(exc))
            self._execute(call, call.control.handle_shutdown(self.clock.monotonic(),
                                                             f"internal error: {exc!r}"))

    async def _open_legs(self, call: Call, both: bool) -> bool:
        try:
            call.leg_a = await self.media.open_leg(f"{call.call_id}/a")
            if both:
                call.leg_b = await self.media.open_leg(f"{call.call_id}/b")
        except Exception as exc:  # noqa: BLE001 - port range exhausted or bind failure
            call.log.error("no media port", error=str(exc))
            self._execute(call, call.control.handle_route_failed(
                503, "No Media Port", self.clock.monotonic()))
            return False
        return True

    async def _start_branches(self, call: Call, callee: str,
                              targets: Sequence[Target]) -> None:
        if not await self._open_legs(call, both=True):
            return
        if call.control.state is not CallState.ROUTING:
            await self._close_legs(call)  # the caller CANCELled while ports were opened
            return
        assert call.leg_b is not None  # _open_legs(both=True) opened it
        codecs, te = offered_codecs(call.offer) if call.offer is not None else \
            (list(SUPPORTED_CODECS), True)
        offer = sdplib.create_offer(call.leg_b.local_host, call.leg_b.local_port,
                                    codecs=tuple(codecs), telephone_event=te)
        call.origins[Side.CALLEE] = offer.origin
        body = bytes(offer)
        caller = call.control.caller
        ids = []
        trunk_branches = []
        for i, binding in enumerate(targets):
            peer = Peer(*request_target(binding, self.endpoint.has_connection))
            local = self.endpoint.local_peer(peer.transport)
            b_call_id = new_call_id()
            from_display = call.invite.from_.display_name
            trunk = getattr(binding, "trunk", None)
            from_user = (trunk.from_user or caller) if trunk is not None else caller
            from_addr = Address(SipUri.parse(f"sip:{from_user}@{self.domain}"), from_display,
                                {"tag": new_tag()})
            contact = f"<sip:{caller}@{_hostport(local)};transport={peer.transport}>"
            request = Request("INVITE", SipUri.parse(binding.contact), headers=[
                ("From", from_addr),
                ("To", Address(SipUri.parse(f"sip:{callee}@{self.domain}"))),
                ("Call-ID", b_call_id),
                ("CSeq", "1 INVITE"),
                ("Contact", contact),
                ("Allow", ALLOW),
                ("User-Agent", self.user_agent),
                ("Content-Type", "application/sdp"),
            ], body=body)
            branch = Branch(i, request, peer, trunk=trunk)
            call.branches[i] = branch
            self._by_leg_call_id[b_call_id] = (call, Side.CALLEE, branch)
            call.leg_call_ids.append(b_call_id)
            ids.append(i)
            if trunk is not None and trunk.username:
                trunk_branches.append(i)
        self._execute(call, call.control.handle_branches_started(ids, self.clock.monotonic(),
                                                                 trunk_branches))
        self._arm_timer(call)

    def _send_invite(self, call: Call, branch: Branch) -> None:
        call.log.debug("calling contact", branch=branch.id, contact=str(branch.request.uri),
                       peer=f"{branch.peer.transport}:{branch.peer.host}:{branch.peer.port}",
                       leg_call_id=branch.request.call_id)
        branch.finished = False
        branch.outgoing = self.endpoint.send_request(
            branch.request, branch.peer,
            on_response=functools.partial(self._on_branch_response, call, branch))

    def _authenticate(self, call: Call, branch: Branch) -> None:
        """The fork says: answer this trunk's challenge once with its credentials."""
        try:
            branch.request = with_trunk_credentials(branch.request, branch.trunk,
                                                    branch.response)
        except ValueError as exc:
            call.log.info("trunk challenge not answerable", error=str(exc))
            status = branch.response.status if branch.response is not None else 407
            self._execute(call, call.control.handle_failure(branch.id, status,
                                                            self.clock.monotonic()))
            return
        call.log.debug("answering trunk challenge",
                       trunk=branch.trunk.name if branch.trunk is not None else "")
        self._send_invite(call, branch)

    # ------------------------------------------------------------------ responses from B

    def _on_branch_response(self, call: Call, branch: Branch, response: Response) -> None:
        now = self.clock.monotonic()
        status = response.status
        if status < 200:
            if status > 100 and response.to.tag and branch.dialog is None:
                with contextlib.suppress(Exception):
                    branch.dialog = Dialog.create_uac(branch.request, response)
            if status == 183 and response.body and call.answer_sdp is None:
                self._negotiate(call, branch, response)
            self._execute(call, call.control.handle_provisional(branch.id, status, now),
                          response)
            return
        if 200 <= status < 300:
            if branch.answered:
                return  # a 2xx retransmission; the endpoint re-sends our ACK
            branch.answered = True
            branch.finished = True
            try:
                branch.dialog = Dialog.create_uac(branch.request, response)
                assert branch.outgoing is not None  # the response answers it
                branch.outgoing.send_ack(branch.dialog.create_ack(branch.request))
            except Exception as exc:  # noqa: BLE001
                call.log.error("cannot confirm callee dialog", error=repr(exc))
            if call.control.fork.undecided and not self._negotiate(call, branch, response):
                # a 2xx without a usable SDP answer: the fork hangs that phone up and
                # counts the branch as failed with 488 (RFC 3264 §6: no common codec)
                call.log.info("callee answer unusable", branch=branch.id)
                self._execute(call, call.control.handle_unusable_answer(branch.id, now))
                return
            self._execute(call, call.control.handle_answer(branch.id, now), response)
            return
        branch.finished = True
        branch.response = response
        call.log.debug("callee refused", branch=branch.id, status=status)
        self._execute(call, call.control.handle_failure(branch.id, status, now))

    def _negotiate(self, call: Call, branch: Branch, response: Response) -> bool:
        """Answer the caller's offer with what the callee chose; point the relay legs."""
        if call.answer_sdp is not None:
            return True
        try:
            callee_sdp = sdplib.SessionDescription.parse(response.body)
        except Exception:  # noqa: BLE001
            return False
        b = media_params(callee_sdp)
        leg_a, leg_b = call.leg_a, call.leg_b
        if b is None or leg_a is None or leg_b is None:
            return False
        answer: sdplib.SessionDescription | None
        if call.offer is None:
            # late offer: offer the caller exactly what the callee chose; its ACK answers
            answer = sdplib.create_offer(leg_a.local_host, leg_a.local_port,
                                         codecs=(b.codec,),
                                         telephone_event=b.telephone_event_pt is not None)
        else:
            answer = sdplib.create_answer(call.offer, leg_a.local_host,
                                          leg_a.local_port, codecs=(b.codec,))
        if answer is None:
            return False
        a = media_params(answer)
        offer = media_params(call.offer) if call.offer is not None else None
        if a is None:
            return False
        try:
            leg_a.set_remote(offer.address if offer else None, a.payload_type, a.codec,
                             a.telephone_event_pt)
            apply_media(leg_b, b)
        except ValueError as exc:  # e.g. telephone-event on a static payload type
            call.log.info("unusable SDP", error=str(exc))
            return False
        call.origins[Side.CALLER] = answer.origin
        call.answer_sdp = bytes(answer)
        with contextlib.suppress(Exception):
            self.media.bridge(leg_a, leg_b)
        return True

    # ------------------------------------------------------------------ executing commands

    def _execute(self, call: Call, commands: list[Command],
                 response: Response | None = None) -> None:
        for cmd in commands:
            if isinstance(cmd, SendProvisional):
                if not call.ringing_published:
                    call.ringing_published = True
                    self._publish(CallRinging(self.clock.monotonic(), call.call_id,
                                              call.control.caller, call.control.callee,
                                              call.kind))
                body = b""
                headers: list[tuple[str, HeaderValue]] = [("Contact", self._contact(call))]
                if cmd.status == 183 and call.answer_sdp is not None:
                    body = call.answer_sdp
                    headers.append(("Content-Type", "application/sdp"))
                resp = call.invite.create_response(cmd.status, to_tag=call.a_tag,
                                                   headers=headers, body=body)
                if call.txn is not None:
                    self.endpoint.send_response(call.txn, resp)
            elif isinstance(cmd, AnswerCaller):
                self._answer_caller(call, cmd.branch)
            elif isinstance(cmd, RejectCaller):
                self._reject_caller(call, cmd)
            elif isinstance(cmd, SendInvite):
                branch = call.branches.get(cmd.branch)
                if branch is not None:
                    self._send_invite(call, branch)
            elif isinstance(cmd, Authenticate):
                branch = call.branches.get(cmd.branch)
                if branch is not None:
                    self._authenticate(call, branch)
            elif isinstance(cmd, CancelBranch):
                branch = call.branches.get(cmd.branch)
                if branch is not None and branch.outgoing is not None and not branch.finished:
                    branch.outgoing.cancel()
            elif isinstance(cmd, ByeBranch):
                branch = call.branches.get(cmd.branch)
                if branch is not None and branch.dialog is not None:
                    self._send_in_dialog(call, branch.dialog, branch.peer, "BYE")
            elif isinstance(cmd, SendBye):
                self._send_bye(call, cmd.side)
            elif isinstance(cmd, CallFinished):
                self._finish(call, cmd)

    def _reject_caller(self, call: Call, cmd: RejectCaller) -> None:
        """The final failure; a redirect (3xx) passes on the callee's Contact (§21.3)."""
        headers: list[tuple[str, HeaderValue]] = []
        branch = call.branches.get(cmd.branch) if cmd.branch is not None else None
        if 300 <= cmd.status < 400 and branch is not None and branch.response is not None:
            headers = [("Contact", c) for c in branch.response.get_all("Contact")]
        reason = cmd.reason or (branch.response.reason if branch is not None
                                and branch.response is not None
                                and branch.response.status == cmd.status else None)
        self._respond(call.txn, call.invite, cmd.status, reason, to_tag=call.a_tag,
                      headers=headers)

    def _contact(self, call: Call) -> str:
        local = self.endpoint.local_peer(call.caller_peer.transport)
        return f"<sip:{call.control.callee or 'switch'}@{_hostport(local)};" \
               f"transport={call.caller_peer.transport}>"

    def _observe(self, call: Call, ext: str) -> None:
        if self.observer is not None and ext:
            call.observed.append(ext)
            try:
                self.observer.call_started(ext)
            except Exception as exc:  # noqa: BLE001 - never break a call over it
                call.log.error("call observer failed", error=repr(exc))

    def _publish(self, event: object) -> None:
        self.events.publish(event)

    def _answer_caller(self, call: Call, branch_id: int) -> None:
        call.b_branch = call.branches.get(branch_id)
        self._publish(CallAnswered(self.clock.monotonic(), call.call_id, call.control.caller,
                                   call.control.callee))
        self._observe(call, call.parties.get(Side.CALLEE, call.control.callee))
        body = call.answer_sdp or b""
        headers: list[tuple[str, HeaderValue]] = [
            ("Contact", self._contact(call)), ("Allow", ALLOW), ("Server", self.user_agent)]
        if body:
            headers.append(("Content-Type", "application/sdp"))
        resp = call.invite.create_response(200, to_tag=call.a_tag, headers=headers, body=body)
        try:
            call.a_dialog = Dialog.create_uas(call.invite, resp)
        except Exception as exc:  # noqa: BLE001
            call.log.error("cannot create caller dialog", error=repr(exc))
        if call.txn is not None:
            self.endpoint.send_response(call.txn, resp)
        self._record_answer(call)
        if self.recordings is not None and call.kind == EXTENSION:
            call.recording = self.recordings.start("extension", call.call_id, call.leg_a,
                                                   call.leg_b, at=self.clock.monotonic())

    def _record_answer(self, call: Call) -> None:
        """The answer time and both confirmed legs, for the record (softswitch.calls.records)."""
        b = call.b_branch
        self.records.answered(call.record_uid, call.wall_start - call.mono_start +
                              self.clock.monotonic(),
                              [("caller", call.a_dialog, call.caller_peer),
                               ("callee", b.dialog if b else None, b.peer if b else None)])

    def _send_bye(self, call: Call, side: Side) -> None:
        if self.transfers.gone(call, side):
            return  # that party left the call (transfer, park)
        if side is Side.CALLER:
            if call.a_dialog is not None:
                self._send_in_dialog(call, call.a_dialog, call.caller_peer, "BYE")
        elif call.b_branch is not None and call.b_branch.dialog is not None:
            self._send_in_dialog(call, call.b_branch.dialog, call.b_branch.peer, "BYE")

    def _send_in_dialog(self, call: Call, dialog: Dialog, peer: Peer, method: str,
                        body: bytes = b"", content_type: str | None = None,
                        headers: tuple[tuple[str, HeaderValue], ...] = (),
                        on_response: Callable[[Response], None] | None = None
                        ) -> OutgoingRequest:
        request = dialog.create_request(method, body=body, content_type=content_type,
                                        headers=headers)
        call.log.debug("request sent", method=method, leg_call_id=request.call_id)
        outgoing = self.endpoint.send_request(request, peer, on_response=on_response)
        if method == "BYE" and self._outgoing_byes is not None:
            self._outgoing_byes.append(outgoing)
        return outgoing

    def _respond(self, txn: ServerTransaction | None, request: Request, status: int,
                 reason: str | None = None, to_tag: str | None = None,
                 headers: list[tuple[str, HeaderValue]] | None = None,
                 body: bytes = b"") -> None:
        if txn is None:  # a handed-over party: its INVITE was answered by its first owner
            return
        resp = request.create_response(status, reason, to_tag=to_tag or new_tag(),
                                       headers=headers or [], body=body)
        self.endpoint.send_response(txn, resp)

    def _arm_timer(self, call: Call) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        deadline = call.control.next_deadline()
        if deadline is not None:
            call.timer = self.clock.call_at(deadline, self._on_timer, call)

    def _on_timer(self, call: Call) -> None:
        call.timer = None
        self._execute(call, call.control.handle_timer(self.clock.monotonic()))
        self._arm_timer(call)

    def _finish(self, call: Call, done: CallFinished) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        wall = call.wall_start - call.mono_start
        caller_rtp = dict(call.leg_a.stats) if call.leg_a is not None else None
        callee_rtp = dict(call.leg_b.stats) if call.leg_b is not None else None
        if self.recordings is not None:
            self.recordings.stop(call.call_id)  # the WAV is complete before the row
        record = CallRecord(
            call.call_id, call.control.caller, call.control.callee, call.wall_start,
            done.answer + wall if done.answer is not None else None, done.end + wall,
            done.disposition, done.hangup_side.value, done.hangup_cause, done.sip_code,
            caller_rtp, callee_rtp, call.recording)
        call.log.info("call ended", disposition=done.disposition,
                      hangup_side=done.hangup_side.value, cause=done.hangup_cause,
                      sip_code=done.sip_code, duration=round(record.duration or 0.0, 3),
                      billsec=round(record.billsec or 0.0, 3))
        observer = self.observer
        if observer is not None:
            for ext in call.observed:
                try:
                    observer.call_ended(ext)
                except Exception as exc:  # noqa: BLE001
                    call.log.error("call observer failed", error=repr(exc))
        call.observed.clear()
        self.transfers.call_finished(call)
        self._publish(CallEnded(done.end, call.call_id, record.caller, record.callee,
                                record.disposition, record.hangup_side, record.hangup_cause,
                                record.sip_code, round(record.duration or 0.0, 3),
                                round(record.billsec or 0.0, 3)))
        self.records.complete(call.record_uid, record)
        self._loop.create_task(self._release(call))

    async def _close_legs(self, call: Call) -> None:
        for leg in (call.leg_a, call.leg_b):
            if leg is not None:
                with contextlib.suppress(Exception):
                    await leg.close()

    async def _release(self, call: Call) -> None:
        await self._close_legs(call)
        # Keep the indexes a little longer so retransmitted BYEs/ACKs still match
        # (64*T1, §17), then forget the call: one queue and one timer for all calls.
        self._linger.append((self.clock.monotonic() + LINGER, call))
        if self._linger_timer is None and self._accepting:
            self._linger_timer = self.clock.call_later(1.0, self._sweep_linger)

    def _sweep_linger(self) -> None:
        self._linger_timer = None
        now = self.clock.monotonic()
        while self._linger and self._linger[0][0] <= now:
            self._forget(self._linger.popleft()[1])
        if self._linger and self._accepting:
            self._linger_timer = self.clock.call_later(1.0, self._sweep_linger)

    def _forget(self, call: Call) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]
        for key in call.leg_call_ids:
            entry = self._by_leg_call_id.get(key)
            if entry is not None and entry[0] is call:
                del self._by_leg_call_id[key]
        self._by_txn.pop(id(call.txn), None)

    # ------------------------------------------------------------------ caller's ACK/CANCEL

    def handle_cancel(self, invite_txn: ServerTransaction) -> bool:
        call = self._by_txn.get(id(invite_txn)) if invite_txn is not None else None
        if call is None:
            return False
        call.log.debug("caller cancelled")
        self._execute(call, call.control.handle_cancel(self.clock.monotonic()))
        return True

    def handle_ack(self, request: Request) -> None:
        entry = self._by_leg_call_id.get(request.call_id)
        if entry is None or entry[1] is not Side.CALLER:
            return
        call = entry[0]
        first = not call.a_acked
        call.a_acked = True
        if first and call.offer is None and request.body and call.leg_a is not None:
            # late offer: the ACK carries the caller's answer (RFC 3264 §6)
            try:
                params = media_params(sdplib.SessionDescription.parse(request.body))
                if params is not None:
                    apply_media(call.leg_a, params)
            except Exception as exc:  # noqa: BLE001 - a bad answer leaves the leg latching
                call.log.info("bad SDP answer in ACK", error=str(exc))

    def handle_ack_timeout(self, txn: ServerTransaction) -> None:
        call = self._by_txn.get(id(txn))
        if call is not None and call.control.state is CallState.CONNECTED and not call.a_acked:
            call.log.warning("caller never acknowledged the 200 OK")
            self._execute(call, call.control.handle_shutdown(self.clock.monotonic(), "no ACK"))

    # ------------------------------------------------------------------ in-dialog requests

    def handle_in_dialog(self, txn: ServerTransaction, request: Request) -> None:
        """A request with a To tag (BYE, re-INVITE, INFO, OPTIONS, ...)."""
        entry = self._by_leg_call_id.get(request.call_id)
        if entry is None:
            self._respond(txn, request, 481, "Call/Transaction Does Not Exist")
            return
        call, side, branch = entry
        if side is Side.CALLEE and call.b_branch is not branch:
            # a losing branch (answered late, or being hung up): only BYE makes sense
            self._respond(txn, request, 200 if request.method == "BYE" else 481)
            return
        method = request.method
        now = self.clock.monotonic()
        call.log.debug("in-dialog request", method=method, side=side.value)
        dialog = call.a_dialog if side is Side.CALLER else (branch.dialog if branch else None)
        if dialog is not None:
            refused = dialog.receive_request(request)  # CSeq order, target refresh (§12.2.2)
            if refused is not None:
                self.endpoint.send_response(txn, refused)
                return
        if method == "BYE":
            self._respond(txn, request, 200)
            if self.transfers.party_left(call, side):
                return
            if call.control.state is CallState.CONNECTED:
                self._execute(call, call.control.handle_bye(side, now))
            elif side is Side.CALLER:
                # §15: a BYE on an early dialog ends the attempt like a CANCEL
                self._execute(call, call.control.handle_cancel(now))
        elif method == "OPTIONS":
            self._respond(txn, request, 200, headers=[("Allow", ALLOW)])
        elif method == "REFER":
            self.transfers.handle_refer(txn, request, call, side)
        elif method in ("INVITE", "INFO") and call.moves is not None and (
                call.moves.gone or call.moves.transfer is not None):
            # the other party is being transferred, parked or has left: nobody to relay to
            self._respond(txn, request, 200 if method == "INFO" else 491)
        elif method in ("INVITE", "INFO"):
            if call.control.state is not CallState.CONNECTED:
                self._respond(txn, request, 200 if method == "INFO" else 491)
                return
            if method == "INVITE":
                if call.reinvite_busy:
                    self._respond(txn, request, 491, "Request Pending")
                    return
                call.reinvite_busy = True
            self._relay(call, side, txn, request)
        else:
            self._respond(txn, request, 501, "Not Implemented", headers=[("Allow", ALLOW)])

    @staticmethod
    def _as_ours(call: Call, to: Side, sdp: sdplib.SessionDescription
                 ) -> sdplib.SessionDescription:
        """RFC 3264 §8: every SDP a phone gets from us carries the o= line of our first one
        with the version increased by one, whatever phone's SDP we relay."""
        origin = call.origins.get(to)
        if origin is not None:
            version = origin.session_version
            origin.session_version = str(int(version) + 1 if version.isdigit() else 1)
            sdp.origin.username = origin.username
            sdp.origin.session_id = origin.session_id
            sdp.origin.session_version = origin.session_version
        return sdp

    def _relay(self, call: Call, side: Side, txn: ServerTransaction,
               request: Request) -> None:
        """Pass a re-INVITE or INFO to the other side; its final answer comes back."""
        other = Side.CALLEE if side is Side.CALLER else Side.CALLER
        if side is Side.CALLER:
            this_leg, other_leg = call.leg_a, call.leg_b
            other_dialog = call.b_branch.dialog if call.b_branch else None
            other_peer = call.b_branch.peer if call.b_branch else None
        else:
            this_leg, other_leg = call.leg_b, call.leg_a
            other_dialog, other_peer = call.a_dialog, call.caller_peer
        if other_dialog is None or other_peer is None or this_leg is None or other_leg is None:
            call.reinvite_busy = False
            self._respond(txn, request, 481)
            return
        body = request.body
        content_type = request.content_type
        offer_params = None
        if request.method == "INVITE" and body:
            try:
                offer = sdplib.SessionDescription.parse(body)
            except Exception:  # noqa: BLE001
                call.reinvite_busy = False
                self._respond(txn, request, 488, "Bad SDP")
                return
            offer_params = media_params(offer)
            body = bytes(self._as_ours(call, other, sdplib.anchor(
                offer, other_leg.local_host, other_leg.local_port)))
        headers: tuple[tuple[str, HeaderValue], ...] = ()
        if request.method == "INVITE":
            local = self.endpoint.local_peer(other_peer.transport)
            headers = (("Contact", f"<sip:switch@{_hostport(local)};"
                                   f"transport={other_peer.transport}>"),)

        def on_response(resp: Response) -> None:
            if resp.status < 200:
                return
            with contextlib.suppress(Exception):
                other_dialog.receive_response(resp)  # target refresh (§12.2.1.2)
            out_body = resp.body
            if request.method == "INVITE":
                call.reinvite_busy = False
                if 200 <= resp.status < 300:
                    with contextlib.suppress(Exception):
                        outgoing.send_ack(other_dialog.create_ack(outgoing_request))
                    if offer_params is not None:
                        apply_media(this_leg, offer_params)
                        self.hold_changed(call, side, offer_params.direction
                                           in ("sendonly", "inactive"))
                    if resp.body:
                        with contextlib.suppress(Exception):
                            answer = sdplib.SessionDescription.parse(resp.body)
                            answer_params = media_params(answer)
                            if answer_params is not None:
                                apply_media(other_leg, answer_params)
                            out_body = bytes(self._as_ours(call, side, sdplib.anchor(
                                answer, this_leg.local_host, this_leg.local_port)))
            hdrs: list[tuple[str, HeaderValue]] = []
            if out_body:
                hdrs.append(("Content-Type", resp.content_type or "application/sdp"))
            if request.method == "INVITE" and 200 <= resp.status < 300:
                hdrs.append(("Contact", self._contact(call)))
            self._respond(txn, request, resp.status, resp.reason, headers=hdrs, body=out_body)

        outgoing_request = other_dialog.create_request(request.method, body=body,
                                                       content_type=content_type,
                                                       headers=headers)
        call.log.debug("relaying", method=request.method, to=("callee" if side is Side.CALLER
                                                             else "caller"))
        outgoing = self.endpoint.send_request(outgoing_request, other_peer,
                                              on_response=on_response)

    def hold_changed(self, call: Call, side: Side, held: bool) -> None:
        party = "caller" if side is Side.CALLER else "callee"
        if held == (party in call.held_by):
            return  # a session refresh or a codec change: no hold change
        if held:
            call.held_by.add(party)
        else:
            call.held_by.discard(party)
        call.log.info("call held" if held else "call resumed", by=party)
        self._publish(CallHoldChanged(self.clock.monotonic(), call.call_id, call.control.caller,
                               call.control.callee, party, held))

    # ------------------------------------------------------------------ moving ends

    def _end_of(self, call: Call, side: Side) -> End:
        """The party at `side` as a `softswitch.calls.transfer.End`."""
        from softswitch.calls.transfer import End, TransferRefused

        dialog: Dialog | None
        peer: Peer | None
        request: Request | None
        if side is Side.CALLER:
            dialog, peer, leg, request = call.a_dialog, call.caller_peer, call.leg_a, \
                call.invite
        else:
            b = call.b_branch
            dialog, peer, leg, request = (b.dialog, b.peer, call.leg_b, b.request) if b \
                else (None, None, None, None)
        if dialog is None or peer is None or request is None:
            raise TransferRefused(481, "Call Does Not Exist")
        if leg is None or leg.closed:
            # no media to move (its port was never opened, or it was taken already)
            raise TransferRefused(481, "Call Does Not Exist")
        return End(call.parties.get(side, ""), dialog, peer, leg, call.origins.get(side),
                   request)

    def _put_end(self, call: Call, side: Side, end: End) -> None:
        """`end` (softswitch.calls.transfer.End) is now the party at `side` of `call`: its
        in-dialog requests reach this call, its leg is this side's leg."""
        key = end.dialog.call_id
        if side is Side.CALLER:
            call.a_dialog, call.caller_peer, call.leg_a = end.dialog, end.peer, end.leg
            self._by_leg_call_id[key] = (call, Side.CALLER, None)
        else:
            branch = Branch(PICKED_UP, end.request, end.peer, dialog=end.dialog, answered=True,
                            finished=True)
            call.branches[PICKED_UP] = branch
            call.b_branch = branch
            call.leg_b = end.leg
            self._by_leg_call_id[key] = (call, Side.CALLEE, branch)
        if end.origin is not None:
            call.origins[side] = end.origin
        else:
            call.origins.pop(side, None)
        call.parties[side] = end.party
        call.leg_call_ids.append(key)

    def _unobserve(self, call: Call, ext: str) -> None:
        """`ext` left `call` (transfer, park): its device is idle again for the queues."""
        if ext in call.observed:
            call.observed.remove(ext)
            if self.observer is not None:
                try:
                    self.observer.call_ended(ext)
                except Exception as exc:  # noqa: BLE001
                    call.log.error("call observer failed", error=repr(exc))

    # -- operations of the live API (one code path with REFER and the phones' codes)

    def transfer_blind(self, call_id: str, side: Side | str, target: str) -> None:
        """The party at `side` (caller/callee) of `call_id` transfers the other to
        `target`; raises softswitch.calls.transfer.TransferRefused."""
        self.transfers.transfer_blind(call_id, side, target)

    def transfer_attended(self, call_id: str, side: Side | str, consult_call_id: str,
                          consult_side: Side | str) -> None:
        self.transfers.transfer_attended(call_id, side, consult_call_id, consult_side)

    def park(self, call_id: str, side: Side | str, target: str | None = None) -> str:
        return self.transfers.park(call_id, side, target)

    def park_handed_over(self, call_id: str, parker: str, target: str | None,
                         release: Callable[[str], End | None]) -> str:
        """Park a party another shell hands over (softswitch.calls.transfer)."""
        return self.transfers.park_handed_over(call_id, parker, target, release)

    def retrieve(self, slot: str, by: str) -> None:
        self.transfers.retrieve(slot, by)

    def pickup(self, call_id: str, by: str,
               on_result: Callable[[bool, str, int | None], None] | None = None) -> None:
        self.transfers.pickup(call_id, by, on_result)

    def hang_up(self, call_id: str, cause: str) -> bool:
        """The switch ends `call_id` (the live API's hang-up): BYE to both parties of a
        connected call, CANCEL to the ringing branches and 503 to the caller of one still
        ringing; False when there is no such live call."""
        call = self.calls.get(call_id)
        if call is None or call.control.state is CallState.ENDED:
            return False
        self._execute(call, call.control.handle_shutdown(self.clock.monotonic(), cause))
        return True

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self, grace: float = 3.0) -> None:
        """End every call (BYE/CANCEL/503) and wait up to `grace` s for the BYEs' answers."""
        self._accepting = False
        self.transfers.close()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        now = self.clock.monotonic()
        self._outgoing_byes = []
        for call in list(self.calls.values()):
            for task in list(call.pending):
                task.cancel()
            self._execute(call, call.control.handle_shutdown(now))
        waits = [f for f in (getattr(b, "final", None) for b in self._outgoing_byes)
                 if f is not None]
        self._outgoing_byes = None
        if waits:
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.gather(*waits, return_exceptions=True), grace)
        for call in list(self.calls.values()):
            await self._close_legs(call)
            self._forget(call)
        self._linger.clear()


def _hostport(peer: Peer) -> str:
    host = f"[{peer.host}]" if ":" in peer.host else peer.host
    return f"{host}:{peer.port}"
