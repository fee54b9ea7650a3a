"""Agent membership and per-queue agent state, as the BLF keys and feature codes see them.

Manual (spec/queue-admin.md §2.6, §6.1, §6.7, §11.5; 坐席管理): a queue has *static* agents
(always signed in, cannot sign in or out) and *dynamic* agents (sign in and out at any time);
both can pause, optionally with one of at most 20 global pause reasons, each with its own
feature code (defaults `*01` Lunch, `*02` Break, `*03` Wrap up).

The ACD engine owns the authoritative state; `AgentStatusBook` is the copy the presence
notifier renders and the feature-code decisions read. The switch feeds it the ACD's agent
events (signed in / out, paused with reason, resumed) through `AgentStatusBook.set()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PAUSE_REASONS = 20  # manual §6.1: "最多 20 种暂停原因"

DEFAULT_PAUSE_REASONS: Mapping[str, str] = {"*01": "Lunch", "*02": "Break", "*03": "Wrap up"}


@dataclass(frozen=True, slots=True)
class PauseReason:
    """One global pause reason (manual §6.1): its feature code and its text."""

    code: str
    name: str


@dataclass(frozen=True, slots=True)
class QueueMembers:
    """Who may act in a queue (manual §2.6)."""

    number: str
    static_agents: frozenset[str] = frozenset()
    dynamic_agents: frozenset[str] = frozenset()

    def is_member(self, extension: str) -> bool:
        return extension in self.static_agents or extension in self.dynamic_agents


@dataclass(frozen=True, slots=True)
class AgentQueueState:
    """An agent's state in one queue (manual §11.5). `reason` is set only while paused with
    a reason; a paused agent still counts as signed in (queue-manager-agent.md §10.1)."""

    signed_in: bool
    paused: bool = False
    reason: PauseReason | None = None

    def __post_init__(self) -> None:
        if self.reason is not None and not self.paused:
            raise ValueError("a pause reason needs paused=True")
        if self.paused and not self.signed_in:
            raise ValueError("a signed-out agent cannot be paused")


SIGNED_OUT = AgentQueueState(signed_in=False)
SIGNED_IN = AgentQueueState(signed_in=True)


class DirectoryError(ValueError):
    """A queue or pause-reason definition that cannot be used (names the offending entry)."""


@dataclass(frozen=True)
class QueueDirectory:
    """The queues, their members and the global pause reasons, keyed for lookups."""

    queues: Mapping[str, QueueMembers] = field(default_factory=dict)
    pause_reasons: Mapping[str, PauseReason] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.pause_reasons) > MAX_PAUSE_REASONS:
            raise DirectoryError(
                f"pause_reasons: at most {MAX_PAUSE_REASONS} pause reasons, "
                f"got {len(self.pause_reasons)}")
        for number, members in self.queues.items():
            if number != members.number:
                raise DirectoryError(f"queue key {number!r} != queue number {members.number!r}")
            both = members.static_agents & members.dynamic_agents
            if both:
                raise DirectoryError(
                    f"queue {number}: {', '.join(sorted(both))} both static and dynamic")

    @classmethod
    def build(cls, queues: Iterable[QueueMembers],
              pause_reasons: Iterable[PauseReason]) -> QueueDirectory:
        q: dict[str, QueueMembers] = {}
        for members in queues:
            if members.number in q:
                raise DirectoryError(f"queue {members.number} defined twice")
            q[members.number] = members
        r: dict[str, PauseReason] = {}
        for reason in pause_reasons:
            if reason.code in r:
                raise DirectoryError(f"pause reason code {reason.code} defined twice")
            r[reason.code] = reason
        return cls(queues=q, pause_reasons=r)

    @classmethod
    def from_config(cls, queues: Iterable[Mapping[str, Any]],
                    pause_reasons: Iterable[Mapping[str, Any]] | None) -> QueueDirectory:
        """From the YAML shape of DESIGN.md: a queue has `number`, `static_agents`,
        `dynamic_agents` (extension numbers, or mappings with `extension`); a pause reason
        has `code` and `reason` (as acd.config reads them). Without a `pause_reasons`
        section the manual's three defaults apply (§6.1). The switch itself uses
        `softswitch.presence.acd_bridge.directory_from_acd` on the validated ACD config."""
        members = []
        for q in queues:
            members.append(QueueMembers(
                number=str(q["number"]),
                static_agents=frozenset(_extensions(q.get("static_agents") or ())),
                dynamic_agents=frozenset(_extensions(q.get("dynamic_agents") or ())),
            ))
        if pause_reasons is None:
            reasons = [PauseReason(c, n) for c, n in DEFAULT_PAUSE_REASONS.items()]
        else:
            reasons = [PauseReason(str(r["code"]), str(r["reason"])) for r in pause_reasons]
        return cls.build(members, reasons)

    def queue(self, number: str) -> QueueMembers | None:
        return self.queues.get(number)

    def reason(self, code: str) -> PauseReason | None:
        return self.pause_reasons.get(code)

    def reason_named(self, name: str) -> PauseReason | None:
        """The pause reason whose text is `name` (the ACD's events carry the text)."""
        for reason in self.pause_reasons.values():
            if reason.name == name:
                return reason
        return None

    def queues_of(self, extension: str) -> Iterator[QueueMembers]:
        for members in self.queues.values():
            if members.is_member(extension):
                yield members


def _extensions(entries: Iterable[Any]) -> Iterator[str]:
    for entry in entries:
        yield str(entry["extension"]) if isinstance(entry, Mapping) else str(entry)


class AgentStatusBook:
    """Per (agent, queue) state. Static agents start signed in, dynamic agents signed out
    (manual §6.4: the system default for dynamic agents is Logged out) until the ACD says
    otherwise. Static agents can never be set signed out.

    It also remembers, per agent, the queues for "sign in to last signed-in queues"
    (queue-manager-agent.md §7.1, its [PROPOSED] rule): the queues the agent was signed in
    to just before the first sign-out that followed a sign-in. A sign-out sweep over
    several queues therefore remembers all of them, not just the last one.
    """

    def __init__(self, directory: QueueDirectory) -> None:
        self.directory = directory
        self._states: dict[tuple[str, str], AgentQueueState] = {}
        self._last_signed_in: dict[str, frozenset[str]] = {}
        self._signed_in_since_remembered: set[str] = set()
        # told each newly remembered set (softswitch.web.console_state persists it)
        self.remembered: Callable[[str, frozenset[str]], None] | None = None

    def get(self, agent: str, queue: str) -> AgentQueueState | None:
        """The state, or None when `agent` is not a member of `queue`."""
        members = self.directory.queue(queue)
        if members is None or not members.is_member(agent):
            return None
        state = self._states.get((agent, queue))
        if state is not None:
            return state
        return SIGNED_IN if agent in members.static_agents else SIGNED_OUT

    def set(self, agent: str, queue: str, state: AgentQueueState) -> AgentQueueState:
        """Record a new state; returns the previous one. Raises KeyError for a non-member
        and ValueError for signing out a static agent (manual §2.6)."""
        previous = self.get(agent, queue)
        if previous is None:
            raise KeyError(f"{agent} is not an agent of queue {queue}")
        members = self.directory.queues[queue]
        if agent in members.static_agents and not state.signed_in:
            raise ValueError(f"static agent {agent} cannot be signed out of queue {queue}")
        if previous.signed_in and not state.signed_in:
            if agent in self._signed_in_since_remembered or agent not in self._last_signed_in:
                last = self._last_signed_in[agent] = frozenset(self.signed_in_queues(agent))
                self._signed_in_since_remembered.discard(agent)
                if self.remembered is not None:
                    self.remembered(agent, last)
        elif state.signed_in and not previous.signed_in:
            self._signed_in_since_remembered.add(agent)
        self._states[(agent, queue)] = state
        return previous

    def signed_in_queues(self, agent: str) -> list[str]:
        return [m.number for m in self.directory.queues_of(agent)
                if (s := self.get(agent, m.number)) is not None and s.signed_in]

    def restore_last_signed_in(self, agent: str, queues: frozenset[str]) -> None:
        """Start-up: the set remembered by the previous run (a set remembered since wins)."""
        self._last_signed_in.setdefault(agent, queues)

    def last_signed_in(self, agent: str) -> frozenset[str]:
        """The queues "sign in to last signed-in queues" restores (empty: none known)."""
        return self._last_signed_in.get(agent, frozenset())
