"""Queue calls end to end: the asyncio shell around the ACD engine for SIP calls
(spec/queue-admin.md §2-§9, §13; issue 5).

Modules: `controller` (`QueueCalls`: the engine, agents, commands, events, destinations),
`caller` (`QueueTask`, and `QueueCaller`: the caller as a flow of the call shell), `flow`
(what the caller hears and what their keys do, sans-IO), `dialer` (the
switch's own INVITE forks toward extensions: agents, callback customers, transfers),
`entry` (callback-number and survey key dialogues, sans-IO), `announce` (what the caller
hears, as prompt ids).

`attach_queue_calls(config, ...)` builds the controller from the parts of the switch it
uses (softswitch.app.SipRouter passes them) and adds the configured queue numbers to the dial
plan; the router then hands queue INVITEs and the in-dialog requests of queue calls to it
(`QueueCalls.route_invite`, `owns`, `handle_in_dialog`, `handle_cancel`), and reports
registrations (`registration_changed`). The ACD instance is `queues.acd`; its events are
published on ``events``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softswitch.calls.recording import CallRecorder
from softswitch.clock import Clock
from softswitch.destinations import DestinationRouter
from softswitch.dialplan import DialPlan
from softswitch.events import EventBus
from softswitch.queue.caller import QueueTask
from softswitch.queue.controller import QueueCalls
from softswitch.trunks import TrunkRouter

if TYPE_CHECKING:
    from softswitch.apps.shell import CallShell
    from softswitch.config import Config
    from softswitch.queue.seams import CallMedia, Endpoint, Registrar

__all__ = ["QueueCalls", "QueueTask", "attach_queue_calls"]


def attach_queue_calls(config: Config, *, endpoint: Endpoint, media: CallMedia,
                       registrar: Registrar, events: EventBus, dialplan: DialPlan,
                       store: object, clock: Clock,
                       destinations: DestinationRouter,
                       trunks: TrunkRouter | None = None,
                       recordings: CallRecorder | None = None,
                       shell: CallShell | None = None) -> QueueCalls:
    """``config``: the switch's `softswitch.config.Config`; ``shell``: the call shell the
    callers run on (softswitch.apps.shell)."""
    from acd.config import AcdConfig
    from softswitch.dialplan import queue_rule

    acd_config = config.acd if isinstance(config.acd, AcdConfig) else AcdConfig()
    queues = QueueCalls(
        acd_config=acd_config, endpoint=endpoint, media=media, registrar=registrar,
        events=events, domain=config.sip.domain, user_agent=config.sip.user_agent,
        extensions={e.number: e for e in config.extensions},
        prompts_dir=getattr(config.prompts, "directory", None), clock=clock,
        dialplan=dialplan, store=store, trunks=trunks, recordings=recordings,
        destinations=destinations, shell=shell)
    dialplan.add(queue_rule(q.number for q in acd_config.queues))
    return queues
