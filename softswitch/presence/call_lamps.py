"""Extension BLF lamps from the switch's event stream (sans-IO).

A watched extension's dialog-info (RFC 4235) lists the calls it is in, each with its state
from that extension's point of view. `CallLamps.handle(event)` turns the calls layer's and the
ACD's events into `LampChange`s; the shell (softswitch.agentdesk) hands them to the presence
service, which NOTIFYs the subscribers.

Extension calls (softswitch.calls.events, from the B2BUA):
- CallStarted: the caller, if it is an extension, is "trying" as initiator (it dialled);
- CallRinging (first 180/183): the caller is "early" initiator, the rung extension "early"
  recipient: the key blinks, and a phone may offer a pickup with the remote identity shown;
- CallAnswered: both "confirmed"; CallEnded: both gone.
- CallPartyChanged (transfer, pickup, park): the old party's dialog of that side is gone,
  the new party's is "confirmed" (held if the call is held) with the other side as remote.

Hold (softswitch.calls.events.CallHoldChanged, the one hold event, from the B2BUA for
extension calls and from the queue-call shell for queue calls): both parties' dialogs stay
"confirmed" and show held (the key blinks, RFC 4235 ``+sip.rendering=no``) while either side
holds, so a held queue call blinks the agent's key exactly as a held extension call does.

Queue calls (acd.events, the queue-call shell answers callers itself, so no B2BUA events):
- TaskJoined: an extension calling a queue is "confirmed" initiator (the switch answered it);
- OfferStarted: each agent rung is "early" recipient with the caller as remote identity;
- OfferEnded: answered -> "confirmed" (held while the hold event says so); missed,
  rejected or cancelled -> gone;
- CallEnded: the agent's and the caller's dialogs are gone; TaskLeft without an answer
  (abandoned, failover, key press) ends the caller's, and so does CallbackRequested (the
  switch hangs the caller up; the agent's lamp follows the callback's offer and call).
Only tasks that joined a call queue light lamps (message-queue sessions are not calls).

Decision (an agent on a queue call): the agent's extension key shows the queue call like any
other call (early while rung, confirmed while talking), so colleagues watching it see the
agent busy; the dialog's remote identity is the caller's number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from acd.events import (
    CallbackRequested,
    CallStatus,
    OfferEnded,
    OfferResult,
    OfferStarted,
    TaskJoined,
    TaskLeft,
)
from acd.events import CallEnded as QueueCallEnded
from softswitch.calls.events import (
    CallAnswered,
    CallHoldChanged,
    CallPartyChanged,
    CallRinging,
    CallStarted,
)
from softswitch.calls.events import CallEnded as ExtensionCallEnded

from .bodies import Direction
from .resources import CallState, ExtensionCall

EVENTS: tuple[type, ...] = (CallStarted, CallRinging, CallAnswered, CallHoldChanged,
                            CallPartyChanged, ExtensionCallEnded,
                            TaskJoined, OfferStarted, OfferEnded, TaskLeft, QueueCallEnded,
                            CallbackRequested)


@dataclass(frozen=True, slots=True)
class LampChange:
    """``call`` is the extension's dialog now; None: the dialog ``call_id`` is over."""

    extension: str
    call_id: str
    call: ExtensionCall | None


class CallLamps:
    def __init__(self, extensions: Iterable[str], domain: str,
                 call_queues: Iterable[str]) -> None:
        self.extensions = frozenset(extensions)
        self.domain = domain
        self.call_queues = frozenset(call_queues)
        # dialog id -> (extension, direction, remote number) for every lit dialog
        self._lit: dict[str, tuple[str, Direction, str]] = {}
        self._tasks: dict[str, str] = {}  # queue task -> caller number (call queues only)
        self._held: dict[str, set[str]] = {}  # call (or queue task) -> parties holding

    def reconfigure(self, extensions: Iterable[str], call_queues: Iterable[str]) -> None:
        """A reload: lamps lit now stay until their calls end."""
        self.extensions = frozenset(extensions)
        self.call_queues = frozenset(call_queues)

    def handle(self, event: object) -> list[LampChange]:
        handler = _HANDLERS.get(type(event))
        return handler(self, event) if handler is not None else []

    # -- helpers

    def _set(self, dialog: str, ext: str, direction: Direction, remote: str,
             state: CallState) -> list[LampChange]:
        if ext not in self.extensions:
            return []
        self._lit[dialog] = (ext, direction, remote)
        return [LampChange(ext, dialog, ExtensionCall(
            dialog, direction, state, remote_uri=f"sip:{remote}@{self.domain}"))]

    def _update(self, dialog: str, state: CallState) -> list[LampChange]:
        lit = self._lit.get(dialog)
        return [] if lit is None else self._set(dialog, lit[0], lit[1], lit[2], state)

    def _clear(self, dialog: str) -> list[LampChange]:
        lit = self._lit.pop(dialog, None)
        return [] if lit is None else [LampChange(lit[0], dialog, None)]

    # -- extension calls (B2BUA)

    def _call_started(self, e: CallStarted) -> list[LampChange]:
        return self._set(f"{e.call_id}/a", e.caller, "initiator", e.callee, CallState.TRYING)

    def _call_ringing(self, e: CallRinging) -> list[LampChange]:
        out = self._update(f"{e.call_id}/a", CallState.EARLY)
        out += self._set(f"{e.call_id}/b", e.callee, "recipient", e.caller, CallState.EARLY)
        return out

    def _call_answered(self, e: CallAnswered) -> list[LampChange]:
        out = self._update(f"{e.call_id}/a", CallState.CONFIRMED)
        b = f"{e.call_id}/b"
        if b in self._lit:
            out += self._update(b, CallState.CONFIRMED)
        else:  # answered without a 180 first
            out += self._set(b, e.callee, "recipient", e.caller, CallState.CONFIRMED)
        return out

    def hold_changed(self, e: CallHoldChanged) -> list[LampChange]:
        held = self._held.setdefault(e.call_id, set())
        if e.held:
            held.add(e.party)
        else:
            held.discard(e.party)
        state = CallState.HELD if held else CallState.CONFIRMED
        if e.queue:  # a queue call: the caller's dialog and the agent's offer
            dialogs = (f"q/{e.call_id}", f"q/{e.call_id}/{e.callee}")
        else:
            dialogs = (f"{e.call_id}/a", f"{e.call_id}/b")
        return [change for d in dialogs for change in self._update(d, state)]

    def _party_changed(self, e: CallPartyChanged) -> list[LampChange]:
        mine, other = ((f"{e.call_id}/a", f"{e.call_id}/b") if e.side == "caller"
                       else (f"{e.call_id}/b", f"{e.call_id}/a"))
        old = self._lit.get(mine)
        direction: Direction = old[1] if old is not None else (
            "initiator" if e.side == "caller" else "recipient")
        peer = self._lit.get(other)
        remote = peer[0] if peer is not None else (old[2] if old is not None else "")
        state = CallState.HELD if self._held.get(e.call_id) else CallState.CONFIRMED
        out = self._clear(mine)
        if e.party:
            out += self._set(mine, e.party, direction, remote, state)
        if peer is not None and e.party:  # the other party now talks to the new one
            out += self._set(other, peer[0], peer[1], e.party, state)
        return out

    def _call_ended(self, e: ExtensionCallEnded) -> list[LampChange]:
        self._held.pop(e.call_id, None)
        return self._clear(f"{e.call_id}/a") + self._clear(f"{e.call_id}/b")

    # -- queue calls (ACD)

    def _task_joined(self, e: TaskJoined) -> list[LampChange]:
        if e.queue not in self.call_queues:
            return []
        self._tasks[e.task] = e.caller
        return self._set(f"q/{e.task}", e.caller, "initiator", e.queue, CallState.CONFIRMED)

    def _offer_started(self, e: OfferStarted) -> list[LampChange]:
        caller = self._tasks.get(e.task)
        if caller is None:
            return []
        out: list[LampChange] = []
        for agent in e.agents:
            out += self._set(f"q/{e.task}/{agent}", agent, "recipient", caller,
                             CallState.EARLY)
        return out

    def _offer_ended(self, e: OfferEnded) -> list[LampChange]:
        dialog = f"q/{e.task}/{e.agent}"
        if e.result is OfferResult.ANSWERED:
            return self._update(dialog, CallState.CONFIRMED)
        return self._clear(dialog)

    def _task_left(self, e: TaskLeft) -> list[LampChange]:
        if e.status is CallStatus.ANSWERED or e.task not in self._tasks:
            return []  # answered: the lamps stay until the call ends
        del self._tasks[e.task]
        return self._clear(f"q/{e.task}")

    def _callback_requested(self, e: CallbackRequested) -> list[LampChange]:
        return self._clear(f"q/{e.task}")

    def _queue_call_ended(self, e: QueueCallEnded) -> list[LampChange]:
        self._tasks.pop(e.task, None)
        self._held.pop(e.task, None)
        return self._clear(f"q/{e.task}/{e.agent}") + self._clear(f"q/{e.task}")


_HANDLERS: dict[type, Callable[[CallLamps, Any], list[LampChange]]] = {
    CallStarted: CallLamps._call_started, CallRinging: CallLamps._call_ringing,
    CallAnswered: CallLamps._call_answered, CallHoldChanged: CallLamps.hold_changed,
    CallPartyChanged: CallLamps._party_changed,
    ExtensionCallEnded: CallLamps._call_ended,
    TaskJoined: CallLamps._task_joined, OfferStarted: CallLamps._offer_started,
    OfferEnded: CallLamps._offer_ended, TaskLeft: CallLamps._task_left,
    QueueCallEnded: CallLamps._queue_call_ended, CallbackRequested: CallLamps._callback_requested,
}
