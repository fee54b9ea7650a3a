"""The notifier (RFC 6665 §4.2) for BLF keys: answers SUBSCRIBEs, sends NOTIFYs on every
state change, expires subscriptions. Sans-IO: every input carries `now` (monotonic seconds),
outputs are `SubscribeResult` / `Notify` values, the shell sleeps until `next_deadline()`.

Decisions:
- 200 OK (never 202: RFC 6665 §8.3.1 deprecates it) with the granted Expires; the first
  NOTIFY follows at once with the full state (RFC 6665 §4.2.1.1), and again on every refresh
  (§4.2.1.2).
- Expires: absent = 3600 s (RFC 4235 §3.3, RFC 3856 §6.4); longer than `max_expires` is
  shortened; 1 .. `min_expires`-1 gets 423 with Min-Expires (RFC 6665 §4.2.1.1); 0 on an
  initial SUBSCRIBE is a fetch (200, one NOTIFY `terminated;reason=timeout`, nothing kept);
  0 in-dialog unsubscribes with the same final NOTIFY (§4.2.1.4).
- Unknown package: 489 with Allow-Events; Accept without the package's type: 406 with Accept;
  unknown resource (not an extension, unknown queue, agent not a member of the queue): 404,
  which leaves the phone's lamp off ("BLF configuration failed", manual §6.2/§6.8); refresh
  of an unknown subscription: 481.
- Every NOTIFY carries the full state (dialog-info `state="full"`); a state change that does
  not change what a subscription shows sends nothing to it.
- One extension holds at most `max_per_subscriber` subscriptions (default 500: a phone with
  three 40-key expansion modules uses 120); more get 403, so a looping or hostile phone
  cannot grow the table without bound.
- message-summary (RFC 3842, the voicemail lamp): a phone watches its own lamp only; the
  Request-URI user is its own extension or the voicemail access code (`mailbox_codes`);
  any other resource gets 403 (nobody reads a colleague's voicemail counts).
- A NOTIFY answered with a final status >= 300 (481, or 408 for a transaction timeout)
  removes the subscription silently (RFC 6665 §4.2.2).
- `Subscription-State: active;expires=N` (RFC 6665 §4.1.3) is the remaining time rounded
  down to whole seconds, never more than what is left: a subscriber that refreshes just
  before N must still find its subscription. `expires_at - now` is computed in floating
  point, where `(t + 600) - t` can be 600.0000000001 for an ordinary monotonic `t`; a
  microsecond of tolerance keeps that noise from costing a whole second either way (the
  old ceiling reported such a 600 s grant as `expires=601`).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping

from .agents import AgentQueueState, AgentStatusBook, QueueDirectory
from .bodies import (
    DialogView,
    MessageSummaryView,
    PresenceView,
    dialog_info_xml,
    message_summary,
    pidf_xml,
)
from .resources import (
    AgentKey,
    AgentLoginKey,
    AgentPauseKey,
    BlinkStyle,
    CallFlowToggleKey,
    ExtensionCall,
    ExtensionKey,
    MailboxLamp,
    ParkSlotKey,
    PauseReasonKey,
    Resource,
    agent_key_views,
    call_flow_toggle_views,
    extension_views,
    park_slot_views,
)
from .subscriptions import (
    ALLOW_EVENTS,
    DialogKey,
    EventPackage,
    Notify,
    SubscribeRequest,
    SubscribeResponse,
    SubscribeResult,
    Subscription,
    SubscriptionKey,
    SubscriptionTable,
    TerminationReason,
    View,
)

DEFAULT_EXPIRES = 3600
# float noise in `expires_at - now` (ulps of a monotonic clock), far below a second
_CLOCK_NOISE = 1e-6

AgentKeyResolver = Callable[[str, str], AgentKey | None]
"""(resource user part, subscriber) -> the agent key it names, or None; see
softswitch.features.FeatureCodePlan.blf_resource."""


class Notifier:
    """RFC 6665 notifier for the dialog and presence packages over extension and agent
    keys; see the module docstring for the decisions it implements."""

    def __init__(self, *, domain: str, extensions: Iterable[str], directory: QueueDirectory,
                 resolve_agent_key: AgentKeyResolver | None = None,
                 min_expires: int = 60, max_expires: int = 3600,
                 max_per_subscriber: int = 500,
                 blink: BlinkStyle = BlinkStyle.HELD,
                 mailbox_codes: Iterable[str] = (),
                 park_slots: Iterable[str] = (),
                 call_flow_toggles: Mapping[str, str] | None = None,
                 tag_factory: Callable[[], str] = lambda: secrets.token_hex(8)) -> None:
        if not 0 < min_expires <= max_expires:
            raise ValueError("need 0 < min_expires <= max_expires")
        self.domain = domain
        self.extensions = frozenset(extensions)
        self.agents = AgentStatusBook(directory)
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.blink = blink
        self.max_per_subscriber = max_per_subscriber
        self._resolve_agent_key = resolve_agent_key
        self._new_tag = tag_factory
        self._subs = SubscriptionTable()
        self._registered: set[str] = set()
        self._calls: dict[str, dict[str, ExtensionCall]] = {}
        self.mailbox_codes = frozenset(mailbox_codes)
        self._mailboxes: dict[str, bytes] = {}
        self.park_slots = frozenset(park_slots)
        self._parked: dict[str, str] = {}  # slot -> the parked party's URI
        self.call_flow_toggles: dict[str, str] = dict(call_flow_toggles or {})  # code -> flow
        self._forced_night: set[str] = set()  # call flows whose night mode is forced

    def reconfigure(self, extensions: Iterable[str], directory: QueueDirectory,
                    resolve_agent_key: AgentKeyResolver | None = None) -> None:
        """A reload: keys of new extensions and memberships can be subscribed; removed ones
        answer 404 to new SUBSCRIBEs. Agent states already known are kept."""
        self.extensions = frozenset(extensions)
        self.agents.directory = directory
        self._resolve_agent_key = resolve_agent_key

    # ------------------------------------------------------------------ SUBSCRIBE

    def handle_subscribe(self, req: SubscribeRequest, now: float) -> SubscribeResult:
        package_name, event_id = _parse_event(req.event)
        try:
            package = EventPackage(package_name)
        except ValueError:
            return _reject(489, "Bad Event", {"Allow-Events": ALLOW_EVENTS})
        if req.accept is not None and not _accepts(req.accept, package.content_type):
            return _reject(406, "Not Acceptable", {"Accept": package.content_type})
        expires = DEFAULT_EXPIRES if req.expires is None else req.expires
        if expires < 0:
            return _reject(400, "Bad Request: negative Expires")
        if 0 < expires < self.min_expires:
            return _reject(423, "Interval Too Brief", {"Min-Expires": str(self.min_expires)})
        expires = min(expires, self.max_expires)
        if req.to_tag is None:
            return self._initial(req, package, event_id, expires, now)
        key = SubscriptionKey(DialogKey(req.call_id, req.to_tag, req.from_tag), package,
                              event_id)
        sub = self._subs.get(key)
        if sub is None:
            return _reject(481, "Subscription Does Not Exist")
        ok = SubscribeResponse(200, "OK", {"Expires": str(expires)}, to_tag=req.to_tag)
        if expires == 0:
            self._subs.remove(key)
            return SubscribeResult(ok, (self._terminated(sub, TerminationReason.TIMEOUT),))
        self._subs.refresh(sub, now + expires)
        return SubscribeResult(ok, (self._notify(sub, self._view(sub), now),))

    def _initial(self, req: SubscribeRequest, package: EventPackage, event_id: str | None,
                 expires: int, now: float) -> SubscribeResult:
        resource: Resource | None
        if package is EventPackage.MESSAGE_SUMMARY:
            if req.resource != req.subscriber and req.resource not in self.mailbox_codes:
                return _reject(403, "Forbidden: not your mailbox")
            resource = MailboxLamp(req.subscriber)
        else:
            resource = self.resolve(req.resource, req.subscriber)
        if resource is None:
            return _reject(404, "Not Found")
        if expires and self._subs.count_of(req.subscriber) >= self.max_per_subscriber:
            return _reject(403, "Forbidden: too many subscriptions")
        tag = self._new_tag()
        key = SubscriptionKey(DialogKey(req.call_id, tag, req.from_tag), package, event_id)
        sub = Subscription(key, resource, req.subscriber,
                           entity=f"sip:{req.resource}@{self.domain}", expires_at=now + expires)
        ok = SubscribeResponse(200, "OK", {"Expires": str(expires)}, to_tag=tag)
        if expires == 0:  # fetch (RFC 6665 §4.4.3): one NOTIFY, nothing kept
            return SubscribeResult(ok, (self._terminated(sub, TerminationReason.TIMEOUT),))
        self._subs.add(sub)
        return SubscribeResult(ok, (self._notify(sub, self._view(sub), now),))

    def resolve(self, user: str, subscriber: str) -> Resource | None:
        """The resource a Request-URI user part names for this subscriber, or None."""
        if user in self.extensions:
            return ExtensionKey(user)
        if user in self.park_slots:
            return ParkSlotKey(user)
        if user in self.call_flow_toggles:
            return CallFlowToggleKey(self.call_flow_toggles[user], user)
        key = self._resolve_agent_key(user, subscriber) if self._resolve_agent_key else None
        if key is None or self.agents.get(key.agent, key.queue) is None:
            return None
        return key

    def handle_notify_response(self, key: SubscriptionKey, status: int, now: float) -> None:
        """The final response to a NOTIFY (408 for a transaction timeout)."""
        if status >= 300:
            self._subs.remove(key)

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> float | None:
        return self._subs.next_deadline()

    def handle_timeout(self, now: float) -> list[Notify]:
        """Expire subscriptions whose deadline has passed: final NOTIFY each."""
        return [self._terminated(sub, TerminationReason.TIMEOUT)
                for sub in self._subs.pop_expired(now)]

    def terminate_all(self, reason: TerminationReason, now: float) -> list[Notify]:
        """End every subscription (e.g. DEACTIVATED at shutdown, RFC 6665 §4.1.3)."""
        out = []
        for sub in self._subs:
            self._subs.remove(sub.key)
            out.append(self._terminated(sub, reason))
        return out

    # ------------------------------------------------------------------ state inputs

    def registration_changed(self, extension: str, registered: bool, now: float) -> list[Notify]:
        """Registrar: the extension has at least one contact (True) or none (False).
        Numbers that are not configured extensions are ignored (nothing can watch them)."""
        if extension not in self.extensions:
            return []
        if registered:
            self._registered.add(extension)
        else:
            self._registered.discard(extension)
        return self._changed(ExtensionKey(extension), now)

    def call_updated(self, extension: str, call: ExtensionCall, now: float) -> list[Notify]:
        """A call of `extension` started or changed state (ringing, answered, held)."""
        if extension not in self.extensions:
            return []
        self._calls.setdefault(extension, {})[call.call_id] = call
        return self._changed(ExtensionKey(extension), now)

    def call_ended(self, extension: str, call_id: str, now: float) -> list[Notify]:
        calls = self._calls.get(extension)
        if calls is None or calls.pop(call_id, None) is None:
            return []
        if not calls:
            del self._calls[extension]
        return self._changed(ExtensionKey(extension), now)

    def agent_state_changed(self, agent: str, queue: str, state: AgentQueueState,
                            now: float) -> list[Notify]:
        """ACD: the agent's state in `queue` is now `state` (signed in/out, paused with an
        optional reason, resumed). Raises KeyError/ValueError like AgentStatusBook.set."""
        self.agents.set(agent, queue, state)
        out = self._changed(AgentLoginKey(agent, queue), now)
        out += self._changed(AgentPauseKey(agent, queue), now)
        for reason in self.agents.directory.pause_reasons.values():
            out += self._changed(PauseReasonKey(agent, queue, reason), now)
        return out

    def slot_changed(self, slot: str, parked: str | None, now: float) -> list[Notify]:
        """Call park: `parked` (the parked party's URI, "" when unknown) waits in `slot`,
        or None when the slot is free again."""
        if parked is None:
            self._parked.pop(slot, None)
        else:
            self._parked[slot] = parked
        return self._changed(ParkSlotKey(slot), now)

    def set_call_flow_toggles(self, toggles: Mapping[str, str]) -> None:
        """The call flows' day/night keys: toggle code -> call-flow number
        (softswitch.apps.desk, at start). Codes left out answer 404 to new SUBSCRIBEs."""
        self.call_flow_toggles = dict(toggles)

    def call_flow_mode_changed(self, call_flow: str, forced_night: bool,
                               now: float) -> list[Notify]:
        """A call flow's manual mode: night forced (True) or following its schedule."""
        if forced_night:
            self._forced_night.add(call_flow)
        else:
            self._forced_night.discard(call_flow)
        return [n for code, flow in self.call_flow_toggles.items() if flow == call_flow
                for n in self._changed(CallFlowToggleKey(flow, code), now)]

    def mailbox_changed(self, extension: str, body: bytes, now: float) -> list[Notify]:
        """Voicemail: the message-summary body of `extension`'s lamp is now `body`."""
        self._mailboxes[extension] = body
        return self._changed(MailboxLamp(extension), now)

    def watches_mailbox(self, extension: str) -> bool:
        """Whether some phone subscribed to `extension`'s lamp (else the switch sends the
        lamp unsolicited, as phones configured without a subscription expect)."""
        return bool(self._subs.watching(MailboxLamp(extension)))

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    def dialog_in_use(self, dialog: DialogKey) -> bool:
        return self._subs.in_use(dialog)

    # ------------------------------------------------------------------ rendering

    def _changed(self, resource: Resource, now: float) -> list[Notify]:
        out = []
        for sub in self._subs.watching(resource):
            view = self._view(sub)
            if view != sub.last_view:
                out.append(self._notify(sub, view, now))
        return out

    def _view(self, sub: Subscription) -> View:
        if isinstance(sub.resource, MailboxLamp):
            ext = sub.resource.extension
            return MessageSummaryView(self._mailboxes.get(ext) or message_summary(
                f"sip:{ext}@{self.domain}", 0, 0))
        dialog, presence = self._views(sub.resource, sub.entity)
        return dialog if sub.key.package is EventPackage.DIALOG else presence

    def _views(self, resource: ExtensionKey | AgentKey | ParkSlotKey | CallFlowToggleKey,
               entity: str) -> tuple[DialogView, PresenceView]:
        if isinstance(resource, CallFlowToggleKey):
            return call_flow_toggle_views(entity, resource,
                                          resource.call_flow in self._forced_night)
        if isinstance(resource, ParkSlotKey):
            return park_slot_views(entity, resource.slot, self._parked.get(resource.slot))
        if isinstance(resource, ExtensionKey):
            calls = tuple(self._calls.get(resource.extension, {}).values())
            return extension_views(entity, resource.extension in self._registered, calls)
        state = self.agents.get(resource.agent, resource.queue)
        assert state is not None  # resolve() admitted only members
        return agent_key_views(resource, state, self.blink, entity)

    def _notify(self, sub: Subscription, view: View, now: float) -> Notify:
        remaining = max(0, math.floor(sub.expires_at - now + _CLOCK_NOISE))
        sub.last_view = view
        return self._build(sub, view, f"active;expires={remaining}", terminated=False)

    def _terminated(self, sub: Subscription, reason: TerminationReason) -> Notify:
        view = self._view(sub) if reason is not TerminationReason.NORESOURCE else None
        return self._build(sub, view, f"terminated;reason={reason.value}", terminated=True)

    def _build(self, sub: Subscription, view: View | None, state: str,
               terminated: bool) -> Notify:
        headers = {"Event": sub.key.event_header, "Subscription-State": state}
        body = b""
        if isinstance(view, DialogView):
            body = dialog_info_xml(sub.entity, sub.version, view)
            sub.version += 1
        elif isinstance(view, PresenceView):
            body = pidf_xml(sub.entity, view)
        elif isinstance(view, MessageSummaryView):
            body = view.body
        if body:
            headers["Content-Type"] = sub.key.package.content_type
        return Notify(sub.key, headers, body, terminated)


def _reject(status: int, reason: str, headers: dict[str, str] | None = None) -> SubscribeResult:
    return SubscribeResult(SubscribeResponse(status, reason, headers or {}))


def _parse_event(value: str) -> tuple[str, str | None]:
    """`dialog;id=7` -> ("dialog", "7"); package names are case-insensitive tokens
    (RFC 6665 §8.2.1 compares them byte-wise, phones send lower case)."""
    parts = [p.strip() for p in value.split(";")]
    event_id = None
    for param in parts[1:]:
        name, _, val = param.partition("=")
        if name.strip().lower() == "id":
            event_id = val.strip()
    return parts[0].lower(), event_id


def _accepts(accept: tuple[str, ...], content_type: str) -> bool:
    major = content_type.split("/", 1)[0]
    for item in accept:
        media = item.split(";", 1)[0].strip().lower()
        if media in (content_type, f"{major}/*", "*/*"):
            return True
    return False
