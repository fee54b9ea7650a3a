"""`QueuePort` on the ACD engine (acd.message_queue): the sessions' message queues are the
engine's, so the assignment modes, who sees a session and the queue statistics have one
home. Each input goes to the engine with the monotonic ``now``; its events go to the
shell's ``execute`` (the queue controller publishes them on the event bus); its commands
(ShowSession / HideSession) are not executed: the sessions read the engine's
``visible_to`` instead, which is what those commands announce."""

from __future__ import annotations

from collections.abc import Callable

from acd.engine import Acd, Output
from acd.events import InputRejected

# omnichannel.md §5.2: (extension capacity N at most, max message queues, max agents per
# queue); N above the last row: the last row's limits
QUEUE_LIMITS = ((50, 16, 25), (200, 32, 60))
QUEUE_LIMITS_ABOVE = (64, 120)


def queue_limits(capacity: int) -> tuple[int, int]:
    """(max message queues, max agents per queue) for an extension capacity N (§5.2).

    Decision: N is the switch's extension capacity, ``limits.extensions`` in the
    configuration (the plan's maximum number of extensions on the manual's PBX; this switch
    has no plans, so the operator declares the size it is built for), at least the number of
    configured extensions; without it, N is the number of configured extensions (the
    smallest capacity that holds them). softswitch.config refuses the queue beyond the
    maximum and the agent beyond the maximum, at their lines."""
    for high, queues, agents in QUEUE_LIMITS:
        if capacity <= high:
            return queues, agents
    return QUEUE_LIMITS_ABOVE


class AcdQueues:
    def __init__(self, engine: Callable[[], Acd], execute: Callable[[Output], None],
                 now: Callable[[], float]) -> None:
        self._engine = engine
        self._execute = execute
        self._now = now

    def _run(self, out: Output) -> str | None:
        self._execute(Output(events=list(out.events)))
        for event in out.events:
            if isinstance(event, InputRejected):
                return event.reason
        return None

    def exists(self, queue: str) -> bool:
        return queue in self._engine().messages.queues

    def agents(self, queue: str) -> tuple[str, ...]:
        config = self._engine().messages.queues.get(queue)
        return config.agents if config is not None else ()

    def arrived(self, task: str, queue: str, customer: str) -> None:
        self._run(self._engine().handle_task_arrived(task, queue, self._now(),
                                                     caller=customer))

    def resumed(self, task: str, queue: str, customer: str, waited: float,
                repliers: tuple[str, ...] = ()) -> None:
        now = self._now()
        self._run(self._engine().restore_message_session(task, queue, now, caller=customer,
                                                         joined=now - max(0.0, waited),
                                                         repliers=repliers))

    def reply(self, task: str, agent: str) -> str | None:
        return self._run(self._engine().handle_message_reply(task, agent, self._now()))

    def take_over(self, task: str, agent: str) -> str | None:
        return self._run(self._engine().handle_take_over(task, agent, self._now()))

    def left(self, task: str) -> None:
        self._run(self._engine().handle_task_left(task, self._now()))

    def has(self, task: str) -> bool:
        return self._engine().messages.has(task)

    def visible_to(self, task: str) -> tuple[str, ...]:
        return self._engine().messages.visible_to(task)
