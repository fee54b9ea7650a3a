"""BLF and presence: SUBSCRIBE/NOTIFY for the dialog (RFC 4235) and presence (RFC 3856, PIDF
RFC 3863) event packages, for extension keys and for the agent keys of the manual
(spec/queue-admin.md §6.2 pause-reason key, §6.8 agent login/pause keys). Sans-IO.

Wiring into the switch (what the shell does):

1. Build once::

       directory = QueueDirectory.from_config(raw_queues, raw_pause_reasons)
       plan = FeatureCodePlan(FeatureCodes(), directory)        # softswitch.features
       notifier = Notifier(domain=cfg.sip.domain, extensions=[e.number for e in cfg.extensions],
                           directory=directory, resolve_agent_key=plan.blf_resource)

2. On a SUBSCRIBE (after digest auth): build `SubscribeRequest` from its Call-ID, From-tag,
   To-tag, Event, Accept, Expires, Request-URI user and the authenticated extension; call
   `notifier.handle_subscribe(req, loop.time())`; answer with `result.response` (status,
   reason, extra headers, To-tag) and create the UAS dialog on 2xx; then send each of
   `result.notifies` as a NOTIFY in that dialog (`Notify.headers` + `Notify.body`; end the
   dialog after sending one with `terminated=True`).
3. Feed state changes, sending the returned NOTIFYs: `registration_changed()` from the
   registrar, `call_updated()` / `call_ended()` from the call layer, and
   `agent_state_changed()` from the ACD's agent events (signed in/out, paused, resumed).
4. Give each NOTIFY's final status to `handle_notify_response()` (408 on timeout).
5. Sleep until `next_deadline()`, then send what `handle_timeout(now)` returns. At shutdown
   send `terminate_all(TerminationReason.DEACTIVATED, now)`.
"""

from .agents import (
    DEFAULT_PAUSE_REASONS,
    MAX_PAUSE_REASONS,
    SIGNED_IN,
    SIGNED_OUT,
    AgentQueueState,
    AgentStatusBook,
    DirectoryError,
    PauseReason,
    QueueDirectory,
    QueueMembers,
)
from .bodies import DialogElement, DialogView, PresenceView, dialog_info_xml, pidf_xml
from .notifier import Notifier
from .resources import (
    AgentKey,
    AgentLoginKey,
    AgentPauseKey,
    BlinkStyle,
    CallState,
    ExtensionCall,
    ExtensionKey,
    Lamp,
    PauseReasonKey,
    Resource,
    agent_key_lamp,
)
from .subscriptions import (
    DialogKey,
    EventPackage,
    Notify,
    SubscribeRequest,
    SubscribeResponse,
    SubscribeResult,
    SubscriptionKey,
    TerminationReason,
)

__all__ = [
    "DEFAULT_PAUSE_REASONS", "MAX_PAUSE_REASONS", "SIGNED_IN", "SIGNED_OUT",
    "AgentQueueState", "AgentStatusBook", "DirectoryError", "PauseReason", "QueueDirectory",
    "QueueMembers", "DialogElement", "DialogView", "PresenceView", "dialog_info_xml",
    "pidf_xml", "Notifier", "AgentKey", "AgentLoginKey", "AgentPauseKey", "BlinkStyle",
    "CallState", "ExtensionCall", "ExtensionKey", "Lamp", "PauseReasonKey", "Resource",
    "agent_key_lamp", "DialogKey", "EventPackage", "Notify", "SubscribeRequest",
    "SubscribeResponse", "SubscribeResult", "SubscriptionKey", "TerminationReason",
]
