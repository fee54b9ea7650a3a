"""SUBSCRIBE/NOTIFY bookkeeping (RFC 6665, which obsoletes RFC 3265), sans-IO.

Inputs and outputs are plain data so the switch can map them onto its SIP dialogs:
`SubscribeRequest` (the fields of a parsed SUBSCRIBE), `SubscribeResponse` (status, reason,
extra headers, the To-tag to answer with) and `Notify` (the headers and body of one NOTIFY
to send inside the subscription's dialog; `terminated` = end the dialog once sent).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from .bodies import (
    DIALOG_INFO_TYPE,
    MESSAGE_SUMMARY_TYPE,
    PIDF_TYPE,
    DialogView,
    MessageSummaryView,
    PresenceView,
)
from .resources import Resource


class EventPackage(Enum):
    """The event packages served: RFC 4235 (dialog), RFC 3856 (presence) and RFC 3842
    (message-summary, the voicemail lamp)."""

    DIALOG = "dialog"
    PRESENCE = "presence"
    MESSAGE_SUMMARY = "message-summary"

    @property
    def content_type(self) -> str:
        if self is EventPackage.DIALOG:
            return DIALOG_INFO_TYPE
        if self is EventPackage.MESSAGE_SUMMARY:
            return MESSAGE_SUMMARY_TYPE
        return PIDF_TYPE


ALLOW_EVENTS = ", ".join(p.value for p in EventPackage)


@dataclass(frozen=True, slots=True)
class SubscribeRequest:
    """The fields of a received SUBSCRIBE the notifier needs.

    `event` is the Event header value as received (`dialog`, `presence;id=7`); `accept` the
    media types of the Accept header(s), None when there was none; `expires` the Expires
    header, None when absent; `to_tag` None for an initial SUBSCRIBE; `resource` the user
    part of the Request-URI (`1001`, `*76400`, `*071001*6400*01`); `subscriber` the extension
    the request was authenticated as."""

    call_id: str
    from_tag: str
    to_tag: str | None
    event: str
    resource: str
    subscriber: str
    accept: tuple[str, ...] | None = None
    expires: int | None = None


@dataclass(frozen=True, slots=True)
class DialogKey:
    """RFC 3261 §12 dialog ID seen from the notifier: `local_tag` is ours (the To-tag of
    the SUBSCRIBE's answer), `remote_tag` the subscriber's From-tag."""

    call_id: str
    local_tag: str
    remote_tag: str


@dataclass(frozen=True, slots=True)
class SubscriptionKey:
    """RFC 6665 §4.1.2: a subscription is its dialog plus Event package plus `id`."""

    dialog: DialogKey
    package: EventPackage
    event_id: str | None = None

    @property
    def event_header(self) -> str:
        return self.package.value + (f";id={self.event_id}" if self.event_id else "")


@dataclass(frozen=True, slots=True)
class SubscribeResponse:
    status: int
    reason: str
    headers: Mapping[str, str] = field(default_factory=dict)
    to_tag: str | None = None  # put on the response's To header (2xx only)


@dataclass(frozen=True, slots=True)
class Notify:
    """One NOTIFY to send in the dialog `key.dialog` (RFC 6665 §4.2.2, §8.2.3)."""

    key: SubscriptionKey
    headers: Mapping[str, str]
    body: bytes
    terminated: bool = False


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    response: SubscribeResponse
    notifies: tuple[Notify, ...] = ()


class TerminationReason(Enum):
    """Subscription-State reasons of RFC 6665 §4.1.3 the notifier uses."""

    TIMEOUT = "timeout"            # expired, or unsubscribed with Expires: 0
    DEACTIVATED = "deactivated"    # switch shutting down; the phone may re-subscribe now
    NORESOURCE = "noresource"      # the watched resource no longer exists


View = DialogView | PresenceView | MessageSummaryView
_K = TypeVar("_K")


@dataclass(slots=True)
class Subscription:
    key: SubscriptionKey
    resource: Resource
    subscriber: str
    entity: str
    expires_at: float
    version: int = 0  # the version the next dialog-info NOTIFY carries (RFC 4235 §4.1.1)
    last_view: View | None = None


class SubscriptionTable:
    """Subscriptions by key, by resource (so a state change touches only its watchers) and
    by deadline (a heap with lazy deletion, so expiry is O(log n) and never a scan)."""

    def __init__(self) -> None:
        self._by_key: dict[SubscriptionKey, Subscription] = {}
        self._by_resource: dict[Resource, dict[SubscriptionKey, Subscription]] = {}
        self._deadlines: list[tuple[float, int, SubscriptionKey]] = []
        self._seq = 0
        self._per_dialog: dict[DialogKey, int] = {}
        self._per_subscriber: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._by_key.values()))

    def get(self, key: SubscriptionKey) -> Subscription | None:
        return self._by_key.get(key)

    def add(self, sub: Subscription) -> None:
        self._by_key[sub.key] = sub
        self._by_resource.setdefault(sub.resource, {})[sub.key] = sub
        self._per_dialog[sub.key.dialog] = self._per_dialog.get(sub.key.dialog, 0) + 1
        self._per_subscriber[sub.subscriber] = self.count_of(sub.subscriber) + 1
        self._push(sub)

    def refresh(self, sub: Subscription, expires_at: float) -> None:
        sub.expires_at = expires_at
        self._push(sub)

    def remove(self, key: SubscriptionKey) -> Subscription | None:
        sub = self._by_key.pop(key, None)
        if sub is not None:
            watchers = self._by_resource[sub.resource]
            del watchers[key]
            if not watchers:
                del self._by_resource[sub.resource]
            _decrement(self._per_dialog, key.dialog)
            _decrement(self._per_subscriber, sub.subscriber)
        return sub

    def count_of(self, subscriber: str) -> int:
        return self._per_subscriber.get(subscriber, 0)

    def in_use(self, dialog: DialogKey) -> bool:
        """Whether any subscription still lives in `dialog` (RFC 6665 §4.5.2: several
        subscriptions, told apart by Event id, may share one dialog)."""
        return dialog in self._per_dialog

    def watching(self, resource: Resource) -> list[Subscription]:
        return list(self._by_resource.get(resource, {}).values())

    def pop_expired(self, now: float) -> list[Subscription]:
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, _, key = heapq.heappop(self._deadlines)
            sub = self._by_key.get(key)
            if sub is not None and sub.expires_at == deadline:
                self.remove(key)
                expired.append(sub)
        return expired

    def next_deadline(self) -> float | None:
        while self._deadlines:
            deadline, _, key = self._deadlines[0]
            sub = self._by_key.get(key)
            if sub is not None and sub.expires_at == deadline:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def _push(self, sub: Subscription) -> None:
        self._seq += 1
        heapq.heappush(self._deadlines, (sub.expires_at, self._seq, sub.key))


def _decrement(counts: dict[_K, int], key: _K) -> None:
    left = counts[key] - 1
    if left:
        counts[key] = left
    else:
        del counts[key]
