"""Presence statuses of extensions and the automatic agent-state switch by presence
(queue-manager-agent.md §7.5 根据分机状态自动切换坐席状态, §10.3, §10.5; the manual's Linkus
"Settings > Status > Options > Agent Status Auto-switch").

An extension's presence status is one of the Linkus states: available (空闲), away (离开),
business_trip (出差), dnd (免打扰), lunch (午休), off_work (下班). It is set over the live
API (REST ``PUT /api/v1/extensions/{ext}/presence``, websocket ``presence.set``; one
implementation, `set_presence`). Changing **to** a status runs that status's rule from the
config's ``presence`` section (softswitch.config.PresenceConfig):

    sign_in       dynamic memberships signed out -> signed in; paused ones -> resumed
                  (static agents: resume)
    sign_in_last  the same, but the dynamic sign-ins only for the queues the agent was last
                  signed in to (the *78 set, AgentStatusBook.last_signed_in; all of them when
                  nothing is remembered yet, as *78 does)
    sign_out      dynamic memberships signed in -> signed out; static ones untouched
    pause         every signed-in membership -> paused with the rule's reason (or without);
                  signed-out dynamic memberships stay signed out
    none          nothing

The resulting actions go through `AgentDesk.apply_actions`, the code path of the feature
codes and the live API's agent-state operation, so the ACD applies them and the events reach
the bus: BLF lamps, the report rows (agent_sessions, agent_pauses), agent_state persistence
and the live feed.

The status is kept in ``extension_presence`` (migration 11), written when it changes, and
loaded at start (`PresenceStates.load`, on the HTTP app's start-up). Live rows
(`Panels.member`) carry ``presence`` (the status) beside ``registered`` (online, §10.3); a
change publishes ``agent.presence`` with both.

Decisions:
- "Offline" (离线) is not settable: it is the absence of a registration, already shown as
  ``registered: false``. ``presence`` keeps the last status set, so an agent that registers
  again shows it again (as a Linkus client logging in again does).
- Only a transition triggers the rule: setting the current status again changes nothing
  (``changed: false``), and restoring the status at start does not re-run the rule (the
  agent state is restored by itself: softswitch.store.agent_state).
- [PROPOSED §7.5] "Sign in" also resumes a paused dynamic agent (the same as for statics).
- A pause rule on an agent already paused: with a reason different from the rule's, the
  reason changes (the pause report records a reason change); without a rule reason, or with
  the same one, nothing changes.
- The rule is the extension's own override for that status if the config has one, else the
  ``auto_switch`` rule, else none (the default of every status is "no action").
- Who may set an extension's status: the extension itself; an admin; or a manager holding
  change_agent_status (P1) in **every** queue the extension is an agent of (the switch acts
  on all of them). An extension that is no agent of any queue: itself or an admin only.
  Unknown extension: 404.
- An extension that never set a status has the config's ``initial`` (default available);
  that initial status, or a reload changing it, runs no rule (nothing transitioned).
- Reading a status over ``GET`` needs the same right as setting it; the feed's rows show it
  to everyone who sees the queue.
- Without a database the statuses are kept in memory only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from acd.events import InputRejected
from softswitch.config import PRESENCE_STATUSES, AutoSwitchRule, PresenceConfig
from softswitch.features import AgentAction, AgentStates, Pause, Resume, SignIn, SignOut
from softswitch.log import get_logger
from softswitch.presence.agents import QueueDirectory
from softswitch.store.agent_state import RowStore, load_presence, presence_write
from softswitch.web.errors import forbidden, not_found
from softswitch.web.permissions import LABELS, Access

log = get_logger("presence_state")


def rule_actions(rule: AutoSwitchRule, agent: str, directory: QueueDirectory,
                 states: AgentStates) -> list[AgentAction]:
    """The agent actions a change into a status with ``rule`` causes (sans-IO)."""
    if rule.action == "none":
        return []
    actions: list[AgentAction] = []
    queues = sorted(directory.queues_of(agent), key=lambda m: m.number)
    if rule.action in ("sign_in", "sign_in_last"):
        last = states.last_signed_in(agent) if rule.action == "sign_in_last" else frozenset()
        for members in queues:
            state = states.get(agent, members.number)
            if state is None:
                continue
            if not state.signed_in:
                if agent in members.dynamic_agents and (not last or members.number in last):
                    actions.append(SignIn(agent, members.number))
            elif state.paused:
                actions.append(Resume(agent, members.number))
    elif rule.action == "sign_out":
        for members in queues:
            state = states.get(agent, members.number)
            if (state is not None and state.signed_in
                    and agent in members.dynamic_agents):
                actions.append(SignOut(agent, members.number))
    elif rule.action == "pause":
        reason = None
        if rule.reason:
            reason = directory.reason(rule.reason) or directory.reason_named(rule.reason)
        for members in queues:
            state = states.get(agent, members.number)
            if state is None or not state.signed_in:
                continue
            if state.paused and (reason is None or state.reason == reason):
                continue
            actions.append(Pause(agent, members.number, reason))
    return actions


class PresenceStates:
    """The statuses of the extensions and the auto-switch that follows a change.

    ``config()`` is the PresenceConfig in force (reloads apply); ``desk`` the switch's
    AgentDesk (``plan.directory``, ``notifier.agents``, ``apply_actions``); ``store`` the
    database (None: memory only); ``changed(ext)`` is told after every change (the live
    feed); ``wall`` the wall clock for the rows."""

    def __init__(self, config: Callable[[], PresenceConfig], desk: Any,
                 store: RowStore | None, changed: Callable[[str], None] = lambda _: None,
                 wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.desk = desk
        self.store = store
        self.changed = changed
        self.wall = wall
        self._status: dict[str, str] = {}

    async def load(self) -> int:
        """Start-up: the persisted statuses (no rule runs). Returns how many."""
        if self.store is None:
            return 0
        rows = await load_presence(self.store)
        for ext, (status, _at) in rows.items():
            if status in PRESENCE_STATUSES:
                self._status[ext] = status
        log.info("presence statuses restored", count=len(self._status))
        return len(self._status)

    def status(self, extension: str) -> str:
        return self._status.get(extension, self.config().initial)

    def set(self, extension: str, status: str, by: str) -> tuple[bool, list[Any]]:
        """Change the status; on a transition run its rule. Returns (changed, ACD events)."""
        if status not in PRESENCE_STATUSES:
            raise ValueError(f"unknown presence status {status!r}")
        if self.status(extension) == status:
            return False, []
        self._status[extension] = status
        if self.store is not None:
            self.store.write(*presence_write(extension, status, self.wall(), by))
        rule = self.config().rule(extension, status)
        actions = rule_actions(rule, extension, self.desk.plan.directory,
                               self.desk.notifier.agents)
        events = self.desk.apply_actions(actions) if actions else []
        for e in events:
            if isinstance(e, InputRejected):
                log.warning("auto-switch action rejected", extension=extension,
                            status=status, reason=e.reason)
        log.info("presence changed", extension=extension, status=status, by=by,
                 action=rule.action, actions=len(actions))
        self.changed(extension)
        return True, events


def require_presence_change(access: Access, extension: str) -> None:
    """See the module docstring ("Who may set an extension's status")."""
    if extension == access.extension or access.principal.admin:
        return
    queues = [q for q in access.config.queues
              if any(m.extension == extension for m in q.members)]
    if not queues:
        raise forbidden(f"{access.extension} may not set the presence of {extension} (not an "
                        f"agent of any queue: only the extension itself or an admin)",
                        "extension")
    for q in queues:
        if "change_agent_status" not in access.granted(q):
            raise forbidden(f"{access.extension} lacks the permission to "
                            f"{LABELS['change_agent_status']} in queue {q.number} (an "
                            f"agent of it: {extension})", "extension")


def presence_view(board: Any, extension: str) -> dict[str, Any]:
    panels = board.panels
    acd = panels.acd()
    return {"extension": extension, "presence": board.presence.status(extension),
            "registered": panels.registered(extension),
            "memberships": [panels.member(extension, q) for q in acd.queues()
                            if acd.is_member(extension, q)]}


def _known(board: Any, extension: str) -> None:
    if board.desk.router.config.extension(extension) is None:
        raise not_found(f"no extension {extension}", "extension")


def get_presence(board: Any, access: Access, extension: str) -> dict[str, Any]:
    """Anyone may read a status who may set it (the same rule)."""
    _known(board, extension)
    require_presence_change(access, extension)
    return presence_view(board, extension)


def set_presence(board: Any, access: Access, extension: str, status: str) -> dict[str, Any]:
    """REST and websocket: set ``extension``'s presence status (validated by the model)."""
    _known(board, extension)
    require_presence_change(access, extension)
    changed, _events = board.presence.set(extension, status, access.extension)
    return dict(presence_view(board, extension), changed=changed)
