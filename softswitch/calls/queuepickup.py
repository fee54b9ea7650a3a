"""Pick up a waiting or ringing queue call from the queue panel (queue-manager-agent.md
§4.2, P3) for the live API (softswitch.web.callops): the switch rings the picker's own
phone first, and the caller leaves the queue only once that phone answers.

`QueuePickups.start` rings the picker's registered phones through the queue controller's
dialer (`api_ring`, the one fork) for at most RING_TIMEOUT seconds. Meanwhile the call stays
exactly as it was: it waits, hears its music, its agents' phones ring, an agent may answer
it. When the picker answers and the call still waits, the controller takes the caller out
of the queue (`QueueCalls.api_take_caller`: Missed for the queue, the offers CANCELled) and
bridges it with the picker. Otherwise the pickup fails and the call is left as it was:

- the picker's phone does not answer in time (``no_answer``, 408), declines (``declined``,
  603), is busy (``busy``, 486/600) or cannot be rung (``unavailable``: 480, 503, ...);
- the call left the queue meanwhile: an agent answered it (``answered_elsewhere``), or the
  caller hung up, registered a callback, was redirected or picked up by someone else
  (``call_ended``). The picker's phone stops ringing (CANCEL); one that answered in that
  very instant is hung up (BYE).

Each pickup's outcome is reported once, to ``report(pickup)`` (softswitch.web.callops
publishes it to the requester's websocket clients as the ``call.pickup`` delta).

Decisions:
- The requester's REST or websocket command is answered at once (the phone is ringing:
  ``pickup.state = "ringing"``); the outcome follows as the delta. Waiting for the phone
  inside the request would hold a REST client up to RING_TIMEOUT and block the websocket's
  commands meanwhile.
- Two managers may race for one call: the first phone to answer takes it, the other
  pickup ends ``call_ended``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd.events import CallbackRequested, CallStatus, TaskLeft
from softswitch.clock import TimerHandle
from softswitch.log import get_logger

log = get_logger("queuepickup")

RING_TIMEOUT = 30.0

_REASONS = {408: "no_answer", 480: "unavailable", 486: "busy", 600: "busy", 603: "declined"}


def failure_reason(status: int) -> str:
    """The pickup's ``reason`` for the picker's phone's final status."""
    return _REASONS.get(status, "unavailable")


def pickup_json(pickup_id: str, call_id: str, queue: str, by: str, state: str,
                reason: str = "", status: int | None = None) -> dict[str, Any]:
    """A pickup as the live API shows it (the REST/command result's ``pickup`` and the
    ``call.pickup`` delta), for queue and extension calls alike."""
    return {"pickup": pickup_id, "id": call_id, "queue": queue, "by": by, "state": state,
            "reason": reason or None, "status": status}


@dataclass(eq=False)
class QueuePickup:
    """One pickup: the picker's OutboundCall until it answers or fails."""

    pickups: QueuePickups
    id: str
    task_id: str
    queue: str
    picker: str
    out: Any = None  # softswitch.queue.dialer.OutboundCall
    state: str = "ringing"  # ringing | answered | failed
    reason: str = ""
    status: int | None = None
    timer: TimerHandle | None = None

    def api_hung_up(self, out: Any) -> None:
        """A BYE before the call was taken (the controller routes api_ring calls' BYEs
        here; once taken, the call is the task's and its BYE goes the usual way)."""
        self.pickups.failed(self, "call_ended", 481)

    def as_json(self) -> dict[str, Any]:
        return pickup_json(self.id, self.task_id, self.queue, self.picker, self.state,
                           self.reason, self.status)


@dataclass(eq=False)
class QueuePickups:
    """Every pending panel pickup of queue calls, over the queue controller's hooks."""

    queues: Any  # softswitch.queue.controller.QueueCalls
    report: Callable[[QueuePickup], None]
    pending: dict[str, list[QueuePickup]] = field(default_factory=dict)  # task id -> them
    _n: int = 0

    def __post_init__(self) -> None:
        self.queues.events.subscribe(self._acd_event, TaskLeft, CallbackRequested)
        self.queues.api_watch_end(lambda task: self._call_gone(task.id, "call_ended"))

    def ringing(self, task_id: str, picker: str) -> bool:
        """``picker``'s phone already rings to pick up ``task_id``."""
        return any(p.picker == picker and p.state == "ringing"
                   for p in self.pending.get(task_id, []))

    def start(self, task: Any, picker: str, targets: list[Any]) -> QueuePickup:
        """Ring ``picker`` (its registrar ``targets``) to take the waiting ``task``."""
        self._n += 1
        pickup = QueuePickup(self, f"pickup-{self._n}", task.id, task.queue, picker)
        self.pending.setdefault(task.id, []).append(pickup)
        pickup.out = self.queues.api_ring(
            task, picker, f"pickup-{self._n}-{picker}", targets,
            on_answered=lambda out: self._answered(pickup),
            on_failed=lambda out, status: self.failed(pickup, failure_reason(status),
                                                      status),
            owner=pickup)
        pickup.timer = self.queues._clock.call_later(RING_TIMEOUT, self._timeout, pickup)
        log.info("pickup: ringing the picker", call_id=task.id, picker=picker)
        return pickup

    def _timeout(self, pickup: QueuePickup) -> None:
        pickup.timer = None
        self.failed(pickup, "no_answer", 408)  # CANCELs the ringing phones

    def _answered(self, pickup: QueuePickup) -> None:
        if pickup.state != "ringing":
            self._drop(pickup)
            return
        task = self.queues.api_task(pickup.task_id)
        pickup.state = "answered"  # before the take: its own TaskLeft is not a failure
        if task is None or not self.queues.api_take_caller(task, pickup.out):
            pickup.state = "ringing"
            self.failed(pickup, "call_ended", 481)
            return
        pickup.status = 200
        self._forget(pickup)
        log.info("pickup: the picker has the call", call_id=pickup.task_id,
                 picker=pickup.picker)
        self.report(pickup)

    def failed(self, pickup: QueuePickup, reason: str, status: int | None) -> None:
        """The pickup ends without the call; the call goes on as it was."""
        if pickup.state != "ringing":
            return
        pickup.state, pickup.reason, pickup.status = "failed", reason, status
        self._drop(pickup)
        self._forget(pickup)
        log.info("pickup failed", call_id=pickup.task_id, picker=pickup.picker,
                 reason=reason, status=status)
        self.report(pickup)

    def _drop(self, pickup: QueuePickup) -> None:
        """CANCEL a ringing phone, BYE an answered one, close the leg, forget the call."""
        out = pickup.out
        if out is not None:
            self.queues.api_drop(out, bye=out.state in ("calling", "answered"))

    def _forget(self, pickup: QueuePickup) -> None:
        if pickup.timer is not None:
            pickup.timer.cancel()
            pickup.timer = None
        left = [p for p in self.pending.get(pickup.task_id, []) if p is not pickup]
        if left:
            self.pending[pickup.task_id] = left
        else:
            self.pending.pop(pickup.task_id, None)

    def _acd_event(self, event: object) -> None:
        if isinstance(event, TaskLeft):
            self._call_gone(event.task, "answered_elsewhere"
                            if event.status is CallStatus.ANSWERED else "call_ended")
        elif isinstance(event, CallbackRequested):
            self._call_gone(event.task, "call_ended")

    def _call_gone(self, task_id: str, reason: str) -> None:
        for pickup in list(self.pending.get(task_id, [])):
            if pickup.state == "ringing":
                self.failed(pickup, reason, None)
