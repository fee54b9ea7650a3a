"""The switch's event bus (DESIGN.md principle 4: one event stream).

Every ACD event (acd.events) the queue-call shell gets from the engine is published here, in
the order the engine returned it; the report recorder, the notifications, the BLF bridge and
later the websocket panels subscribe. Other layers may publish their own frozen dataclasses
(a subscriber filters with ``isinstance`` or subscribes for one type).

Fan-out is synchronous: ``publish`` calls every matching subscriber before it returns, so a
subscriber sees events in order and must be quick (queue slow work, e.g. an SMTP send or a
database write, on its own task or writer). A subscriber that raises is logged and skipped;
it never breaks the publisher nor the other subscribers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from softswitch.log import get_logger

log = get_logger("events")

E = TypeVar("E")
Subscriber = Callable[[Any], None]


@dataclass(eq=False)
class Subscription:
    """What `EventBus.subscribe` returns; ``cancel()`` stops delivery."""

    bus: EventBus
    callback: Subscriber
    types: tuple[type, ...] = field(default=())

    def cancel(self) -> None:
        self.bus._remove(self)


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """§9.6: after the agent hung up, the caller pressed ``key`` of the satisfaction survey
    (``score`` from the queue's key->score map). ``at``: engine (monotonic) time, like the
    ACD events. Published by the queue-call shell (the ACD has no survey)."""

    at: float
    task: str
    queue: str
    agent: str
    caller: str
    key: str
    score: int


class EventBus:
    """Synchronous publish/subscribe of immutable events."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, callback: Callable[[E], None], *types: type[E]) -> Subscription:
        """Call ``callback(event)`` for every published event (or only those that are
        instances of ``types`` when given)."""
        sub = Subscription(self, callback, tuple(types))
        # copy-on-write: a subscriber may subscribe/cancel while an event is delivered
        self._subscriptions = [*self._subscriptions, sub]
        return sub

    def _remove(self, sub: Subscription) -> None:
        self._subscriptions = [s for s in self._subscriptions if s is not sub]

    def publish(self, event: object) -> None:
        for sub in self._subscriptions:
            if sub.types and not isinstance(event, sub.types):
                continue
            try:
                sub.callback(event)
            except Exception as exc:  # noqa: BLE001 - one bad subscriber must not stop others
                log.error("event subscriber failed", event_type=type(event).__name__,
                          subscriber=getattr(sub.callback, "__qualname__", repr(sub.callback)),
                          error=repr(exc))

    def publish_all(self, events: Iterable[object]) -> None:
        for event in events:
            self.publish(event)

    def __len__(self) -> int:
        return len(self._subscriptions)
