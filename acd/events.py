"""Immutable events of the ACD (DESIGN.md principle 4: one event stream).

Every state change of a queue, a task or an agent is exactly one event, in the order it
happened, each stamped with the engine time ``at`` (the ``now`` of the input that caused it).
The same stream feeds the database log, the reports, the wallboard and notifications;
`acd.stats.recount` rebuilds the wallboard figures from it alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from acd.config import Destination
from acd.ids import AgentId, QueueId, TaskId


class CallStatus(Enum):
    """§11.2: how a queue call ends for the reports."""

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    MISSED = "missed"


class LeaveReason(Enum):
    """Why a task left the queue; every task leaves with exactly one of these."""

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow

    ANSWERED = "answered"  # an agent answered (CallStatus.ANSWERED)
    ABANDONED = "abandoned"  # the caller hung up while waiting
    MAX_WAIT = "max_wait"  # §2.1: waited longer than max wait -> failover
    CAPACITY = "capacity"  # §9.2: max callers reached -> failover
    EMPTY = "empty"  # §9.2 leave when empty -> failover
    JOIN_EMPTY = "join_empty"  # §9.2 join empty disallowed -> failover
    KEY_PRESS = "key_press"  # §9.7 key-press event -> its destination
    CALLBACK_SUCCEEDED = "callback_succeeded"  # §4.2 agent and customer connected
    CALLBACK_FAILED = "callback_failed"  # §4.2 terminated (see CallbackFailureReason)
    REMOVED = "removed"  # taken out by the shell (e.g. a manager transferred it)
    QUEUE_REMOVED = "queue_removed"  # the queue left the configuration -> failover


class RouteReason(Enum):
    """Why the engine sent a task to a destination."""

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow

    OUTSIDE_BUSINESS_HOURS = "outside_business_hours"
    HOLIDAY = "holiday"
    FAILOVER = "failover"
    KEY_PRESS = "key_press"


class OfferResult(Enum):

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow
    ANSWERED = "answered"
    TIMED_OUT = "timed_out"  # ring timeout: a missed call for the agent
    REJECTED = "rejected"  # the agent declined / was busy: a missed call for the agent
    CANCELLED = "cancelled"  # another agent answered, the caller left, the agent paused ...


class MemberState(Enum):
    """§11.5: an agent's state in one queue, as the queue panel and wallboard show it."""

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow

    LOGGED_OUT = "logged_out"
    PAUSED = "paused"
    UNREGISTERED = "unregistered"
    IN_USE = "in_use"
    RINGING = "ringing"
    WRAP_UP = "wrap_up"
    IDLE = "idle"


class CallbackFailureReason(Enum):
    """§11.3."""

    __hash__ = object.__hash__  # members are singletons; Enum's hash is slow

    CUSTOMER_NO_ANSWER = "customer_no_answer"
    NO_IDLE_AGENT = "no_idle_agent"
    AGENT_HUNG_UP = "agent_hung_up"
    INVALID_NUMBER = "invalid_callback_number"


@dataclass(frozen=True, slots=True)
class Event:
    at: float


@dataclass(frozen=True, slots=True)
class TaskJoined(Event):
    """A caller (or chat) entered the queue at ``position`` (1 = next)."""

    task: TaskId
    queue: QueueId
    caller: str
    position: int


@dataclass(frozen=True, slots=True)
class TaskRouted(Event):
    """The engine sent the task to a destination (failover, time-based, key press)."""

    task: TaskId
    queue: QueueId
    destination: Destination
    reason: RouteReason


@dataclass(frozen=True, slots=True)
class TaskLeft(Event):
    """The task left the queue for good. ``waited``: seconds from joining to leaving."""

    task: TaskId
    queue: QueueId
    status: CallStatus
    reason: LeaveReason
    waited: float
    agent: AgentId | None = None


@dataclass(frozen=True, slots=True)
class OfferStarted(Event):
    """These agents ring for the task (one ring round)."""

    task: TaskId
    queue: QueueId
    agents: tuple[AgentId, ...]


@dataclass(frozen=True, slots=True)
class OfferEnded(Event):
    task: TaskId
    queue: QueueId
    agent: AgentId
    result: OfferResult
    rang: float


@dataclass(frozen=True, slots=True)
class AgentMissedCall(Event):
    """§2.4: the agent did not answer; ``consecutive`` counts toward auto-pause."""

    agent: AgentId
    queue: QueueId
    task: TaskId
    consecutive: int


@dataclass(frozen=True, slots=True)
class CallEnded(Event):
    """The agent's call with the task ended; ``talked``: seconds since answer."""

    task: TaskId
    queue: QueueId
    agent: AgentId
    talked: float


@dataclass(frozen=True, slots=True)
class AgentSignedIn(Event):
    agent: AgentId
    queue: QueueId


@dataclass(frozen=True, slots=True)
class AgentSignedOut(Event):
    agent: AgentId
    queue: QueueId


@dataclass(frozen=True, slots=True)
class AgentPaused(Event):
    """§6.1: ``reason`` is the pause reason text ("" = no reason, reports show "-").
    ``auto``: §2.4 auto-pause after missed calls; the shell e-mails the agent."""

    agent: AgentId
    queue: QueueId
    reason: str
    auto: bool = False


@dataclass(frozen=True, slots=True)
class AgentResumed(Event):
    agent: AgentId
    queue: QueueId


@dataclass(frozen=True, slots=True)
class WrapupStarted(Event):
    """§2.4 / §6.3: the agent gets no calls of ``queues`` until ``until``."""

    agent: AgentId
    queues: tuple[QueueId, ...]
    until: float


@dataclass(frozen=True, slots=True)
class WrapupEnded(Event):
    agent: AgentId
    queues: tuple[QueueId, ...]


@dataclass(frozen=True, slots=True)
class MemberStateChanged(Event):
    """The agent's state in ``queue`` changed (wallboard: agents by state)."""

    agent: AgentId
    queue: QueueId
    state: MemberState
    previous: MemberState


@dataclass(frozen=True, slots=True)
class MemberRemoved(Event):
    """A reload took the agent out of ``queue`` (signed out and logged out just before, by
    the events that say so): panels drop the agent's row, wallboard counts forget it."""

    agent: AgentId
    queue: QueueId


@dataclass(frozen=True, slots=True)
class CallbackRequested(Event):
    """§4.2: the caller registered ``number``; the call hangs up, the position is kept.
    ``caller``: the number they called from; ``joined``: when they entered the queue and
    ``expires``: when the request ends unserved ("no idle agent"), both engine time (what a
    shell persists to restore the request after a restart, `Acd.restore_callback`)."""

    task: TaskId
    queue: QueueId
    number: str
    caller: str = ""
    joined: float = 0.0
    expires: float = 0.0


@dataclass(frozen=True, slots=True)
class CallbackSucceeded(Event):
    task: TaskId
    queue: QueueId
    agent: AgentId
    number: str


@dataclass(frozen=True, slots=True)
class CallbackFailed(Event):
    task: TaskId
    queue: QueueId
    number: str
    reason: CallbackFailureReason


@dataclass(frozen=True, slots=True)
class SlaEvaluated(Event):
    """§7.3: the SLA of the evaluation interval that just ended (None: no calls)."""

    queue: QueueId
    sla: float | None
    threshold: float
    below_threshold: bool


@dataclass(frozen=True, slots=True)
class SessionTakenOver(Event):
    """omnichannel.md §5.3: ``agent`` now owns the chat; nobody else sees it."""

    task: TaskId
    queue: QueueId
    agent: AgentId


@dataclass(frozen=True, slots=True)
class InputRejected(Event):
    """An input that does not fit the current state (a race such as answering an offer the
    caller already abandoned, or a static agent signing out). Nothing changed."""

    input: str
    reason: str
    task: TaskId | None = None
    agent: AgentId | None = None
    queue: QueueId | None = None
