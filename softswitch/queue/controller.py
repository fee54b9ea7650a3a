"""The queue-call controller: the asyncio shell around `acd.Acd` for calls
(spec/queue-admin.md §2-§9, §13; DESIGN.md principle 1).

It feeds the ACD with its clock's monotonic time (softswitch.clock: every time, timer and
pause goes through it, never the loop) and carries out every command the ACD returns:
prompts, music and position announcements for the caller, INVITEs to the agents' registered
phones (Alert-Info, "<queue>: <caller>" in the From display), CANCEL when the ring ends, the
bridge on answer, destinations, callbacks and the survey. Every ACD event goes to the
switch's `EventBus` (softswitch.events), in engine order.

The caller is a call of the call shell (softswitch.apps.shell, the one that runs every call
the switch answers itself; issue 15): the shell answers the INVITE (488 without an offer the
agents could be given), owns the caller's dialog, in-dialog policy, media leg, prompts,
timers and CDR row, and runs `QueueCaller`, a `Flow` around the task's sans-IO `QueueFlow`
(softswitch.queue.flow: what the caller hears and what their keys do: the callback dialogue,
the survey, the goodbye and their timers). The queue reaches the caller only through the
shell's seams: the ACD's commands for the caller become flow actions handed over with
`feed` (`_run`); the flow's outputs toward the engine (keys, the callback number, the end
of the join prompt) are fed to the ACD in their place among the actions (`expand`); the
agent, a callback's customer, a transfer target or a panel's picker is joined with
`connect` (their legs stay the queue's; the caller's hold and INFO come back through
`PartyHooks`); `record_contents` adds the agent's RTP statistics, the recording and the
queue's cause text to the caller's one CDR row; `release` hands an answered caller to the
parking lot; `divert` sends it on to an application (IVR, voicemail, prompt, external
number) on the same call and row. The controller keeps the rest: the agent side (offers,
the bridge, hold music, callbacks), destinations and the live API's operations.

Where a queue call is (`QueueCalls.state`: answering, waiting, collecting, connected,
survey, callback, callback_dialing, transferring, ending, ended) is never stored: it is
read from the caller's flow phase, the ACD's state of the task (`Acd.task_state`) and the
parties the call has (answered by the shell or not, an agent's call, a second party), so
the shell cannot disagree with the flow or the engine; whether the engine still holds the
task (`QueueTask.in_engine`) is the engine's answer too. The only flag of its own is
`ended` (forgotten: late timers, playbacks and requests of the call are ignored).

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
- Destinations (RouteTask) resolve through the one destination router
  (softswitch.destinations): ``extension`` = the switch calls that extension and bridges
  the caller to it ("transferring", ringback meanwhile; a failed transfer says goodbye and
  hangs up); the call stays a queue call meanwhile (state ``transferring``: the live API
  lists it, a panel's pickup takes the same path), which is why the queue rings the
  extension itself rather than diverting to the shell's `ConnectFlow`; ``queue`` = the
  caller joins that queue; ``hangup`` = BYE; ``prompt``, ``external`` and the application
  types (ivr, voicemail, ...) = the shell's `divert`: the application plays the prompt,
  connects the external number, runs the IVR... on the same call, whose CDR row (callee:
  the queue) ends when that call does. A destination that is not available (a type with
  no application, which `softswitch check` refuses) says "goodbye" and hangs up.
- The caller's BLF lamp: the shell publishes no CallStarted/CallEnded for queue callers
  (`call_events=False`); the ACD's TaskJoined/TaskLeft/CallEnded light the caller's and
  the agent's lamps (softswitch.presence.call_lamps), one dialog per call as before.
- In-dialog requests of the caller are answered by the call shell's one policy of
  self-answered calls (softswitch.apps.indialog), connected or not; once connected its
  effects reach the agent (INFO relayed, hold counted, §8.2) through `PartyHooks`. The
  requests of the parties the switch called (agents, callback customers, transfer
  targets, live API phones) get the same policy's answers in the switch's dialog with them
  (`OutboundCall.policy`), the ACK of a late-offer re-INVITE included; see
  `_outbound_request`.
- Callback customers (§4): numbers that are extensions of the switch are called directly;
  other numbers go out through the outbound route matching ``outbound_prefix + number``
  (softswitch.trunks). No matching route, or an unregistered extension: CUSTOMER_NO_ANSWER
  (the ACD's reason set, §11.3) with the cause in the log line "callback customer not
  reachable". Routes match but none is permitted to every agent of the queue (static and
  dynamic members, §4.1 "otherwise callback fails"): INVALID_NUMBER, the closest of the
  four reasons (the number cannot be called from this queue; the customer was never
  rung), so the callbacks report row reads failed / invalid_callback_number and the log
  line names the agents and the route. A provider's 404/484/485/604 is INVALID_NUMBER;
  busy, no answer, timeouts and other 4xx/5xx/6xx are CUSTOMER_NO_ANSWER (the ACD has no
  "busy" reason).
- Device state for ring-in-use (§2.4): the B2BUA reports its extension calls through
  `call_started` / `call_ended`; an extension counts busy while it has at least one.
- The agent's phone shows "<queue name>: <caller>" as the From display, <caller> being the
  caller's display name when their phone sent one, else their number (the From URI always
  carries the number); callback offers show "<queue name>: callback <number>".
- The callback dialogue and the survey: softswitch.queue.flow (the ACD times the dialogue's
  silence: the prompt is played again, a new CollectCallbackNumber, then the caller is back
  in line, EndCallbackDialogue).
- A callback whose agent hangs up before the customer answered fails as "agent hung up"
  (§8.7, 坐席挂断); the customer's ringing is cancelled.
- Restart: pending callback requests are not ended at shutdown (they are persisted,
  softswitch.store.agent_state); the next start hands each back with `adopt_callback`.
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
import functools
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from acd import Acd, Output
from acd.commands import (
    AnnouncePosition,
    CollectCallbackNumber,
    Command,
    Connect,
    DialCustomer,
    EndCallbackDialogue,
    HangUp,
    PlayPrompt,
    RingAgents,
    RouteTask,
    StartMusic,
    StopRinging,
)
from acd.config import AcdConfig, Destination, QueueConfig
from acd.events import CallbackFailureReason, CallbackRequested, TaskLeft
from acd.model import TaskState
from media import MediaLeg
from media.engine import Playback
from media.player import Prompt
from softswitch.apps.flow import (
    Action,
    CallInfo,
    Flow,
    Hangup,
    Music,
    PromptPart,
    RouteTo,
)
from softswitch.apps.indialog import InDialogPolicy, local_contact
from softswitch.apps.music import attach_music
from softswitch.calls.b2bua import (
    SUPPORTED_CODECS,
    apply_media,
)
from softswitch.calls.events import CallHoldChanged
from softswitch.calls.recording import CallRecorder
from softswitch.clock import Clock, TimerHandle, sleep
from softswitch.config import Extension
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
from softswitch.dialplan import DialPlan
from softswitch.events import EventBus
from softswitch.log import get_logger
from softswitch.queue.announce import Part, agent_id_parts, resolve_prompt
from softswitch.queue.caller import PartyHooks, QueueCaller, QueueTask, task_of
from softswitch.queue.dialer import Dialer, OutboundCall
from softswitch.queue.flow import (
    CallbackNumberToAcd,
    JoinPromptFinished,
    KeyToAcd,
    Phase,
    QueueFlow,
    QueueOutput,
    SurveyPlan,
)
from softswitch.queue.seams import CallMedia, Endpoint, Registrar, Target
from softswitch.sip import Request, new_tag
from softswitch.sip import sdp as sdplib
from softswitch.sip.dialog import Dialog
from softswitch.sip.transaction import Peer, ServerTransaction
from softswitch.trunks import TrunkRouter

if TYPE_CHECKING:
    from softswitch.apps.shell import CallShell, RecordContents
    from softswitch.calls.transfer import End

log = get_logger("queue")



class QueueCalls:
    """All queue calls of the switch (see the module docstring).

    Wiring (softswitch/app.py): `owns(call_id)` / `handle_invite` / `handle_in_dialog` /
    `handle_ack` / `handle_cancel` from the SIP router; `registration_changed(ext)` after a
    REGISTER; `call_started/ended(ext)` from the B2BUA. Other layers feeding the same ACD
    (feature codes sign in / pause) call `execute(output)` with what the ACD returned, so the
    commands run and the events reach the bus.
    """

    def __init__(self, *, acd_config: AcdConfig, endpoint: Endpoint, media: CallMedia,
                 registrar: Registrar, events: EventBus, domain: str, user_agent: str,
                 extensions: Mapping[str, Extension], prompts_dir: str | Path | None = None,
                 clock: Clock, dialplan: DialPlan | None = None, store: object = None,
                 trunks: TrunkRouter | None = None,
                 recordings: CallRecorder | None = None,
                 destinations: DestinationRouter | None = None,
                 shell: CallShell | None = None) -> None:
        """``trunks``: callbacks to external numbers go out through them (§4);
        ``recordings``: every connected queue call is recorded there; ``shell``: the call
        shell that runs the callers (the switch's one, softswitch.app; a shell of its own
        when not given)."""
        self.loop = asyncio.get_running_loop()  # tasks only; time and timers: the clock
        self._clock = clock
        self.clock = clock.monotonic  # the ACD's now
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
        self.trunks = trunks
        self.acd = Acd(acd_config, now=self.clock(), agents_registered=False)
        self._agent_set = frozenset(m.extension for q in acd_config.queues for m in q.members)
        self.tasks: dict[str, QueueTask] = {}
        self._calls: dict[str, OutboundCall] = {}  # branch Call-ID -> outbound call
        self.dialer = Dialer(endpoint, domain, user_agent, self._calls, clock)
        self._timer: TimerHandle | None = None
        self._timer_at: float | None = None
        self._reg_timers: dict[str, TimerHandle] = {}
        self._busy: dict[str, int] = {}
        self._registered: set[str] = set()  # agents the ACD was told are registered
        self._pending: set[asyncio.Task[object]] = set()
        self._accepting = True
        self.recordings = recordings
        # destinations of failover, time-based routing and key presses
        self.destinations = destinations  # softswitch.destinations.DestinationRouter
        self.shell = shell if shell is not None else self._own_shell(prompts_dir)
        self._api_end_watchers: list[Callable[[QueueTask], None]] = []  # live API hooks
        self.events.publish_all(self.acd.initial_events)

    def _own_shell(self, prompts_dir: str | Path | None) -> CallShell:
        """A call shell for the queue's callers alone (a controller built without the
        switch's: tests, tools). Application destinations run on it too."""
        from softswitch.apps.ringer import DialerRinger
        from softswitch.apps.shell import CallShell, Handoff

        return CallShell(
            endpoint=self.endpoint, media=self.media, events=self.events,
            router=self.destinations or DestinationRouter(None),
            clock=self._clock.monotonic, scheduler=self._clock.call_at,
            ringer=DialerRinger(endpoint=self.endpoint, domain=self.domain,
                                user_agent=self.user_agent, lookup=self.registrar.targets,
                                trunks=self.trunks, clock=self._clock),
            handoff=Handoff(queue=self.handle_invite, queue_answered=self.adopt),
            store=self.store, prompts_dir=prompts_dir, wall=self._clock.wall)

    # ------------------------------------------------------------------ where a call is

    def state(self, task: QueueTask) -> str:
        """Where the queue call is (module docstring), read from its facts:

        - ``ended``: forgotten; ``answering``: its INVITE is not answered yet;
        - ``connected``: the ACD has it connected and the switch has the agent's call (a
          caller's call, or a callback's agent and customer);
        - ``callback`` / ``callback_dialing``: the caller's place is kept for a callback
          (the flow heard the engine's HangUp, or it was restored), without / with the
          agent's answered call (the customer being dialled);
        - ``ending``: the caller hears a last prompt before BYE;
        - ``transferring``: the caller went to an extension destination, or a panel pickup
          took it (a second party, no agent);
        - else the flow's phase: ``waiting`` (also routed by the engine and not gone yet,
          or ``connected`` if an agent had answered), ``collecting``, ``connected``,
          ``survey``."""
        if task.ended:
            return "ended"
        if not task.answered and task.shell is not None:
            return "answering"
        flow = task.flow
        if self.acd.task_state(task.id) is TaskState.CONNECTED and task.agent_call is not None:
            return "connected"
        if flow.keep_place:
            return "callback_dialing" if task.agent_call is not None else "callback"
        phase = flow.phase
        if phase in (Phase.ENDING, Phase.ENDED):
            return "ending"
        if task.other_call is not None and task.agent_call is None:
            return "transferring"
        if phase is Phase.ROUTED:
            return "connected" if flow.agent is not None else "waiting"
        return str(phase.value)

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
                if task is not None and self.state(task) == "callback":
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

    def _feed(self, fn: Callable[..., Output], *args: object) -> Output:
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
            self._timer = self._clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.tick()

    def tick(self) -> None:
        """Run the ACD deadlines due now (the clock's timer calls this)."""
        self.execute(self.acd.tick(self.clock()))

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        t = self.loop.create_task(coro)
        self._pending.add(t)
        t.add_done_callback(self._done)

    def _done(self, t: asyncio.Task[object]) -> None:
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
            self._reg_timers[ext] = self._clock.call_at(expiry + 0.01,
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

    def route_invite(self, txn: ServerTransaction, request: Request, caller: str) -> bool:
        """Take the INVITE when the dial plan says the number is a queue."""
        if self.dialplan is None or request.call_id in self._calls:
            return False
        from softswitch.dialplan import QUEUE

        dest = self.dialplan.route(request.uri.user or "", caller)
        if dest.kind != QUEUE or dest.target not in self.queues:
            return False
        self.handle_invite(txn, request, caller, dest.target)
        return True

    def handle_invite(self, txn: ServerTransaction, request: Request, caller: str,
                      queue: str) -> None:
        """A new INVITE from extension ``caller`` for ``queue`` (100 Trying already sent):
        the call shell answers it (488 without a usable offer: the agents are offered the
        caller's codec) and the caller joins the queue once answered (`_answered`)."""
        call_id = request.call_id
        if not self._accepting:
            self._respond(txn, request, 503, "Shutting Down")
            return
        if call_id in self.tasks:
            self._respond(txn, request, 482, "Loop Detected")
            return
        display = request.from_.display_name or caller
        task = self._task(call_id, queue, caller, display)
        self.tasks[call_id] = task
        info = CallInfo(call_id, caller, display, queue, self._lang(task))
        if not self.shell.start(txn, request, QueueCaller(self, task), info, "queue",
                                offer_required=True, call_events=False, leg_label="q",
                                answered=functools.partial(self._answered, task)):
            task.ended = True
            self.tasks.pop(call_id, None)
            return
        self.shell.record_contents(call_id, functools.partial(self._contents, task))

    def _task(self, call_id: str, queue: str, caller: str, display: str) -> QueueTask:
        task = QueueTask(call_id, queue, caller, display, shell=self.shell, engine=self.acd)
        task.log = log.bind(call_id=call_id, caller=caller, queue=queue)
        return task

    def _answered(self, task: QueueTask) -> None:
        """The shell's 200 went out: the caller joins the queue."""
        task.answered = True
        task.log.info("queue call answered")
        self._arrive(task, task.queue)

    def adopt_caller(self, call_id: str, queue: str, caller: str, dialog: Dialog,
                     peer: Peer, leg: MediaLeg, invite: Request) -> bool:
        """A caller transferred into ``queue`` by the B2BUA (a REFER to a queue number,
        softswitch.calls.transfer) or sent there at a park timeout: already answered, its
        dialog ``call_id`` and media leg now belong to this queue call (on the call shell,
        with a CDR row of its own from now), which starts waiting at once. False when the
        queue does not exist or the switch is stopping (the transfer then fails with
        404/503). ``invite``: the INVITE of that dialog (an application destination or a
        park from the live API hands it on)."""
        if not self._may_adopt(call_id, queue):
            return False
        # its in-dialog requests get the one policy's answers from now on (the dialog ends
        # here), with our SDP as the leg now has it
        sdp = sdplib.create_offer(leg.local_host, leg.local_port,
                                  codecs=(getattr(leg.codec, "name", "PCMU"),),
                                  telephone_event=True)
        policy = InDialogPolicy(dialog, sdp, local_contact(self.endpoint, peer.transport,
                                                           queue))
        return self._adopt(call_id, caller, caller, invite, dialog, policy, peer, leg,
                           dialog.local_tag, queue, "caller transferred into the queue")

    def adopt(self, call_id: str, caller: str, display: str, invite: Request,
              dialog: Dialog, policy: InDialogPolicy, peer: Peer, leg: MediaLeg, tag: str,
              queue: str) -> bool:
        """An answered caller an application routes to ``queue`` (softswitch.apps.shell
        `Handoff.queue_answered`): it joins the queue with its dialog, in-dialog policy and
        media leg (a new CDR row: the application's ended with "routed to queue")."""
        return self._may_adopt(call_id, queue) and self._adopt(
            call_id, caller, display, invite, dialog, policy, peer, leg, tag, queue,
            "caller joined the queue from an application")

    def _may_adopt(self, call_id: str, queue: str) -> bool:
        return self._accepting and queue in self.queues and call_id not in self.tasks

    def _adopt(self, call_id: str, caller: str, display: str, invite: Request,
               dialog: Dialog, policy: InDialogPolicy, peer: Peer, leg: MediaLeg, tag: str,
               queue: str, why: str) -> bool:
        task = self._task(call_id, queue, caller, display)
        task.answered = True
        self.tasks[call_id] = task
        info = CallInfo(call_id, caller, display, queue, self._lang(task))
        self.shell.adopt(info=info, invite=invite, peer=peer, tag=tag, dialog=dialog,
                         policy=policy, leg=leg, flow=QueueCaller(self, task), kind="queue",
                         recorded=True, call_events=False)
        if not self.shell.record_contents(call_id, functools.partial(self._contents, task)):
            task.ended = True  # never: the shell runs what it adopted
            self.tasks.pop(call_id, None)
            return False
        task.log.info(why)
        self._arrive(task, queue)
        return True

    def _arrive(self, task: QueueTask, queue: str) -> None:
        task.queue = queue
        task.flow.queue = queue
        self._run(task, task.flow.start(CallInfo(task.id, task.caller, task.caller_display,
                                                 queue, self._lang(task)), self.clock()))
        self._feed(lambda now: self.acd.handle_task_arrived(
            task.id, queue, now, caller=task.caller,
            wall_clock=dt.datetime.fromtimestamp(self._clock.wall(), dt.UTC)))

    def handle_ack(self, request: Request) -> None:
        """ACK of our 2xx: the caller's go to the call shell (the answer to the offer of
        our 200 to a re-INVITE without SDP, softswitch.apps.indialog); a called party's
        carries its answer to ours."""
        if request.call_id in self.tasks:
            self.shell.handle_ack(request)
            return
        call = self._calls.get(request.call_id)
        policy = call.policy() if call is not None else None
        ack = policy.handle_ack(request) if call is not None and policy is not None \
            else None
        if call is not None and ack is not None:
            if call.leg is not None and not call.leg.closed:
                apply_media(call.leg, ack.media)
            if ack.held is not None:
                self._outbound_hold(call, ack.held)

    def handle_cancel(self, invite_txn: ServerTransaction) -> bool:
        """CANCEL of a queue INVITE: the call shell answers it (487 while still answering;
        the caller's flow hears the hang-up, `caller_ended`)."""
        if (getattr(invite_txn, "call_id", None) or "") not in self.tasks:
            return False
        return self.shell.handle_cancel(invite_txn)

    def handle_in_dialog(self, txn: ServerTransaction, request: Request) -> None:
        """The caller's requests are the call shell's (one in-dialog policy; its effects on
        a connected call reach the queue through `PartyHooks`: INFO relayed to the agent,
        hold counted, §8.2); those of the parties the switch called are answered here by the
        same policy in the switch's dialog with them (`_outbound_request`)."""
        call_id = request.call_id
        method = request.method
        if call_id in self.tasks:
            self.shell.handle_in_dialog(txn, request)
            return
        call = self._calls.get(call_id)
        policy = call.policy() if call is not None else None
        if call is None or policy is None or (call.winner is not None
                                              and call.winner.request.call_id != call_id):
            self._respond(txn, request, 200 if method == "BYE" else 481)
            return
        self._outbound_request(call, policy, txn, request)

    def _outbound_request(self, call: OutboundCall, policy: InDialogPolicy,
                          txn: ServerTransaction, request: Request) -> None:
        """A request in the switch's own dialog with an agent, a callback customer, a
        transfer target or a live API party: answered by the one in-dialog policy
        (softswitch.apps.indialog), as the caller's are, on that party's leg; its effects
        reach the call: hold puts the other party on the queue's hold music, a key (INFO)
        is relayed to the other party, BYE ends that party's part."""
        outcome = policy.handle_request(request, self.clock())
        self.endpoint.send_response(txn, outcome.response)
        if outcome.media is not None and call.leg is not None and not call.leg.closed:
            apply_media(call.leg, outcome.media)
        if outcome.held is not None:
            self._outbound_hold(call, outcome.held)
        if outcome.digit is not None:
            self.relay_info(call, request)
        if outcome.ends_call and call.state == "answered":
            call.state = "ended"
            self._outbound_hung_up(call)

    def relay_info(self, source: OutboundCall | QueueTask, request: Request) -> None:
        """SIP INFO (key presses as application/dtmf-relay) between the two talking
        parties: the caller and the agent, the agent and the callback customer."""
        if not isinstance(source, QueueTask) and self._api_owned(source):
            return
        if isinstance(source, QueueTask):
            task, target = source, source.agent_call
            if self.state(task) != "connected":
                return
        else:
            task = task_of(source)
            if self.state(task) != "connected":
                return
            if source is task.agent_call and task.other_call is not None:
                target = task.other_call  # a callback: agent -> customer
            elif source is task.other_call:
                target = task.agent_call
            else:
                target = None
                self.shell.send_info(task.id, request.body, request.content_type)
        if target is not None and target.state == "answered":
            self.dialer.send_in_dialog(target, "INFO", body=request.body,
                                       content_type=request.content_type)

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
            q = self.queues.get(task.queue)
            join = (q is not None and cmd.prompt == q.prompts.join_announcement
                    and q.prompts.play_full_prompt_before_ringing
                    and self.state(task) == "waiting" and task.in_engine)
            self._run(task, task.flow.handle_command(cmd, self.clock(), join=join))
        elif isinstance(cmd, StartMusic | AnnouncePosition | CollectCallbackNumber):
            self._run(task, task.flow.handle_command(cmd, self.clock()))
        elif isinstance(cmd, EndCallbackDialogue):
            if task.flow.phase is Phase.COLLECTING:
                task.log.info("no callback number entered; caller back in line")
            self._run(task, task.flow.handle_command(cmd, self.clock()))
        elif isinstance(cmd, HangUp):  # the flow keeps the caller's place (callback)
            task.log.info("callback registered; caller released")
            self._run(task, task.flow.handle_command(cmd, self.clock()))
        elif isinstance(cmd, DialCustomer):
            self._dial_customer(task, cmd)

    def _lang(self, task: QueueTask) -> str:
        q = self.queues.get(task.queue)
        return q.prompts.language if q else "en"

    # -- the caller's flow (softswitch.queue.flow), run by the call shell

    def _run(self, task: QueueTask, outputs: Sequence[QueueOutput]) -> None:
        """Hand what the caller's flow returned to the call shell, which carries it out on
        the caller's call in order (behind actions still running; dropped once the call has
        ended). Inside one of the flow's own inputs (`QueueCaller`) the outputs join that
        input's actions instead, in the order the flow and the engine gave them."""
        if task.collect is not None:
            task.collect.extend(self.expand(task, outputs))
            return
        self.shell.feed(task.id, lambda now: self.expand(task, outputs))

    def expand(self, task: QueueTask, outputs: Sequence[QueueOutput]) -> list[Action]:
        """The queue's part of the flow's outputs, in order: the engine's inputs are fed
        (commands for this caller that the engine answers with join ``collect`` at their
        place), `RouteTo` goes to `_route`, `Hangup` records who ended the call; the rest are
        the shell's actions."""
        outer, task.collect = task.collect, []
        try:
            for out in outputs:
                try:
                    self._queue_output(task, out)
                except Exception as exc:  # noqa: BLE001 - one bad output must not stop the rest
                    task.log.error("queue caller action failed", action=type(out).__name__,
                                   error=repr(exc))
            return task.collect
        finally:
            task.collect = outer

    def _queue_output(self, task: QueueTask, out: QueueOutput) -> None:
        assert task.collect is not None
        now = self.clock()
        if isinstance(out, KeyToAcd):
            if task.in_engine:
                self._feed(self.acd.handle_key_pressed, task.id, out.digit)
        elif isinstance(out, CallbackNumberToAcd):
            if task.in_engine:
                self._feed(self.acd.handle_callback_number, task.id, out.number)
            self._run(task, task.flow.handle_number_fed(now))
        elif isinstance(out, JoinPromptFinished):
            if task.in_engine and self.state(task) == "waiting":
                self._feed(self.acd.handle_join_prompt_finished, task.id)
        elif isinstance(out, RouteTo):
            self._spawn(self._route(task, out.destination))
        elif isinstance(out, Hangup):
            # the flow's goodbye ended: a registered callback keeps the caller's place
            if task.end_cause is None:
                task.end_side, task.end_cause = "switch", \
                    f"switch hung up ({self.state(task)})"
            task.collect.append(out)
        else:
            task.collect.append(out)

    def _play(self, task: QueueTask, parts: Sequence[Part], lang: str,
              leg: MediaLeg) -> Playback | None:
        """Play ``parts`` on the leg of a party the queue called (the agent's announcement,
        "please hold" to a callback's agent): prompt names resolved as configured prompts
        are (softswitch.queue.announce.resolve_prompt), word lists from the library; a part
        found nowhere is logged and skipped. The caller's prompts are the shell's (`Play`)."""
        if leg.closed or not parts:
            return None
        items: list[Part] = []
        for part in parts:
            if isinstance(part, str):
                prompt = self._prompt(part, lang)
                if prompt is None:
                    task.log.warning("prompt not found", prompt=part, language=lang)
                    continue
                items.append(prompt)
            else:
                items.append(part)
        if not items:
            return None
        try:
            seq = self.media.prompts.sequence(lang, *items)
        except Exception as exc:  # noqa: BLE001 - a missing prompt is logged, not fatal
            task.log.warning("prompt not available", parts=repr(parts), error=str(exc))
            return None
        return self.media.play(leg, seq)

    def _prompt(self, name: str, lang: str) -> Prompt | None:
        return resolve_prompt(self.media.prompts, name, lang, self.prompts_dir)

    def _attach_music(self, leg: MediaLeg, name: str) -> None:
        attach_music(self.media, leg, name)

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

    async def _ring_start(self, task: QueueTask, call: OutboundCall, targets: Sequence[Target],
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
        task, agent = task_of(call), call.number
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
        self._clock.call_later(32.0 if self._accepting else 0.0, forget)

    def _connect(self, task: QueueTask, cmd: Connect) -> None:
        call = task.offers.pop(cmd.agent, None)
        caller_leg = task.leg
        if call is None or caller_leg is None or call.leg is None:
            task.log.error("connect without an answered agent", agent=cmd.agent)
            return
        task.agent = cmd.agent
        task.agent_call = call
        if call.dialog is not None and call.peer is not None:
            self.shell.confirm_leg(task.id, "agent", call.dialog, call.peer)
        agent_leg = call.leg
        self._bridge(task, agent_leg)
        if self.recordings is not None:  # caller left, agent right, answer to hang-up
            task.recording = self.recordings.start("queue", task.id, caller_leg, agent_leg,
                                                   queue=task.queue, at=self.clock())
        lang = self._lang(task)
        agent_parts: list[Part] = []
        announcement = self._prompt(cmd.agent_announcement, lang) if cmd.agent_announcement \
            else None
        if announcement is not None:
            agent_parts.append(announcement)
        id_words: list[str] = []
        if cmd.announce_agent_id:
            ext = self.extensions.get(cmd.agent)
            agent_id = (getattr(ext, "agent_id", None) or cmd.agent) if ext else cmd.agent
            id_parts = agent_id_parts(str(agent_id), lang)
            agent_parts += id_parts
            id_words = [str(w) for p in id_parts if isinstance(p, list) for w in p]
        # the caller's side: the queue's prompts and music stop, the ID is said to them
        self._run(task, task.flow.handle_connected(cmd.agent, id_words, self.clock()))
        if agent_parts:
            self._play(task, agent_parts, lang, agent_leg)
        task.log.info("caller connected to agent", agent=cmd.agent)

    def _bridge(self, task: QueueTask, far: MediaLeg) -> bool:
        """The caller's call on the shell is connected to ``far`` (the agent's leg, a
        transfer target's, a picker's): music and prompts stop, the relay joins the legs,
        the caller's hold and INFO reach the queue (`PartyHooks`)."""
        self._unbridge(task)
        bridge = task.flow.next_id()
        if not self.shell.connect(task.id, bridge, far, PartyHooks(self, task)):
            return False
        task.bridge = bridge
        return True

    def _unbridge(self, task: QueueTask) -> None:
        """Part the caller from the far party of `_bridge` (it is left open: the queue's)."""
        if task.bridge is not None:
            bridge, task.bridge = task.bridge, None
            self.shell.disconnect(task.id, bridge)

    def hold_changed(self, task: QueueTask, party: str, held: bool) -> None:
        """Hold of a connected call by ``party`` ("callee": the agent, or "caller") begins
        or ends: one `CallHoldChanged` on the bus, the same event as an extension call's hold
        (the agent's BLF key blinks; the report rows' hold duration, §8.2, counts the time
        at least one side held)."""
        if self.state(task) != "connected" or task.agent is None:
            return  # a re-INVITE while waiting or ringing is not hold of a queue call
        if held == (party in task.held_by):
            return  # a repeated offer (session refresh) changes nothing
        if held:
            task.held_by.add(party)
        else:
            task.held_by.discard(party)
        self.events.publish(CallHoldChanged(self.clock(), task.id, task.caller, task.agent,
                                            party, held, queue=task.queue))

    def _outbound_hold(self, call: OutboundCall, held: bool) -> None:
        """The agent, a callback customer or a transfer target held / resumed: the other
        party hears the queue's hold music meanwhile (the caller when the agent holds; in a
        callback, the customer when the agent holds and the agent when the customer does)."""
        if self._api_owned(call):
            # a live API call (a supervisor's phone): its owner decides (no hold music)
            on_hold = getattr(call.owner, "api_hold", None)
            if on_hold is not None:
                on_hold(call, held)
            return
        task = task_of(call)
        caller_leg = task.leg if task.leg is not None and not task.leg.closed else None
        if call is task.agent_call:
            self.hold_changed(task, "callee", held)
            other = caller_leg or (task.other_call.leg if task.other_call is not None
                                   and task.other_call.state == "answered" else None)
            who = "agent"
        elif caller_leg is None and task.agent_call is not None:  # the callback customer
            self.hold_changed(task, "caller", held)
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
        if self._api_outbound_hung_up(call):
            return
        task = task_of(call)
        if call is task.agent_call and self.recordings is not None:
            self.recordings.stop(task.id)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        state = self.state(task)
        if state == "connected" and call is task.agent_call:
            task.log.info("agent hung up", agent=task.agent)
            self._feed(self.acd.handle_call_ended, task.id)
            self._unbridge(task)
            q = self.queues.get(task.queue)
            survey = getattr(q, "satisfaction_survey", None) if q else None
            if survey is not None and task.leg is not None and not task.leg.closed:
                self._survey(task, survey.prompt, survey.end_prompt, survey.scores)
            else:
                self._end_caller(task, "callee", "agent hung up")
        elif state == "connected" and call is task.other_call:
            # a callback: the customer hung up
            if self.recordings is not None:
                self.recordings.stop(task.id)
            self._feed(self.acd.handle_call_ended, task.id)
            if task.agent_call is not None:
                self._drop_outbound(task.agent_call)
            self._forget(task)
        elif state == "callback_dialing" and call is task.agent_call:
            task.log.info("agent hung up before the customer answered")
            self._agent_left_callback(task)
        elif state == "transferring" and call is task.other_call:
            self._end_caller(task, "callee", "transfer target hung up")

    def _survey(self, task: QueueTask, prompt: str, end_prompt: str | None,
                scores: dict[str, int]) -> None:
        """§9.6: the caller leaves the agent's bridge and rates the call (the flow's
        survey: softswitch.queue.flow). A configured prompt found nowhere (a file removed
        since the check) falls back to the system prompts."""
        self._unbridge(task)
        lang = self._lang(task)
        plan = SurveyPlan(prompt if self._prompt(prompt, lang) is not None else "survey-question",
                          end_prompt if end_prompt and self._prompt(end_prompt, lang) else None,
                          dict(scores))
        task.log.info("satisfaction survey", agent=task.agent)
        self._run(task, task.flow.handle_survey(plan, self.clock()))

    # -- callbacks

    def _dial_customer(self, task: QueueTask, cmd: DialCustomer) -> None:
        call = task.offers.pop(cmd.agent, None)
        task.agent = cmd.agent
        task.agent_call = call  # with the flow's kept place: callback_dialing
        number = cmd.number
        targets: Sequence[Target] = self.registrar.targets(number, self.clock()) \
            if number in self.extensions else []
        # not reachable at all (no route, not registered) counts as not answered, as before
        reason = CallbackFailureReason.CUSTOMER_NO_ANSWER
        refused = ""
        if number not in self.extensions and self.trunks is not None:
            # §4: the customer over the outbound route matching outbound_prefix + number
            from softswitch.trunks import OutboundRefused, trunk_target

            out = self.trunks.outbound(cmd.outbound_prefix + number,
                                       self._queue_agents(task.queue))
            if isinstance(out, OutboundRefused):
                reason, refused = CallbackFailureReason.INVALID_NUMBER, out.reason
            elif out is not None:
                targets = [trunk_target(self.trunks.trunks[out.trunk], out.number)]
                number = out.number
        if call is None or not targets:
            if refused:
                why = f"{refused}: every agent of the queue must be permitted the route (§4.1)"
            elif number not in self.extensions:
                why = ("no outbound route matches outbound prefix "
                       f"{cmd.outbound_prefix!r} + {number!r}")
            else:
                why = "the customer's extension is not registered"
            task.log.warning("callback customer not reachable", number=number, reason=why)
            self._callback_failed(task, reason)
            return
        task.log.info("calling the callback customer", number=number, agent=cmd.agent)
        if call.leg is not None:
            self._play(task, ["please-hold"], self._lang(task), call.leg)
        q = self.queues.get(task.queue)
        self._spawn(self._dial_customer_start(task, number, targets, q.name if q else ""))

    def _queue_agents(self, queue: str) -> tuple[str, ...]:
        """The queue's agents (static and dynamic members, signed in or not) on whose
        behalf a callback is made: the outbound route must be permitted to each (§4.1)."""
        q = self.queues.get(queue)
        return tuple(m.extension for m in q.members) if q is not None else ()

    async def _dial_customer_start(self, task: QueueTask, number: str, targets: Sequence[Target],
                                   queue_name: str) -> None:
        customer = await self._other_call(task, number, "customer", self._customer_answered,
                                          self._customer_failed, "callback_dialing")
        if customer is None:
            if self.state(task) == "callback_dialing":
                self._callback_failed(task)
            return
        self.dialer.start(customer, targets, from_user=task.queue,
                          display=f"{queue_name} callback".strip())

    async def _other_call(self, task: QueueTask, number: str, role: str,
                          on_answered: Callable[[OutboundCall], None],
                          on_failed: Callable[[OutboundCall, int], None],
                          state: str) -> OutboundCall | None:
        """The task's second party (callback customer, transfer target) with its media leg;
        None when no port was free or the task moved on from ``state`` while the leg was
        opened."""
        call = OutboundCall(number, None, on_answered=on_answered, on_failed=on_failed)
        call.owner = task
        task.other_call = call
        try:
            call.leg = await self.media.open_leg(f"{task.id}/{role}")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            task.log.error("no media port", role=role, error=str(exc))
            return None
        if call.state != "calling" or task.other_call is not call \
                or self.state(task) != state:
            await self._close_leg(call.leg)
            return None
        return call

    def _customer_answered(self, call: OutboundCall) -> None:
        task = task_of(call)
        if self.state(task) != "callback_dialing" or task.agent_call is None:
            self._drop_outbound(call)
            return
        agent_leg = task.agent_call.leg
        if agent_leg is None or call.leg is None:  # never: both were dialled with a leg
            self._drop_outbound(call)
            return
        self.media.bridge(agent_leg, call.leg)
        if self.recordings is not None:  # the customer left, the agent right, like any call
            task.recording = self.recordings.start("queue", task.id, call.leg, agent_leg,
                                                   queue=task.queue, at=self.clock())
        task.log.info("callback connected", number=call.number, agent=task.agent)
        self._feed(self.acd.handle_callback_connected, task.id)

    def _customer_failed(self, call: OutboundCall, status: int) -> None:
        task = task_of(call)
        task.log.info("callback customer did not answer", status=status)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        if self.state(task) == "callback_dialing":
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

    def _agent_left_callback(self, task: QueueTask) -> None:
        """§8.7 "Agent hung up": the agent ended the callback before the customer answered
        (the agent's leg is already gone; the customer's ringing is cancelled)."""
        if task.other_call is not None:
            self._drop_outbound(task.other_call)
        task.agent_call = None
        self._callback_failed(task, CallbackFailureReason.AGENT_HUNG_UP)

    def adopt_callback(self, task_id: str, queue: str, caller: str, number: str) -> None:
        """A callback request restored into the ACD after a restart (softswitch.store.
        agent_state): the shell's side of it, a caller already hung up with a kept place;
        served like any request (agent rung first, then the customer dialled)."""
        task = QueueTask(task_id, queue, caller, caller, engine=self.acd,
                         flow=QueueFlow(queue=queue, caller=caller, phase=Phase.ENDED,
                                        keep_place=True),
                         callback_number=number)
        task.log = log.bind(call_id=task_id, caller=caller, queue=queue, restored=True)
        self.tasks[task_id] = task

    # -- destinations

    def _route_task(self, cmd: RouteTask, after_prompt: bool) -> None:
        task = self.tasks.get(cmd.task)
        if task is None:
            return
        # the flow says when: after the holiday prompt, or at once (RouteTo)
        self._run(task, task.flow.handle_route(cmd.destination, after_prompt, self.clock()))

    async def _route(self, task: QueueTask, dest: Destination) -> None:
        """§11.1: the task left the engine for ``dest``, resolved by the one destination
        router (softswitch.destinations)."""
        if self.state(task) in ("ended", "ending") or task.leg is None:
            return
        for call in list(task.offers.values()):
            self._drop_outbound(call)
        task.offers.clear()
        route = self.destinations.resolve(dest) if self.destinations is not None \
            else Unavailable("no destination router")
        task.log.info("caller routed", destination=dest.type.value, target=dest.target,
                      route=type(route).__name__)
        if isinstance(route, QueueRoute) and route.number in self.queues:
            self._arrive(task, route.number)
        elif isinstance(route, HangupRoute):
            self._end_caller(task)
        elif isinstance(route, ExtensionRoute):
            await self._transfer(task, route.number)
        elif isinstance(route, FlowRoute | ExternalRoute) and self._to_application(task, route):
            pass
        else:
            task.log.warning("destination not available", destination=dest.type.value,
                             target=dest.target,
                             reason=route.reason if isinstance(route, Unavailable) else "")
            self._goodbye(task, ["goodbye"])

    def _to_application(self, task: QueueTask, route: Route) -> bool:
        """The answered caller goes on, on the same call of the shell, with the
        destination's application (a prompt, an IVR, voicemail, ...) or connected to an
        external number; the call's CDR row goes on too (callee: the queue, with the
        recording of an agent conversation that came before)."""
        from softswitch.apps.connect import ConnectFlow
        from softswitch.apps.shell import RecordContents

        if isinstance(route, FlowRoute):
            flow: Flow = route.factory()
            kind = route.type.value
        elif isinstance(route, ExternalRoute):
            flow, kind = ConnectFlow(route.number, self.shell.ring_timeout), "external"
        else:
            return False
        if self.recordings is not None:
            self.recordings.stop(task.id)
        contents = RecordContents(callee=task.queue, recording=task.recording)
        if not self.shell.divert(task.id, flow, kind, lambda cause: contents):
            return False
        task.log.info("caller sent to an application", application=kind)
        self._release(task)
        return True

    async def _transfer(self, task: QueueTask, number: str) -> None:
        targets = self.registrar.targets(number, self.clock())
        if not targets:
            task.log.info("transfer target not registered", target=number)
            self._goodbye(task, ["goodbye"])
            return
        self._run(task, [Music(None), task.flow.say(["transferring"]), Music("ringback")])
        call = await self._other_call(task, number, "transfer", self._transfer_answered,
                                      self._transfer_failed, "transferring")
        if call is None:
            if self.state(task) == "transferring":
                self._goodbye(task, ["goodbye"])
            return
        self.dialer.start(call, targets, from_user=task.caller, display=task.caller_display,
                          codecs=self._codecs(task))

    def _transfer_answered(self, call: OutboundCall) -> None:
        task = task_of(call)
        caller_leg = task.leg
        if self.state(task) != "transferring" or caller_leg is None or call.leg is None \
                or not self._bridge(task, call.leg):
            self._drop_outbound(call)
            return
        if self.recordings is not None:  # an extension call now: the CDR carries the path
            task.recording = self.recordings.start("extension", task.id, caller_leg,
                                                   call.leg, at=self.clock())
        task.log.info("caller transferred", target=call.number)

    def _transfer_failed(self, call: OutboundCall, status: int) -> None:
        task = task_of(call)
        task.log.info("transfer failed", target=call.number, status=status)
        self._spawn(self._close_leg(call.leg))
        self._retire(call)
        if self.state(task) == "transferring":
            self._goodbye(task, ["goodbye"])

    # -- the end of the caller's call

    def _goodbye(self, task: QueueTask, parts: list[PromptPart]) -> None:
        """A last prompt, then BYE (the flow's goodbye: softswitch.queue.flow)."""
        self._run(task, task.flow.goodbye(parts, self.clock()))

    def _contents(self, task: QueueTask, cause: str) -> RecordContents:
        """The queue's part of the caller's CDR row (callee = the queue number), asked by
        the shell when the caller's call ends (or leaves the queue for a parking lot): the
        recording is finished before the row; the agent's leg statistics go in
        ``callee_rtp``; who ended it and why, when the switch did."""
        from softswitch.apps.shell import RecordContents

        if self.recordings is not None:
            self.recordings.stop(task.id)  # the WAV is complete before the row
        agent_leg = task.agent_call.leg if task.agent_call is not None else None
        return RecordContents(callee_rtp=dict(agent_leg.stats) if agent_leg is not None
                              else None, recording=task.recording, cause=task.end_cause,
                              side=task.end_side, callee=task.queue)

    def _end_caller(self, task: QueueTask, side: str = "switch", cause: str = "") -> None:
        """The switch ends the caller's call (BYE) and everything hanging on it
        (`caller_ended` once the shell has sent the BYE)."""
        if task.ended:
            return
        task.end_side = side
        task.end_cause = cause or f"switch hung up ({self.state(task)})"
        self._run(task, [Hangup(task.end_cause)])
        if task.leg is None and not task.ended:  # the shell runs no call for it any more
            self._release(task)

    def caller_ended(self, task: QueueTask) -> None:
        """The caller's call on the shell ended: the caller hung up (BYE, CANCEL) or the
        switch did (`Hangup`: `end_cause` is set). A registered callback keeps its place in
        the ACD; a caller waiting or talking leaves the engine (a hang-up while waiting is
        abandoned, §8.2); the parties rung or called for it are dropped."""
        if task.ended:
            return
        state = self.state(task)
        if task.flow.phase is not Phase.ENDED:
            task.flow.handle_hangup(self.clock())
        if state == "answering":  # CANCEL, or refused while answering: never in the queue
            task.ended = True
            self.tasks.pop(task.id, None)
            return
        if task.end_cause is None:
            task.log.info("caller hung up", mode=state)
            task.end_side, task.end_cause = "caller", f"BYE ({state})"
            if task.in_engine and state in ("waiting", "collecting", "connected"):
                self._feed(self.acd.handle_task_left, task.id)
        if state == "callback":
            return  # the place is kept; the ACD still holds the request
        self._release(task)

    def _release(self, task: QueueTask) -> None:
        if self.state(task) == "callback":
            return
        for call in list(task.offers.values()):
            self._drop_outbound(call)
        task.offers.clear()
        for other in (task.agent_call, task.other_call):
            if other is not None:
                self._drop_outbound(other)
        self._forget(task)

    def _forget(self, task: QueueTask) -> None:
        task.ended = True
        self._api_task_ended(task)
        if task.flow.phase is not Phase.ENDED:
            task.flow.handle_hangup(self.clock())
        # keep the index a little for retransmitted BYEs, then forget
        self._clock.call_later(32.0 if self._accepting else 0.0, self._drop_index, task)

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
        """Refuse a caller the shell is still answering (404 after a reload removed the
        queue, 480 from the live API, 503 at shutdown)."""
        task.ended = True
        self.tasks.pop(task.id, None)
        self.shell.reject(task.id, status, reason)

    async def _close_leg(self, leg: MediaLeg | None) -> None:
        if leg is not None:
            with contextlib.suppress(Exception):
                await leg.close()

    # ------------------------------------------------------------------ helpers

    def _respond(self, txn: ServerTransaction, request: Request, status: int,
                 reason: str | None = None, to_tag: str | None = None,
                 headers: list[tuple[str, str]] | None = None,
                 body: bytes = b"") -> None:
        resp = request.create_response(status, reason,
                                       to_tag=None if request.to.tag else (to_tag or new_tag()),
                                       headers=headers or [], body=body)
        self.endpoint.send_response(txn, resp)

    def _contact(self, peer: Peer | None, user: str) -> str:
        return local_contact(self.endpoint, peer.transport if peer else "udp", user)

    def _settle_reports_at_shutdown(self) -> None:
        """The switch stops with calls in the queues: tell the engine, so their report rows
        are complete. A waiting caller leaves as Missed, reason ``removed`` (the switch took
        it out; it did not hang up, nor did any agent fail it); a call talking to an agent
        ends now (talk time up to the stop). Waiting callers go first, and only the events
        are published, never the commands: no agent is rung while the switch stops. A
        callback request kept for a caller who already hung up stays pending: it is
        persisted (softswitch.store.agent_state) and the next start serves it; one being
        dialled is pending again (its agent and customer legs end here)."""
        now = self.clock()
        for task in self.tasks.values():
            if self.state(task) in ("callback", "callback_dialing"):
                task.log.info("callback request kept for the next start", queue=task.queue,
                              number=task.callback_number or task.caller)
        tasks = [t for t in self.tasks.values() if t.in_engine]
        for task in tasks:
            if self.state(task) in ("waiting", "collecting"):
                self.events.publish_all(self.acd.handle_task_removed(task.id, now).events)
        for task in tasks:
            if self.state(task) == "connected" and task.in_engine:
                self.events.publish_all(self.acd.handle_call_ended(task.id, now).events)

    async def shutdown(self) -> None:
        """SIGTERM: BYE/CANCEL everything, close every leg."""
        self._accepting = False
        if self._timer is not None:
            self._timer.cancel()
        for handle in self._reg_timers.values():
            handle.cancel()
        self._settle_reports_at_shutdown()
        for task in list(self.tasks.values()):
            if self.state(task) == "answering":
                self._reject(task, 503, "Service Unavailable")
                continue
            if task.leg is not None and not task.ended:
                self._end_caller(task)
            for call in [*task.offers.values(), task.agent_call, task.other_call]:
                if call is not None:
                    self._drop_outbound(call)
        for t in list(self._pending):
            t.cancel()
        await sleep(self._clock, 0.2)  # let the BYEs/CANCELs leave before the sockets close

    # ------------------------------------------------------------------ reload

    # ------------------------------------------------------------------ live API hooks
    # (softswitch.web.callops): each acts through the same ACD input and shell steps as a
    # caller's own action, so the feed, reports and lamps follow.

    def api_task(self, call_id: str) -> QueueTask | None:
        """The live queue call ``call_id`` (None when unknown or already ended)."""
        task = self.tasks.get(call_id)
        return task if task is not None and not task.ended else None

    def api_hang_up(self, task: QueueTask, by: str) -> None:
        """§4.9: the switch ends a waiting or answered queue call (BYE to the caller, and
        to the agent of an answered one). A waiting caller counts as Missed (the ACD's
        `handle_task_removed`, §4.9's proposal), an answered call ends as if hung up; a
        call still being answered gets 480 instead of its 200."""
        state = self.state(task)
        if state == "answering":
            self._reject(task, 480, f"Hung Up By {by}")
            return
        if task.in_engine and state in ("waiting", "collecting"):
            self._feed(self.acd.handle_task_removed, task.id)
        elif task.in_engine and state == "connected":
            self._feed(self.acd.handle_task_left, task.id)
        self._end_caller(task, "switch", f"hung up by {by} (live API)")

    def api_redirect(self, task: QueueTask, destination: Destination) -> None:
        """§4.2/§4.3: a waiting (ringing) caller leaves the queue for ``destination``
        (an acd.config.Destination: extension, voicemail, ring group, queue): Missed for
        this queue (§8.2), the ringing agents' offers are cancelled, and the caller goes
        through the one destination router like a key press."""
        self._feed(self.acd.handle_task_removed, task.id)
        # what plays stops; the caller's flow routes (RouteTo: the one destination router)
        self._run(task, task.flow.handle_route(destination, False, self.clock()))

    def api_transfer_caller(self, task: QueueTask, destination: Destination) -> None:
        """§4.4: an answered queue call's caller is sent to ``destination`` (blind; an
        acd.config.Destination: an extension, or its voicemail): the agent's call ends
        (BYE, the ACD's call end: wrap-up as usual) and the caller goes through the one
        destination router (an extension: ringback until it answers)."""
        self._feed(self.acd.handle_task_left, task.id)
        if task.agent_call is not None:
            if self.recordings is not None:
                self.recordings.stop(task.id)
            self._unbridge(task)
            self._drop_outbound(task.agent_call)
            task.agent_call = None
        self._run(task, task.flow.handle_route(destination, False, self.clock()))

    def api_release_caller(self, task: QueueTask, cause: str) -> End | None:
        """§4.5: an answered queue call's caller leaves the queue with its dialog and
        media leg (the call shell's `release`), as an `End` (softswitch.calls.transfer) for
        the B2BUA's parking lot (softswitch.web.callops park). The agent's call ends as if
        the agent had hung up (BYE; the ACD's call end: talk time up to now, then wrap-up),
        the queue's CDR row ends ANSWERED with ``cause``, monitoring ends, and the task is
        forgotten at once: the caller's next in-dialog request already reaches its new
        owner. None when the call is not (or no longer) an answered caller's (nothing
        changes then)."""
        if self.state(task) != "connected" or task.leg is None or task.leg.closed:
            return None
        if task.in_engine:
            self._feed(self.acd.handle_call_ended, task.id)
        task.end_side, task.end_cause = "callee", cause
        task.bridge = None  # the shell parts the legs as the caller leaves it
        end = self.shell.release(task.id, cause)  # the row is written (recording stopped)
        if task.agent_call is not None:
            self._drop_outbound(task.agent_call)
        task.log.info("caller handed over", cause=cause, agent=task.agent)
        self._forget(task)
        if self.tasks.get(task.id) is task:
            del self.tasks[task.id]
        return end

    def api_waiting(self, task: QueueTask) -> bool:
        """The call still waits in its queue (ringing agents or not): a panel pickup may
        take it (softswitch.calls.queuepickup)."""
        return self.state(task) in ("waiting", "collecting") and task.in_engine \
            and task.leg is not None and not task.leg.closed

    def api_take_caller(self, task: QueueTask, call: OutboundCall) -> bool:
        """§4.2: the picker's phone answered (``call``, rung by `api_ring`): the waiting
        caller leaves the queue for it (Missed for this queue, the ACD's
        `handle_task_removed`; the agents' offers are CANCELled), what it hears stops, and
        the two are bridged as an extension destination's transfer is (``call`` is the
        task's transfer target from now on: its BYE, hold and the caller's BYE follow
        that path). False, and nothing changes, when the call no longer waits."""
        caller_leg = task.leg
        if not self.api_waiting(task) or caller_leg is None or call.leg is None \
                or call.leg.closed:
            return False
        self._feed(self.acd.handle_task_removed, task.id)
        self._run(task, task.flow.handle_connected(call.number, [], self.clock()))
        task.other_call = call  # no agent: transferring
        call.owner = task
        self._bridge(task, call.leg)
        if self.recordings is not None:  # an extension call now: the CDR carries the path
            task.recording = self.recordings.start("extension", task.id, caller_leg,
                                                   call.leg, at=self.clock())
        task.log.info("caller picked up", by=call.number)
        return True

    def api_watch_end(self, fn: Callable[[QueueTask], None]) -> None:
        """``fn(task)`` when a queue call ends (softswitch.calls.monitor)."""
        self._api_end_watchers.append(fn)

    def _api_task_ended(self, task: QueueTask) -> None:
        for fn in self._api_end_watchers:
            try:
                fn(task)
            except Exception as exc:  # noqa: BLE001 - never break the call's end
                task.log.error("live API end hook failed", error=repr(exc))

    def api_ring(self, task: QueueTask, number: str, role: str, targets: Sequence[Target], *,
                 on_answered: Callable[[OutboundCall], None],
                 on_failed: Callable[[OutboundCall, int], None],
                 owner: object) -> OutboundCall:
        """Ring extension ``number`` for ``task`` (a supervisor's phone, §4.7) through this
        controller's dialer; ``owner.api_hung_up(call)`` hears its BYE."""
        return self.api_originate(number, f"{task.id}/{role}", targets, task.caller,
                                  f"{role}: {task.caller_display}", on_answered=on_answered,
                                  on_failed=on_failed, owner=owner,
                                  codecs=self._codecs(task))

    def api_originate(self, number: str, label: str, targets: Sequence[Target],
                      from_user: str, display: str, *,
                      on_answered: Callable[[OutboundCall], None],
                      on_failed: Callable[[OutboundCall, int], None], owner: object,
                      codecs: tuple[str, ...] = SUPPORTED_CODECS) -> OutboundCall:
        """Ring extension ``number`` (its registrar ``targets``) from ``from_user`` with a
        media leg labelled ``label``; ``owner.api_hung_up(call)`` hears its BYE."""
        call = OutboundCall(number, None, on_answered=on_answered, on_failed=on_failed)
        call.owner = owner

        async def start() -> None:
            try:
                call.leg = await self.media.open_leg(label)
            except Exception as exc:  # noqa: BLE001 - port range exhausted
                log.error("no media port", label=label, error=str(exc))
                call.state = "failed"
                on_failed(call, 503)
                return
            if call.state != "calling":
                await self._close_leg(call.leg)
                return
            self.dialer.start(call, targets, from_user=from_user, display=display,
                              codecs=codecs)
        self._spawn(start())
        return call

    def api_drop(self, call: OutboundCall, bye: bool) -> None:
        """End an `api_ring` call: CANCEL or BYE (``bye``), close its leg, forget it."""
        if bye:
            self.dialer.cancel(call)
        if call.leg is not None:
            self._spawn(self._close_leg(call.leg))
        self._retire(call)

    @staticmethod
    def _api_owned(call: OutboundCall) -> bool:
        return hasattr(call.owner, "api_hung_up")

    def _api_outbound_hung_up(self, call: OutboundCall) -> bool:
        hung_up = getattr(call.owner, "api_hung_up", None)
        if hung_up is None:
            return False
        hung_up(call)
        return True

    def api_legs(self, task: QueueTask) -> tuple[MediaLeg, MediaLeg] | None:
        """The (caller, agent) media legs of a connected queue call, for monitoring and
        recording; None when it is not connected."""
        if self.state(task) != "connected" or task.leg is None or task.agent_call is None \
                or task.agent_call.leg is None:
            return None
        return task.leg, task.agent_call.leg

    def reconfigure(self, acd_config: AcdConfig, extensions: Mapping[str, Extension],
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
            if self.state(task) == "answering" and task.queue not in self.queues:
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
