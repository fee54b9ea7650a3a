"""The one in-dialog policy for calls the switch answers itself (RFC 3261 §8.2.1, §12.2.2,
§14.2; RFC 3264 §8; RFC 3311; RFC 6086).

A self-answered call (echo, feature codes, prompts, IVR, voicemail, the queue's caller
before an agent answers) is a dialog that ends at the switch: there is no far phone to
relay to, so every request the caller sends in it is answered here, the same way whatever
application runs. `InDialogPolicy.handle_request(request, now)` takes the request and
returns an `InDialogOutcome`: the response to send plus what happens to the call (it ends,
a digit, the media to re-point, the hold state). No I/O; the shell sends the response and
carries out the rest.

The answers (the table test in tests/apps/test_indialog.py covers every row):

==========================  ==============================================================
request                     answer / effect
==========================  ==============================================================
any, CSeq lower than last   500 (Retry-After: 0), nothing else (§12.2.2)
BYE                         200; the call ends
INVITE with SDP             200 with our current SDP; the leg follows the caller's address
                            and direction (hold); 488 when no codec of ours is offered
INVITE without SDP          200 with our current SDP as an offer; its answer in the ACK
INVITE while one pending    491 Request Pending (§14.2)
UPDATE without SDP          200
UPDATE with SDP             as a re-INVITE's offer (RFC 3311 §5.2)
INFO dtmf-relay / dtmf      200 and the digit is delivered; 400 for an unreadable body
INFO without body           200 (RFC 6086 legacy INFO, used as a keepalive)
other INFO                  415 with Accept listing the DTMF types
OPTIONS                     200 with Allow and Accept
PRACK, NOTIFY               481 (we sent no reliable provisional / hold no subscription)
REGISTER, SUBSCRIBE, REFER,
PUBLISH, MESSAGE            405 with Allow (known methods, not valid in our call dialog)
anything else               501 with Allow
request, unknown dialog     481 (`unknown_dialog`)
==========================  ==============================================================

Decisions:
- Hold: a caller's sendonly offer is answered recvonly, inactive with inactive, and the
  leg stops sending (its direction mirrors the caller's, `b2bua.apply_media`); the
  application keeps running (a prompt's time passes in silence, timers keep going): the
  caller chose not to listen. sendrecv again resumes sending. `held` in the outcome is set
  when the hold state changes, for the application to publish it.
- Our SDP keeps its codec when the caller still offers it (else the caller's first codec
  of ours); its o= version increases only when its content changes (RFC 3264 §8), so a
  refresh re-INVITE gets byte-for-byte the SDP it had.
- "Pending": between a 200 that carried our offer (INVITE without SDP) and its ACK, a new
  INVITE or an UPDATE with SDP gets 491 (RFC 3261 §14.2, RFC 3311 §5.2); the B2BUA answers
  a relayed re-INVITE overlapping another the same way.
- A bridged call (the queue caller once an agent answered, an extension call) is not a
  self-answered call: its re-INVITEs and INFOs are relayed to the other party by its
  owner, who uses this policy only while the caller talks to the switch alone.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from media.dtmf import DtmfError, parse_info_body
from softswitch.calls.b2bua import MediaParams, audio_formats, media_params
from softswitch.sip import Request, Response, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog

# What a self-answered call accepts in its dialog (Allow of every response that lists it).
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
DTMF_TYPES = ("application/dtmf-relay", "application/dtmf")
NOT_IN_CALL_DIALOG = frozenset({"REGISTER", "SUBSCRIBE", "REFER", "PUBLISH", "MESSAGE"})
NO_SUCH_USAGE = frozenset({"PRACK", "NOTIFY"})
HOLD_DIRECTIONS = frozenset({"sendonly", "inactive"})


@dataclass(frozen=True, slots=True)
class InDialogOutcome:
    """What to send and what happens to the call."""

    response: Response
    ends_call: bool = False
    digit: str | None = None
    media: MediaParams | None = None  # re-point the leg (address, codec, direction)
    held: bool | None = None  # the caller put us on hold (True) or took us off (False)


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """The caller's answer in an ACK: re-point the leg; `held` as in InDialogOutcome."""

    media: MediaParams
    held: bool | None


def local_contact(endpoint: Any, transport: str, user: str) -> str:
    """Our Contact in a dialog the switch ends itself: `user` at the address the endpoint
    listens on for `transport` (where the phone's in-dialog requests must come)."""
    local = endpoint.local_peer(transport)
    host = f"[{local.host}]" if ":" in local.host else local.host
    return f"<sip:{user}@{host}:{local.port};transport={transport}>"


def unknown_dialog(request: Request) -> Response:
    """481 for a request whose dialog we do not know (§12.2.2)."""
    return request.create_response(481, "Call/Transaction Does Not Exist",
                                   to_tag=None if request.to.tag else new_tag())


@dataclass
class InDialogPolicy:
    """One self-answered call's dialog and media session (module docstring).

    `local_sdp` is the SDP of our 200 to the initial INVITE; `contact` our Contact."""

    dialog: Dialog
    local_sdp: sdplib.SessionDescription
    contact: str
    held: bool = False
    awaiting_ack: bool = False  # our 200 carried an offer; the answer comes in the ACK
    _version: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        origin = self.local_sdp.origin
        with contextlib.suppress(ValueError, AttributeError):
            self._version = int(origin.session_version) if origin is not None else 0

    # -- requests

    def handle_request(self, request: Request, now: float) -> InDialogOutcome:
        refused = self.dialog.receive_request(request)  # CSeq order, target refresh
        if refused is not None:
            return InDialogOutcome(refused)
        method = request.method
        if method == "BYE":
            return InDialogOutcome(self._reply(request, 200), ends_call=True)
        if method == "INVITE":
            if self.awaiting_ack:
                return InDialogOutcome(self._reply(request, 491, "Request Pending"))
            return self._offer(request, invite=True)
        if method == "UPDATE":
            if not request.body:
                return InDialogOutcome(self._reply(request, 200))
            if self.awaiting_ack:
                return InDialogOutcome(self._reply(request, 491, "Request Pending"))
            return self._offer(request, invite=False)
        if method == "INFO":
            return self._info(request, now)
        if method == "OPTIONS":
            return InDialogOutcome(self._reply(request, 200, headers=[
                ("Allow", ALLOW), ("Accept", "application/sdp")]))
        if method in NO_SUCH_USAGE:
            return InDialogOutcome(self._reply(request, 481, "Call/Transaction Does Not Exist"))
        if method in NOT_IN_CALL_DIALOG:
            return InDialogOutcome(self._reply(request, 405, "Method Not Allowed",
                                               headers=[("Allow", ALLOW)]))
        return InDialogOutcome(self._reply(request, 501, "Not Implemented",
                                           headers=[("Allow", ALLOW)]))

    def handle_ack(self, request: Request) -> AckOutcome | None:
        """The ACK of our 200 to a re-INVITE without SDP carries the caller's answer: the
        leg follows it. None when there is nothing to do."""
        if not self.awaiting_ack:
            return None
        self.awaiting_ack = False
        params = _params(request.body)
        if params is None:
            return None
        current = media_params(self.local_sdp)
        if current is not None:  # we send with our offer's payload types
            params = MediaParams(params.address, current.payload_type, current.codec,
                                 current.telephone_event_pt, params.direction)
        return AckOutcome(params, self._hold(params))

    # -- offer / answer

    def _offer(self, request: Request, *, invite: bool) -> InDialogOutcome:
        if not request.body:  # re-INVITE without SDP: we offer what we have (§14.2)
            self.awaiting_ack = True
            return InDialogOutcome(self._sdp_reply(request, self.local_sdp))
        try:
            offer = sdplib.SessionDescription.parse(request.body)
        except Exception:  # noqa: BLE001 - unreadable SDP is the caller's error
            return InDialogOutcome(self._reply(request, 400, "Bad SDP"))
        params = media_params(offer)
        current = media_params(self.local_sdp)
        codec = current.codec if current is not None and _offers(offer, current.codec) \
            else params.codec if params is not None else None
        audio = sdplib.audio(self.local_sdp)
        answer = None
        if codec is not None and audio is not None and self.local_sdp.origin is not None:
            answer = sdplib.create_answer(
                offer, str(self.local_sdp.connection or audio.connection), audio.port,
                codecs=(codec,), session_id=self.local_sdp.origin.session_id)
        answer_params = media_params(answer) if answer is not None else None
        if params is None or answer is None or answer_params is None:
            return InDialogOutcome(self._reply(request, 488, "Not Acceptable Here"))
        self._adopt(answer)
        # the leg sends with our answer's payload type, to the caller's address
        leg_params = MediaParams(params.address, answer_params.payload_type,
                                 answer_params.codec, answer_params.telephone_event_pt,
                                 params.direction)
        return InDialogOutcome(self._sdp_reply(request, self.local_sdp), media=leg_params,
                               held=self._hold(leg_params))

    def _hold(self, params: MediaParams) -> bool | None:
        """The caller's direction as our hold state; the new state when it changed."""
        held = params.direction in HOLD_DIRECTIONS
        changed, self.held = held != self.held, held
        return held if changed else None

    def _adopt(self, answer: sdplib.SessionDescription) -> None:
        """`answer` becomes our SDP; its version goes up only if its content changed."""
        assert answer.origin is not None and self.local_sdp.origin is not None
        answer.origin.session_version = self.local_sdp.origin.session_version
        answer.origin.username = self.local_sdp.origin.username
        if bytes(answer) != bytes(self.local_sdp):
            self._version += 1
            answer.origin.session_version = str(self._version)
            self.local_sdp = answer

    # -- INFO

    def _info(self, request: Request, now: float) -> InDialogOutcome:
        ctype = (request.content_type or "").split(";")[0].strip().lower()
        if not request.body.strip():
            return InDialogOutcome(self._reply(request, 200))
        if ctype not in DTMF_TYPES:
            return InDialogOutcome(self._reply(request, 415, "Unsupported Media Type",
                                               headers=[("Accept", ", ".join(DTMF_TYPES))]))
        try:
            digit = parse_info_body(ctype, request.body.decode("utf-8", "replace"), now)
        except DtmfError as exc:
            return InDialogOutcome(self._reply(request, 400, f"Bad DTMF ({exc})"[:80]))
        if digit.digit == "!":  # flash: no key to deliver
            return InDialogOutcome(self._reply(request, 200))
        return InDialogOutcome(self._reply(request, 200), digit=digit.digit)

    # -- responses

    def _reply(self, request: Request, status: int, reason: str | None = None,
               headers: list[tuple[str, Any]] | None = None) -> Response:
        return request.create_response(status, reason, headers=headers or [])

    def _sdp_reply(self, request: Request, sdp: sdplib.SessionDescription) -> Response:
        return request.create_response(200, headers=[
            ("Contact", self.contact), ("Allow", ALLOW), ("Content-Type", "application/sdp")],
            body=bytes(sdp))


def _offers(offer: sdplib.SessionDescription, codec: str) -> bool:
    return any(name.upper() == codec for _, name in audio_formats(offer)[1])


def _params(body: bytes) -> MediaParams | None:
    if not body:
        return None
    try:
        return media_params(sdplib.SessionDescription.parse(body))
    except Exception:  # noqa: BLE001 - an unreadable answer in an ACK: keep the media
        return None

