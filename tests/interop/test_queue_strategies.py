"""Which agent's phone rings, in which order, for each ring strategy (spec/queue-admin.md
§2.2), with pjsua2 agents declining (486) or answering over real SIP."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from phones import Phone, PhoneError

from benchmarks.peers.switch import Extension, RunningSwitch

pytestmark = pytest.mark.interop

CALLER = ("3000", "caller-pw")
AGENTS = {"2000": "agent-0-pw", "2001": "agent-1-pw", "2002": "agent-2-pw"}
EXTENSIONS = [Extension(*CALLER)] + [Extension(n, p) for n, p in AGENTS.items()]


def q(number: str, strategy: str, agents: list[str], **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"number": number, "name": f"Q{number}", "strategy": strategy,
                         "static_agents": agents, "ring_timeout": 15, "retry_interval": 1,
                         "wrapup": 0}
    d.update(kw)
    return d


QUEUES = [q("6451", "linear", ["2001", "2000", "2002"]),
          q("6452", "ring_all", ["2000", "2001", "2002"]),
          q("6453", "round_robin", ["2000", "2001", "2002"]),
          q("6454", "least_recent", ["2000", "2001", "2002"]),
          q("6455", "fewest_calls", ["2000", "2001", "2002"])]


class Desk:
    """A caller phone and three agent phones registered to the switch."""

    def __init__(self, switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
        self.switch = switch
        self.caller = phone_factory("caller")
        assert self.caller.register(*CALLER, switch.host, switch.port).ok
        self.agents: dict[str, Phone] = {}
        for number, pw in AGENTS.items():
            phone = phone_factory(f"agent{number}")
            assert phone.register(number, pw, switch.host, switch.port).ok
            self.agents[number] = phone
        self.taken: set[tuple[str, int]] = set()

    def next_ring(self, timeout: float = 10.0) -> tuple[str, int, float]:
        """The earliest incoming call on any agent phone not seen yet: (agent, call, t)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [(e["t"], number, int(e["call"]))
                     for number, phone in self.agents.items() for e in list(phone.events)
                     if e["event"] == "incoming_call"
                     and (number, int(e["call"])) not in self.taken]
            if found:
                t, number, call = min(found)
                self.taken.add((number, call))
                return number, call, t
            time.sleep(0.02)
        raise PhoneError(f"no agent phone rang within {timeout}s")

    def dial(self, queue: str) -> int:
        call = self.caller.call(f"sip:{queue}@{self.switch.host}:{self.switch.port}")
        self.caller.wait_call_state(call, "CONFIRMED")
        return call

    def ring_order(self, queue: str, answer_by: str) -> list[str]:
        """Call ``queue``; every agent but ``answer_by`` declines (486); ``answer_by``
        answers and hangs up after the caller is connected. The agents in ring order."""
        call = self.dial(queue)
        order: list[str] = []
        while True:
            agent, handle, _ = self.next_ring()
            order.append(agent)
            phone = self.agents[agent]
            if agent != answer_by:
                phone.answer(handle, 486)
                continue
            phone.answer(handle)
            phone.wait_call_state(handle, "CONFIRMED")
            phone.hangup(handle)
            self.caller.wait_call_state(call, "DISCONNECTED")
            time.sleep(0.2)  # the agent is idle again (no wrap-up)
            return order


@pytest.mark.switch_config(extensions=EXTENSIONS, queues=QUEUES)
def test_ring_strategies(switch: RunningSwitch, phone_factory: Callable[..., Phone]) -> None:
    desk = Desk(switch, phone_factory)

    # linear: the configured list order (2001, 2000, 2002), every caller from the top
    assert desk.ring_order("6451", answer_by="2002") == ["2001", "2000", "2002"]
    assert desk.ring_order("6451", answer_by="2001") == ["2001"]

    # ring all: the three phones ring together; the first to answer wins, the others are
    # CANCELled
    call = desk.dial("6452")
    rings = [desk.next_ring() for _ in range(3)]
    assert sorted(r[0] for r in rings) == ["2000", "2001", "2002"]
    assert max(r[2] for r in rings) - min(r[2] for r in rings) < 1.0
    winner = next(r for r in rings if r[0] == "2001")
    desk.agents["2001"].answer(winner[1])
    for agent, handle, _ in rings:
        if agent != "2001":
            assert desk.agents[agent].wait_call_state(handle, "DISCONNECTED")["code"] == 487
    desk.agents["2001"].wait_call_state(winner[1], "CONFIRMED")
    desk.caller.hangup(call)
    desk.agents["2001"].wait_call_state(winner[1], "DISCONNECTED")
    time.sleep(0.2)

    # round robin: each caller starts after the agent rung first last time
    assert desk.ring_order("6453", answer_by="2000") == ["2000"]
    assert desk.ring_order("6453", answer_by="2002") == ["2001", "2002"]
    assert desk.ring_order("6453", answer_by="2000") == ["2000"]  # after 2002: wraps to 2000

    # least recent: 2000 talked last in 6453; in 6454 nobody has talked yet but "last call"
    # is any queue's: 2001 (never answered) first, then 2002, 2000 last
    assert desk.ring_order("6454", answer_by="2001") == ["2001"]
    assert desk.ring_order("6454", answer_by="2000") == ["2002", "2000"]

    # fewest calls (answered in this queue): all 0 -> least recent: 2002, 2001, 2000
    assert desk.ring_order("6455", answer_by="2002") == ["2002"]
    # now 2002 has 1 call: 2001 (0 calls, ended earlier than 2000's) then 2000
    assert desk.ring_order("6455", answer_by="2000") == ["2001", "2000"]
    assert desk.ring_order("6455", answer_by="2001") == ["2001"]
