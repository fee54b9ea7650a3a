"""The agent's desk in the running switch: feature codes, BLF keys, report rows and e-mail
notifications, hooked to the queue calls' ACD (queue-admin.md §6.1-§6.8, §7.2, §8, §13).

`attach_agentdesk(router)` (softswitch.app.SipRouter, after the queue calls are attached)
wires, following softswitch/presence/__init__.py's recipe:

- the feature-code dial-plan rule first (`*7<queue>`, `*07<queue>[*<reason>]`, `*77`,
  `*78`, `*077`, `*07<agent>*<queue><reason>`); an extension dialling one runs the
  feature-code application on the call shell (softswitch.apps.feature_codes: answered,
  the confirmation prompt once, then the switch hangs up); the code's change comes back
  as a `FeatureCodeDialled` event whose actions go to the ACD of `router.queues` (its
  `execute` runs the commands and publishes the events);
- SUBSCRIBE (dialog RFC 4235 / presence RFC 3856) after digest auth to `PresenceService`;
  every agent event on the bus (sign in/out, pause, resume, auto-pause) becomes NOTIFYs;
  REGISTERs update extension keys, and every call's state does (softswitch.presence.
  call_lamps: the B2BUA's and the ACD's events; ringing keys blink, talking ones are red);
- `ReportRecorder` (softswitch.reports) and `MailNotifications` (softswitch.notify) on the
  event bus. The report rows of sign-ins and pauses are not closed at a stop: the state
  survives restarts (softswitch.store.agent_state) and the next start continues them.

Decisions:
- Feature calls: see softswitch.apps.feature_codes (answered even when refused, the change
  stands whatever the caller does after dialling).
- Extension BLF: see softswitch.presence.call_lamps (a queue call shows on the agent's
  extension key like any call).
- Extension keys follow the registrar's listeners: every contact change, expiry included.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from softswitch.clock import Clock, TimerHandle
from softswitch.events import Subscription
from softswitch.features import AgentAction, FeatureCodePlan, FeatureCodes
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

class AgentDesk:
    def __init__(self, router: Any, clock: Clock) -> None:
        from softswitch.notify import MailNotifications
        from softswitch.reports import ReportRecorder, sla_times

        self.router = router
        self.loop = asyncio.get_running_loop()  # tasks only; time and timers: the clock
        self.clock = clock
        cfg = router.config
        self.config = cfg
        self.queues = getattr(router, "queues", None) or _AcdShell(router, clock)
        acd = self.queues.acd
        now = self.clock.monotonic()
        store = getattr(router.calls, "store", None)
        self.reports: ReportRecorder | None = None
        if store is not None and hasattr(store, "write"):
            # the agents' start states (acd.initial_events, published before we subscribed)
            # reach the rows after the persisted state is restored: `ReportRows.reconcile`
            # (softswitch.store.agent_state), so a restored sign-in continues its session
            self.reports = ReportRecorder(router.events, store, sla_times(cfg.acd), now,
                                          clock.wall())
        self.mail = MailNotifications.from_config(  # unsent mail is kept in the store
            router.events, cfg, now, outbox=store if hasattr(store, "fetch") else None,
            clock=clock)
        directory = directory_from_acd(acd.config)
        codes = cfg.feature_codes if isinstance(cfg.feature_codes, FeatureCodes) \
            else FeatureCodes()
        self.plan = FeatureCodePlan(codes, directory)
        self.notifier = Notifier(domain=cfg.sip.domain,
                                 extensions=[e.number for e in cfg.extensions],
                                 directory=directory, resolve_agent_key=self.plan.blf_resource,
                                 mailbox_codes=_mailbox_codes(cfg),
                                 park_slots=cfg.parking.slots if cfg.parking else ())
        self.presence = PresenceService(router.endpoint, self.notifier, self.clock)
        router.dialplan.add(self.plan.dialplan_rule(), first=True)
        self._sub: Subscription | None = router.events.subscribe(self._agent_event,
                                                                 *AGENT_EVENTS)
        from softswitch.apps.events import FeatureCodeDialled

        self._code_sub: Subscription | None = router.events.subscribe(self._code_dialled,
                                                                      FeatureCodeDialled)
        # extension BLF: every call's state from the B2BUA's and the ACD's events
        self.lamps = CallLamps(self.notifier.extensions, cfg.sip.domain,
                               [q.number for q in cfg.acd.queues] if cfg.acd else [])
        self._lamp_sub: Subscription | None = router.events.subscribe(self._call_event,
                                                                      *LAMP_EVENTS)
        # park slot keys (softswitch.calls.park events from the B2BUA)
        from softswitch.calls.park import SlotChanged

        self._slot_sub: Subscription | None = router.events.subscribe(self._slot_event,
                                                                      SlotChanged)
        # every contact change, expiry included (softswitch.registrar listeners)
        router.registrar.listeners.append(self.registration_changed)

    # ------------------------------------------------------------------ start / stop

    def start(self) -> None:
        now = self.clock.monotonic()
        self.presence.send(sync_from_acd(self.notifier, self.queues.acd, now))
        for ext in self.notifier.extensions:
            if self.router.registrar.targets(ext, now):
                self.presence.registration_changed(ext, True)

    async def close(self) -> None:
        if self._code_sub is not None:
            self._code_sub.cancel()
            self._code_sub = None
        if self._sub is not None:
            self._sub.cancel()
            self._sub = None
        if self._lamp_sub is not None:
            self._lamp_sub.cancel()
            self._lamp_sub = None
        if self._slot_sub is not None:
            self._slot_sub.cancel()
            self._slot_sub = None
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
        self.presence.send(sync_from_acd(self.notifier, acd, self.clock.monotonic()))

    # ------------------------------------------------------------------ BLF

    def _agent_event(self, event: Any) -> None:
        self.presence.send(notifies_for_events(self.notifier, self.queues.acd, [event],
                                               self.clock.monotonic()))

    def owns_subscription(self, request: Any) -> bool:
        return bool(self.presence.owns(request))

    def handle_subscribe(self, txn: Any, request: Any, user: str) -> None:
        self.presence.handle_subscribe(txn, request, user)

    def registration_changed(self, ext: str) -> None:
        if ext in self.notifier.extensions:
            registered = bool(self.router.registrar.targets(ext, self.clock.monotonic()))
            self.presence.registration_changed(ext, registered)

    def _slot_event(self, event: Any) -> None:
        parked = None if event.call_id is None else \
            (f"sip:{event.parked}@{self.notifier.domain}" if event.parked else "")
        self.presence.slot_changed(event.slot, parked)

    def _call_event(self, event: Any) -> None:
        for change in self.lamps.handle(event):
            if change.call is None:
                self.presence.call_ended(change.extension, change.call_id)
            else:
                self.presence.call_updated(change.extension, change.call)

    # ------------------------------------------------------------------ feature calls

    def route_invite(self, txn: Any, request: Any, caller: str) -> bool:
        """Take an authenticated INVITE whose number is an agent feature code: decide it
        against the agents' current states and run it on the call shell."""
        from softswitch.apps.feature_codes import FeatureCodeFlow
        from softswitch.dialplan import FEATURE

        dest = self.router.dialplan.route(request.uri.user or "", caller)
        if dest.kind != FEATURE or dest.target != "agent":
            return False
        dialled = dest.args[0] if dest.args else (request.uri.user or "")
        outcome = self.plan.dial(dialled, caller, self.notifier.agents)
        info = self.router.call_info(request, caller)
        self.router.apps.start(txn, request, FeatureCodeFlow(outcome=outcome), info, "feature")
        return True

    def _code_dialled(self, event: Any) -> None:
        """A feature code's change (softswitch.apps.events.FeatureCodeDialled) to the ACD."""
        log.info("agent feature code", call_id=event.call_id, caller=event.caller,
                 dialled=event.dialled, result=event.result, ok=event.ok)
        self.apply_actions(event.actions)

    def apply_actions(self, actions: Iterable[AgentAction]) -> list[Any]:
        """Apply agent actions to the ACD in order, as a feature code does (the live API's
        sign in/out, pause and resume come here too): events go to the bus (NOTIFYs, report
        rows, panels), commands run. Returns the events."""
        events: list[Any] = []
        for action in actions:
            out = apply_to_acd(self.queues.acd, action, self.clock.monotonic())
            self.queues.execute(out)  # events -> bus -> NOTIFYs, reports; commands run
            events += out.events
        return events


class _AcdShell:
    """An ACD of our own for a switch without queue calls (`router.queues`): agents still
    sign in and pause with feature codes and see it on BLF; nothing rings."""

    def __init__(self, router: Any, clock: Clock) -> None:
        from acd import Acd
        from acd.config import AcdConfig

        cfg = router.config.acd if isinstance(router.config.acd, AcdConfig) else AcdConfig()
        self.clock = clock
        self.events = router.events
        self.acd = Acd(cfg, now=self.clock.monotonic(), agents_registered=False)
        self._timer: TimerHandle | None = None
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
            self._timer = self.clock.call_at(deadline, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.execute(self.acd.tick(self.clock.monotonic()))


def attach_agentdesk(router: Any) -> AgentDesk:
    return AgentDesk(router, router.clock)


def _mailbox_codes(config: Any) -> tuple[str, ...]:
    """The voicemail access code: a phone may watch its own lamp by subscribing to it."""
    voicemail = getattr(getattr(config, "apps", None), "voicemail", None)
    code = getattr(voicemail, "access_code", "")
    return (code,) if code else ()
