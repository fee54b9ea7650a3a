"""The queue-call controller: the asyncio shell around `acd.Acd` for calls
(spec/queue-admin.md §2-§9, §13; DESIGN.md principle 1).

It answers a caller who dialed a queue number, feeds the ACD with ``loop.time()`` and carries
out every command the ACD returns: prompts, music and position announcements on the caller's
media leg, INVITEs to the agents' registered phones (Alert-Info, "<queue>: <caller>" in the
From display), CANCEL when the ring ends, the bridge on answer, destinations, callbacks and
the survey. Every ACD event goes to the switch's `EventBus` (softswitch.events), in engine
order.

Decisions (also in the report of issue 5):
- The switch answers the caller at once (200 OK): announcements and music need media, and a
  caller that the ACD routes elsewhere right away (time-based routing, capacity) still hears
  the holiday prompt before being routed.
- Each offer to an agent is its own `OutboundCall` (softswitch.queue.dialer) with its own
  media leg; the caller's leg and the winning agent's leg are bridged by the media relay.
  The caller's and the agents' dialogs are terminated by the switch (not relayed): a
  re-INVITE from either side is answered by the switch; from the agent with sendonly/inactive
  (hold) it puts the caller on the queue's hold music, sendrecv again resumes the bridge.
- Agent identity announcement: the extension's ``agent_id`` when configured, else its
  extension number, said to both sides ("Agent number 1 0 0 2"); the agent announcement
  prompt is heard by the agent only, before the ID.
- Destinations (RouteTask): ``extension`` = the switch calls that extension and bridges the
  caller to it (ringback meanwhile; a failed transfer says goodbye and hangs up); ``queue``
  = the caller joins that queue; ``hangup`` = BYE; ``prompt`` = play it, then BYE. The types
  that do not exist in the switch yet (voicemail, group_voicemail, ivr, call_flow,
  ring_group, external) are logged as "destination not available", the caller hears
  "goodbye" and the call ends.
- Callback customers (§4): numbers that are extensions of the switch are called directly;
  other numbers go out through the outbound route matching ``outbound_prefix + number``
  (softswitch.trunks). No matching route, or an unregistered extension: CUSTOMER_NO_ANSWER
  (the ACD's reason set, §11.3) with the cause in the log line "callback customer not
  reachable". A provider's 404/484/485/604 is INVALID_NUMBER; busy, no answer, timeouts and
  other 4xx/5xx/6xx are CUSTOMER_NO_ANSWER (the ACD has no "busy" reason).
- Device state for ring-in-use (§2.4): the B2BUA reports its extension calls through
  `call_started` / `call_ended`; an extension counts busy while it has at least one.
- The agent's phone shows "<queue name>: <caller>" as the From display, <caller> being the
  caller's display name when their phone sent one, else their number (the From URI always
  carries the number); callback offers show "<queue name>: callback <number>".
- While the caller is entering a callback number, periodic queue and position announcements
  are skipped (they would talk over the dialogue); music resumes between prompts.
- Key presses reach the controller as media DTMF events whatever their transport: RFC 4733,
  SIP INFO (handed to the caller's media leg) or in-band tones (detected by the media engine
  on legs whose phone did not negotiate telephone-event).
- Inbound trunks: a trunk INVITE whose inbound route names a queue enters through
  `handle_invite(txn, request, caller_number, queue)` exactly like an extension's
  (softswitch.app.SipRouter._trunk_invite; caller_number is the From user).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd import Acd, Output
from acd.commands import (
    AnnouncePosition,
    CollectCallbackNumber,
    Command,
    Connect,
    DialCustomer,
    HangUp,
    PlayPrompt,
    RingAgents,
    RouteTask,
    StartMusic,
    StopRinging,
)
from acd.config import AcdConfig, DestinationType, QueueConfig
from acd.events import CallbackFailureReason, CallbackRequested, TaskLeft
from media.events import DtmfDigit, PlaybackOutcome
from media.player import Prompt, PromptSequence, ringback_tone
from softswitch.calls.b2bua import ALLOW, SUPPORTED_CODECS, apply_media, media_params
from softswitch.events import CallHoldChanged, EventBus, SurveyAnswered
from softswitch.log import get_logger
from softswitch.queue.announce import (
    Part,
    agent_id_parts,
    callback_confirm_parts,
    position_parts,
    resolve_prompt,
)
from softswitch.queue.dialer import Dialer, OutboundCall
from softswitch.queue.entry import AskForNumber, CallbackNumberEntry, NumberEntered, SurveyEntry
from softswitch.sip import Request, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.transaction import Peer

log = get_logger("queue")

RINGBACK_STREAM = "queue-ringback"
SURVEY_ANSWER_TIME = 10.0  # s after the survey prompt before the switch says goodbye


class Mode(enum.Enum):
    """Where a queue task is, as the shell sees it."""

    ANSWERING = "answering"  # media leg being opened, 200 OK not yet sent
    WAITING = "waiting"  # in the queue: music, announcements, agents may ring
    COLLECTING = "collecting"  # entering a callback number
    CONNECTED = "connected"  # bridged with an agent
    SURVEY = "survey"  # agent hung up, the caller rates the call
    CALLBACK = "callback"  # caller hung up after registering a callback; place kept
    CALLBACK_DIALING = "callback_dialing"  # agent answered, customer being called
    TRANSFERRING = "transferring"  # sent to an extension destination
    ENDING = "ending"  # a last prompt, then BYE
    ENDED = "ended"


def _task_of(call: OutboundCall) -> QueueTask:
    """The task an outbound call serves (agent offers carry ``(task, agent)``)."""
    owner = call.owner
    task: QueueTask = owner[0] if isinstance(owner, tuple) else owner
    return task


@dataclass(eq=False)
class QueueTask:
    """One queue call (or callback request); ``id`` is the caller's Call-ID."""

    id: str
    queue: str
    caller: str
    caller_display: str
    invite: Request | None = None
    txn: Any = None
    peer: Peer | None = None
    a_tag: str = ""
    dialog: Dialog | None = None
    offer: Any = None
    leg: Any = None  # the caller's media.MediaLeg
    mode: Mode = Mode.ANSWERING
    offers: dict[str, OutboundCall] = field(default_factory=dict)
    agent: str | None = None
    agent_call: OutboundCall | None = None
    other_call: OutboundCall | None = None  # callback customer / transfer target
    playback: Any = None
    join_pending: bool = False
    entry: CallbackNumberEntry | None = None
    survey: SurveyEntry | None = None
    in_engine: bool = False
    callback_number: str = ""
    wall_start: float = field(default_factory=time.time)
    wall_answer: float | None = None
    cdr_written: bool = False
    log: Any = None
    recording: str | None = None  # the WAV's path (softswitch.calls.recording)
    held_by: set[str] = field(default_factory=set)  # "agent" / "caller" while on hold


class QueueCalls:
    """All queue calls of the switch (see the module docstring).

    Wiring (softswitch/app.py): `owns(call_id)` / `handle_invite` / `handle_in_dialog` /
    `handle_ack` / `handle_cancel` from the SIP router; `registration_changed(ext)` after a
    REGISTER; `call_started/ended(ext)` from the B2BUA. Other layers feeding the same ACD
    (feature codes sign in / pause) call `execute(output)` with what the ACD returned, so the
    commands run and the events reach the bus.
    """

    def __init__(self, *, acd_config: AcdConfig, endpoint: Any, media: Any, registrar: Any,
                 events: EventBus, domain: str, user_agent: str,
                 extensions: dict[str, Any], prompts_dir: str | Path | None = None,
                 dialplan: Any = None, store: Any = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.clock = clock or self.loop.time
        self.config = acd_config
        self.queues: dict[str, QueueConfig] = {q.number: q for q in acd_config.queues}
        self.endpoint = endpoint
        self.media = media
        self.registrar = registrar
        self.events = events
        self.domain = domain
        self.user_agent = user_agent
        self.extensions = extensions  # number -> softswitch.config.Extension
        self.prompts_dir = Path(prompts_dir) if prompts_dir else None
        self.dialplan = dialplan
        self.store = store
        self.trunks: Any = None  # softswitch.trunks.TrunkRouter: callbacks to external numbers
        self.acd = Acd(acd_config, now=self.clock(), agents_registered=False)
        self._agent_set = frozenset(m.extension for q in acd_config.queues for m in q.members)
        self.tasks: dict[str, QueueTask] = {}
        self._calls: dict[str, OutboundCall] = {}  # branch Call-ID -> outbound call
        self.dialer = Dialer(endpoint, domain, user_agent, self._calls)
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._reg_timers: dict[str, asyncio.TimerHandle] = {}
        self._busy: dict[str, int] = {}
        self._registered: set[str] = set()  # agents the ACD was told are registered
        self._pending: set[asyncio.Task[Any]] = set()
        self._accepting = True
        self.recordings: Any = None  # softswitch.calls.recording.CallRecordings (app.py)
        self.events.publish_all(self.acd.initial_events)

    # ------------------------------------------------------------------ engine plumbing

    def execute(self, out: Output) -> None:
        """Publish the events of an ACD output, then carry out its commands."""
        self.events.publish_all(out.events)
        for event in out.events:
            if isinstance(event, CallbackRequested):
                task = self.tasks.get(event.task)
                if task is not None:
                    task.callback_number = event.number
            elif isinstance(event, TaskLeft):
                task = self.tasks.get(event.task)
                if task is not None and task.mode is Mode.CALLBACK:
                    # a kept place that ended without a call: expired (no idle agent) or
                    # removed by a manager (§4.2)
                    task.log.info("callback request ended", reason=event.reason.value)
                    self._forget(task)
        for cmd in out.commands:
            try:
                if isinstance(cmd, RouteTask):
                    # a prompt in the same output (holiday prompt) is heard before routing
                    self._route_task(cmd, any(isinstance(c, PlayPrompt) and c.task == cmd.task
                                              for c in out.commands))
                    continue
                self._command(cmd)
            except Exception as exc:  # noqa: BLE001 - one bad command must not stop the rest
                log.error("queue command failed", command=type(cmd).__name__,
                          task=cmd.task, error=repr(exc))
        self._arm()

    def _feed(self, fn: Callable[..., Output], *args: Any) -> Output:
        out = fn(*args, self.clock())
        self.execute(out)
        return out

    def _arm(self) -> None:
        deadline = self.acd.next_deadline()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.tick()

    def tick(self) -> None:
        """Run the ACD deadlines due at ``clock()`` (the loop timer calls this; tests in
        virtual time call it after moving their clock)."""
        self.execute(self.acd.tick(self.clock()))

    def _spawn(self, coro: Any) -> None:
        t = self.loop.create_task(coro)
        self._pending.add(t)
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task[Any]) -> None:
        self._pending.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("queue task failed", error=repr(t.exception()))

    # ------------------------------------------------------------------ device state

    def sync_registrations(self) -> None:
        """At start: every agent with a live registration counts as registered."""
        for agent in self._agents():
            self.registration_changed(agent)

    def _agents(self) -> frozenset[str]:
        return self._agent_set

    def registration_changed(self, ext: str) -> None:
        """After a REGISTER of ``ext`` (and at the expiry of its last binding)."""
        if ext not in self._agents():
            return
        now = self.clock()
        bindings = self.registrar.targets(ext, now)
        old = self._reg_timers.pop(ext, None)
        if old is not None:
            old.cancel()
        if bindings:
            if ext not in self._registered:  # refreshes change nothing for the ACD
                self._registered.add(ext)
                self._feed(self.acd.handle_device_registered, ext)
            expiry = max(b.expires_at for b in bindings)
            self._reg_timers[ext] = self.loop.call_at(expiry + 0.01,
                                                      self.registration_changed, ext)
        elif ext in self._registered:
            self._registered.discard(ext)
            self._feed(self.acd.handle_device_unregistered, ext)

    def call_started(self, ext: str) -> None:
        """An extension call (not a queue call) of ``ext`` began: ring-in-use (§2.4)."""
        self._busy[ext] = self._busy.get(ext, 0) + 1
        if self._busy[ext] == 1 and ext in self._agents():
            self._feed(self.acd.handle_device_busy, ext)

    def call_ended(self, ext: str) -> None:
        n = self._busy.get(ext, 0) - 1
        if n > 0:
            self._busy[ext] = n
            return
        self._busy.pop(ext, None)
        if n == 0 and ext in self._agents():
            self._feed(self.acd.handle_device_idle, ext)

    # ------------------------------------------------------------------ SIP entry points

    def owns(self, call_id: str) -> bool:
        return call_id in self.tasks or call_id in self._calls

    def route_invite(self, txn: Any, request: Request, caller: str) -> bool:
        """Take the INVITE when the dial plan says the number is a queue."""
        if self.dialplan is None or request.call_id in self._calls:
            return False
        from softswitch.dialplan import QUEUE

        dest = self.dialplan.route(request.uri.user or "", caller)
        if dest.kind != QUEUE or dest.target not in self.queues:
            return False
        self.handle_invite(txn, request, caller, dest.target)
        return True

    def handle_invite(self, txn: Any, request: Request, caller: str, queue: str) -> None:
        """A new INVITE from extension ``caller`` for ``queue`` (100 Trying already sent)."""
        call_id = request.call_id
        if not self._accepting:
            self._respond(txn, request, 503, "Shutting Down")
            return
        if call_id in self.tasks:
            self._respond(txn, request, 482, "Loop Detected")
            return
        try:
            offer = sdplib.SessionDescription.parse(request.body) if request.body else None
        except Exception:  # noqa: BLE001
            offer = None
        if offer is None or media_params(offer) is None:
            self._respond(txn, request, 488, "Not Acceptable Here")
            return
        display = request.from_.display_name or caller
        task = QueueTask(call_id, queue, caller, display, request, txn, txn.peer, new_tag(),
                         offer=offer)
        task.log = log.bind(call_id=call_id, caller=caller, queue=queue)
        self.tasks[call_id] = task
        self._spawn(self._answer(task))

    async def _answer(self, task: QueueTask) -> None:
        try:
            task.leg = await self.media.open_leg(f"{task.id}/q")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            task.log.error("no media port", error=str(exc))
            self._reject(task, 503, "No Media Port")
            return
        if task.mode is not Mode.ANSWERING:
            await self._close_leg(task.leg)  # cancelled meanwhile
            return
        assert task.invite is not None
        # one codec in the answer: phones re-INVITE to lock a multi-codec answer (RFC 3264 §6.1)
        first = media_params(task.offer)
        answer = sdplib.create_answer(task.offer, task.leg.local_host, task.leg.local_port,
                                      codecs=(first.codec,) if first else SUPPORTED_CODECS)
        params = media_params(answer) if answer is not None else None
        if answer is None or params is None:
            self._reject(task, 488, "Not Acceptable Here")
            await self._close_leg(task.leg)
            return
        offer_params = media_params(task.offer)
        task.leg.set_remote(offer_params.address if offer_params else None,
                            params.payload_type, params.codec, params.telephone_event_pt)
        task.leg.on_dtmf(lambda d, t=task: self._on_digit(t, d))
        resp = task.invite.create_response(200, to_tag=task.a_tag, headers=[
            ("Contact", self._contact(task.peer, task.queue)), ("Allow", ALLOW)],
            body=bytes(answer))
        resp.add("Content-Type", "application/sdp")
        task.dialog = Dialog.create_uas(task.invite, resp)
        self.endpoint.send_response(task.txn, resp)
        task.mode = Mode.WAITING
        task.wall_answer = time.time()
        task.log.info("queue call answered")
        self._arrive(task, task.queue)

    def _arrive(self, task: QueueTask, queue: str) -> None:
        task.queue = queue
        task.in_engine = True
        task.mode = Mode.WAITING
        self._feed(lambda now: self.acd.handle_task_arrived(
            task.id, queue, now, caller=task.caller,
            wall_clock=dt.datetime.now(dt.UTC)))

    def handle_ack(self, request: Request) -> None:
        """ACK of our 2xx (nothing to do: the media already flows)."""

    def handle_cancel(self, invite_txn: Any) -> bool:
        """CANCEL of a queue INVITE we have not answered yet (the media leg is opening)."""
        task = self.tasks.get(getattr(invite_txn, "call_id", None) or "")
        if task is None:
            return False
        if task.txn is not invite_txn:
            return False
        if task.mode is Mode.ANSWERING:
            task.log.info("caller cancelled")
            self._reject(task, 487, "Request Terminated")
        return True

    def handle_in_dialog(self, txn: Any, request: Request) -> None:
        call_id = request.call_id
        method = request.method
        task = self.tasks.get(call_id)
        if task is not None:
            self._caller_request(task, txn, request)
            return
        call = self._calls.get(call_id)
        if call is None or (call.winner is not None and call.winner.request.call_id != call_id):
            self._respond(txn, request, 200 if method == "BYE" else 481)
            return
        if method == "BYE":
            self._respond(txn, request, 200)
            if call.state == "answered":
                call.state = "ended"
                self._outbound_hung_up(call)
        elif method == "INVITE":
            self._reinvite(txn, request, call.leg, call.peer,
                           on_hold=functools.partial(self._outbound_hold, call))
        elif method == "INFO":
            self._respond(txn, request, 200)
            self._relay_info(call, request)
        elif method == "OPTIONS":
            self._respond(txn, request, 200, headers=[("Allow", ALLOW)])
        else:
            self._respond(txn, request, 501, "Not Implemented", headers=[("Allow", ALLOW)])

    def _relay_info(self, source: OutboundCall | QueueTask, request: Request) -> None:
        """SIP INFO (key presses as application/dtmf-relay) between the two talking
        parties: the caller and the agent, the agent and the callback customer."""
        if isinstance(source, QueueTask):
            task, target = source, source.agent_call
            if task.mode is not Mode.CONNECTED:
                return
        else:
            task = _task_of(source)
            if task.mode is not Mode.CONNECTED:
                return
            if source is task.agent_call and task.other_call is not None:
                target = task.other_call  # a callback: agent -> customer
            elif source is task.other_call:
                target = task.agent_call
            else:
                target = None
                if task.dialog is not None and task.peer is not None and task.leg is not None:
                    self.endpoint.send_request(task.dialog.create_request(
                        "INFO", body=request.body, content_type=request.content_type),
                        task.peer)
        if target is not None and target.state == "answered":
            self.dialer.send_in_dialog(target, "INFO", body=request.body,
                                       content_type=request.content_type)

    def _caller_request(self, task: QueueTask, txn: Any, request: Request) -> None:
        method = request.method
        if method == "BYE":
            self._respond(txn, request, 200)
            task.log.info("caller hung up", mode=task.mode.value)
            self._caller_gone(task)
        elif method == "INFO":
            self._respond(txn, request, 200)
            body = request.body.decode("utf-8", "replace")
            if task.mode is Mode.CONNECTED:
                self._relay_info(task, request)
            elif task.leg is not None and body.strip():
                with contextlib.suppress(Exception):
                    task.leg.receive_info_dtmf(request.content_type or "", body)
        elif method == "INVITE":
            self._reinvite(txn, request, task.leg, task.peer,
                           on_hold=functools.partial(self._hold_changed, task, "caller"))
        elif method == "OPTIONS":
            self._respond(txn, request, 200, headers=[("Allow", ALLOW)])
        else:
            self._respond(txn, request, 501, "Not Implemented", headers=[("Allow", ALLOW)])

    def _reinvite(self, txn: Any, request: Request, leg: Any, peer: Peer | None,
                  on_hold: Callable[[bool], None] | None) -> None:
        """A re-INVITE to one of our legs: answer it ourselves (the dialogs end here)."""
        if leg is None or peer is None:
            self._respond(txn, request, 481)
            return
        try:
            offer = sdplib.SessionDescription.parse(request.body)
        except Exception:  # noqa: BLE001
            self._respond(txn, request, 488, "Bad SDP")
            return
        params = media_params(offer)
        # one codec (the phone's first): a multi-codec answer makes phones re-INVITE again
        answer = sdplib.create_answer(offer, leg.local_host, leg.local_port,
                                      codecs=(params.codec,) if params else SUPPORTED_CODECS)
        if params is None or answer is None:
            self._respond(txn, request, 488, "Not Acceptable Here")
            return
        apply_media(leg, params)
        self._respond(txn, request, 200, headers=[
            ("Contact", self._contact(peer, "switch")), ("Content-Type", "application/sdp")],
            body=bytes(answer))
        if on_hold is not None:
            on_hold(params.direction in ("sendonly", "inactive"))

    # ------------------------------------------------------------------ commands

    def _command(self, cmd: Command) -> None:
        task = self.tasks.get(cmd.task)
        if task is None:
            log.warning("command for an unknown task", command=type(cmd).__name__,
                        task=cmd.task)
            return
        if isinstance(cmd, RingAgents):
            for agent in cmd.agents:
                self._ring(task, agent, cmd)
        elif isinstance(cmd, StopRinging):
            for agent in cmd.agents:
                call = task.offers.pop(agent, None)
                if call is not None:
                    self._drop_outbound(call)
        elif isinstance(cmd, Connect):
            self._connect(task, cmd)
        elif isinstance(cmd, PlayPrompt):
            if task.mode is Mode.COLLECTING:
                return  # never talk over the callback-number dialogue
            self._play_prompt(task, cmd)
        elif isinstance(cmd, StartMusic):
            self._start_music(task, cmd.prompt)
        elif isinstance(cmd, AnnouncePosition):
            if task.mode is Mode.COLLECTING:
                return
            self._play(task, position_parts(cmd.position, cmd.estimated_wait, cmd.thank_you,
                                            cmd.language), cmd.language)
        elif isinstance(cmd, CollectCallbackNumber):
            task.mode = Mode.COLLECTING
            task.entry = CallbackNumberEntry(cmd.default_number or task.caller)
            self._play(task, callback_confirm_parts(task.entry.default_number, self._lang(task)),
                       self._lang(task))
        elif isinstance(cmd, HangUp):
            task.mode = Mode.CALLBACK
            task.log.info("callback registered; caller released")
            self._spawn(self._goodbye(task, ["callback-confirmed"]))
        elif isinstance(cmd, DialCustomer):
            self._dial_customer(task, cmd)

    def _lang(self, task: QueueTask) -> str:
        q = self.queues.get(task.queue)
        return q.prompts.language if q else "en"

    # -- caller media

    def _play(self, task: QueueTask, parts: list[Part], lang: str,
              leg: Any = None) -> Any:
        leg = leg or task.leg
        if leg is None or leg.closed or not parts:
            return None
        try:
            seq = self.media.prompts.sequence(lang, *parts)
        except Exception as exc:  # noqa: BLE001 - a missing prompt is logged, not fatal
            task.log.warning("prompt not available", parts=repr(parts), error=str(exc))
            return None
        pb = self.media.play(leg, seq)
        if leg is task.leg:
            task.playback = pb
        return pb

    def _prompt(self, name: str, lang: str) -> Prompt | None:
        return resolve_prompt(self.media.prompts, name, lang, self.prompts_dir)

    def _play_prompt(self, task: QueueTask, cmd: PlayPrompt) -> None:
        q = self.queues.get(task.queue)
        join = (q is not None and cmd.prompt == q.prompts.join_announcement
                and q.prompts.play_full_prompt_before_ringing and task.mode is Mode.WAITING
                and task.in_engine)
        prompt = self._prompt(cmd.prompt, cmd.language)
        pb = None
        if prompt is None:
            task.log.warning("prompt not found", prompt=cmd.prompt, language=cmd.language)
        elif task.leg is not None and not task.leg.closed:
            pb = task.playback = self.media.play(task.leg, PromptSequence([prompt]))
        if join:
            task.join_pending = True
            self._spawn(self._join_prompt_done(task, pb))

    async def _join_prompt_done(self, task: QueueTask, pb: Any) -> None:
        if pb is not None:
            await pb
        if task.join_pending and task.in_engine and task.mode is Mode.WAITING:
            task.join_pending = False
            self._feed(self.acd.handle_join_prompt_finished, task.id)

    def _start_music(self, task: QueueTask, name: str) -> None:
        if task.leg is None or task.leg.closed:
            return
        self._attach_music(task.leg, name)

    def _attach_music(self, leg: Any, name: str) -> None:
        from media import MediaError

        if name in ("ringback", "ringback_tone", RINGBACK_STREAM):
            if RINGBACK_STREAM not in self.media.music_streams:
                from media.player import Loop

                self.media.add_music(RINGBACK_STREAM, Loop(ringback_tone("us")))
            self.media.attach_moh(leg, RINGBACK_STREAM)
            return
        try:
            self.media.attach_moh(leg, name or "default")
        except MediaError as exc:
            log.warning("music not found, playing the default", music=name, error=str(exc))
            self.media.attach_moh(leg, "default")

    def _on_digit(self, task: QueueTask, digit: DtmfDigit) -> None:
        d = digit.digit
        task.log.info("caller pressed a key", key=d, source=str(digit.source),
                      mode=task.mode.value)
        if task.mode is Mode.WAITING and task.in_engine:
            self._feed(self.acd.handle_key_pressed, task.id, d)
        elif task.mode is Mode.COLLECTING and task.entry is not None:
            result = task.entry.handle_digit(d)
            if isinstance(result, AskForNumber):
                self._play(task, ["enter-callback-number"], self._lang(task))
            elif isinstance(result, NumberEntered):
                task.mode = Mode.WAITING
                out = self._feed(self.acd.handle_callback_number, task.id, result.number)
                if not any(isinstance(c, HangUp) for c in out.commands):
                    self._play(task, ["invalid-number"], self._lang(task))
                task.entry = None
        elif task.mode is Mode.SURVEY and task.survey is not None:
            score = task.survey.handle_digit(d)
            if score is not None:
                task.log.info("survey answered", key=d, score=score, agent=task.agent)
                self.events.publish(SurveyAnswered(self.clock(), task.id, task.queue,
                                                   task.agent or "", task.caller, d, score))
                task.mode = Mode.ENDING
                q = self.queues.get(task.queue)
                survey = getattr(q, "satisfaction_survey", None) if q else None
                end = self._prompt(survey.end_prompt, self._lang(task)) \
                    if survey is not None and survey.end_prompt else None
                self._spawn(self._goodbye(task, [end] if end is not None
                                          else ["survey-thanks"]))

    # -- agents

    def _ring(self, task: QueueTask, agent: str, cmd: RingAgents) -> None:
        targets = self.registrar.targets(agent, self.clock())
        if not targets:
            task.log.info("agent has no registered phone", agent=agent)
            self.loop.call_soon(self._offer_failed, task, agent, None, 480)
            return
        call = OutboundCall(agent, None, on_answered=self._offer_answered,
                            on_failed=lambda c, status: self._offer_failed(
                                task, agent, c, status))
        call.owner = (task, agent)
        task.offers[agent] = call
        caller = task.caller_display
        display = f"{cmd.display}: {caller}" if not cmd.callback else \
            f"{cmd.display}: callback {task.callback_number or task.caller}"
        headers: tuple[tuple[str, str], ...] = ()
        if cmd.alert_info:
            headers = (("Alert-Info", f"<http://{self.domain}/>;info={cmd.alert_info}"),)
        self._spawn(self._ring_start(task, call, targets, display, headers))

    async def _ring_start(self, task: QueueTask, call: OutboundCall, targets: list[Any],
                          display: str, headers: tuple[tuple[str, str], ...]) -> None:
        try:
            call.leg = await self.media.open_leg(f"{task.id}/{call.number}")
        except Exception as exc:  # noqa: BLE001
            task.log.error("no media port for the agent", agent=call.number, error=str(exc))
            if call.state == "calling":
                call.state = "failed"
                self._offer_failed(task, call.number, call, 503)
            return
        if call.state != "calling":
            await self._close_leg(call.leg)
            return
        codecs = self._codecs(task)
        task.log.info("ringing agent", agent=call.number, contacts=len(targets))
        self.dialer.start(call, targets, from_user=task.caller, display=display,
                          codecs=codecs, headers=headers)

    def _codecs(self, task: QueueTask) -> tuple[str, ...]:
        """The caller's codec first, so the relay does not transcode."""
        if task.leg is not None and getattr(task.leg, "codec", None) is not None:
            first = str(getattr(task.leg.codec, "name", task.leg.codec)).upper()
            if first in SUPPORTED_CODECS:
                return (first, *(c for c in SUPPORTED_CODECS if c != first))
        return SUPPORTED_CODECS

    def _offer_answered(self, call: OutboundCall) -> None:
        task, agent = call.owner
        task.log.info("agent answered", agent=agent)
        if task.offers.get(agent) is not call or not task.in_engine:
            self._drop_outbound(call)
            return
        self._feed(self.acd.handle_offer_answered, task.id, agent)
        if task.agent != agent:
            self._drop_outbound(task.offers.pop(agent, call))

    def _offer_failed(self, task: QueueTask, agent: str, call: OutboundCall | None,
                      status: int) -> None:
        if call is not None and task.offers.get(agent) is not call:
            return  # we stopped that ring ourselves
        task.offers.pop(agent, None)
        if call is not None:
            self._spawn(self._close_leg(call.leg))
            self._retire(call)
        task.log.info("agent did not answer", agent=agent, status=status)
        if task.in_engine:
            self._feed(self.acd.handle_offer_rejected, task.id, agent)

    def _drop_outbound(self, call: OutboundCall) -> None:
        self.dialer.cancel(call)
        if call.leg is not None:
            self._spawn(self._close_leg(call.leg))
        self._retire(call)

    def _retire(self, call: OutboundCall) -> None:
        """Forget the call's Call-IDs once late responses and retransmitted BYEs are
        over (64*T1, RFC 3261 §17)."""
        def forget() -> None:
            for cid in call.call_ids:
                if self._calls.get(cid) is call:
                    del self._calls[cid]
        self.loop.call_later(32.0 if self._accepting else 0.0, forget)

    def _connect(self, task: QueueTask, cmd: Connect) -> None:
        call = task.offers.pop(cmd.agent, None)
        if call is None or task.leg is None:
            task.log.error("connect without an answered agent", agent=cmd.agent)
            return
        task.agent = cmd.agent
        task.agent_call = call
        task.mode = Mode.CONNECTED
        leg, agent_leg = task.leg, call.leg
        self.media.detach_moh(leg)
        if task.playback is not None:
            task.playback.stop()
        self.media.bridge(leg, agent_leg)
        if self.recordings is not None:  # caller left, agent right, answer to hang-up
            task.recording = self.recordings.start("queue", task.id, leg, agent_leg,
                                                   queue=task.queue, at=self.clock())
        lang = self._lang(task)
        agent_parts: list[Part] = []
        announcement = self._prompt(cmd.agent_announcement, lang) if cmd.agent_announcement \
            else None
        if announcement is not None:
            agent_parts.append(announcement)
        if cmd.announce_agent_id:
            ext = self.extensions.get(cmd.agent)
            agent_id = (getattr(ext, "agent_id", None) or cmd.agent) if ext else cmd.agent
            id_parts = agent_id_parts(str(agent_id), lang)
            agent_parts += id_parts
            self._play(task, list(id_parts), lang)
        if agent_parts:
            self._play(task, agent_parts, lang, leg=agent_leg)
        task.log.info("caller connected to agent", agent=cmd.agent)

    def _hold_changed(self, task: QueueTask, party: str, held: bool) -> None:
        """Hold of a connected call by ``party`` ("agent" / "caller") begins or ends: the
        report rows' hold duration (§8.2) counts the time at least one side held."""
        if task.mode is not Mode.CONNECTED or task.agent is None:
            return  # a re-INVITE while waiting or ringing is not hold of a queue call
        if held == (party in task.held_by):
            return  # a repeated offer (session refresh) changes nothing
        if held:
            task.held_by.add(party)
        else:
            task.held_by.discard(party)
        self.events.publish(CallHoldChanged(self.clock(), task.id, task.queue, task.agent,
                                            party, held))

    def _outbound_hold(self, call: OutboundCall, held: bool) -> None:
        """The agent, a callback customer or a transfer target held / resumed: the other
        party hears the queue's hold music meanwhile (the caller when the agent holds; in a
        callback, the customer when the agent holds and the agent when the customer does)."""
        task = _task_of(call)
        caller_leg = task.leg if task.leg is not None and not task.leg.closed else None
        if call is task.agent_call:
            self._hold_changed(task, "agent", held)
            other = caller_leg or (task.other_call.leg if task.other_call is not None
                                   and task.other_call.state == "answered" else None)
            who = "agent"
        elif caller_leg is None and task.agent_call is not None:  # the callback customer
            self._hold_changed(task, "caller", held)
            other, who = task.agent_call.leg, "customer"
        else:  # a transfer target: the caller hears the music
            other, who = caller_leg, "transfer target"
        if other is None or other.closed:
            return
        q = self.queues.get(task.queue)
        if held:
            task.log.info("call put on hold", by=who)
            self._attach_music(other, q.prompts.hold_music if q else "default")
        else:
            task.log.info("call resumed", by=who)
            self.media.detach_moh(other)

    def _outbound_hung_up(self, call: OutboundCall) -> None:
        """BYE from an agent, a callback customer or a transfer target."""
        task = _task_of(call)
        if call is task.agent_call and self.recordings is not None:
            self.recordings.stop(task.id)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        if task.mode is Mode.CONNECTED and call is task.agent_call:
            task.log.info("agent hung up", agent=task.agent)
            self._feed(self.acd.handle_call_ended, task.id)
            task.in_engine = False
            q = self.queues.get(task.queue)
            survey = getattr(q, "satisfaction_survey", None) if q else None
            if survey is not None and task.leg is not None and not task.leg.closed:
                task.mode = Mode.SURVEY
                task.survey = SurveyEntry(dict(survey.scores))
                self._spawn(self._run_survey(task, survey.prompt))
            else:
                self._end_caller(task, "callee", "agent hung up")
        elif task.mode is Mode.CONNECTED and call is task.other_call:
            # a callback: the customer hung up
            if self.recordings is not None:
                self.recordings.stop(task.id)
            self._feed(self.acd.handle_call_ended, task.id)
            if task.agent_call is not None:
                self._drop_outbound(task.agent_call)
            self._forget(task)
        elif task.mode is Mode.CALLBACK_DIALING and call is task.agent_call:
            task.log.info("agent hung up before the customer answered")
            if task.other_call is not None:
                self._drop_outbound(task.other_call)
            self._feed(self.acd.handle_task_left, task.id)
            self._forget(task)
        elif task.mode is Mode.CONNECTED and task.leg is None and call is task.agent_call:
            pass
        elif task.mode is Mode.TRANSFERRING and call is task.other_call:
            self._end_caller(task, "callee", "transfer target hung up")

    async def _run_survey(self, task: QueueTask, prompt_name: str) -> None:
        """§9.6: the survey prompt, then up to SURVEY_ANSWER_TIME s for a key; a caller who
        neither presses nor hangs up is said goodbye to."""
        assert task.leg is not None
        if task.agent_call is not None and task.agent_call.leg is not None:
            with contextlib.suppress(Exception):
                self.media.unbridge(task.leg, task.agent_call.leg)
        prompt = self._prompt(prompt_name, self._lang(task))
        pb = self._play(task, [prompt] if prompt is not None else ["survey-question"],
                        self._lang(task))
        if pb is not None:
            await pb
        await asyncio.sleep(SURVEY_ANSWER_TIME)
        if task.mode is Mode.SURVEY:
            task.mode = Mode.ENDING
            await self._goodbye(task, ["goodbye"])

    # -- callbacks

    def _dial_customer(self, task: QueueTask, cmd: DialCustomer) -> None:
        call = task.offers.pop(cmd.agent, None)
        task.agent = cmd.agent
        task.agent_call = call
        task.mode = Mode.CALLBACK_DIALING
        number = cmd.number
        targets: list[Any] = self.registrar.targets(number, self.clock()) \
            if number in self.extensions else []
        # not reachable at all (no route, not registered) counts as not answered, as before
        reason = CallbackFailureReason.CUSTOMER_NO_ANSWER
        if number not in self.extensions and self.trunks is not None:
            # §4: the customer over the outbound route matching outbound_prefix + number
            from softswitch.trunks import trunk_target

            out = self.trunks.outbound(cmd.outbound_prefix + number)
            if out is not None:
                targets = [trunk_target(self.trunks.trunks[out.trunk], out.number)]
                number = out.number
        if call is None or not targets:
            if number not in self.extensions:
                why = ("no outbound route matches outbound prefix "
                       f"{cmd.outbound_prefix!r} + {number!r}")
            else:
                why = "the customer's extension is not registered"
            task.log.warning("callback customer not reachable", number=number, reason=why)
            self._callback_failed(task, reason)
            return
        task.log.info("calling the callback customer", number=number, agent=cmd.agent)
        if call.leg is not None:
            self._play(task, ["please-hold"], self._lang(task), leg=call.leg)
        q = self.queues.get(task.queue)
        self._spawn(self._dial_customer_start(task, number, targets, q.name if q else ""))

    async def _dial_customer_start(self, task: QueueTask, number: str, targets: list[Any],
                                   queue_name: str) -> None:
        customer = await self._other_call(task, number, "customer", self._customer_answered,
                                          self._customer_failed, Mode.CALLBACK_DIALING)
        if customer is None:
            if task.mode is Mode.CALLBACK_DIALING:
                self._callback_failed(task)
            return
        self.dialer.start(customer, targets, from_user=task.queue,
                          display=f"{queue_name} callback".strip())

    async def _other_call(self, task: QueueTask, number: str, role: str,
                          on_answered: Callable[[OutboundCall], None],
                          on_failed: Callable[[OutboundCall, int], None],
                          mode: Mode) -> OutboundCall | None:
        """The task's second party (callback customer, transfer target) with its media leg;
        None when no port was free or the task moved on while the leg was opened."""
        call = OutboundCall(number, None, on_answered=on_answered, on_failed=on_failed)
        call.owner = task
        task.other_call = call
        try:
            call.leg = await self.media.open_leg(f"{task.id}/{role}")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            task.log.error("no media port", role=role, error=str(exc))
            return None
        if call.state != "calling" or task.mode is not mode:
            await self._close_leg(call.leg)
            return None
        return call

    def _customer_answered(self, call: OutboundCall) -> None:
        task: QueueTask = call.owner
        if task.mode is not Mode.CALLBACK_DIALING or task.agent_call is None:
            self._drop_outbound(call)
            return
        task.mode = Mode.CONNECTED
        agent_leg = task.agent_call.leg
        self.media.bridge(agent_leg, call.leg)
        if self.recordings is not None:  # the customer left, the agent right, like any call
            task.recording = self.recordings.start("queue", task.id, call.leg, agent_leg,
                                                   queue=task.queue, at=self.clock())
        task.log.info("callback connected", number=call.number, agent=task.agent)
        self._feed(self.acd.handle_callback_connected, task.id)

    def _customer_failed(self, call: OutboundCall, status: int) -> None:
        task: QueueTask = call.owner
        task.log.info("callback customer did not answer", status=status)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        if task.mode is Mode.CALLBACK_DIALING:
            # a number the provider does not know is an invalid number; busy, no answer,
            # timeouts and server errors are "customer did not answer" (§11.3)
            self._callback_failed(task, CallbackFailureReason.INVALID_NUMBER
                                  if status in (404, 484, 485, 604)
                                  else CallbackFailureReason.CUSTOMER_NO_ANSWER)

    def _callback_failed(self, task: QueueTask, reason: CallbackFailureReason =
                         CallbackFailureReason.CUSTOMER_NO_ANSWER) -> None:
        self._feed(self.acd.handle_callback_failed, task.id, reason)
        if task.agent_call is not None:
            self._drop_outbound(task.agent_call)
        self._forget(task)

    # -- destinations

    def _route_task(self, cmd: RouteTask, after_prompt: bool) -> None:
        task = self.tasks.get(cmd.task)
        if task is None:
            return
        task.in_engine = False
        if task.playback is not None and not after_prompt:
            task.playback.stop()  # e.g. a position announcement when the caller pressed a key
        self._spawn(self._route(task, cmd, after_prompt))

    async def _route(self, task: QueueTask, cmd: RouteTask, after_prompt: bool) -> None:
        """§11.1: the task left the engine for ``cmd.destination``."""
        dest = cmd.destination
        if after_prompt and task.playback is not None and not task.playback.done:
            await task.playback  # the holiday prompt before the holiday destination
        if task.mode in (Mode.ENDED, Mode.ENDING) or task.leg is None:
            return
        for call in list(task.offers.values()):
            self._drop_outbound(call)
        task.offers.clear()
        kind = dest.type
        task.log.info("caller routed", destination=kind.value, target=dest.target)
        if kind is DestinationType.QUEUE and dest.target in self.queues:
            self._arrive(task, dest.target)
        elif kind is DestinationType.HANGUP:
            self._end_caller(task)
        elif kind is DestinationType.PROMPT:
            task.mode = Mode.ENDING
            prompt = self._prompt(dest.target, self._lang(task))
            await self._goodbye(task, [prompt] if prompt is not None else ["goodbye"])
        elif kind is DestinationType.EXTENSION and dest.target in self.extensions:
            await self._transfer(task, dest.target)
        else:
            task.log.warning("destination not available", destination=kind.value,
                             target=dest.target)
            task.mode = Mode.ENDING
            await self._goodbye(task, ["goodbye"])

    async def _transfer(self, task: QueueTask, number: str) -> None:
        targets = self.registrar.targets(number, self.clock())
        task.mode = Mode.TRANSFERRING
        if not targets:
            task.log.info("transfer target not registered", target=number)
            await self._goodbye(task, ["goodbye"])
            return
        self.media.detach_moh(task.leg)
        self._play(task, ["transferring"], self._lang(task))
        self._attach_music(task.leg, RINGBACK_STREAM)
        call = await self._other_call(task, number, "transfer", self._transfer_answered,
                                      self._transfer_failed, Mode.TRANSFERRING)
        if call is None:
            if task.mode is Mode.TRANSFERRING:
                await self._goodbye(task, ["goodbye"])
            return
        self.dialer.start(call, targets, from_user=task.caller, display=task.caller_display,
                          codecs=self._codecs(task))

    def _transfer_answered(self, call: OutboundCall) -> None:
        task: QueueTask = call.owner
        if task.mode is not Mode.TRANSFERRING or task.leg is None:
            self._drop_outbound(call)
            return
        self.media.detach_moh(task.leg)
        if task.playback is not None:
            task.playback.stop()
        self.media.bridge(task.leg, call.leg)
        if self.recordings is not None:  # an extension call now: the CDR carries the path
            task.recording = self.recordings.start("extension", task.id, task.leg, call.leg,
                                                   at=self.clock())
        task.log.info("caller transferred", target=call.number)

    def _transfer_failed(self, call: OutboundCall, status: int) -> None:
        task: QueueTask = call.owner
        task.log.info("transfer failed", target=call.number, status=status)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        if task.mode is Mode.TRANSFERRING:
            task.mode = Mode.ENDING
            self._spawn(self._goodbye(task, ["goodbye"]))

    # -- the end of the caller's leg

    async def _goodbye(self, task: QueueTask, parts: list[Part]) -> None:
        if task.leg is not None and not task.leg.closed:
            self.media.detach_moh(task.leg)
            pb = self._play(task, parts, self._lang(task))
            if pb is not None:
                outcome = await pb
                if outcome is PlaybackOutcome.STOPPED and task.mode is Mode.ENDED:
                    return
                # the phone's jitter buffer still holds the prompt's last frames
                await asyncio.sleep(0.3)
        if task.mode is Mode.CALLBACK:
            self._bye_caller(task)
        else:
            self._end_caller(task)

    def _write_cdr(self, task: QueueTask, side: str, cause: str, code: int | None) -> None:
        """The caller's call detail record (callee = the queue number), once, when the
        caller's leg ends; the agent's leg statistics go in ``callee_rtp``."""
        if task.cdr_written:
            return
        task.cdr_written = True
        if self.recordings is not None:
            self.recordings.stop(task.id)  # the WAV is complete before the row
        if self.store is None:
            return
        from softswitch.store.records import CallRecord

        agent_leg = task.agent_call.leg if task.agent_call is not None else None
        record = CallRecord(
            task.id, task.caller, task.queue, task.wall_start, task.wall_answer, time.time(),
            "ANSWERED" if task.wall_answer is not None else
            "CANCELLED" if code == 487 else "FAILED", side, cause, code,
            dict(task.leg.stats) if task.leg is not None else None,
            dict(agent_leg.stats) if agent_leg is not None else None, task.recording)
        try:
            self.store.write_cdr(record)
        except Exception as exc:  # noqa: BLE001 - a full or closed store must not end calls
            task.log.error("CDR not written", error=str(exc))

    def _bye_caller(self, task: QueueTask, side: str = "switch", cause: str = "") -> None:
        if task.dialog is not None and task.peer is not None and task.leg is not None:
            self._write_cdr(task, side, cause or f"switch hung up ({task.mode.value})", 200)
            self.endpoint.send_request(task.dialog.create_request("BYE"), task.peer)
        if task.leg is not None:
            self._spawn(self._close_leg(task.leg))
        task.leg = None

    def _end_caller(self, task: QueueTask, side: str = "switch", cause: str = "") -> None:
        """The switch ends the caller's call (BYE) and everything hanging on it."""
        if task.mode is Mode.ENDED:
            return
        self._bye_caller(task, side, cause)
        self._release(task)

    def _caller_gone(self, task: QueueTask) -> None:
        """BYE from the caller."""
        self._write_cdr(task, "caller", f"BYE ({task.mode.value})", 200)
        if task.leg is not None:
            self._spawn(self._close_leg(task.leg))
            task.leg = None
        if task.mode is Mode.CALLBACK:
            return  # the place is kept; the ACD still holds the request
        if task.in_engine and task.mode in (Mode.WAITING, Mode.COLLECTING, Mode.CONNECTED):
            self._feed(self.acd.handle_task_left, task.id)
        self._release(task)

    def _release(self, task: QueueTask) -> None:
        if task.mode is Mode.CALLBACK:
            return
        for call in list(task.offers.values()):
            self._drop_outbound(call)
        task.offers.clear()
        for other in (task.agent_call, task.other_call):
            if other is not None:
                self._drop_outbound(other)
        self._forget(task)

    def _forget(self, task: QueueTask) -> None:
        task.mode = Mode.ENDED
        task.in_engine = False
        if task.leg is not None:
            self._spawn(self._close_leg(task.leg))
            task.leg = None
        # keep the index a little for retransmitted BYEs, then forget
        self.loop.call_later(32.0 if self._accepting else 0.0, self._drop_index, task)

    def _drop_index(self, task: QueueTask) -> None:
        if self.tasks.get(task.id) is task:
            del self.tasks[task.id]
        for call in [*task.offers.values(), task.agent_call, task.other_call]:
            if call is not None:
                for cid in call.call_ids:
                    self._calls.pop(cid, None)
        # Each outbound call points back at its task (owner, callbacks): let go of them so
        # the ended task is freed by reference counting, not left for the cyclic GC.
        task.offers.clear()
        task.agent_call = task.other_call = None

    def _reject(self, task: QueueTask, status: int, reason: str) -> None:
        if task.invite is not None and task.mode is Mode.ANSWERING:
            self._respond(task.txn, task.invite, status, reason, to_tag=task.a_tag)
            self._write_cdr(task, "caller" if status == 487 else "switch", reason, status)
        task.mode = Mode.ENDED
        self.tasks.pop(task.id, None)

    async def _close_leg(self, leg: Any) -> None:
        if leg is not None:
            with contextlib.suppress(Exception):
                await leg.close()

    # ------------------------------------------------------------------ helpers

    def _respond(self, txn: Any, request: Request, status: int, reason: str | None = None,
                 to_tag: str | None = None, headers: list[tuple[str, Any]] | None = None,
                 body: bytes = b"") -> None:
        resp = request.create_response(status, reason,
                                       to_tag=None if request.to.tag else (to_tag or new_tag()),
                                       headers=headers or [], body=body)
        self.endpoint.send_response(txn, resp)

    def _contact(self, peer: Peer | None, user: str) -> str:
        transport = peer.transport if peer else "udp"
        local = self.endpoint.local_peer(transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        return f"<sip:{user}@{host}:{local.port};transport={transport}>"

    def _settle_reports_at_shutdown(self) -> None:
        """The switch stops with calls in the queues: tell the engine, so their report rows
        are complete. A waiting caller leaves as Missed, reason ``removed`` (the switch took
        it out; it did not hang up, nor did any agent fail it); a call talking to an agent
        ends now (talk time up to the stop). Waiting callers go first, and only the events
        are published, never the commands: no agent is rung while the switch stops. A
        callback request kept for a caller who already hung up is not persisted: it is
        lost with the engine, so it is logged (warning, with the number to call) for the
        managers to call back by hand; its ``callbacks`` row stays without an outcome."""
        now = self.clock()
        for task in self.tasks.values():
            if task.mode in (Mode.CALLBACK, Mode.CALLBACK_DIALING):
                task.log.warning("callback request lost at shutdown", queue=task.queue,
                                 caller=task.caller, number=task.callback_number or task.caller)
        tasks = [t for t in self.tasks.values() if t.in_engine]
        for task in tasks:
            if task.mode in (Mode.WAITING, Mode.COLLECTING):
                self.events.publish_all(self.acd.handle_task_removed(task.id, now).events)
                task.in_engine = False
        for task in tasks:
            if task.mode is Mode.CONNECTED and task.in_engine:
                self.events.publish_all(self.acd.handle_call_ended(task.id, now).events)
                task.in_engine = False

    async def shutdown(self) -> None:
        """SIGTERM: BYE/CANCEL everything, close every leg."""
        self._accepting = False
        if self._timer is not None:
            self._timer.cancel()
        for handle in self._reg_timers.values():
            handle.cancel()
        self._settle_reports_at_shutdown()
        for task in list(self.tasks.values()):
            if task.mode is Mode.ANSWERING:
                self._reject(task, 503, "Service Unavailable")
                continue
            if task.leg is not None and task.mode is not Mode.ENDED:
                self._bye_caller(task)
            for call in [*task.offers.values(), task.agent_call, task.other_call]:
                if call is not None:
                    self._drop_outbound(call)
        for t in list(self._pending):
            t.cancel()
        await asyncio.sleep(0.2)  # let the BYEs/CANCELs leave before the sockets close

    # ------------------------------------------------------------------ reload

    def reconfigure(self, acd_config: AcdConfig, extensions: dict[str, Any],
                    prompts_dir: str | Path | None) -> None:
        """A changed configuration (softswitch.reload). The ACD applies it keeping callers,
        agent state and statistics (`Acd.handle_reconfigure`; its commands run here: a
        withdrawn offer is CANCELled, the callers of a removed queue go to its failover,
        which may already be a queue of the new configuration). Queue numbers follow in the
        dial plan. New agents' registrations and busy phones are reported to the ACD.
        Calls in progress keep their media and dialogs; a call of a removed queue ends with
        the defaults (hold music, no survey). A caller of a removed queue whose INVITE is
        still being answered gets 404 (the number is gone; it never waited)."""
        from softswitch.dialplan import queue_rule

        old_agents = self._agent_set
        self.config = acd_config
        self.queues = {q.number: q for q in acd_config.queues}
        self._agent_set = frozenset(m.extension for q in acd_config.queues for m in q.members)
        self.extensions = extensions
        self.prompts_dir = Path(prompts_dir) if prompts_dir else None
        if self.dialplan is not None:
            self.dialplan.replace(queue_rule(self.queues))
        self.execute(self.acd.handle_reconfigure(acd_config, self.clock()))
        for task in list(self.tasks.values()):
            if task.mode is Mode.ANSWERING and task.queue not in self.queues:
                # still being answered (its media leg opening): not in the queue yet, and
                # the number is gone
                task.log.info("queue removed by a reload before the caller was answered")
                self._reject(task, 404, "Not Found")
        for ext in sorted(old_agents - self._agent_set):
            self._registered.discard(ext)
            timer = self._reg_timers.pop(ext, None)
            if timer is not None:
                timer.cancel()
        for ext in sorted(self._agent_set - old_agents):
            self._registered.discard(ext)  # the ACD's agent is new: not registered yet
            self.registration_changed(ext)
            if self._busy.get(ext):
                self._feed(self.acd.handle_device_busy, ext)
