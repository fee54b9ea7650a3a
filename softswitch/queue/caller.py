"""The queue caller on the call shell (issue 15; softswitch.apps.shell): `QueueTask`, what
the queue knows of one queue call; `QueueCaller`, the `Flow` the shell runs for the caller
(the task's sans-IO `QueueFlow`, whose outputs toward the engine the queue calls carry out
in their place among the shell's actions, `QueueCalls.expand`); `PartyHooks`, what the
queue hears of a caller connected to a party it called (hold, INFO). The queue calls
(softswitch.queue.controller) own the engine, the agents and the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from structlog.typing import FilteringBoundLogger

from acd import Acd
from media import MediaLeg
from softswitch.apps.flow import Action, Answer, CallInfo
from softswitch.log import get_logger
from softswitch.queue.dialer import OutboundCall
from softswitch.queue.flow import QueueFlow
from softswitch.sip import Request

if TYPE_CHECKING:
    from softswitch.apps.shell import CallShell
    from softswitch.queue.controller import QueueCalls

log = get_logger("queue")


def task_of(call: OutboundCall) -> QueueTask:
    """The task an outbound call serves (agent offers carry ``(task, agent)``)."""
    owner = call.owner
    task = owner[0] if isinstance(owner, tuple) else owner
    assert isinstance(task, QueueTask)
    return task


@dataclass(eq=False)
class QueueTask:
    """One queue call (or callback request); ``id`` is the caller's Call-ID. The caller
    itself (dialog, in-dialog policy, media leg, prompts, timers, CDR row) is a call of the
    call shell (softswitch.apps.shell) running `QueueCaller` with this task's `flow`."""

    id: str
    queue: str
    caller: str
    caller_display: str
    shell: CallShell | None = field(default=None, repr=False)  # None: a restored callback
    answered: bool = False  # the caller's INVITE is answered (or it arrived answered)
    ended: bool = False  # forgotten (`QueueCalls.state` is "ended")
    offers: dict[str, OutboundCall] = field(default_factory=dict)
    agent: str | None = None
    agent_call: OutboundCall | None = None
    other_call: OutboundCall | None = None  # callback customer / transfer target
    bridge: int | None = None  # the shell's connection to the agent or the other party
    flow: QueueFlow = field(default_factory=QueueFlow)  # what the caller hears and keys do
    engine: Acd | None = field(default=None, repr=False)  # the ACD the task is fed to
    callback_number: str = ""
    log: FilteringBoundLogger = field(default_factory=lambda: log)
    recording: str | None = None  # the WAV's path (softswitch.calls.recording)
    held_by: set[str] = field(default_factory=set)  # "agent" / "caller" while on hold
    # the switch ends the caller: who and why, for the CDR row (else the caller hung up)
    end_side: str | None = None
    end_cause: str | None = None
    collect: list[Action] | None = field(default=None, repr=False)  # `QueueCalls.expand`

    @property
    def leg(self) -> MediaLeg | None:
        """The caller's media leg while the shell runs the call (None before the answer,
        after the end, for a restored callback request)."""
        return self.shell.leg(self.id) if self.shell is not None and not self.ended else None

    @property
    def in_engine(self) -> bool:
        """The ACD holds the task (waiting, ringing, in the callback dialogue, a kept
        callback request, connected): read from the engine (`Acd.task_state`), never kept
        here, so the controller cannot feed the engine a task it has let go, nor miss one
        it still holds."""
        return not self.ended and self.engine is not None \
            and self.engine.task_state(self.id) is not None


class QueueCaller:
    """The queue caller as a `Flow` of the call shell (softswitch.apps.flow): the task's
    `QueueFlow` with its three outputs toward the engine (`KeyToAcd`,
    `CallbackNumberToAcd`, `JoinPromptFinished`) and its `RouteTo` and `Hangup` carried out
    by the queue calls (`QueueCalls.expand`), which hand the shell the framework's actions
    in the order the flow and the engine gave them."""

    def __init__(self, calls: QueueCalls, task: QueueTask) -> None:
        self.calls = calls
        self.task = task

    def start(self, call: CallInfo, now: float) -> list[Action]:
        return [Answer()]  # the queue starts when the caller is answered (`_answered`)

    def handle_digit(self, digit: str, now: float) -> list[Action]:
        self.task.log.info("caller pressed a key", key=digit, mode=self.calls.state(self.task))
        return self.calls.expand(self.task, self.task.flow.handle_digit(digit, now))

    def handle_playback_done(self, play_id: int, interrupted: bool,
                             now: float) -> list[Action]:
        return self.calls.expand(self.task, self.task.flow.handle_playback_done(
            play_id, interrupted, now))

    def handle_recording_done(self, record_id: int, path: str | None, seconds: float,
                              now: float) -> list[Action]:
        return []  # the queue records through softswitch.calls.recording, not the flow

    def handle_bridge_ended(self, bridge_id: int, status: int, now: float) -> list[Action]:
        return []  # the queue parted the legs itself (agent hung up, survey, transfer)

    def handle_timer(self, now: float) -> list[Action]:
        return self.calls.expand(self.task, self.task.flow.handle_timer(now))

    def handle_hangup(self, now: float) -> list[Action]:
        self.calls.caller_ended(self.task)
        return []

    def next_deadline(self) -> float | None:
        return self.task.flow.next_deadline()


class PartyHooks:
    """What the queue hears of a caller connected to an agent, a callback's second party or
    a transfer target (softswitch.apps.shell.BridgeHooks)."""

    def __init__(self, calls: QueueCalls, task: QueueTask) -> None:
        self.calls = calls
        self.task = task

    def held(self, call_id: str, held: bool) -> None:
        self.calls.hold_changed(self.task, "caller", held)

    def info(self, call_id: str, request: Request) -> None:
        self.calls.relay_info(self.task, request)

    def ended(self, call_id: str, bridge_id: int) -> None:
        """The shell parted the legs (the caller's end, a release): the queue's own end of
        the call (`caller_ended`, `api_release_caller`) deals with the far party."""
