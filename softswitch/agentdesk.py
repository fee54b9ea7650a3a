"""The agent's desk in the running switch: feature codes, BLF keys, report rows and e-mail
notifications, hooked to the queue calls' ACD (queue-admin.md §6.1-§6.8, §7.2, §8, §13).

`attach_agentdesk(router)` (softswitch.app.SipRouter, after the queue calls are attached)
wires, following softswitch/presence/__init__.py's recipe:

- the feature-code dial-plan rule first (`*7<queue>`, `*07<queue>[*<reason>]`, `*77`,
  `*78`, `*077`, `*07<agent>*<queue><reason>`); an extension dialling one is answered, the
  actions go to the ACD of `router.queues` (its `execute` runs the commands and publishes
  the events), the caller hears the confirmation prompt once and the switch hangs up;
- SUBSCRIBE (dialog RFC 4235 / presence RFC 3856) after digest auth to `PresenceService`;
  every agent event on the bus (sign in/out, pause, resume, auto-pause) becomes NOTIFYs;
  REGISTERs update extension keys, and every call's state does (softswitch.presence.
  call_lamps: the B2BUA's and the ACD's events; ringing keys blink, talking ones are red);
- `ReportRecorder` (softswitch.reports) and `MailNotifications` (softswitch.notify) on the
  event bus. The report rows of sign-ins and pauses are not closed at a stop: the state
  survives restarts (softswitch.store.agent_state) and the next start continues them.

Decisions:
- A feature call is answered (200 OK with SDP) even when the code is refused: the caller
  hears why (not permitted / invalid / not signed in), like the manual's phones do.
- The confirmation is played once; 300 ms after it ends the switch sends BYE. A caller who
  hangs up first just ends it; the ACD change stands (it was made before the prompt).
- Extension BLF: see softswitch.presence.call_lamps (a queue call shows on the agent's
  extension key like any call).
- Extension keys follow the registrar's listeners: every contact change, expiry included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from softswitch.events import Subscription
from softswitch.features import AgentAction, FeatureCodePlan, FeatureCodes, FeatureOutcome
from softswitch.log import get_logger
from softswitch.presence import Notifier
from softswitch.presence.acd_bridge import (
    AGENT_EVENTS,
    apply_to_acd,
    directory_from_acd,
    notifies_for_events,
    sync_from_acd,
)
from softswitch.presence.call_lamps import EVENTS as LAMP_EVENTS
from softswitch.presence.call_lamps import CallLamps
from softswitch.presence.service import PresenceService

log = get_logger("agentdesk")

BYE_AFTER_PROMPT = 0.3


@dataclass(eq=False)
class FeatureCall:
    """An extension's call to a feature code: answered, one prompt, BYE."""

    call_id: str
    caller: str
    dialled: str
    invite: Any
    txn: Any
    peer: Any
    tag: str
    leg: Any = None
    dialog: Any = None
    ended: bool = False
    task: asyncio.Task[Any] | None = None
    log: Any = None
    outcome: FeatureOutcome | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class AgentDesk:
    def __init__(self, router: Any) -> None:
        from softswitch.notify import MailNotifications
        from softswitch.reports import ReportRecorder, sla_times

        self.router = router
        self.loop = asyncio.get_running_loop()
        cfg = router.config
        self.config = cfg
        self.queues = getattr(router, "queues", None) or _AcdShell(router)
        acd = self.queues.acd
        now = self.loop.time()
        store = getattr(router.calls, "store", None)
        self.reports: ReportRecorder | None = None
        if store is not None and hasattr(store, "write"):
            # the agents' start states (acd.initial_events, published before we subscribed)
            # reach the rows after the persisted state is restored: `ReportRows.reconcile`
            # (softswitch.store.agent_state), so a restored sign-in continues its session
            self.reports = ReportRecorder(router.events, store, sla_times(cfg.acd), now)
        self.mail = MailNotifications.from_config(router.events, cfg, now)
        directory = directory_from_acd(acd.config)
        codes = cfg.feature_codes if isinstance(cfg.feature_codes, FeatureCodes) \
            else FeatureCodes()
        self.plan = FeatureCodePlan(codes, directory)
        self.notifier = Notifier(domain=cfg.sip.domain,
                                 extensions=[e.number for e in cfg.extensions],
                                 directory=directory, resolve_agent_key=self.plan.blf_resource)
        self.presence = PresenceService(router.endpoint, self.notifier)
        router.dialplan.add(self.plan.dialplan_rule(), first=True)
        self._sub: Subscription | None = router.events.subscribe(self._agent_event,
                                                                 *AGENT_EVENTS)
        self.calls: dict[str, FeatureCall] = {}
        # extension BLF: every call's state from the B2BUA's and the ACD's events
        self.lamps = CallLamps(self.notifier.extensions, cfg.sip.domain,
                               [q.number for q in cfg.acd.queues] if cfg.acd else [])
        self._lamp_sub: Subscription | None = router.events.subscribe(self._call_event,
                                                                      *LAMP_EVENTS)
        # every contact change, expiry included (softswitch.registrar listeners)
        router.registrar.listeners.append(self.registration_changed)

    # ------------------------------------------------------------------ start / stop

    def start(self) -> None:
        now = self.loop.time()
        self.presence.send(sync_from_acd(self.notifier, self.queues.acd, now))
        for ext in self.notifier.extensions:
            if self.router.registrar.targets(ext, now):
                self.presence.registration_changed(ext, True)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            self._end(call, send_bye=True)
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        if self._lamp_sub is not None:
            self._lamp_sub.cancel()
            self._lamp_sub = None
        await self.presence.close()
        if self.mail is not None:
            await self.mail.close()
        if self.reports is not None:
            # sign-ins and pauses outlive the stop (softswitch.store.agent_state): their
            # report rows stay open for the next start to continue
            self.reports.close()

    def reconfigure(self, config: Any) -> None:
        """A reload (softswitch.reload), after the ACD applied it: feature codes and their
        dial-plan rule, the BLF directory (new extensions and memberships can be watched;
        their lamps are brought up to the ACD's state), report SLA times and e-mail
        recipients follow the new configuration."""
        acd = self.queues.acd
        directory = directory_from_acd(acd.config)
        codes = config.feature_codes if isinstance(config.feature_codes, FeatureCodes) \
            else FeatureCodes()
        self.config = config
        self.plan = FeatureCodePlan(codes, directory)
        self.router.dialplan.replace(self.plan.dialplan_rule())
        extensions = [e.number for e in config.extensions]
        self.notifier.reconfigure(extensions, directory, self.plan.blf_resource)
        self.lamps.reconfigure(extensions, acd.queues())
        if self.reports is not None:
            self.reports.reconfigure(acd.config)
        if self.mail is not None:
            self.mail.reconfigure(config)
        self.presence.send(sync_from_acd(self.notifier, acd, self.loop.time()))

    # ------------------------------------------------------------------ BLF

    def _agent_event(self, event: Any) -> None:
        self.presence.send(notifies_for_events(self.notifier, self.queues.acd, [event],
                                               self.loop.time()))

    def owns_subscription(self, request: Any) -> bool:
        return bool(self.presence.owns(request))

    def handle_subscribe(self, txn: Any, request: Any, user: str) -> None:
        self.presence.handle_subscribe(txn, request, user)

    def registration_changed(self, ext: str) -> None:
        if ext in self.notifier.extensions:
            registered = bool(self.router.registrar.targets(ext, self.loop.time()))
            self.presence.registration_changed(ext, registered)

    def _call_event(self, event: Any) -> None:
        for change in self.lamps.handle(event):
            if change.call is None:
                self.presence.call_ended(change.extension, change.call_id)
            else:
                self.presence.call_updated(change.extension, change.call)

    # ------------------------------------------------------------------ feature calls

    def owns(self, call_id: str) -> bool:
        return call_id in self.calls

    def route_invite(self, txn: Any, request: Any, caller: str) -> bool:
        """Take an authenticated INVITE whose number is an agent feature code."""
        from softswitch.dialplan import FEATURE

        dest = self.router.dialplan.route(request.uri.user or "", caller)
        if dest.kind != FEATURE or dest.target != "agent":
            return False
        from softswitch.sip import new_tag

        dialled = dest.args[0] if dest.args else (request.uri.user or "")
        call = FeatureCall(request.call_id, caller, dialled, request, txn, txn.peer, new_tag())
        call.log = log.bind(call_id=call.call_id, caller=caller, dialled=dialled)
        if call.call_id in self.calls:
            self._respond(txn, request, 482, "Loop Detected")
            return True
        self.calls[call.call_id] = call
        call.outcome = self._apply(call)
        call.task = self.loop.create_task(self._answer_and_play(call))
        return True

    def _apply(self, call: FeatureCall) -> FeatureOutcome | None:
        outcome = self.plan.dial(call.dialled, call.caller, self.notifier.agents)
        if outcome is None:
            return None
        self.apply_actions(outcome.actions)
        call.log.info("agent feature code", result=outcome.result, prompt=outcome.prompt.value,
                      ok=outcome.ok)
        return outcome

    def apply_actions(self, actions: Iterable[AgentAction]) -> list[Any]:
        """Apply agent actions to the ACD in order, as a feature code does (the live API's
        sign in/out, pause and resume come here too): events go to the bus (NOTIFYs, report
        rows, panels), commands run. Returns the events."""
        events: list[Any] = []
        for action in actions:
            out = apply_to_acd(self.queues.acd, action, self.loop.time())
            self.queues.execute(out)
            events += out.events
        return events

    async def _answer_and_play(self, call: FeatureCall) -> None:
        from media.player import PromptSequence
        from softswitch.calls.b2bua import ALLOW, media_params
        from softswitch.queue.announce import resolve_prompt
        from softswitch.sip import sdp as sdplib
        from softswitch.sip.dialog import Dialog

        try:
            offer = sdplib.SessionDescription.parse(call.invite.body) if call.invite.body \
                else None
        except Exception:  # noqa: BLE001 - unreadable SDP: the caller's error
            offer = None
        first = media_params(offer) if offer is not None else None
        if offer is None or first is None:
            self._respond(call.txn, call.invite, 488, "Not Acceptable Here")
            self.calls.pop(call.call_id, None)
            return
        media = self.router.calls.media
        try:
            call.leg = await media.open_leg(f"{call.call_id}/feature")
        except Exception as exc:  # noqa: BLE001 - port range exhausted
            call.log.error("no media port", error=str(exc))
            self._respond(call.txn, call.invite, 503, "No Media Port")
            self.calls.pop(call.call_id, None)
            return
        if call.ended:
            await _close(call.leg)
            return
        answer = sdplib.create_answer(offer, call.leg.local_host, call.leg.local_port,
                                      codecs=(first.codec,))
        params = media_params(answer) if answer is not None else None
        if answer is None or params is None:
            self._respond(call.txn, call.invite, 488, "Not Acceptable Here")
            self.calls.pop(call.call_id, None)
            await _close(call.leg)
            return
        call.leg.set_remote(first.address, params.payload_type, params.codec,
                            params.telephone_event_pt)
        resp = call.invite.create_response(200, to_tag=call.tag, headers=[
            ("Contact", self._contact(call)), ("Allow", ALLOW)], body=bytes(answer))
        resp.add("Content-Type", "application/sdp")
        call.dialog = Dialog.create_uas(call.invite, resp)
        self.router.endpoint.send_response(call.txn, resp)
        lang = getattr(self.config.prompts, "language", "en")
        name = call.outcome.prompt.value if call.outcome is not None else "feature-code-invalid"
        prompt = resolve_prompt(media.prompts, name, lang, None)
        if prompt is None:
            call.log.warning("prompt not found", prompt=name, language=lang)
        elif not call.ended:
            await media.play(call.leg, PromptSequence([prompt]))
            await asyncio.sleep(BYE_AFTER_PROMPT)
        if not call.ended:
            self._end(call, send_bye=True)

    def handle_cancel(self, invite_txn: Any) -> bool:
        """CANCEL of a feature call not answered yet (its media leg is being opened): 487
        to the INVITE and nothing more. The code's action stands: it was applied on the
        INVITE, as for a caller who hangs up during the confirmation prompt."""
        call = self.calls.get(getattr(invite_txn, "call_id", None) or "")
        if call is None or call.txn is not invite_txn:
            return False
        if call.dialog is None and not call.ended:
            call.log.info("caller cancelled the feature call")
            self._respond(call.txn, call.invite, 487, "Request Terminated")
            self._end(call, send_bye=False)
        return True

    def handle_in_dialog(self, txn: Any, request: Any) -> None:
        call = self.calls.get(request.call_id)
        if call is None:
            self._respond(txn, request, 481)
            return
        if request.method == "BYE":
            self._respond(txn, request, 200)
            call.log.info("caller hung up during the feature prompt")
            self._end(call, send_bye=False)
        elif request.method in ("INFO", "OPTIONS", "INVITE"):
            # the prompt is short: keep the session as answered, no renegotiation
            self._respond(txn, request, 200 if request.method != "INVITE" else 488)
        else:
            self._respond(txn, request, 481)

    def _end(self, call: FeatureCall, *, send_bye: bool) -> None:
        if call.ended:
            return
        call.ended = True
        if send_bye and call.dialog is not None:
            self.router.endpoint.send_request(call.dialog.create_request("BYE"), call.peer)
        if call.leg is not None:
            self.loop.create_task(_close(call.leg))
            call.leg = None
        # keep the index for retransmitted BYEs, then forget
        self.loop.call_later(32.0, self.calls.pop, call.call_id, None)

    def _respond(self, txn: Any, request: Any, status: int, reason: str | None = None) -> None:
        from softswitch.sip import new_tag

        self.router.endpoint.send_response(txn, request.create_response(
            status, reason, to_tag=None if request.to.tag else new_tag()))

    def _contact(self, call: FeatureCall) -> str:
        transport = call.peer.transport
        local = self.router.endpoint.local_peer(transport)
        host = f"[{local.host}]" if ":" in local.host else local.host
        return f"<sip:{call.dialled}@{host}:{local.port};transport={transport}>"


class _AcdShell:
    """An ACD of our own for a switch without queue calls (`router.queues`): agents still
    sign in and pause with feature codes and see it on BLF; nothing rings."""

    def __init__(self, router: Any) -> None:
        from acd import Acd
        from acd.config import AcdConfig

        cfg = router.config.acd if isinstance(router.config.acd, AcdConfig) else AcdConfig()
        self.loop = asyncio.get_running_loop()
        self.events = router.events
        self.acd = Acd(cfg, now=self.loop.time(), agents_registered=False)
        self._timer: asyncio.TimerHandle | None = None
        self.events.publish_all(self.acd.initial_events)

    def execute(self, out: Any) -> None:
        self.events.publish_all(out.events)
        for cmd in out.commands:
            log.warning("no queue calls in this switch: command not run",
                        command=type(cmd).__name__)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.acd.next_deadline()
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.execute(self.acd.tick(self.loop.time()))


async def _close(leg: Any) -> None:
    with contextlib.suppress(Exception):
        await leg.close()


def attach_agentdesk(router: Any) -> AgentDesk:
    return AgentDesk(router)
