"""The queue console permission matrix (queue-admin.md §7.4; queue-manager-agent.md §4.0,
§4.12, §6.6) applied to one authenticated extension.

Permission names are the config keys of a queue's ``panel_permissions`` (config.example.yaml):

    P1 change_agent_status   managers only   sign in/out, pause, resume *other* agents
    P2 call_distribution     both            redirect, transfer
    P3 pickup_hangup         both            pick up, hang up
    P4 monitoring            managers only   listen, whisper, barge
    P5 parking               both
    P6 recording             managers only   others' recording
    P7 contact_match         both            company-contact names ignore visibility
    P8 wallboard, queue_panel both           see the queue live (websocket, REST state)
    P9 missed_calls, delete_missed_calls     managers: the queue's missed-call records
    P10 call_logs            agents only     own answered calls + missed calls (§6.6 scope)

Decisions:
- A manager who is also an agent of the queue holds the union of both blocks.
- An agent always acts on its *own* state (§4.12 "none"); P1 gates acting on others.
- Admins (operators) read every queue and may change any agent's state (the `softswitch
  agent` command); the panel permissions do not apply to them, and they are not managers:
  call-log and disposition rights stay with managers and agents.
- Every refusal names the permission and the queue: 403 ``forbidden`` with a sentence.
"""

from __future__ import annotations

from acd.config import AcdConfig, QueueConfig
from softswitch.web.auth import Principal
from softswitch.web.errors import ApiError, forbidden, not_found

LABELS = {
    "wallboard": "access the wallboard (P8)",
    "queue_panel": "access the queue panel (P8)",
    "change_agent_status": "change agent status (P1)",
    "call_distribution": "call distribution (P2)",
    "pickup_hangup": "pick up or hang up agents' calls (P3)",
    "monitoring": "call monitoring (P4)",
    "parking": "call parking (P5)",
    "recording": "toggle agents' recording (P6)",
    "contact_match": "show company contact match result (P7)",
    "missed_calls": "queue missed calls (P9)",
    "delete_missed_calls": "delete queue missed calls (P9)",
    "call_logs": "queue call logs (P10)",
}


class Access:
    """What one extension may do, from the ACD configuration in force."""

    def __init__(self, principal: Principal, config: AcdConfig) -> None:
        self.principal = principal
        self.config = config
        self._queues = {q.number: q for q in config.queues}

    @property
    def extension(self) -> str:
        return self.principal.extension

    def queue(self, number: str, field: str = "queue") -> QueueConfig:
        q = self._queues.get(number)
        if q is None:
            raise not_found(f"no queue {number}", field)
        return q

    def is_manager(self, q: QueueConfig) -> bool:
        return self.extension in q.managers

    def is_agent(self, q: QueueConfig) -> bool:
        return any(m.extension == self.extension for m in q.members)

    def granted(self, q: QueueConfig) -> frozenset[str]:
        perms: set[str] = set()
        if self.is_manager(q):
            perms |= q.panel_permissions.managers
        if self.is_agent(q):
            agents = q.panel_permissions.agents
            members = q.panel_permissions.call_log_members
            if members is not None and self.extension not in members:
                agents = agents - {"call_logs"}
            perms |= agents
        return frozenset(perms)

    def can(self, queue: str, permission: str) -> bool:
        q = self._queues.get(queue)
        return q is not None and permission in self.granted(q)

    def require(self, queue: str, permission: str, field: str | None = None) -> QueueConfig:
        q = self.queue(queue)
        if permission not in self.granted(q):
            raise forbidden(f"{self.extension} lacks the permission to "
                            f"{LABELS[permission]} in queue {queue}", field)
        return q

    def can_view(self, queue: str) -> bool:
        """The live state of a queue: admins, and managers and agents with P8."""
        if self.principal.admin and queue in self._queues:
            return True
        return self.can(queue, "queue_panel") or self.can(queue, "wallboard")

    def require_view(self, queue: str, field: str = "queue") -> QueueConfig:
        q = self.queue(queue, field)
        if not self.can_view(queue):
            raise forbidden(f"{self.extension} may not see queue {queue}: neither "
                            f"{LABELS['queue_panel']} nor {LABELS['wallboard']} is granted",
                            field)
        return q

    def viewable(self) -> list[str]:
        return [q.number for q in self.config.queues if self.can_view(q.number)]

    def require_agent_change(self, queue: str, agent: str) -> QueueConfig:
        """§4.1/§4.12: one's own state needs nothing; another agent's needs P1 (managers)
        or the admin role."""
        q = self.queue(queue)
        if not any(m.extension == agent for m in q.members):
            raise not_found(f"{agent} is not an agent of queue {queue}", "agent")
        if agent == self.extension or self.principal.admin:
            return q
        return self.require(queue, "change_agent_status", "agent")

    def require_call_logs(self, queue: str) -> tuple[QueueConfig, str]:
        """The view of §5 (managers, P9: every record) or §9 (agents, P10: own answered
        calls and/or missed calls per §6.6's scope); returns (queue, "manager"|"agent")."""
        q = self.queue(queue)
        perms = self.granted(q)
        if "missed_calls" in perms:
            return q, "manager"
        if "call_logs" in perms:
            return q, "agent"
        raise forbidden(f"{self.extension} lacks the permission to {LABELS['missed_calls']} "
                        f"or {LABELS['call_logs']} in queue {queue}")

    def roles(self) -> dict[str, object]:
        qs = self.config.queues
        return {"admin": self.principal.admin,
                "manager_of": [q.number for q in qs if self.is_manager(q)],
                "agent_of": [q.number for q in qs if self.is_agent(q)],
                "permissions": {q.number: sorted(self.granted(q)) for q in qs
                                if self.granted(q)}}


def require_admin(principal: Principal) -> None:
    if not principal.admin:
        raise ApiError(403, "forbidden", f"{principal.extension} is not an admin "
                                         f"(the config's admins)")

