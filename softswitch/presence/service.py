"""The asyncio shell of the notifier: SUBSCRIBE in, 2xx + NOTIFYs out over `SipEndpoint`,
the expiry timer on the injected clock (softswitch.clock). Everything that decides lives in
`Notifier`.

Wiring in the switch's request router (after digest auth of the SUBSCRIBE):

    if request.method == "SUBSCRIBE" and (not request.to.tag or presence.owns(request)):
        presence.handle_subscribe(txn, request, authenticated_user)

and feed state changes through the methods below (they send the NOTIFYs themselves).
NOTIFYs go to the address the SUBSCRIBE came from (`txn.peer`, so NAT and TCP connections
are reused), inside the dialog the 2xx created.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import structlog

from softswitch.clock import Clock, TimerHandle
from softswitch.sip import Address, Request, Response, SipParseError, SipUri
from softswitch.sip.dialog import Dialog
from softswitch.sip.endpoint import SipEndpoint
from softswitch.sip.transaction import Peer

from .agents import AgentQueueState
from .notifier import Notifier
from .resources import ExtensionCall
from .sip_adapter import notify_request, subscribe_request, subscribe_response
from .subscriptions import DialogKey, Notify, TerminationReason

log = structlog.get_logger("presence")


class PresenceService:
    def __init__(self, endpoint: SipEndpoint, notifier: Notifier, clock: Clock) -> None:
        self.endpoint = endpoint
        self.notifier = notifier
        self.clock = clock  # the notifier's now and the expiry timer
        self._dialogs: dict[DialogKey, tuple[Dialog, Peer]] = {}
        self._pending: set[asyncio.Future[Response]] = set()
        self._timer: TimerHandle | None = None

    # ------------------------------------------------------------------ SUBSCRIBE

    def owns(self, request: Request) -> bool:
        """True for an in-dialog request of one of our subscription dialogs."""
        tag = request.to.tag
        return tag is not None and DialogKey(
            request.call_id, tag, request.from_.tag or "") in self._dialogs

    def handle_subscribe(self, txn: Any, request: Request, subscriber: str) -> None:
        now = self.clock.monotonic()
        try:
            sub = subscribe_request(request, subscriber)
        except SipParseError as exc:
            self.endpoint.send_response(txn, request.create_response(400, exc.reason))
            return
        if sub.to_tag is not None:
            entry = self._dialogs.get(DialogKey(sub.call_id, sub.to_tag, sub.from_tag))
            if entry is not None:
                error = entry[0].receive_request(request)
                if error is not None:  # CSeq out of order
                    self.endpoint.send_response(txn, error)
                    return
        result = self.notifier.handle_subscribe(sub, now)
        local = self.endpoint.local_peer(txn.peer.transport)
        params = ";transport=tcp" if txn.peer.transport == "tcp" else ""
        contact = Address(SipUri.parse(f"sip:{local.host}:{local.port}{params}"))
        response = subscribe_response(request, result.response, contact)
        self.endpoint.send_response(txn, response)
        log.info("subscribe", call_id=sub.call_id, resource=sub.resource, package=sub.event,
                 subscriber=subscriber, status=result.response.status)
        if sub.to_tag is None and 200 <= response.status < 300:
            dialog = Dialog.create_uas(request, response)
            key = DialogKey(dialog.call_id, dialog.local_tag, dialog.remote_tag)
            self._dialogs[key] = (dialog, txn.peer)
        elif sub.to_tag is not None:
            key = DialogKey(sub.call_id, sub.to_tag, sub.from_tag)
            if key in self._dialogs:
                self._dialogs[key] = (self._dialogs[key][0], txn.peer)
        self.send(result.notifies)

    # ------------------------------------------------------------------ state changes

    def registration_changed(self, extension: str, registered: bool) -> None:
        self.send(self.notifier.registration_changed(extension, registered, self.clock.monotonic()))

    def call_updated(self, extension: str, call: ExtensionCall) -> None:
        self.send(self.notifier.call_updated(extension, call, self.clock.monotonic()))

    def call_ended(self, extension: str, call_id: str) -> None:
        self.send(self.notifier.call_ended(extension, call_id, self.clock.monotonic()))

    def slot_changed(self, slot: str, parked: str | None) -> None:
        self.send(self.notifier.slot_changed(slot, parked, self.clock.monotonic()))

    def agent_state_changed(self, agent: str, queue: str, state: AgentQueueState) -> None:
        self.send(self.notifier.agent_state_changed(agent, queue, state, self.clock.monotonic()))

    # ------------------------------------------------------------------ sending

    def send(self, notifies: list[Notify] | tuple[Notify, ...]) -> None:
        for n in notifies:
            entry = self._dialogs.get(n.key.dialog)
            if entry is None:
                continue
            dialog, peer = entry
            out = self.endpoint.send_request(notify_request(dialog, n), peer)
            self._pending.add(out.final)
            out.final.add_done_callback(functools.partial(self._answered, n))
            if n.terminated and not self.notifier.dialog_in_use(n.key.dialog):
                del self._dialogs[n.key.dialog]
        self._rearm()

    def pending_notifies(self) -> int:
        """NOTIFYs sent and not yet answered."""
        return len(self._pending)

    def _answered(self, n: Notify, fut: asyncio.Future[Response]) -> None:
        self._pending.discard(fut)
        if fut.cancelled():
            return
        status = fut.result().status
        self.notifier.handle_notify_response(n.key, status, self.clock.monotonic())
        if status >= 300:
            log.info("notify failed", call_id=n.key.dialog.call_id, status=status)
            if not self.notifier.dialog_in_use(n.key.dialog):
                self._dialogs.pop(n.key.dialog, None)
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.notifier.next_deadline()
        if deadline is not None:
            self._timer = self.clock.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.send(self.notifier.handle_timeout(self.clock.monotonic()))

    async def close(self, grace: float = 2.0) -> None:
        """Tell every watcher the subscription ends (reason deactivated: re-subscribe now)
        and wait up to `grace` seconds for the answers."""
        self.send(self.notifier.terminate_all(TerminationReason.DEACTIVATED,
                                              self.clock.monotonic()))
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=grace)
