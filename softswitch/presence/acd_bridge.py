"""Glue between the ACD engine (acd/) and the BLF notifier and feature codes. No I/O.

- `directory_from_acd(config)`: the queues, members and pause reasons the ACD validated.
- `apply_to_acd(acd, action, now)`: run a feature-code action (softswitch.features) as the
  ACD input it stands for; the returned `Output` carries the agent events.
- `notifies_for_events(notifier, acd, events, now)`: for every agent event (signed in / out,
  paused, resumed — including the ACD's own auto-pause) read the agent's state back from
  the ACD and update the BLF keys; returns the NOTIFYs to send.
- `sync_from_acd(notifier, acd, now)`: the same for every membership (at start, after the
  ACD's `initial_events`, e.g. dynamic agents whose default status is Logged in, §6.4).

Reading the state back from the ACD's queries (instead of replaying the event's fields)
keeps the lamps equal to what the ACD decided even when it rejected an input.
"""

from __future__ import annotations

from collections.abc import Iterable

from acd import Acd, AcdConfig, Output
from acd.events import AgentPaused, AgentResumed, AgentSignedIn, AgentSignedOut, Event
from softswitch.features import AgentAction, Pause, Resume, SignIn, SignOut

from .agents import AgentQueueState, PauseReason, QueueDirectory, QueueMembers
from .notifier import Notifier
from .subscriptions import Notify

AGENT_EVENTS = (AgentSignedIn, AgentSignedOut, AgentPaused, AgentResumed)


def directory_from_acd(config: AcdConfig) -> QueueDirectory:
    return QueueDirectory.build(
        (QueueMembers(q.number,
                      frozenset(m.extension for m in q.static_agents),
                      frozenset(m.extension for m in q.dynamic_agents))
         for q in config.queues),
        (PauseReason(r.code, r.reason) for r in config.pause_reasons))


def apply_to_acd(acd: Acd, action: AgentAction, now: float) -> Output:
    if isinstance(action, SignIn):
        return acd.handle_agent_signed_in(action.agent, action.queue, now)
    if isinstance(action, SignOut):
        return acd.handle_agent_signed_out(action.agent, action.queue, now)
    if isinstance(action, Pause):
        code = action.reason.code if action.reason is not None else ""
        return acd.handle_agent_paused(action.agent, action.queue, now, reason=code)
    assert isinstance(action, Resume)
    return acd.handle_agent_resumed(action.agent, action.queue, now)


def acd_state(acd: Acd, directory: QueueDirectory, agent: str, queue: str) -> AgentQueueState:
    signed_in = acd.is_signed_in(agent, queue)
    paused, text = acd.pause_state(agent, queue)
    if not signed_in:
        return AgentQueueState(signed_in=False)
    reason = directory.reason_named(text) if paused and text else None
    return AgentQueueState(signed_in=True, paused=paused, reason=reason)


def notifies_for_events(notifier: Notifier, acd: Acd, events: Iterable[Event],
                        now: float) -> list[Notify]:
    out: list[Notify] = []
    seen: set[tuple[str, str]] = set()
    for event in events:
        if not isinstance(event, AGENT_EVENTS):
            continue
        key = (event.agent, event.queue)
        if key in seen:
            continue
        if notifier.agents.get(*key) is None or not acd.is_member(*key):
            continue  # a membership a reload removed (or added: `sync_from_acd` follows)
        seen.add(key)
        state = acd_state(acd, notifier.agents.directory, *key)
        out += notifier.agent_state_changed(event.agent, event.queue, state, now)
    return out


def sync_from_acd(notifier: Notifier, acd: Acd, now: float) -> list[Notify]:
    out: list[Notify] = []
    directory = notifier.agents.directory
    for members in directory.queues.values():
        for agent in sorted(members.static_agents | members.dynamic_agents):
            state = acd_state(acd, directory, agent, members.number)
            if state != notifier.agents.get(agent, members.number):
                out += notifier.agent_state_changed(agent, members.number, state, now)
    return out
