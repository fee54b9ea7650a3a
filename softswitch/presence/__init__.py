"""BLF and presence: SUBSCRIBE/NOTIFY for the dialog (RFC 4235) and presence (RFC 3856, PIDF
RFC 3863) event packages, for extension keys and for the agent keys of the manual
(spec/queue-admin.md §6.2 pause-reason key, §6.8 agent login/pause keys). Sans-IO.

Modules: `notifier` (the sans-IO core: `Notifier`), `subscriptions` (RFC 6665 data and the
subscription table), `bodies` (dialog-info / PIDF XML), `resources` (what a key watches and
the lamp mapping), `agents` (queue membership, per-queue agent state), `sip_adapter`
(SIP message <-> plain data), `service` (`PresenceService`, the asyncio shell on
`SipEndpoint`), `acd_bridge` (ACD config, inputs and events <-> BLF and feature codes).

Wiring into the switch (all the pieces exist; the router and the ACD shell call them):

1. At start::

       directory = acd_bridge.directory_from_acd(acd.config)
       plan = FeatureCodePlan(FeatureCodes.from_config(raw.get("feature_codes")), directory)
       notifier = Notifier(domain=cfg.sip.domain, extensions=[e.number for e in cfg.extensions],
                           directory=directory, resolve_agent_key=plan.blf_resource)
       presence = PresenceService(endpoint, notifier, clock)
       presence.send(acd_bridge.sync_from_acd(notifier, acd, clock.monotonic()))

2. SIP router, after digest auth (SUBSCRIBE is challenged with 407 like INVITE)::

       if method == "SUBSCRIBE" and (not request.to.tag or presence.owns(request)):
           presence.handle_subscribe(txn, request, user)

3. Dial plan, before extensions (only for callers that are extensions)::

       outcome = plan.dial(dialled, caller, notifier.agents)
       if outcome is not None:
           for action in outcome.actions:
               out = acd_bridge.apply_to_acd(acd, action, now)   # + execute out.commands
               presence.send(acd_bridge.notifies_for_events(notifier, acd, out.events, now))
           answer, play prompt `outcome.prompt.value`, hang up

4. Every ACD `Output` the shell gets (auto-pause, ...)::
       presence.send(acd_bridge.notifies_for_events(notifier, acd, out.events, now))
   Registrar: `presence.registration_changed(ext, has_contacts)`; calls:
   `presence.call_updated(ext, ExtensionCall(...))` / `presence.call_ended(ext, call_id)`.
5. Shutdown: `await presence.close()` (NOTIFY terminated;reason=deactivated to all).
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
