"""The engine's mutable state objects (internal; inputs and outputs never expose them).

`Agent` is the person behind an extension, `Membership` the agent in one queue (§2.6),
`Task` a waiting call or chat. Their fields are read by the ring strategies' ordering keys.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from acd.events import MemberState
from acd.ids import AgentId, QueueId, TaskId

if TYPE_CHECKING:
    from acd.queue import Queue


class Agent:
    """An agent across all its queues."""

    __slots__ = ("extension", "registered", "device_busy", "calls", "offers", "wrapup_until",
                 "last_call_end", "memberships")

    def __init__(self, extension: AgentId, registered: bool) -> None:
        self.extension = extension
        self.registered = registered
        self.device_busy = False  # on a non-queue call (reported by the shell)
        self.calls: set[TaskId] = set()  # queue calls in progress (answered, not ended)
        self.offers: set[TaskId] = set()  # tasks ringing this agent now
        self.wrapup_until = float("-inf")  # shared wrap-up (§6.3)
        self.last_call_end = float("-inf")  # for Least Recent (any queue call)
        self.memberships: dict[QueueId, Membership] = {}

    @property
    def in_use(self) -> bool:
        return self.device_busy or bool(self.calls)


class Membership:
    """An agent in one queue."""

    __slots__ = ("queue", "agent", "static", "skill", "signed_in", "signin_seq", "list_index",
                 "paused", "pause_reason", "missed", "answered", "wrapup_until", "available",
                 "state", "presence", "pending")

    def __init__(self, queue: Queue, agent: Agent, static: bool, skill: int,
                 list_index: int) -> None:
        self.queue = queue
        self.agent = agent
        self.static = static
        self.skill = skill
        self.list_index = list_index  # position in the configured list
        self.signed_in = static
        self.signin_seq = 0  # global sign-in order (Linear / Round Robin for dynamic agents)
        self.paused = False
        self.pause_reason = ""
        self.missed = 0  # consecutive missed calls (§2.4)
        self.answered = 0  # calls answered in this queue (Fewest Calls)
        self.wrapup_until = float("-inf")  # per-queue wrap-up
        self.available = False  # in the queue's idle-agent index
        self.pending = False  # ... but not yet inserted into its ordering (Queue.add_idle)
        self.state = MemberState.LOGGED_OUT
        # (serving: signed in, not paused, registered; present for Leave When Empty; present
        # for Join Empty) -- §9.2 "no agent" scenarios, kept as per-queue counters
        self.presence: tuple[bool, bool, bool] = (False, False, False)


class TaskState(Enum):
    WAITING = "waiting"  # in the queue, may be offered when ready
    RINGING = "ringing"  # an offer round is out
    COLLECTING = "collecting"  # the caller is entering a callback number
    CALLBACK = "callback"  # the caller hung up; the callback request keeps the position
    CALLBACK_RINGING = "callback_ringing"  # agent rung for a callback
    CALLBACK_DIALING = "callback_dialing"  # agent answered, customer being called
    CONNECTED = "connected"  # answered; no longer in the queue
    GONE = "gone"


class Task:
    """A call or chat in a queue."""

    __slots__ = ("id", "queue", "caller", "seq", "arrived", "state", "tried", "ringing",
                 "ring_started", "ready", "agent", "answered_at", "callback_number",
                 "prompt_pending", "callback_offered", "callback_prompts")

    def __init__(self, task_id: TaskId, queue: Queue, caller: str, seq: int,
                 arrived: float) -> None:
        self.id = task_id
        self.queue = queue
        self.caller = caller
        self.seq = seq  # arrival order; position in the queue
        self.arrived = arrived
        self.state = TaskState.WAITING
        # agents offered in the current round of attempts, and ringing now (tuples: small,
        # and untracked by the garbage collector, which matters with 50,000 waiting tasks)
        self.tried: tuple[AgentId, ...] = ()
        self.ringing: tuple[AgentId, ...] = ()
        self.ring_started = 0.0
        self.ready = False  # in the queue's ready index
        self.agent: AgentId | None = None
        self.answered_at = 0.0
        self.callback_number = ""
        self.prompt_pending = False  # join announcement must finish before ringing
        self.callback_offered = False
        self.callback_prompts = 0  # times the callback prompt was played in this dialogue
