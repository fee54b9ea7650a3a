"""Call an agent from the queue panel (queue-manager-agent.md §4.10): "the system calls the
agent"; here the switch first rings the manager's (the requester's) own phone, and once it
answers rings the agent's phone; when the agent answers the two are bridged in the media
relay. Either phone's hang-up ends the other; an agent who does not answer or declines
ends the requester's call.

Both calls go out through the queue controller's dialer (softswitch.queue.dialer, the one
fork), which routes their BYEs here (``api_hung_up``).

Decisions:
- The requester hears silence while the agent's phone rings (no ringback is generated on
  the switch's own outbound leg); the agent's phone shows the requester as the caller.
- Each phone rings for at most RING_TIMEOUT seconds (a timer of the queue calls' clock, as
  a panel pickup's): a requester who does not answer is CANCELled and the agent is never
  rung; an agent who does not answer is CANCELled and the requester's call ends (BYE).
  Before, the agent's timer was never armed (the fork has no deadline until it starts, and
  it starts only once the leg is open) and the requester's phone had none at all.
- The same two-step call serves the call log's "call back" (§5.1 发起呼叫,
  softswitch.web.callback): ``start`` is then given the second party's ``targets`` (an
  extension's registrations, or an outbound trunk route) instead of looking up the agent's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from softswitch.log import get_logger

log = get_logger("agentcall")

RING_TIMEOUT = 30.0


@dataclass(eq=False)
class AgentCall:
    """One requester-to-agent call: the owner of both outbound calls."""

    calls: AgentCalls
    id: str
    requester: str
    agent: str
    first: Any = None  # the requester's OutboundCall
    second: Any = None  # the agent's
    over: bool = False
    targets: list[Any] | None = None  # the second party's, when not the agent's phones
    timer: Any = None  # the ringing phone's no-answer timer (softswitch.clock handle)

    def api_hung_up(self, out: Any) -> None:
        self.calls.hung_up(self, out)

    def as_json(self) -> dict[str, Any]:
        state = "connected" if self.second is not None and self.second.state == "answered" \
            else "ringing_agent" if self.second is not None else "ringing_requester"
        return {"id": self.id, "requester": self.requester, "agent": self.agent,
                "state": "ended" if self.over else state}


@dataclass(eq=False)
class AgentCalls:
    queues: Any  # softswitch.queue.controller.QueueCalls
    active: dict[str, AgentCall] = field(default_factory=dict)
    _n: int = 0

    def start(self, requester: str, requester_targets: list[Any], agent: str,
              targets: list[Any] | None = None) -> AgentCall:
        """``agent``: the number the second call goes to; ``targets``: where it rings (None:
        the registrations of extension ``agent``, looked up when the requester answers)."""
        self._n += 1
        call = AgentCall(self, f"agentcall-{self._n}-{requester}-{agent}", requester, agent,
                         targets=targets)
        self.active[call.id] = call
        call.first = self.queues.api_originate(
            requester, f"{call.id}/requester", requester_targets, agent, f"Call {agent}",
            on_answered=lambda out: self._requester_answered(call),
            on_failed=lambda out, status: self._failed(call, status), owner=call)
        self._ring_at_most(call, call.first, "requester")
        log.info("agent call: ringing the requester", requester=requester, agent=agent)
        return call

    def _ring_at_most(self, call: AgentCall, out: Any, who: str) -> None:
        if call.timer is not None:
            call.timer.cancel()
        call.timer = self.queues._clock.call_later(RING_TIMEOUT, self._no_answer, call, out,
                                                   who)

    def _no_answer(self, call: AgentCall, out: Any, who: str) -> None:
        call.timer = None
        if not call.over and out.state == "calling":
            log.info("agent call: no answer", who=who, requester=call.requester,
                     agent=call.agent, seconds=RING_TIMEOUT)
            self._end(call)

    def _requester_answered(self, call: AgentCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        if call.over:
            return
        targets = call.targets if call.targets is not None else \
            self.queues.registrar.targets(call.agent, self.queues.clock())
        if not targets:
            log.info("agent call: the agent has no registered phone", agent=call.agent)
            self._end(call)
            return
        call.second = self.queues.api_originate(
            call.agent, f"{call.id}/agent", targets, call.requester, "",
            on_answered=lambda out: self._agent_answered(call),
            on_failed=lambda out, status: self._failed(call, status), owner=call)
        self._ring_at_most(call, call.second, "agent")

    def _agent_answered(self, call: AgentCall) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        first, second = call.first, call.second
        if call.over or first is None or second is None or first.leg is None \
                or second.leg is None:
            self._end(call)
            return
        self.queues.media.bridge(first.leg, second.leg)
        log.info("agent call connected", requester=call.requester, agent=call.agent)

    def _failed(self, call: AgentCall, status: int) -> None:
        log.info("agent call not answered", requester=call.requester, agent=call.agent,
                 status=status)
        self._end(call)

    def hung_up(self, call: AgentCall, out: Any) -> None:
        """A BYE from either phone: the other is hung up."""
        self._end(call)

    def _end(self, call: AgentCall) -> None:
        """Each outbound call: CANCEL or BYE while it is live, its leg closed, forgotten."""
        if call.over:
            return
        call.over = True
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
        for out in (call.first, call.second):
            if out is not None:
                self.queues.api_drop(out, bye=out.state in ("calling", "answered"))
        self.active.pop(call.id, None)
