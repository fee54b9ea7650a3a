"""Queue calls end to end: the asyncio shell around the ACD engine for SIP calls
(spec/queue-admin.md §2-§9, §13; issue 5).

Modules: `controller` (`QueueCalls`: callers, agents, commands, events), `dialer` (the
switch's own INVITE forks toward extensions: agents, callback customers, transfers),
`entry` (callback-number and survey key dialogues, sans-IO), `announce` (what the caller
hears, as prompt ids).

`attach_queue_calls(router)` builds the controller for a `softswitch.app.SipRouter` and adds
the configured queue numbers to its dial plan; the router then hands queue INVITEs and the
in-dialog requests of queue calls to it (`QueueCalls.route_invite`, `owns`,
`handle_in_dialog`, `handle_cancel`), and reports registrations
(`registration_changed`). The ACD instance is `router.queues.acd`; its events are published
on `router.events`.
"""

from __future__ import annotations

from typing import Any

from softswitch.queue.controller import Mode, QueueCalls, QueueTask

__all__ = ["Mode", "QueueCalls", "QueueTask", "attach_queue_calls"]


def attach_queue_calls(router: Any) -> QueueCalls:
    from acd.config import AcdConfig
    from softswitch.dialplan import queue_rule

    cfg = router.config
    acd_config = cfg.acd if isinstance(cfg.acd, AcdConfig) else AcdConfig()
    queues = QueueCalls(
        acd_config=acd_config, endpoint=router.endpoint, media=router.calls.media,
        registrar=router.registrar, events=router.events, domain=cfg.sip.domain,
        user_agent=cfg.sip.user_agent, extensions={e.number: e for e in cfg.extensions},
        prompts_dir=getattr(cfg.prompts, "directory", None), dialplan=router.dialplan,
        store=router.calls.store, destinations=router.destinations)
    router.dialplan.add(queue_rule(q.number for q in acd_config.queues))
    return queues
