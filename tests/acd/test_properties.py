"""Property tests over random event sequences (issue 4, "How it is checked").

A random sequence of inputs (arrivals, abandons, answers, rejections, call ends, key presses,
callback numbers, sign-in/out, pause/resume, device busy/idle/(un)registered, wrap-up over,
time passing) drives an engine with four differently configured queues. After every step:

* no agent holds two offers unless the offering queue has ring-in-use;
* no offer goes to a paused, signed-out, unregistered, wrapping-up or busy agent (busy and
  ringing agents only under ring-in-use);
* within a queue, callers are first offered in arrival order;
* the wallboard statistics equal a recount from the event stream;

and at the end, after every remaining caller hangs up and time runs on: every caller that
joined left exactly once, with a reason (answer, abandon, max wait, failover, key exit,
callback ...), never silently.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd import Acd, parse_acd_config
from acd.commands import RouteTask
from acd.events import (
    AgentPaused,
    AgentResumed,
    AgentSignedIn,
    AgentSignedOut,
    CallbackFailureReason,
    CallEnded,
    Event,
    InputRejected,
    OfferEnded,
    OfferStarted,
    TaskJoined,
    TaskLeft,
    TaskRouted,
    WrapupEnded,
    WrapupStarted,
)
from acd.stats import recount

QUEUES: list[dict[str, Any]] = [
    {"number": "6400", "name": "Linear", "strategy": "linear", "static_agents": ["1001", "1002"],
     "dynamic_agents": ["2001"], "wrapup": 5, "agent_auto_pause": {"missed_calls": 2},
     "max_callers": 6, "ring_timeout": 10, "retry_interval": 2, "max_wait": 200,
     "callback": {"method": "press_key", "key": "1"},
     "key_press_events": [{"key": "0", "destination": {"type": "hangup"}}]},
    {"number": "6401", "name": "RingAllInUse", "strategy": "ring_all", "ring_in_use": True,
     "skill_based_routing": True, "ring_timeout": 8, "retry_interval": 0, "max_wait": 150,
     "static_agents": [{"extension": "1001", "skill": 1}, {"extension": "1003", "skill": 2}],
     "dynamic_agents": [{"extension": "2001", "skill": 1}]},
    {"number": "6402", "name": "RR", "strategy": "round_robin", "wrapup": 7,
     "share_wrapup_time": True, "leave_when_empty": ["paused"], "ring_timeout": 6,
     "retry_interval": 1, "max_wait": 120,
     "static_agents": ["1002", "1003"], "dynamic_agents": ["2002"],
     "callback": {"method": "timeout", "timeout": 30}},
    {"number": "6403", "name": "LeastRecent", "strategy": "least_recent",
     "priority": {"weight": 2, "acceleration": 10}, "max_wait": 60, "ring_timeout": 12,
     "retry_interval": 3, "join_empty_disallowed": ["unregistered"],
     "static_agents": ["1001", "1004"], "dynamic_agents": ["2002"]},
]
# `softswitch reload`: the same four queues with other strategies, members (removed, added,
# dynamic made static), max waits and announcements
VARIANTS = [parse_acd_config({"queues": QUEUES}), parse_acd_config({"queues": [
    {**QUEUES[0], "strategy": "ring_all", "static_agents": ["1001"],
     "dynamic_agents": ["2001", "1002"]},
    {**QUEUES[1], "max_wait": 20, "strategy": "fewest_calls"},
    {**QUEUES[2], "static_agents": ["1002", "1003", "1004"], "dynamic_agents": []},
    QUEUES[3]]}), parse_acd_config({"queues": [
    {**QUEUES[0], "static_agents": ["1001", "1002", "2001"], "dynamic_agents": []},
    QUEUES[1],
    {**QUEUES[2], "strategy": "linear", "leave_when_empty": None},
    {**QUEUES[3], "strategy": "random", "dynamic_agents": [], "max_wait": 5}]})]
RING_IN_USE = {"6401"}
AGENTS = ["1001", "1002", "1003", "1004", "2001", "2002"]
MEMBERS = {q["number"]: [a if isinstance(a, str) else a["extension"]
                         for a in q.get("static_agents", []) + q.get("dynamic_agents", [])]
           for q in QUEUES}

op = st.one_of(
    st.tuples(st.just("arrive"), st.sampled_from([q["number"] for q in QUEUES])),
    st.tuples(st.just("leave"), st.integers(0, 30)),
    st.tuples(st.just("answer"), st.integers(0, 30)),
    st.tuples(st.just("answer"), st.integers(0, 30)),
    st.tuples(st.just("reject"), st.integers(0, 30)),
    st.tuples(st.just("end"), st.integers(0, 30)),
    st.tuples(st.just("key"), st.integers(0, 30), st.sampled_from(["0", "1", "5"])),
    st.tuples(st.just("number"), st.integers(0, 30), st.sampled_from(["", "123", "55555"])),
    st.tuples(st.just("cb_result"), st.integers(0, 30), st.booleans()),
    st.tuples(st.sampled_from(["signin", "signout", "pause", "resume"]),
              st.sampled_from(AGENTS), st.sampled_from([q["number"] for q in QUEUES])),
    st.tuples(st.sampled_from(["busy", "idle", "unreg", "reg", "ready"]),
              st.sampled_from(AGENTS)),
    st.tuples(st.just("reconfigure"), st.integers(0, len(VARIANTS) - 1)),
)
step = st.tuples(op, st.sampled_from([0.0, 0.0, 0.5, 1.0, 2.0, 5.0, 9.0, 31.0]))


class Observer:
    """Agent facts rebuilt from the event stream and the inputs, to judge each offer."""

    def __init__(self, acd: Acd) -> None:
        self.acd = acd
        self.events: list[Event] = list(acd.initial_events)
        self.signed_in = {(a, q): acd.is_signed_in(a, q) for q, ms in MEMBERS.items()
                          for a in ms}
        self.paused: set[tuple[str, str]] = set()
        self.wrapup: dict[tuple[str, str], float] = {}
        self.device_busy: set[str] = set()
        self.unregistered: set[str] = set()
        self.calls: dict[str, set[str]] = defaultdict(set)  # agent -> answered tasks
        self.offers: dict[str, dict[str, str]] = defaultdict(dict)  # agent -> task -> queue
        self.ringing: dict[str, list[str]] = defaultdict(list)  # task -> agents
        self.joined: list[str] = []
        self.first_offer: dict[str, list[str]] = defaultdict(list)
        self.left: dict[str, int] = defaultdict(int)
        self.routes_cmd = 0
        self.routes_ev = 0
        self.connected: list[str] = []
        self.dialing: list[str] = []
        self.collecting: list[str] = []

    def feed(self, out: Any, now: float) -> None:
        self.routes_cmd += sum(1 for c in out.commands if isinstance(c, RouteTask))
        for c in out.commands:
            name = type(c).__name__
            if name == "DialCustomer":
                self.dialing.append(c.task)
            elif name == "CollectCallbackNumber":
                self.collecting.append(c.task)
        for e in out.events:
            self.events.append(e)
            self.check(e, now)

    def check(self, e: Event, now: float) -> None:
        if isinstance(e, OfferStarted):
            for agent in e.agents:
                key = (agent, e.queue)
                assert self.signed_in[key], f"offer to signed-out {agent}"
                assert key not in self.paused, f"offer to paused {agent}"
                assert agent not in self.unregistered
                assert self.wrapup.get(key, -1.0) <= now, f"offer to {agent} in wrap-up"
                if e.queue not in RING_IN_USE:
                    assert not self.offers[agent], f"second offer to {agent}"
                    assert not self.calls[agent] and agent not in self.device_busy, \
                        f"offer to busy {agent}"
                self.offers[agent][e.task] = e.queue
            self.ringing[e.task] = list(e.agents)
            if e.task not in self.first_offer[e.queue]:
                self.first_offer[e.queue].append(e.task)
        elif isinstance(e, OfferEnded):
            self.offers[e.agent].pop(e.task, None)
            if e.agent in self.ringing.get(e.task, []):
                self.ringing[e.task].remove(e.agent)
        elif isinstance(e, TaskJoined):
            self.joined.append(e.task)
        elif isinstance(e, TaskLeft):
            self.left[e.task] += 1
            if e.agent is not None and e.status.value == "answered":
                self.calls[e.agent].add(e.task)
                self.connected.append(e.task)
        elif isinstance(e, CallEnded):
            self.calls[e.agent].discard(e.task)
        elif isinstance(e, AgentSignedIn):
            self.signed_in[(e.agent, e.queue)] = True
        elif isinstance(e, AgentSignedOut):
            self.signed_in[(e.agent, e.queue)] = False
        elif isinstance(e, AgentPaused):
            self.paused.add((e.agent, e.queue))
        elif isinstance(e, AgentResumed):
            self.paused.discard((e.agent, e.queue))
        elif isinstance(e, WrapupStarted):
            for q in e.queues:  # shared wrap-up lists all the agent's queues
                self.wrapup[(e.agent, q)] = e.until
        elif isinstance(e, WrapupEnded):
            for q in e.queues:
                self.wrapup.pop((e.agent, q), None)
        elif isinstance(e, TaskRouted):
            self.routes_ev += 1

    def check_stats(self, now: float) -> None:
        for q in QUEUES:
            number = q["number"]
            sla_time = self.acd.config.queue(number).sla.time
            assert self.acd.statistics(number, now) == recount(self.events, number, sla_time,
                                                               now)


def _pick(items: list[str], i: int) -> str | None:
    return items[i % len(items)] if items else None


def run(steps: list[tuple[tuple[Any, ...], float]]) -> Observer:
    acd = Acd(parse_acd_config({"queues": QUEUES}), seed=3)
    obs = Observer(acd)
    now = 0.0
    n = 0
    for (action, *args), dt in steps:
        now += dt
        if dt:  # the shell runs due timers first (as its timer would have fired)
            obs.feed(acd.tick(now), now)
        out = None
        if action == "arrive":
            n += 1
            out = acd.handle_task_arrived(f"t{n}", args[0], now, caller="5550100")
        elif action in ("leave", "key", "number"):
            waiting = [t for t in obs.joined if obs.left[t] == 0]
            if action == "number":
                waiting = [t for t in obs.collecting if obs.left[t] == 0]
            task = _pick(waiting, args[0])
            if task is None:
                continue
            if action == "leave":
                out = acd.handle_task_left(task, now)
            elif action == "key":
                out = acd.handle_key_pressed(task, args[1], now)
            else:
                out = acd.handle_callback_number(task, args[1], now)
        elif action in ("answer", "reject"):
            ringing = sorted((t, a) for t, agents in obs.ringing.items() for a in agents)
            if not ringing:
                continue
            task, agent = ringing[args[0] % len(ringing)]
            handler = acd.handle_offer_answered if action == "answer" else acd.handle_offer_rejected
            out = handler(task, agent, now)
        elif action == "end":
            live = [t for t in obs.connected if any(t in c for c in obs.calls.values())]
            task = _pick(live, args[0])
            if task is None:
                continue
            out = acd.handle_call_ended(task, now)
        elif action == "cb_result":
            task = _pick([t for t in obs.dialing if obs.left[t] == 0], args[0])
            if task is None:
                continue
            if args[1]:
                out = acd.handle_callback_connected(task, now)
            else:
                out = acd.handle_callback_failed(task, CallbackFailureReason.CUSTOMER_NO_ANSWER,
                                                 now)
        elif action in ("signin", "signout", "pause", "resume"):
            agent, queue = args
            if not acd.is_member(agent, queue):
                continue
            handler = {"signin": acd.handle_agent_signed_in,
                       "signout": acd.handle_agent_signed_out,
                       "pause": acd.handle_agent_paused,
                       "resume": acd.handle_agent_resumed}[action]
            out = handler(agent, queue, now)
        elif action == "reconfigure":
            before = {a for q in acd.queues() for a, _ in acd.queue_members(q)}
            out = acd.handle_reconfigure(VARIANTS[args[0]], now)
            obs.signed_in.update({(a, q): acd.is_signed_in(a, q) for q in acd.queues()
                                  for a, _ in acd.queue_members(q)})
            obs.feed(out, now)
            # an agent back in the engine is new to it: the shell reports its phone again
            for a in sorted({a for q in acd.queues() for a, _ in acd.queue_members(q)}
                            - before):
                if a in obs.device_busy:
                    obs.feed(acd.handle_device_busy(a, now), now)
                if a in obs.unregistered:
                    obs.feed(acd.handle_device_unregistered(a, now), now)
            out = acd.tick(now)
        else:
            agent = args[0]
            if not any(acd.is_member(agent, q) for q in acd.queues()):
                continue  # a reload took the agent out of every queue
            if action == "busy":
                obs.device_busy.add(agent)
                out = acd.handle_device_busy(agent, now)
            elif action == "idle":
                obs.device_busy.discard(agent)
                out = acd.handle_device_idle(agent, now)
            elif action == "unreg":
                obs.unregistered.add(agent)
                out = acd.handle_device_unregistered(agent, now)
            elif action == "reg":
                obs.unregistered.discard(agent)
                out = acd.handle_device_registered(agent, now)
            else:
                out = acd.handle_wrapup_over(agent, now)
        obs.feed(out, now)
        obs.check_stats(now)
    return obs


def finish(obs: Observer, now: float) -> None:
    """Everybody still waiting hangs up, every call ends, time runs out."""
    acd = obs.acd
    for task in list(obs.joined):
        if obs.left[task] == 0:
            obs.feed(acd.handle_task_left(task, now), now)
    for task in list(obs.connected):
        if any(task in c for c in obs.calls.values()):
            obs.feed(acd.handle_call_ended(task, now), now)
    end = now + 1000.0  # beyond every max wait, callback timeout and wrap-up configured
    for _ in range(10_000):
        deadline = acd.next_deadline()
        if deadline is None or deadline > end:
            break
        now = max(now, deadline)
        obs.feed(acd.tick(now), now)
    obs.check_stats(now)


SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(step, min_size=10, max_size=100))
def test_invariants_hold_over_random_event_sequences(steps: list[Any]) -> None:
    obs = run(steps)
    finish(obs, sum(dt for _, dt in steps) + 1.0)
    for task in obs.joined:
        assert obs.left[task] == 1, f"{task} left {obs.left[task]} times"
    assert set(obs.left) <= set(obs.joined)
    assert obs.routes_cmd == obs.routes_ev  # every RouteTask has its TaskRouted event
    assert not [e for e in obs.events if isinstance(e, InputRejected)
                and e.input in ("offer_answered", "call_ended")]


@SETTINGS
@given(st.lists(step, min_size=10, max_size=100))
def test_callers_are_first_offered_in_arrival_order(steps: list[Any]) -> None:
    obs = run(steps)
    order = {task: i for i, task in enumerate(obs.joined)}
    for queue, tasks in obs.first_offer.items():
        collected = set(obs.collecting)
        plain = [t for t in tasks if t not in collected]
        assert plain == sorted(plain, key=order.__getitem__), queue


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["6501", "6502", "6503"]),
                          st.sampled_from([0.0, 1.0, 2.5])), min_size=1, max_size=30),
       st.lists(st.sampled_from([5.0, 20.0, 60.0]), min_size=1, max_size=30))
def test_equal_weights_across_queues_serve_in_arrival_order(
        arrivals: list[tuple[str, float]], talk: list[float]) -> None:
    """One agent serving three queues of equal weight takes callers strictly in arrival
    order, whichever queue they called."""
    queues = [{"number": n, "name": n, "strategy": "linear", "static_agents": ["1001"],
               "retry_interval": 0} for n in ("6501", "6502", "6503")]
    acd = Acd(parse_acd_config({"queues": queues}))
    acd.handle_device_busy("1001", 0.0)
    now = 0.0
    for i, (queue, dt) in enumerate(arrivals):
        now += dt
        acd.handle_task_arrived(f"t{i}", queue, now)
    out = acd.handle_device_idle("1001", now)
    served = []
    for k in range(len(arrivals)):
        (ring,) = [c for c in out.commands if type(c).__name__ == "RingAgents"]
        served.append(ring.task)
        acd.handle_offer_answered(ring.task, "1001", now)
        now += talk[k % len(talk)]
        out = acd.handle_call_ended(ring.task, now)
    assert served == [f"t{i}" for i in range(len(arrivals))]
