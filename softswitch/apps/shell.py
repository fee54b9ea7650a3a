"""The call shell: runs any `Flow` (softswitch.apps.flow) for one caller at a time, for
every caller the switch answers itself (DESIGN.md principle 6).

`CallShell.start(txn, invite, flow, info)` takes an INVITE the dial plan or a destination
gave to an application. The shell owns the caller's UAS dialog (RFC 3261 §12.1.1), the
SDP answer (RFC 3264, one codec: the caller's first of ours) and a media leg
(media.MediaEngine), and feeds the flow:

- DTMF: RFC 4733 events and in-band tones from the leg, SIP INFO through the one
  in-dialog policy (softswitch.apps.indialog), which answers every in-dialog request;
- playback and recording completion, bridge results;
- timers: after every input the flow's `next_deadline()` is armed with the injected
  `scheduler(when, callback)` on the injected `clock` (no sleeping anywhere);
- hang-up: BYE (through the policy), CANCEL before the answer.

It executes the returned actions in order: `Answer` (waits for the leg; later actions wait
with it), `Reject`, `Play`/`StopPlayback` (prompt names resolved as softswitch.queue.
announce.resolve_prompt does, in the call's language), `Record`/`StopRecording` (a mono
WAV of the caller, `MediaEngine.record([leg], path)`), `Bridge` (the targets rung through
the `Ringer` seam, the caller connected to the first that answers), `RouteTo` (the
destination router), `Hangup`, `Publish` (the event bus), `SetLanguage`, `Echo`, `Music`
(`attach_music` / `detach_moh` on the caller's leg).

Every call publishes CallStarted / CallAnswered / CallEnded (softswitch.calls.events; not
the queue's callers, see `start`) and leaves one CDR row, like the B2BUA's calls: the
caller's phone is busy on it, its BLF key shows it.

Decisions:
- `RouteTo` of an unanswered caller to an extension, an external number or a queue hands
  the INVITE over (`Handoff`) as if the dial plan had sent it there; an answered caller
  sent to an extension or an external number is bridged to it by the shell (ringback
  meanwhile; "goodbye" and BYE when nobody answers in `ring_timeout`); to a queue, it is
  handed to the queue calls with its dialog and leg (`Handoff.queue_answered`). A
  destination that is not available says "goodbye" and hangs up (logged).
- `Answer` on an answered call does nothing (a flow started by `RouteTo` may begin with it).
- `Play` parts that cannot be found are skipped and logged; a `Play` with nothing left
  completes at once (the flow still gets `handle_playback_done`).
- `Record` ends on max length (timer), a stop digit (not delivered as a digit), silence
  (frames quieter than -45 dBFS for `silence_seconds`; the trailing silence is kept) or the
  caller's hang-up; `handle_recording_done` gets the file's path and its length.
- After `handle_hangup` the flow's media actions are ignored; `Publish` still runs.
- A bridged call's re-INVITEs are answered by the policy on the caller's leg (the media
  stays anchored at the switch, so the other party needs no re-INVITE); the caller's hold
  is not relayed to the far phone. The bridged party's own requests get the same policy's
  answers in the switch's dialog with it, and the ACK of its re-INVITE without SDP
  completes that offer there.

Seams for an owner that runs more than the flow (the queue: the ACD decides, asynchronously,
what the caller hears and whom they talk to; issue 15):
- `feed(call_id, step)`: an input from outside the call (an ACD command) reaches the running
  flow. ``step(now)`` calls the flow and returns its actions; the shell calls it with its
  own clock, only while the call is running, and runs the actions exactly as those of the
  caller's own inputs (in order, behind an `Answer` still in progress; the timer re-armed).
  A callable rather than a list of actions: the flow is asked at the shell's `now` and not
  at all once the call has ended, so an input racing the caller's hang-up is dropped in
  one place instead of in every owner.
- `connect(call_id, bridge_id, leg, hooks)`: the caller is bridged to a far leg that is
  already established and owned by someone else (an agent's answered offer): the same
  "connected" as a `Bridge` that answered (music and prompts stop, the legs are joined by
  the media relay), without ringing anyone. The owner allocates ``bridge_id`` from the flow,
  so the flow recognises it in `handle_bridge_ended`.
- `disconnect(call_id, bridge_id, status)`: the owner's far side ended (the agent hung up):
  the legs are parted and the flow hears `handle_bridge_ended(bridge_id, status)`; the far
  leg stays the owner's (the shell never closes it).
- `BridgeHooks` (given to `connect`): while connected, the caller's hold changes
  (`held`) and SIP INFO key presses (`info`, the request itself, for relaying to the far
  phone) go to the owner; the digit still reaches the flow, as every key does. `ended`
  tells the owner that the shell ended the connection itself (the caller hung up, the flow
  was replaced, the switch stops), so it can release the far party.
- `start(..., offer_required=True)`: the answering policy of an owner that cannot answer
  without the caller's offer (the queue, which offers the caller's codec to its agents):
  an INVITE without SDP, with unreadable SDP or with no codec of ours gets 488. Without it
  the shell answers unreadable SDP with 400 (the caller's error) and an INVITE without an
  offer with its own offer in the 200 (late offer, RFC 3261 §13.2.1).
- `reject(call_id, status, reason)`: the owner refuses a caller the shell is still
  answering (a reload removed the queue: 404; the live API hung up: 480). The final
  response goes out at once; a leg still being opened is closed when it arrives. False
  once the caller is answered (the owner hangs up through the flow then) or gone.
- `release(call_id, cause)`: the answered caller leaves the shell with its dialog, media leg
  and INVITE as a `softswitch.calls.transfer.End` (the live API parks it in the B2BUA):
  prompts, recordings and bridges stop, the call's record ends ANSWERED with ``cause``
  (CallEnded), and the shell forgets the call without a BYE and without telling the flow
  (it did not hang up; its owner ends it).
- `leg(call_id)`: the caller's media leg while the call runs (monitoring taps it).
- `record_contents(call_id, supply)`: the owner supplies what the call's one CDR row holds
  beyond the caller's leg: ``supply(cause)`` returns a `RecordContents` (the second leg's
  RTP statistics, the recording's path, and a cause text that replaces the shell's, e.g.
  with the queue state in it), asked once, when the shell writes the row.
- `confirm_leg(call_id, name, dialog, peer)`: the owner's second leg (the agent's dialog)
  joins the call's crash-safe row, so a restart after a crash sends it a BYE too
  (softswitch.calls.records); the row forgets it when the call's record is written.
- `adopt(..., recorded=True)`: an adopted caller (transferred in) gets a row of its own,
  opened and answered at the adoption, and its CallStarted/CallAnswered/CallEnded.

- `divert(call_id, flow, kind, contents)`: the owner sends the answered caller on to
  another application on the same call (the queue's failover to an IVR); the CDR row goes
  on with ``contents``.
- `send_info(call_id, body, content_type)`: a SIP INFO to the caller (a far party's key).
- `start(..., answered=fn, call_events=False, leg_label="q")`: the owner hears the answer
  before the actions that waited for it run; the call publishes no CallStarted/
  CallAnswered/CallEnded (the owner's own events stand for it: the queue's TaskJoined and
  CallEnded light the caller's BLF lamp as a busy phone, as Asterisk's INUSE device state
  of a phone in Queue() does); the media leg's label.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from structlog.typing import FilteringBoundLogger

from acd.config import Destination
from media import MediaLeg, g711
from media.engine import Playback, Recording
from media.events import DtmfDigit, PlaybackOutcome
from media.player import FrameSource, Loop, Prompt, PromptError, PromptSequence, beep
from softswitch.apps.flow import (
    Action,
    Answer,
    Bridge,
    CallInfo,
    Echo,
    Flow,
    Hangup,
    Music,
    Play,
    Publish,
    Record,
    Reject,
    RouteTo,
    SetLanguage,
    StopPlayback,
    StopRecording,
)
from softswitch.apps.indialog import ALLOW, InDialogPolicy, local_contact, unknown_dialog
from softswitch.apps.music import attach_music
from softswitch.calls.b2bua import apply_media, media_params
from softswitch.calls.events import CallAnswered, CallEnded, CallStarted
from softswitch.calls.records import CallRecords
from softswitch.calls.transfer import End
from softswitch.destinations import (
    DestinationRouter,
    ExtensionRoute,
    ExternalRoute,
    FlowRoute,
    HangupRoute,
    QueueRoute,
    Route,
    Unavailable,
)
from softswitch.events import EventBus
from softswitch.log import get_logger
from softswitch.queue.announce import resolve_prompt
from softswitch.queue.dialer import OutboundCall
from softswitch.queue.seams import CallMedia, Endpoint
from softswitch.sip import Request, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.transaction import Peer, ServerTransaction

log = get_logger("apps")

SILENCE_DBFS = -45.0
LINGER = 32.0  # s an ended call still answers retransmitted BYEs (64*T1)


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Clock = Callable[[], float]
Scheduler = Callable[[float, Callable[[], None]], Cancellable]


class Ringer(Protocol):
    """The seam to the fork that rings a bridge's targets (today softswitch.queue.dialer,
    later softswitch.calls.fork): `ring` starts ringing `number` with the switch's media
    `leg` as offer and reports exactly one of `answered(call)` / `failed(call, status)`."""

    def ring(self, number: str, leg: MediaLeg, *, from_user: str, display: str,
             answered: Callable[[OutboundCall], None],
             failed: Callable[[OutboundCall, int], None]) -> OutboundCall | None: ...

    def cancel(self, call: OutboundCall) -> None: ...

    def owns(self, call_id: str) -> OutboundCall | None: ...

    def leg_of(self, call: OutboundCall) -> MediaLeg | None: ...

    def policy_of(self, call: OutboundCall) -> InDialogPolicy | None:
        """The in-dialog policy of the answered party's dialog (our offer, our Contact)."""
        ...


class BridgeHooks(Protocol):
    """What the owner of a far leg (`CallShell.connect`) hears of the connected caller
    (module docstring)."""

    def held(self, call_id: str, held: bool) -> None:
        """The caller put the call on hold (True) or resumed it (False)."""

    def info(self, call_id: str, request: Request) -> None:
        """The caller's SIP INFO key press (already answered 200 by the policy)."""

    def ended(self, call_id: str, bridge_id: int) -> None:
        """The shell ended the connection itself (not through `disconnect`)."""


@dataclass
class Handoff:
    """Where an unanswered caller goes when its flow routes it away from the shell (the
    B2BUA, the queue calls), and how an answered one joins a queue. Wired by
    softswitch.app."""

    extension: Callable[[ServerTransaction, Request, str, str], None] | None = None
    external: Callable[[ServerTransaction, Request, str, ExternalRoute], None] | None = None
    queue: Callable[[ServerTransaction, Request, str, str], None] | None = None
    # (call_id, caller, display, invite, dialog, policy, peer, leg, tag, queue) -> True when
    # the queue took the answered caller (softswitch.queue.controller.QueueCalls.adopt)
    queue_answered: Callable[[str, str, str, Request, Dialog, InDialogPolicy, Peer, MediaLeg,
                              str, str], bool] | None = None


@dataclass(frozen=True)
class RecordContents:
    """What an owner adds to a call's CDR row (`CallShell.record_contents`)."""

    callee_rtp: dict[str, Any] | None = None  # the second leg's RTP statistics
    recording: str | None = None  # the call's WAV
    cause: str | None = None  # replaces the shell's cause text when given
    side: str | None = None  # replaces who ended the call ("caller", "callee", "switch")
    callee: str | None = None  # replaces the dialled number (a queue caller moved on)


@dataclass(eq=False)
class _Recording:
    record_id: int
    recording: Recording
    stop_digits: str
    silence_frames: int  # 0 = no silence detection
    quiet: int = 0
    timer: Cancellable | None = None
    consumer: Callable[[MediaLeg, bytes, float], None] | None = None


@dataclass(eq=False)
class _Bridge:
    bridge_id: int
    calls: list[OutboundCall] = field(default_factory=list)
    connected: OutboundCall | None = None
    policy: InDialogPolicy | None = None  # the answered party's dialog with the switch
    timer: Cancellable | None = None
    done: bool = False
    far_leg: MediaLeg | None = None  # `connect`: the owner's established leg
    hooks: BridgeHooks | None = None


@dataclass(eq=False)
class AppCall:
    """One caller and the flow running for it."""

    info: CallInfo
    flow: Flow
    invite: Request
    txn: ServerTransaction | None  # None for an adopted caller
    peer: Peer
    tag: str
    kind: str  # what the caller reached: "echo", "feature", "prompt", "ivr", ...
    offer: sdplib.SessionDescription | None = None
    leg: MediaLeg | None = None
    dialog: Dialog | None = None
    policy: InDialogPolicy | None = None
    language: str = "en"
    answered: bool = False
    ended: bool = False
    handed_off: bool = False  # the INVITE or the dialog went to another owner
    recorded: bool = True  # writes a CDR (not when adopted)
    call_events: bool = True  # publishes CallStarted/CallAnswered/CallEnded (with the CDR)
    leg_label: str = "app"  # the media leg's label: "<Call-ID>/<leg_label>"
    on_answered: Callable[[], None] | None = None  # the owner hears the 200 go out
    pending: list[Action] = field(default_factory=list)
    draining: bool = False
    plays: dict[int, Playback] = field(default_factory=dict)
    interrupt: dict[int, str] = field(default_factory=dict)
    records: dict[int, _Recording] = field(default_factory=dict)
    bridges: dict[int, _Bridge] = field(default_factory=dict)
    timer: Cancellable | None = None
    wall_start: float = 0.0
    wall_answer: float | None = None
    record_uid: str = ""  # its crash-safe CDR row (softswitch.calls.records)
    contents: Callable[[str], RecordContents] | None = None  # the owner's part of the row
    log: FilteringBoundLogger = field(default_factory=lambda: log)

    @property
    def call_id(self) -> str:
        return self.info.call_id


class CallShell:
    """Every self-answered call of the switch (module docstring)."""

    def __init__(self, *, endpoint: Endpoint, media: CallMedia, events: EventBus,
                 router: DestinationRouter,
                 clock: Clock, scheduler: Scheduler, ringer: Ringer | None = None,
                 handoff: Handoff | None = None, store: object = None,
                 prompts_dir: str | Path | None = None, ring_timeout: float = 30.0,
                 wall: Callable[[], float] = time.time) -> None:
        """``clock``: monotonic now; ``wall``: epoch seconds (the CDR rows' times)."""
        self.endpoint = endpoint
        self.media = media
        self.events = events
        self.router = router
        self.clock = clock
        self.scheduler = scheduler
        self.ringer = ringer
        self.handoff = handoff or Handoff()
        self.store = store
        self.records = CallRecords(store)  # crash-safe CDR rows, like the B2BUA's calls
        self.wall = wall
        self.prompts_dir = Path(prompts_dir) if prompts_dir else None
        self.ring_timeout = ring_timeout
        self.calls: dict[str, AppCall] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._accepting = True

    # ------------------------------------------------------------------ entry points

    def owns(self, call_id: str) -> bool:
        return call_id in self.calls or (self.ringer is not None
                                         and self.ringer.owns(call_id) is not None)

    def start(self, txn: ServerTransaction, invite: Request, flow: Flow, info: CallInfo,
              kind: str, *, offer_required: bool = False, call_events: bool = True,
              leg_label: str = "app", answered: Callable[[], None] | None = None) -> bool:
        """Run `flow` for a new INVITE (100 Trying already sent); False when it was refused
        at once (503, 482, 400, 488). ``offer_required``: an INVITE without a usable SDP
        offer gets 488 (module docstring). ``call_events``: publish CallStarted/
        CallAnswered/CallEnded (the queue's callers have the ACD's events instead).
        ``answered()``: called once the 200 went out, before the actions that waited for
        the answer run."""
        if not self._accepting:
            self._respond(txn, invite, 503, "Shutting Down")
            return False
        if info.call_id in self.calls:
            self._respond(txn, invite, 482, "Loop Detected")
            return False
        offer = None
        if invite.body:
            try:
                offer = sdplib.SessionDescription.parse(invite.body)
            except Exception:  # noqa: BLE001 - unreadable SDP is the caller's error
                if offer_required:
                    self._respond(txn, invite, 488, "Not Acceptable Here")
                else:
                    self._respond(txn, invite, 400, "Bad SDP")
                return False
        if offer_required and (offer is None or media_params(offer) is None):
            self._respond(txn, invite, 488, "Not Acceptable Here")
            return False
        now = self.clock()
        call = AppCall(info, flow, invite, txn, txn.peer, new_tag(), kind, offer=offer,
                       language=info.language, wall_start=self.wall(),
                       call_events=call_events, leg_label=leg_label, on_answered=answered)
        call.log = log.bind(call_id=info.call_id, caller=info.caller, dialled=info.dialled,
                            application=kind)
        call.record_uid = self.records.open(info.call_id, info.caller, info.dialled,
                                            call.wall_start)
        self.calls[info.call_id] = call
        if call_events:
            self.events.publish(CallStarted(now, info.call_id, info.caller, info.dialled,
                                            kind))
        call.log.info("application call")
        self._input(call, flow.start(info, now))
        return True

    def adopt(self, *, info: CallInfo, invite: Request, peer: Peer, tag: str, dialog: Dialog,
              policy: InDialogPolicy, leg: MediaLeg, flow: Flow, kind: str,
              recorded: bool = False, call_events: bool = True) -> None:
        """Run `flow` for a caller another owner answered (the queue's failover to a
        prompt, an IVR, ...): its dialog, in-dialog policy and media leg become the shell's.
        That owner wrote the call's record; the shell writes none for it, unless
        ``recorded`` (a caller transferred in, whose first call has ended): then the row
        and the call events (unless not ``call_events``) start here, answered now."""
        now = self.clock()
        call = AppCall(info, flow, invite, None, peer, tag, kind, leg=leg, dialog=dialog,
                       policy=policy, language=info.language, answered=True,
                       recorded=recorded, call_events=call_events)
        call.log = log.bind(call_id=info.call_id, caller=info.caller, dialled=info.dialled,
                            application=kind)
        self.calls[info.call_id] = call
        if recorded:
            call.wall_start = call.wall_answer = self.wall()
            call.record_uid = self.records.open(info.call_id, info.caller, info.dialled,
                                                call.wall_start)
            self.records.answered(call.record_uid, call.wall_answer,
                                  [("caller", dialog, peer)])
            if call_events:
                self.events.publish(CallStarted(now, info.call_id, info.caller,
                                                info.dialled, kind))
                self.events.publish(CallAnswered(now, info.call_id, info.caller,
                                                 info.dialled))
        leg.on_dtmf(functools.partial(self._on_dtmf, call))
        call.log.info("application takes the answered caller")
        self._input(call, flow.start(info, now))

    def handle_cancel(self, invite_txn: ServerTransaction) -> bool:
        """CANCEL before we answered: 487, the flow hears a hang-up."""
        call = self.calls.get(getattr(invite_txn, "call_id", None) or "")
        if call is None or call.txn is not invite_txn:
            return False
        if not call.answered and not call.ended and not call.handed_off:
            call.log.info("caller cancelled")
            self._respond(call.txn, call.invite, 487, "Request Terminated", to_tag=call.tag)
            self._caller_gone(call, "CANCELLED", "CANCEL", 487)
        return True

    def handle_ack(self, request: Request) -> None:
        call = self.calls.get(request.call_id)
        if call is None:
            self._far_side_ack(request)
            return
        if call.policy is None or call.ended:
            return
        outcome = call.policy.handle_ack(request)
        if outcome is not None and call.leg is not None and not call.leg.closed:
            apply_media(call.leg, outcome.media)
            if outcome.held is not None:
                self.hold_changed(call, outcome.held)

    def handle_in_dialog(self, txn: ServerTransaction, request: Request) -> None:
        call = self.calls.get(request.call_id)
        if call is None:
            if self.ringer is not None:
                self._far_side_request(txn, request)
                return
            self.endpoint.send_response(txn, unknown_dialog(request))
            return
        if call.policy is None:
            self.endpoint.send_response(txn, unknown_dialog(request))
            return
        now = self.clock()
        outcome = call.policy.handle_request(request, now)
        self.endpoint.send_response(txn, outcome.response)
        if call.ended:
            return
        if outcome.media is not None and call.leg is not None and not call.leg.closed:
            apply_media(call.leg, outcome.media)
        if outcome.held is not None:
            self.hold_changed(call, outcome.held)
        if outcome.digit is not None:
            for bridge in list(call.bridges.values()):
                if bridge.hooks is not None and not bridge.done:
                    bridge.hooks.info(call.call_id, request)
            self._digit(call, outcome.digit)
        if outcome.ends_call:
            call.log.info("caller hung up")
            self._caller_gone(call, "ANSWERED", "BYE", 200)

    def hold_changed(self, call: AppCall, held: bool) -> None:
        call.log.info("caller hold changed", held=held)
        for bridge in list(call.bridges.values()):
            if bridge.hooks is not None and not bridge.done:
                bridge.hooks.held(call.call_id, held)

    # ------------------------------------------------------------------ the owner's seams

    def feed(self, call_id: str, step: Callable[[float], Sequence[Action]]) -> bool:
        """Run ``step(now)`` on the running call's flow and carry out the actions it returns
        (module docstring); False (and ``step`` not called) when the call is not running."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.handed_off:
            return False
        self._input(call, list(step(self.clock())))
        return True

    def connect(self, call_id: str, bridge_id: int, leg: MediaLeg,
                hooks: BridgeHooks | None = None) -> bool:
        """Bridge the answered caller to ``leg``, an established leg of the owner's (module
        docstring); False when the call is not running, not answered, or ``bridge_id`` is
        taken."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.handed_off or call.leg is None \
                or call.leg.closed or bridge_id in call.bridges:
            return False
        bridge = _Bridge(bridge_id, far_leg=leg, hooks=hooks)
        call.bridges[bridge_id] = bridge
        self._join(call, leg)
        call.log.info("connected", bridge=bridge_id)
        return True

    def disconnect(self, call_id: str, bridge_id: int, status: int = 200) -> bool:
        """The owner's far side of a `connect` ended: part the legs; the flow hears
        `handle_bridge_ended(bridge_id, status)`. False when there is no such connection."""
        call = self.calls.get(call_id)
        bridge = call.bridges.get(bridge_id) if call is not None else None
        if call is None or bridge is None or bridge.far_leg is None or bridge.done:
            return False
        self._part(call, bridge)
        self._bridge_ended(call, bridge, status)
        return True

    def reject(self, call_id: str, status: int, reason: str | None = None) -> bool:
        """The owner refuses a caller the shell is still answering (module docstring)."""
        call = self.calls.get(call_id)
        if call is None or call.answered or call.ended or call.handed_off \
                or call.txn is None:
            return False
        call.log.info("owner refused the caller", status=status, reason=reason)
        call.pending.clear()
        self._reject(call, status, reason)
        return True

    def release(self, call_id: str, cause: str) -> End | None:
        """The answered caller leaves the shell with its dialog and leg (module
        docstring); None when there is no such answered, running call."""
        call = self.calls.get(call_id)
        if call is None or not call.answered or call.ended or call.handed_off \
                or call.leg is None or call.leg.closed or call.dialog is None \
                or call.policy is None:
            return None
        leg, dialog = call.leg, call.dialog
        origin = copy.copy(call.policy.local_sdp.origin)
        for rec in list(call.records.values()):
            self._stop_recording(call, rec, notify=False)
        for bridge in list(call.bridges.values()):
            self._drop_bridge(call, bridge)
        call.bridges.clear()
        for pb in list(call.plays.values()):
            pb.stop()
        self.media.detach_moh(leg)
        if call.recorded:
            self._record_end(call, "ANSWERED", "switch", cause, 200)
            call.recorded = False
        call.leg = None  # the new owner's now: neither closed nor sent BYE here
        call.log.info("caller handed over", cause=cause)
        self._hand_off(call)
        return End(call.info.caller, dialog, call.peer, leg, origin, call.invite)

    def leg(self, call_id: str) -> MediaLeg | None:
        """The caller's media leg while the call runs (monitoring)."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.handed_off:
            return None
        return call.leg

    def record_contents(self, call_id: str,
                        supply: Callable[[str], RecordContents]) -> bool:
        """The owner's part of the call's CDR row (module docstring)."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.handed_off:
            return False
        call.contents = supply
        return True

    def confirm_leg(self, call_id: str, name: str, dialog: Dialog, peer: Peer) -> bool:
        """The owner's leg `name` joins the call's crash-safe row (module docstring)."""
        call = self.calls.get(call_id)
        if call is None or call.ended or call.handed_off or not call.recorded:
            return False
        self.records.leg_confirmed(call.record_uid, name, dialog, peer)
        return True

    def divert(self, call_id: str, flow: Flow, kind: str,
               contents: Callable[[str], RecordContents] | None = None) -> bool:
        """The owner sends the answered caller to another application (the queue's
        failover to an IVR, a prompt, voicemail, an external number): `flow` replaces the
        running one on the same call, as a `RouteTo` an application does; the call's one CDR
        row goes on, with ``contents`` as the owner's part from now on. False when there is
        no such answered, running call."""
        call = self.calls.get(call_id)
        if call is None or not call.answered or call.ended or call.handed_off:
            return False
        call.contents = contents
        call.log.info("owner diverts the caller", application=kind)
        self._replace_flow(call, flow, kind)
        return True

    def send_info(self, call_id: str, body: bytes, content_type: str | None) -> bool:
        """A SIP INFO to the answered caller in its dialog (a key the far party pressed,
        relayed); False when there is no such answered, running call."""
        call = self.calls.get(call_id)
        if call is None or not call.answered or call.ended or call.handed_off \
                or call.dialog is None:
            return False
        self.endpoint.send_request(call.dialog.create_request(
            "INFO", body=body, content_type=content_type), call.peer)
        return True

    def _join(self, call: AppCall, far: MediaLeg) -> None:
        """Connected: the caller's music and prompts stop, the media relay joins the legs
        (a `Bridge` that answered, or `connect`)."""
        assert call.leg is not None
        self.media.detach_moh(call.leg)
        for pb in list(call.plays.values()):
            pb.stop()
        self.media.bridge(call.leg, far)

    def _part(self, call: AppCall, bridge: _Bridge) -> None:
        """Unbridge a `connect`ed far leg (left open: it is the owner's)."""
        far, bridge.far_leg = bridge.far_leg, None
        if far is not None and call.leg is not None:
            with contextlib.suppress(Exception):
                self.media.unbridge(call.leg, far)

    # ------------------------------------------------------------------ flow inputs

    def _input(self, call: AppCall, actions: list[Action]) -> None:
        """Queue the flow's actions, run them in order, re-arm its timer."""
        call.pending.extend(actions)
        if not call.draining:
            self._drain(call)
        self._arm(call)

    def _arm(self, call: AppCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        if call.ended:
            return
        deadline = call.flow.next_deadline()
        if deadline is not None:
            call.timer = self.scheduler(deadline, lambda: self._timer(call))

    def _timer(self, call: AppCall) -> None:
        call.timer = None
        if not call.ended:
            self._input(call, call.flow.handle_timer(self.clock()))

    def _digit(self, call: AppCall, digit: str) -> None:
        for rec in list(call.records.values()):
            if digit in rec.stop_digits:
                self._stop_recording(call, rec)
                return  # a stop digit is not recorded and not delivered
        for play_id, digits in list(call.interrupt.items()):
            pb = call.plays.get(play_id)
            if digit in digits and pb is not None and not pb.done:
                pb.stop()
        self._input(call, call.flow.handle_digit(digit, self.clock()))

    def _on_dtmf(self, call: AppCall, digit: DtmfDigit) -> None:
        if not call.ended:
            call.log.info("caller pressed a key", key=digit.digit, source=str(digit.source))
            self._digit(call, digit.digit)

    # ------------------------------------------------------------------ actions

    def _drain(self, call: AppCall) -> None:
        call.draining = True
        try:
            while call.pending:
                action = call.pending.pop(0)
                if isinstance(action, Answer) and not call.answered and not call.ended:
                    self._spawn(self._answer_then_drain(call))
                    return  # still draining: the rest runs once the caller is answered
                self._execute(call, action)
        except Exception as exc:  # noqa: BLE001 - a broken action must not leave a ghost
            call.log.error("application action failed", error=repr(exc))
            call.pending.clear()
            self._hang_up(call, "internal error")
        call.draining = False

    async def _answer_then_drain(self, call: AppCall) -> None:
        try:
            await self._answer(call)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure still ends the call
            call.log.error("answering failed", error=repr(exc))
            self._reject(call, 500, "Server Internal Error")
        call.draining = False
        if call.ended:
            call.pending.clear()
            return
        self._drain(call)
        self._arm(call)

    def _execute(self, call: AppCall, action: Action) -> None:
        if isinstance(action, Publish):
            self.events.publish(action.event)
            return
        if call.ended or call.handed_off:
            return  # media actions after the hang-up are ignored
        if isinstance(action, Answer):
            return  # answered already
        if isinstance(action, Reject):
            self._reject(call, action.status, action.reason)
        elif isinstance(action, Play):
            self._play(call, action)
        elif isinstance(action, StopPlayback):
            pb = call.plays.get(action.play_id)
            if pb is not None:
                pb.stop()
        elif isinstance(action, Record):
            self._record(call, action)
        elif isinstance(action, StopRecording):
            rec = call.records.get(action.record_id)
            if rec is not None:
                self._stop_recording(call, rec)
        elif isinstance(action, Bridge):
            self._bridge(call, action)
        elif isinstance(action, RouteTo):
            self._route(call, action.destination)
        elif isinstance(action, Hangup):
            self._hang_up(call, action.cause)
        elif isinstance(action, SetLanguage):
            call.language = action.language
        elif isinstance(action, Echo):
            if call.leg is not None:
                call.leg.set_echo(action.on)
        elif isinstance(action, Music):
            if call.leg is not None and not call.leg.closed:
                if action.name is None:
                    self.media.detach_moh(call.leg)
                else:
                    attach_music(self.media, call.leg, action.name)

    # -- answer

    async def _answer(self, call: AppCall) -> None:
        first = media_params(call.offer) if call.offer is not None else None
        if call.offer is not None and first is None:
            self._reject(call, 488, "Not Acceptable Here")
            return
        try:
            call.leg = await self.media.open_leg(f"{call.call_id}/{call.leg_label}")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            call.log.error("no media port", error=str(exc))
            self._reject(call, 503, "No Media Port")
            return
        if call.ended:
            await _close(call.leg)
            call.leg = None
            return
        leg = call.leg
        sdp: sdplib.SessionDescription | None
        if call.offer is None:  # late offer (§13.2.1): ours in the 200, the answer in the ACK
            sdp = sdplib.create_offer(leg.local_host, leg.local_port,
                                      codecs=("PCMU", "PCMA"), telephone_event=True)
        else:
            sdp = sdplib.create_answer(call.offer, leg.local_host, leg.local_port,
                                       codecs=(first.codec,) if first else ("PCMU", "PCMA"))
        params = media_params(sdp) if sdp is not None else None
        if sdp is None or params is None:
            self._reject(call, 488, "Not Acceptable Here")
            return
        leg.set_remote(first.address if first else None, params.payload_type, params.codec,
                       params.telephone_event_pt)
        leg.on_dtmf(functools.partial(self._on_dtmf, call))
        contact = self._contact(call)
        resp = call.invite.create_response(200, to_tag=call.tag, headers=[
            ("Contact", contact), ("Allow", ALLOW), ("Content-Type", "application/sdp")],
            body=bytes(sdp))
        call.dialog = Dialog.create_uas(call.invite, resp)
        call.policy = InDialogPolicy(call.dialog, sdp, contact)
        call.policy.awaiting_ack = call.offer is None
        assert call.txn is not None  # only a caller the shell started is answered here
        self.endpoint.send_response(call.txn, resp)
        call.answered = True
        call.wall_answer = self.wall()
        self.records.answered(call.record_uid, call.wall_answer,
                              [("caller", call.dialog, call.peer)])
        if call.call_events:
            self.events.publish(CallAnswered(self.clock(), call.call_id, call.info.caller,
                                             call.info.dialled))
        call.log.info("answered")
        if call.on_answered is not None:
            call.on_answered()

    def _reject(self, call: AppCall, status: int, reason: str | None) -> None:
        if call.answered or call.ended:
            return
        self._respond(call.txn, call.invite, status, reason, to_tag=call.tag)
        self._finish(call, "FAILED" if status != 487 else "CANCELLED", "switch",
                     reason or str(status), status)

    # -- prompts

    def _parts(self, call: AppCall, action: Play) -> list[Prompt]:
        out: list[Prompt] = []
        library = self.media.prompts
        for part in action.parts:
            if isinstance(part, str):
                prompt = resolve_prompt(library, part, call.language, self.prompts_dir)
                if prompt is None:
                    call.log.warning("prompt not found", prompt=part, language=call.language)
                    continue
                out.append(prompt)
            else:
                try:
                    out.extend(library.words(call.language, part))
                except PromptError as exc:
                    call.log.warning("prompt not found", prompt=repr(part), error=str(exc))
        return out

    def _play(self, call: AppCall, action: Play) -> None:
        prompts = self._parts(call, action)
        if call.leg is None or call.leg.closed or not prompts:
            now = self.clock()
            self._input(call, call.flow.handle_playback_done(action.play_id, False, now))
            return
        source: FrameSource = PromptSequence(prompts)
        if action.loop:
            source = Loop(prompts[0]) if len(prompts) == 1 else Loop(_joined(prompts))
        pb = self.media.play(call.leg, source)
        call.plays[action.play_id] = pb
        if action.interrupt_digits:
            call.interrupt[action.play_id] = action.interrupt_digits
        self._spawn(self._playback_done(call, action.play_id, pb, call.flow))

    async def _playback_done(self, call: AppCall, play_id: int, pb: Playback,
                             flow: Flow) -> None:
        outcome = await pb
        if call.plays.get(play_id) is pb:
            del call.plays[play_id]
        call.interrupt.pop(play_id, None)
        # cut short: an interrupt digit, StopPlayback, a newer Play on the leg
        interrupted = outcome is not PlaybackOutcome.FINISHED
        if not call.ended and call.flow is flow:  # a replaced flow's prompts are not news
            self._input(call, flow.handle_playback_done(play_id, interrupted, self.clock()))

    # -- recording

    def _record(self, call: AppCall, action: Record) -> None:
        if call.leg is None or call.leg.closed:
            return
        path = Path(action.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if action.beep:
                self.media.play(call.leg, PromptSequence([beep()]))
            recording = self.media.record([call.leg], path)
        except Exception as exc:  # noqa: BLE001 - a directory we cannot write
            call.log.error("recording not started", path=str(path), error=str(exc))
            self._input(call, call.flow.handle_recording_done(action.record_id, None, 0.0,
                                                              self.clock()))
            return
        frames = math.ceil(action.silence_seconds / 0.02) if action.silence_seconds > 0 else 0
        rec = _Recording(action.record_id, recording, action.stop_digits, frames)
        call.records[action.record_id] = rec
        rec.timer = self.scheduler(self.clock() + action.max_seconds,
                                   lambda: self._stop_recording(call, rec))
        if frames:
            threshold = 32768 * 10 ** (SILENCE_DBFS / 20)

            def listen(leg: MediaLeg, payload: bytes, now: float) -> None:
                samples = g711.decode(payload, leg.codec).astype(np.float64)
                rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
                rec.quiet = rec.quiet + 1 if rms < threshold else 0
                if rec.quiet >= rec.silence_frames:
                    self.scheduler(self.clock(), lambda: self._stop_recording(call, rec))

            rec.consumer = listen
            call.leg.add_audio_consumer(listen)
        call.log.info("recording", path=str(path), max_seconds=action.max_seconds)

    def _stop_recording(self, call: AppCall, rec: _Recording, *, notify: bool = True) -> None:
        if call.records.get(rec.record_id) is not rec:
            return
        del call.records[rec.record_id]
        if rec.timer is not None:
            rec.timer.cancel()
        if rec.consumer is not None and call.leg is not None:
            with contextlib.suppress(Exception):
                call.leg.remove_audio_consumer(rec.consumer)
        recording = rec.recording
        seconds = float(recording.duration)
        recording.close()
        path = None if recording.error else str(recording.path)
        call.log.info("recording finished", path=path, seconds=round(seconds, 2))
        if notify:
            self._input(call, call.flow.handle_recording_done(rec.record_id, path, seconds,
                                                              self.clock()))

    # -- bridges

    def _bridge(self, call: AppCall, action: Bridge) -> None:
        bridge = _Bridge(action.bridge_id)
        call.bridges[action.bridge_id] = bridge
        if self.ringer is None or call.leg is None or not action.targets:
            self._bridge_ended(call, bridge, 480)
            return
        self._ringback(call, action.ringback)
        self._spawn(self._ring(call, bridge, action))

    async def _ring(self, call: AppCall, bridge: _Bridge, action: Bridge) -> None:
        assert self.ringer is not None
        for i, number in enumerate(action.targets):
            try:
                leg = await self.media.open_leg(f"{call.call_id}/bridge{bridge.bridge_id}.{i}")
            except Exception as exc:  # noqa: BLE001 - port range exhausted
                call.log.error("no media port", error=str(exc))
                continue
            if bridge.done or call.ended:
                await _close(leg)
                return
            out = self.ringer.ring(
                number, leg, from_user=action.caller_id or call.info.caller,
                display=call.invite.from_.display_name or call.info.caller_name,
                answered=functools.partial(self._bridge_answered, call, bridge),
                failed=functools.partial(self._bridge_failed, call, bridge))
            if out is None:
                call.log.info("bridge target not reachable", target=number)
                await _close(leg)
            else:
                bridge.calls.append(out)
        if not bridge.calls:
            self._bridge_ended(call, bridge, 480)
            return
        bridge.timer = self.scheduler(self.clock() + action.timeout,
                                      lambda: self._bridge_timeout(call, bridge))

    def _bridge_answered(self, call: AppCall, bridge: _Bridge, out: OutboundCall) -> None:
        assert self.ringer is not None
        far = self.ringer.leg_of(out)
        if bridge.done or call.ended or call.leg is None or far is None:
            self.ringer.cancel(out)
            return
        bridge.connected = out
        if bridge.timer is not None:
            bridge.timer.cancel()
        for other in bridge.calls:
            if other is not out:
                self.ringer.cancel(other)
        self._join(call, far)
        bridge.policy = self.ringer.policy_of(out)
        call.log.info("bridged", bridge=bridge.bridge_id)

    def _bridge_failed(self, call: AppCall, bridge: _Bridge, out: OutboundCall,
                       status: int) -> None:
        self._spawn(_close(self.ringer.leg_of(out) if self.ringer else None))
        if out in bridge.calls:
            bridge.calls.remove(out)
        if not bridge.calls and bridge.connected is None:
            self._bridge_ended(call, bridge, status)

    def _bridge_timeout(self, call: AppCall, bridge: _Bridge) -> None:
        bridge.timer = None
        if bridge.connected is None and not bridge.done:
            self._drop_bridge(call, bridge)
            self._bridge_ended(call, bridge, 408)

    def _bridge_ended(self, call: AppCall, bridge: _Bridge, status: int) -> None:
        if bridge.done:
            return
        bridge.done = True
        call.bridges.pop(bridge.bridge_id, None)
        if call.leg is not None and not call.leg.closed:
            self.media.detach_moh(call.leg)
        call.log.info("bridge ended", bridge=bridge.bridge_id, status=status)
        if not call.ended:
            self._input(call, call.flow.handle_bridge_ended(bridge.bridge_id, status,
                                                            self.clock()))

    def _drop_bridge(self, call: AppCall, bridge: _Bridge) -> None:
        """The shell ends a bridge itself (hang-up, a replaced flow): ringing stops, a
        connected party is hung up, a `connect`ed owner is told."""
        if bridge.timer is not None:
            bridge.timer.cancel()
        if bridge.far_leg is not None:
            self._part(call, bridge)
            if bridge.hooks is not None:
                try:
                    bridge.hooks.ended(call.call_id, bridge.bridge_id)
                except Exception as exc:  # noqa: BLE001 - the caller's end goes on
                    call.log.error("bridge owner failed", error=repr(exc))
            return
        if self.ringer is None:
            return
        for out in [*bridge.calls, bridge.connected]:
            if out is not None:
                self.ringer.cancel(out)
                self._spawn(_close(self.ringer.leg_of(out)))

    def _far_side_request(self, txn: ServerTransaction, request: Request) -> None:
        """A request in the dialog of a bridged party (the switch's UAC dialog with it):
        the one policy answers it on that party's leg; its BYE ends the bridge."""
        assert self.ringer is not None
        found = self._far_side(request.call_id)
        if found is None:
            self._respond(txn, request, 200 if request.method == "BYE" else 481)
            return
        call, bridge, out = found
        assert bridge.policy is not None
        outcome = bridge.policy.handle_request(request, self.clock())
        self.endpoint.send_response(txn, outcome.response)
        leg = self.ringer.leg_of(out)
        if outcome.media is not None and leg is not None and not leg.closed:
            apply_media(leg, outcome.media)
        if outcome.ends_call:
            if call.leg is not None and leg is not None:
                with contextlib.suppress(Exception):
                    self.media.unbridge(call.leg, leg)
            self._spawn(_close(leg))
            bridge.connected = None
            self._bridge_ended(call, bridge, 200)

    def _far_side(self, call_id: str) -> tuple[AppCall, _Bridge, OutboundCall] | None:
        """The bridge whose answered party's dialog is ``call_id`` (with its policy)."""
        out = self.ringer.owns(call_id) if self.ringer is not None else None
        if out is None:
            return None
        for call in self.calls.values():
            for bridge in call.bridges.values():
                if out is bridge.connected and bridge.policy is not None:
                    return call, bridge, out
        return None

    def _far_side_ack(self, request: Request) -> None:
        """The ACK of a bridged party's re-INVITE without SDP carries its answer to our
        offer: that party's leg follows it, and the policy takes re-INVITEs again (without
        this, every later one got 491 Request Pending)."""
        found = self._far_side(request.call_id)
        if found is None or self.ringer is None:
            return
        _call, bridge, out = found
        assert bridge.policy is not None
        ack = bridge.policy.handle_ack(request)
        leg = self.ringer.leg_of(out)
        if ack is not None and leg is not None and not leg.closed:
            apply_media(leg, ack.media)

    def _ringback(self, call: AppCall, ringback: str) -> None:
        if call.leg is not None and ringback:
            attach_music(self.media, call.leg, ringback.removeprefix("moh:"))

    # -- destinations

    def _route(self, call: AppCall, destination: Destination) -> None:
        route = self.router.resolve(destination)
        call.log.info("routed", destination=destination.type.value, target=destination.target,
                      route=type(route).__name__)
        self.route(call, route)

    def route(self, call: AppCall, route: Route) -> None:
        """Carry out a resolved destination for `call` (module docstring)."""
        if isinstance(route, HangupRoute):
            if call.answered:
                self._hang_up(call, "destination hangup")
            else:
                self._reject(call, 603, "Decline")
        elif isinstance(route, FlowRoute):
            self._replace_flow(call, route.factory(), route.type.value)
        elif not call.answered and isinstance(route, ExtensionRoute) \
                and self.handoff.extension is not None and call.txn is not None:
            self._hand_off(call)
            self.handoff.extension(call.txn, call.invite, call.info.caller, route.number)
        elif not call.answered and isinstance(route, ExternalRoute) \
                and self.handoff.external is not None and call.txn is not None:
            self._hand_off(call)
            self.handoff.external(call.txn, call.invite, call.info.caller, route)
        elif not call.answered and isinstance(route, QueueRoute) \
                and self.handoff.queue is not None and call.txn is not None:
            self._hand_off(call)
            self.handoff.queue(call.txn, call.invite, call.info.caller, route.number)
        elif call.answered and isinstance(route, ExtensionRoute | ExternalRoute):
            from softswitch.apps.connect import ConnectFlow

            self._replace_flow(call, ConnectFlow(route.number, self.ring_timeout), "connect")
        elif call.answered and isinstance(route, QueueRoute) \
                and self.handoff.queue_answered is not None and call.leg is not None:
            self._queue_answered(call, route.number)
        else:
            reason = route.reason if isinstance(route, Unavailable) else "no way to get there"
            call.log.warning("destination not available", reason=reason)
            from softswitch.apps.prompt import PromptFlow

            self._replace_flow(call, PromptFlow(prompt="goodbye"), "goodbye")

    def _replace_flow(self, call: AppCall, flow: Flow, kind: str) -> None:
        """`RouteTo` an application: the old flow's prompts, recordings and bridges end
        without reports to either flow; the new one starts on the same call."""
        for rec in list(call.records.values()):
            self._stop_recording(call, rec, notify=False)
        for bridge in list(call.bridges.values()):
            self._drop_bridge(call, bridge)
            bridge.done = True
        call.bridges.clear()
        for pb in list(call.plays.values()):
            pb.stop()
        call.plays.clear()
        call.interrupt.clear()
        call.flow = flow
        call.kind = kind
        self._input(call, flow.start(call.info, self.clock()))

    def _hand_off(self, call: AppCall) -> None:
        """The INVITE goes to another owner: the shell forgets the call without a CDR."""
        call.handed_off = True
        call.ended = True
        call.pending.clear()
        self._arm(call)
        self._forget(call)  # the new owner may already run a call of that Call-ID here

    def _queue_answered(self, call: AppCall, queue: str) -> None:
        assert self.handoff.queue_answered is not None
        if call.dialog is None or call.policy is None or call.leg is None:
            self._hang_up(call, "queue not available")  # never: an answered caller has them
            return
        for rec in list(call.records.values()):
            self._stop_recording(call, rec, notify=False)
        for pb in list(call.plays.values()):
            pb.stop()
        if call.recorded:
            self._record_end(call, "ANSWERED", "switch", f"routed to queue {queue}", 200)
            call.recorded = False
        took = self.handoff.queue_answered(
            call.call_id, call.info.caller, call.invite.from_.display_name or call.info.caller,
            call.invite, call.dialog, call.policy, call.peer, call.leg, call.tag, queue)
        if took:
            call.leg = None
            self._hand_off(call)
        else:
            self._hang_up(call, "queue not available")

    # -- the end

    def _hang_up(self, call: AppCall, cause: str) -> None:
        if call.ended:
            return
        if not call.answered:
            self._reject(call, 480, "Temporarily Unavailable")
            return
        if call.dialog is not None:
            self.endpoint.send_request(call.dialog.create_request("BYE"), call.peer)
        call.log.info("switch hung up", cause=cause)
        self._finish(call, "ANSWERED", "switch", cause, 200)

    def _caller_gone(self, call: AppCall, disposition: str, cause: str, code: int) -> None:
        if call.ended:
            return
        self._finish(call, disposition, "caller", cause, code)

    def _finish(self, call: AppCall, disposition: str, side: str, cause: str,
                code: int | None) -> None:
        call.ended = True
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        for rec in list(call.records.values()):
            self._stop_recording(call, rec, notify=False)
            call.pending.extend(call.flow.handle_recording_done(
                rec.record_id, None if rec.recording.error else str(rec.recording.path),
                float(rec.recording.duration), self.clock()))
        for bridge in list(call.bridges.values()):
            self._drop_bridge(call, bridge)
        for pb in list(call.plays.values()):
            pb.stop()
        call.pending.extend(call.flow.handle_hangup(self.clock()))
        for action in call.pending:  # only Publish runs after the end
            if isinstance(action, Publish):
                self.events.publish(action.event)
        call.pending.clear()
        if call.recorded:
            self._record_end(call, disposition, side, cause, code)
        if call.leg is not None:
            self._spawn(_close(call.leg))
            call.leg = None
        call.log.info("application call ended", disposition=disposition, side=side,
                      cause=cause)
        # keep answering retransmitted BYEs a while, then forget
        self.scheduler(self.clock() + LINGER, lambda: self._forget(call))

    def _record_end(self, call: AppCall, disposition: str, side: str, cause: str,
                    code: int | None) -> None:
        """CallEnded on the bus and the CDR row, like the B2BUA's calls."""
        from softswitch.store.records import CallRecord

        caller_rtp = dict(call.leg.stats) if call.leg is not None else None
        extra = RecordContents()
        if call.contents is not None:
            try:
                extra = call.contents(cause)
            except Exception as exc:  # noqa: BLE001 - the row is written all the same
                call.log.error("record contents failed", error=repr(exc))
        cause = extra.cause if extra.cause is not None else cause
        side = extra.side if extra.side is not None else side
        callee = extra.callee if extra.callee is not None else call.info.dialled
        record = CallRecord(call.call_id, call.info.caller, callee, call.wall_start,
                            call.wall_answer, self.wall(), disposition, side, cause, code,
                            caller_rtp, extra.callee_rtp, extra.recording)
        if call.call_events:
            self.events.publish(CallEnded(self.clock(), call.call_id, call.info.caller,
                                          callee, disposition, side, cause, code,
                                          round(record.duration or 0.0, 3),
                                          round(record.billsec or 0.0, 3)))
        self.records.complete(call.record_uid, record)

    def _forget(self, call: AppCall) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    async def shutdown(self) -> None:
        self._accepting = False
        for call in list(self.calls.values()):
            if call.ended:
                continue
            if call.answered:
                self._hang_up(call, "shutdown")
            else:
                self._reject(call, 503, "Service Unavailable")
        # legs closing, prompts ending: let them finish (briefly), then cancel the rest
        pending = list(self._tasks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=1.0)
            for task in late:
                task.cancel()

    # ------------------------------------------------------------------ helpers

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("application task failed", error=repr(task.exception()))

    def _respond(self, txn: ServerTransaction | None, request: Request, status: int,
                 reason: str | None = None, to_tag: str | None = None,
                 headers: list[tuple[str, str]] | None = None) -> None:
        if txn is None:  # an adopted caller: its INVITE was answered by its first owner
            return
        self.endpoint.send_response(txn, request.create_response(
            status, reason, to_tag=None if request.to.tag else (to_tag or new_tag()),
            headers=headers or []))

    def _contact(self, call: AppCall) -> str:
        return local_contact(self.endpoint, call.peer.transport, call.info.dialled or "switch")


def _joined(prompts: list[Prompt]) -> Prompt:
    return Prompt("+".join(p.name for p in prompts),
                  np.concatenate([p.samples for p in prompts]).astype(np.int16))


async def _close(leg: MediaLeg | None) -> None:
    if leg is not None:
        with contextlib.suppress(Exception):
            await leg.close()

