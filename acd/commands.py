"""Commands the ACD returns for its shell to execute (DESIGN.md "The ACD engine").

The engine never performs them itself; the shell (SIP calls, chat channels) carries each out
and reports back through the engine's ``handle_*`` inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

from acd.config import Destination
from acd.ids import AgentId, QueueId, TaskId


@dataclass(frozen=True, slots=True)
class Command:
    task: TaskId


@dataclass(frozen=True, slots=True)
class RingAgents(Command):
    """Ring ``agents`` for the task (§2.2). The engine times the ring out itself after
    ``timeout`` seconds (§2.4) and then sends `StopRinging`. ``callback``: the task is a
    callback request (§4.2): when the agent answers, the engine sends `DialCustomer`."""

    queue: QueueId
    agents: tuple[AgentId, ...]
    timeout: float
    alert_info: str
    display: str
    callback: bool = False


@dataclass(frozen=True, slots=True)
class StopRinging(Command):
    agents: tuple[AgentId, ...]


@dataclass(frozen=True, slots=True)
class Connect(Command):
    """Bridge the caller with ``agent`` (who answered). Play ``agent_announcement`` to the agent
    first and, if ``agent_id`` is set, announce it to both sides (§2.5)."""

    queue: QueueId
    agent: AgentId
    agent_announcement: str
    announce_agent_id: bool
    hold_music: str


@dataclass(frozen=True, slots=True)
class PlayPrompt(Command):
    """Play a prompt to the waiting caller (join announcement, queue announcement, holiday
    prompt)."""

    prompt: str
    language: str


@dataclass(frozen=True, slots=True)
class StartMusic(Command):
    """Loop the ringback tone / music until the next command for this task (§2.5)."""

    prompt: str


@dataclass(frozen=True, slots=True)
class AnnouncePosition(Command):
    """§2.5 caller position announcements; ``estimated_wait`` in seconds (acd.ewt), None when
    there is nothing to base it on (no agent serving the queue)."""

    position: int | None
    estimated_wait: float | None
    thank_you: bool
    language: str


@dataclass(frozen=True, slots=True)
class RouteTask(Command):
    """Send the task to a destination (§11.1); the task is no longer the engine's."""

    destination: Destination


@dataclass(frozen=True, slots=True)
class CollectCallbackNumber(Command):
    """§4.2: ask the caller to confirm ``default_number`` or enter another (>= 5 digits, #),
    then report `Acd.handle_callback_number` (or `Acd.handle_callback_declined`)."""

    default_number: str


@dataclass(frozen=True, slots=True)
class EndCallbackDialogue(Command):
    """The caller entered nothing after the callback prompt, nor after it was played again
    (§4.2 says the caller *can* request a callback): the dialogue is over and the caller is
    back in line with their place (music again); agents may ring for them."""


@dataclass(frozen=True, slots=True)
class HangUp(Command):
    """End the caller's leg (after a callback was registered, §4.2)."""


@dataclass(frozen=True, slots=True)
class DialCustomer(Command):
    """§4.2: the agent answered the callback offer; now call the customer at ``number`` via
    the outbound route matching ``outbound_prefix`` and bridge with ``agent``; report
    `Acd.handle_callback_connected` or `Acd.handle_callback_failed`."""

    queue: QueueId
    agent: AgentId
    number: str
    outbound_prefix: str


@dataclass(frozen=True, slots=True)
class ShowSession(Command):
    """Message queues: these agents now see the chat session and may reply."""

    queue: QueueId
    agents: tuple[AgentId, ...]


@dataclass(frozen=True, slots=True)
class HideSession(Command):
    """Message queues: these agents no longer see the session (somebody took it over)."""

    queue: QueueId
    agents: tuple[AgentId, ...]
