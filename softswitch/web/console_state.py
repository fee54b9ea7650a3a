"""What the browser console keeps on the server per user (queue-manager-agent.md §3.2 queue
groups, §7.1 "Sign in to last signed-in queues"): both survive a restart (migration 12).

    GET  /api/v1/console/queue-groups          the caller's queue groups
    PUT  /api/v1/console/queue-groups          replace them (the panel's Custom form)
    GET  /api/v1/agents/{agent}/last-queues    the queues "sign in to last" would sign in to
    POST /api/v1/agents/{agent}/last-queues/signin   sign in to them (own, admin, or P1)

Queue groups (§3.2 自定义 → 添加): a name, the queues (at least one), an optional SLA alert
threshold (%) and an optional sort order (the group's position in the queue dropdown).

Decisions:
- Groups are per user ([INFERRED] in the spec: "a group to help you identify"), kept in
  ``console_settings`` as one JSON value. A group may only name queues the user may see
  (P8; 403 naming the queue otherwise); a queue the user can no longer see after a reload
  is left out when the panel shows the group (the group is not rewritten).
- The group's SLA alert threshold colours the panel's SLA figure for the group (SLA below
  it = alert), as a queue's own threshold does; without one, no colour.
- "Last signed-in queues" is the switch's one remembered set, the one ``*78`` and the
  ``sign_in_last`` auto-switch use (softswitch.presence.agents.AgentStatusBook, the
  [PROPOSED] §7.1 rule: the queues the agent was signed in to before the sign-out that
  followed its last sign-in). This module only persists it (``agent_last_queues``): each
  newly remembered set is written, and loaded at start-up; a set remembered after the
  start wins over the loaded one. The sign-in runs the ``*78`` decision
  (FeatureCodePlan.decide(SignInLast)) through AgentDesk.apply_actions, so BLF lamps,
  reports and the feed follow exactly as for the feature code; nothing remembered yet means
  every dynamic queue, as ``*78`` does.
- Who may sign an agent in to its last queues: the agent, an admin, or a manager holding
  P1 ``change_agent_status`` in every queue the agent is a dynamic member of.
- Without a database both are kept in memory only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from softswitch.log import get_logger
from softswitch.web.errors import ApiError, forbidden, not_found
from softswitch.web.models import Strict
from softswitch.web.permissions import LABELS, Access

log = get_logger("console_state")

MAX_GROUPS = 50


class QueueGroup(Strict):
    name: str = Field(min_length=1, max_length=64)
    queues: list[str] = Field(min_length=1, max_length=200)
    sla_alert_threshold: float | None = Field(default=None, ge=0, le=100)
    order: int | None = Field(default=None, ge=0, le=10_000)


class QueueGroupsRequest(Strict):
    """§3.2: the caller's queue groups (replaces the saved list)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"groups": [{"name": "Service", "queues": ["6400"],
                                  "sla_alert_threshold": 80, "order": 1}]}]})
    groups: list[QueueGroup] = Field(max_length=MAX_GROUPS)


class ConsoleState:
    """Queue groups per user and the persistence of the remembered last queues.

    ``store``: the database (None: memory only); ``book``: the switch's AgentStatusBook."""

    def __init__(self, store: Any, book: Any, wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.book = book
        self.wall = wall
        self._groups: dict[str, list[dict[str, Any]]] = {}
        if store is not None:
            book.remembered = self._remembered

    async def load(self) -> None:
        """Start-up: the saved groups and the last queues of the previous run."""
        if self.store is None:
            return
        for ext, value in await self.store.fetch(
                "SELECT extension, value FROM console_settings WHERE name = 'queue_groups'"):
            self._groups[str(ext)] = json.loads(value)
        rows = await self.store.fetch("SELECT agent, queues FROM agent_last_queues")
        for agent, queues in rows:
            self.book.restore_last_signed_in(str(agent), frozenset(json.loads(queues)))
        log.info("console state restored", users=len(self._groups), last_queues=len(rows))

    def _remembered(self, agent: str, queues: frozenset[str]) -> None:
        self.store.write(
            "INSERT INTO agent_last_queues (agent, queues, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (agent) DO UPDATE SET queues = excluded.queues, "
            "updated_at = excluded.updated_at",
            (agent, json.dumps(sorted(queues)), round(self.wall(), 3)))

    def groups(self, extension: str) -> list[dict[str, Any]]:
        return self._groups.get(extension, [])

    async def set_groups(self, access: Access, req: QueueGroupsRequest) -> list[dict[str, Any]]:
        names = [g.name for g in req.groups]
        if len(set(names)) != len(names):
            raise ApiError(400, "invalid_field", "groups: two groups have the same name",
                           "groups")
        for g in req.groups:
            for q in g.queues:
                access.require_view(q, "queues")
        groups = [g.model_dump() for g in req.groups]
        self._groups[access.extension] = groups
        if self.store is not None:
            self.store.write(
                "INSERT INTO console_settings (extension, name, value, updated_at) VALUES "
                "(?, 'queue_groups', ?, ?) ON CONFLICT (extension, name) DO UPDATE SET "
                "value = excluded.value, updated_at = excluded.updated_at",
                (access.extension, json.dumps(groups), round(self.wall(), 3)))
            await self.store.flush()
        return groups


def _require_agent(board: Any, access: Access, agent: str) -> list[str]:
    """The agent's dynamic queues, after the permission check (module docstring)."""
    config = access.config
    member_of = [q for q in config.queues if any(m.extension == agent for m in q.members)]
    if not member_of:
        raise not_found(f"{agent} is not an agent of any queue", "agent")
    dynamic = [q for q in member_of if any(m.extension == agent for m in q.dynamic_agents)]
    if agent != access.extension and not access.principal.admin:
        for q in dynamic or member_of:
            if "change_agent_status" not in access.granted(q):
                raise forbidden(f"{access.extension} lacks the permission to "
                                f"{LABELS['change_agent_status']} in queue {q.number} (an "
                                f"agent of it: {agent})", "agent")
    return [q.number for q in dynamic]


def last_queues(board: Any, access: Access, agent: str) -> dict[str, Any]:
    dynamic = _require_agent(board, access, agent)
    last = board.desk.notifier.agents.last_signed_in(agent)
    return {"agent": agent, "remembered": sorted(last),
            "queues": [q for q in dynamic if q in last] if last else dynamic}


def sign_in_last(board: Any, access: Access, agent: str) -> dict[str, Any]:
    """§7.1 签入上次签入队列: the ``*78`` decision, applied like the feature code."""
    from acd.events import InputRejected
    from softswitch.features import SignInLast

    _require_agent(board, access, agent)
    desk = board.desk
    outcome = desk.plan.decide(SignInLast(), agent, desk.notifier.agents)
    if not outcome.ok:
        raise ApiError(409, "invalid_state", outcome.result, "agent")
    events = desk.apply_actions(outcome.actions)
    rejected = [e for e in events if isinstance(e, InputRejected)]
    if rejected:
        raise ApiError(409, "invalid_state", rejected[0].reason, "agent")
    panels = board.panels
    acd = panels.acd()
    return {"agent": agent, "signed_in": [a.queue for a in outcome.actions],
            "memberships": [panels.member(agent, q) for q in acd.queues()
                            if acd.is_member(agent, q)]}


CONSOLE = web.AppKey("console_state", ConsoleState)
