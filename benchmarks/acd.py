"""ACD decision throughput and latency (issue 4): `python -m benchmarks.acd`.

Scenario: 10,000 agents, 1,000 queues, every agent a member of 5 queues (50 members per
queue, a mix of static and dynamic agents, of all six ring strategies, a quarter of the queues
skill-based, weights 1-5 with and without acceleration, some with wrap-up), all agents busy
on calls and 50,000 callers waiting (50 per queue). Then a realistic mix of inputs, each one
timed: calls end (the agent frees up and is offered the best waiting caller of its 5 queues),
offers answered, new callers arriving, callers abandoning, offers rejected, agents pausing /
resuming and signing out / in, and wrap-up timers firing. Virtual time advances 5 ms per
input.

Peer, in the same run: a naive ACD that decides the way Asterisk app_queue does, scanning
instead of indexing: every waiting caller re-checks once per second of (virtual) time whether
it is its turn (wait_our_turn's RECHECK = 1 s; is_our_turn counts the available members by
scanning the queue's member list); a caller whose turn it is picks its agent by scanning all
members and computing the strategy's metric (ring_entry / calc_metric), and for each candidate
checks every queue of the system for a heavier waiting caller the member could take
(compare_weight). The re-checks due are run inside the input that reaches their time, so both
engines are charged for the same virtual time. It gets the same inputs; its run is bounded
(BASELINE_EVENTS or BASELINE_SECONDS).

Prints a table and, as the last line, JSON with events_per_s, p50_ms, p99_ms,
baseline_events_per_s, speedup_vs_baseline.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd import Acd, parse_acd_config
from acd.commands import RingAgents
from acd.config import AcdConfig, RingStrategy
from acd.priority import overall_weight

AGENTS = 10_000
QUEUES = 1_000
QUEUES_PER_AGENT = 5
WAITING = 50_000
MEASURED_EVENTS = 200_000
BASELINE_EVENTS = 5_000
BASELINE_SECONDS = 60.0
STEP = 0.005  # virtual seconds per input
RECHECK = 1.0  # app_queue's wait_our_turn re-check interval (seconds)
STRATEGIES = ["ring_all", "least_recent", "fewest_calls", "random", "round_robin", "linear"]


def build_config(seed: int = 1) -> AcdConfig:
    rng = random.Random(seed)
    members: list[list[str]] = [[] for _ in range(QUEUES)]
    stride = QUEUES // QUEUES_PER_AGENT
    for i in range(AGENTS):
        for k in range(QUEUES_PER_AGENT):
            members[(i + k * stride) % QUEUES].append(str(10_000 + i))
    queues = []
    for q in range(QUEUES):
        skill = q % 4 == 3
        agents: list[Any] = [{"extension": a, "skill": rng.randint(1, 5)} if skill else a
                             for a in members[q]]
        priority: dict[str, Any] = {"weight": rng.randint(1, 5)}
        if q % 2:
            priority["acceleration"] = rng.choice([30, 60, 120])
        queues.append({
            "number": str(100_000 + q), "name": f"Q{q}",
            "strategy": STRATEGIES[q % len(STRATEGIES)],
            "skill_based_routing": skill,
            "static_agents": agents[:10], "dynamic_agents": agents[10:],
            "dynamic_agent_default_status": "logged_in",
            "ring_timeout": 20, "retry_interval": 2, "max_wait": 36_000,
            "wrapup": 10 if q % 5 == 0 else 0,
            "priority": priority,
        })
    return parse_acd_config({"queues": queues})


# --- the naive peer (app_queue's algorithm, no indexes) -------------------------------------

@dataclass
class NaiveMember:
    agent: str
    static: bool
    skill: int
    order: int
    paused: bool = False
    signed_in: bool = True
    calls: int = 0


@dataclass
class NaiveAgent:
    busy: bool = False
    ringing: str | None = None
    last_call: float = float("-inf")
    wrapup_until: float = float("-inf")
    queues: list[str] = field(default_factory=list)


@dataclass
class NaiveCaller:
    task: str
    arrived: float
    seq: int
    ringing: bool = False
    retry_at: float = float("-inf")


@dataclass
class NaiveOutput:
    commands: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)


class NaiveAcd:
    """Scans, as Asterisk app_queue does, every time a decision is due."""

    def __init__(self, config: AcdConfig, seed: int = 1, poll: bool = True) -> None:
        self.rng = random.Random(seed)
        self.poll = poll
        self.queues = {q.number: q for q in config.queues}
        self.members: dict[str, list[NaiveMember]] = {}
        self.agents: dict[str, NaiveAgent] = {}
        self.callers: dict[str, list[NaiveCaller]] = {q: [] for q in self.queues}
        self.tasks: dict[str, tuple[str, NaiveCaller]] = {}
        self.connected: dict[str, tuple[str, str]] = {}
        self.rr: dict[str, int] = {}
        self.seq = 0
        self.order = list(self.queues)
        self.member_sets: dict[str, set[str]] = {}
        self.last_poll = 0.0
        self.poll_cursor = 0
        self.poll_credit = 0.0
        for q in config.queues:
            ms = []
            for i, m in enumerate(q.members):
                ms.append(NaiveMember(m.extension, i < len(q.static_agents), m.skill, i))
                self.agents.setdefault(m.extension, NaiveAgent()).queues.append(q.number)
            self.members[q.number] = ms
            self.member_sets[q.number] = {m.agent for m in ms}

    def _count_available(self, queue: str, now: float) -> int:
        return sum(1 for m in self.members[queue] if self._available(m, now))

    def _poll(self, now: float) -> NaiveOutput:
        """The caller threads' once-a-second is_our_turn re-checks that fell due."""
        out = NaiveOutput()
        if not self.poll:
            return out
        self.poll_credit += (now - self.last_poll) * len(self.order) / RECHECK
        self.last_poll = now
        while self.poll_credit >= 1.0:
            self.poll_credit -= 1.0
            queue = self.order[self.poll_cursor]
            self.poll_cursor = (self.poll_cursor + 1) % len(self.order)
            for position, caller in enumerate(list(self.callers[queue])):
                if position < self._count_available(queue, now) and not caller.ringing:
                    self._try(queue, now, out)
                    break
        return out
    def _available(self, m: NaiveMember, now: float) -> bool:
        a = self.agents[m.agent]
        return (m.signed_in and not m.paused and not a.busy and a.ringing is None
                and a.wrapup_until <= now)

    def _metric(self, queue: str, m: NaiveMember) -> tuple[Any, ...]:
        strategy = self.queues[queue].strategy
        a = self.agents[m.agent]
        if strategy is RingStrategy.LEAST_RECENT:
            return (m.skill, a.last_call, m.order)
        if strategy is RingStrategy.FEWEST_CALLS:
            return (m.skill, m.calls, m.order)
        if strategy is RingStrategy.RANDOM:
            return (m.skill, self.rng.random())
        if strategy is RingStrategy.ROUND_ROBIN:
            last = self.rr.get(queue, -1)
            return (m.skill, (m.order - last - 1) % len(self.members[queue]))
        return (m.skill, m.order)

    def _weight(self, queue: str, now: float) -> int:
        callers = self.callers[queue]
        if not callers:
            return -1
        return overall_weight(self.queues[queue].priority, now - callers[0].arrived)

    def _try(self, queue: str, now: float, out: NaiveOutput) -> None:
        for caller in self.callers[queue]:
            if caller.ringing or caller.retry_at > now:
                continue
            # is_our_turn: count available members by scanning the member list
            avail = sum(1 for m in self.members[queue] if self._available(m, now))
            if avail == 0:
                return
            # ring_entry: compute every member's metric, best available first
            best: tuple[Any, ...] | None = None
            chosen: list[NaiveMember] = []
            for m in self.members[queue]:
                if not self._available(m, now):
                    continue
                # compare_weight: does any other queue holding this member have a heavier
                # caller the member should take? (app_queue walks every queue)
                mine = self._weight(queue, now)
                heavier = False
                for other in self.order:
                    if (other != queue and self.callers[other]
                            and m.agent in self.member_sets[other]
                            and self._weight(other, now) > mine
                            and len(self.callers[other]) >= self._count_available(other, now)):
                        heavier = True
                        break
                if heavier:
                    continue
                metric = self._metric(queue, m)
                if self.queues[queue].strategy is RingStrategy.RING_ALL:
                    chosen.append(m)
                elif best is None or metric < best:
                    best, chosen = metric, [m]
            if not chosen:
                return
            caller.ringing = True
            for m in chosen:
                self.agents[m.agent].ringing = caller.task
                self.rr[queue] = m.order
            out.commands.append(RingAgents(caller.task, queue, tuple(m.agent for m in chosen),
                                           20.0, "", "", False))

    def _agent_free(self, agent: str, now: float, out: NaiveOutput) -> None:
        for q in self.agents[agent].queues:
            self._try(q, now, out)

    def handle_task_arrived(self, task: str, queue: str, now: float,
                            caller: str = "") -> NaiveOutput:
        out = self._poll(now)
        self.seq += 1
        c = NaiveCaller(task, now, self.seq)
        self.callers[queue].append(c)
        self.tasks[task] = (queue, c)
        self._try(queue, now, out)
        return out

    def _stop(self, task: str) -> list[str]:
        freed = []
        for name, a in self.agents.items():  # who rings for it? app_queue walks its list
            if a.ringing == task:
                a.ringing = None
                freed.append(name)
        return freed

    def handle_task_left(self, task: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        queue, c = self.tasks.pop(task)
        self.callers[queue].remove(c)
        if c.ringing:
            for agent in self._stop(task):
                self._agent_free(agent, now, out)
        return out

    def handle_offer_answered(self, task: str, agent: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        queue, c = self.tasks.pop(task)
        self.callers[queue].remove(c)
        others = [a for a in self._stop(task) if a != agent]
        self.agents[agent].busy = True
        for m in self.members[queue]:
            if m.agent == agent:
                m.calls += 1
        self.connected[task] = (queue, agent)
        for other in others:
            self._agent_free(other, now, out)
        return out

    def handle_offer_rejected(self, task: str, agent: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        queue, c = self.tasks[task]
        self.agents[agent].ringing = None
        if not any(a.ringing == task for a in self.agents.values()):
            c.ringing = False
            c.retry_at = now + self.queues[queue].retry_interval
        self._agent_free(agent, now, out)
        return out

    def handle_call_ended(self, task: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        queue, agent = self.connected.pop(task)
        a = self.agents[agent]
        a.busy = False
        a.last_call = now
        a.wrapup_until = now + self.queues[queue].wrapup
        self._agent_free(agent, now, out)
        return out

    def _member(self, agent: str, queue: str) -> NaiveMember:
        for m in self.members[queue]:
            if m.agent == agent:
                return m
        raise KeyError(agent)

    def handle_agent_paused(self, agent: str, queue: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        self._member(agent, queue).paused = True
        return out

    def handle_agent_resumed(self, agent: str, queue: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        self._member(agent, queue).paused = False
        self._try(queue, now, out)
        return out

    def handle_agent_signed_out(self, agent: str, queue: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        self._member(agent, queue).signed_in = False
        return out

    def handle_agent_signed_in(self, agent: str, queue: str, now: float) -> NaiveOutput:
        out = self._poll(now)
        self._member(agent, queue).signed_in = True
        self._try(queue, now, out)
        return out

    def next_deadline(self) -> float | None:
        return None  # the re-checks run inside the next input

    def tick(self, now: float) -> NaiveOutput:
        return self._poll(now)


# --- the driver -------------------------------------------------------------------------

class Driver:
    """Feeds an engine the event mix and keeps the facts it needs (who rings, who talks)."""

    def __init__(self, engine: Any, config: AcdConfig, seed: int) -> None:
        self.e = engine
        self.rng = random.Random(seed)
        self.queues = [q.number for q in config.queues]
        self.members = {q.number: [m.extension for m in q.members] for q in config.queues}
        self.dynamic = {q.number: [m.extension for m in q.dynamic_agents]
                        for q in config.queues}
        self.now = 0.0
        self.n = 0
        self.waiting: dict[str, None] = {}
        self.waiting_list: list[str] = []
        self.ringing: dict[str, tuple[str, ...]] = {}
        self.connected: list[str] = []
        self.paused: list[tuple[str, str]] = []
        self.signed_out: list[tuple[str, str]] = []
        self.latencies: list[int] = []  # CPU time of this thread per input, ns
        self.wall: list[int] = []  # wall time per input, ns
        self.decisions = 0

    def feed(self, out: Any) -> None:
        for c in out.commands:
            if isinstance(c, RingAgents):
                self.ringing[c.task] = c.agents
                self.decisions += 1
            elif type(c).__name__ in ("StopRinging", "RouteTask"):
                if type(c).__name__ == "RouteTask":
                    self._gone(c.task)
                else:
                    left = tuple(a for a in self.ringing.get(c.task, ()) if a not in c.agents)
                    if left:
                        self.ringing[c.task] = left
                    else:
                        self.ringing.pop(c.task, None)

    def _gone(self, task: str) -> None:
        self.waiting.pop(task, None)
        self.ringing.pop(task, None)

    def timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        w0 = time.perf_counter_ns()
        c0 = time.thread_time_ns()
        out = fn(*args)
        c1 = time.thread_time_ns()
        self.wall.append(time.perf_counter_ns() - w0)
        self.latencies.append(c1 - c0)
        self.feed(out)
        return out

    def arrive(self, timed: bool = True) -> None:
        self.n += 1
        task = f"t{self.n}"
        queue = self.queues[self.rng.randrange(len(self.queues))]
        self.waiting[task] = None
        self.waiting_list.append(task)
        if timed:
            self.timed(self.e.handle_task_arrived, task, queue, self.now)
        else:
            self.feed(self.e.handle_task_arrived(task, queue, self.now))

    def answer_all(self, timed: bool = True) -> None:
        for task, agents in list(self.ringing.items()):
            agent = agents[0]
            fn = self.timed if timed else (lambda f, *a: self.feed(f(*a)))
            fn(self.e.handle_offer_answered, task, agent, self.now)
            self.waiting.pop(task, None)
            self.ringing.pop(task, None)
            self.connected.append(task)

    def setup(self, agents: int) -> None:
        # every agent gets a call, then 50,000 callers wait
        while len(self.connected) < agents * 0.999 and self.n < agents * 2:
            self.arrive(timed=False)
            self.answer_all(timed=False)
        for _ in range(WAITING):
            self.arrive(timed=False)
        self.answer_all(timed=False)

    def random_waiting(self) -> str | None:
        while self.waiting_list:
            i = self.rng.randrange(len(self.waiting_list))
            task = self.waiting_list[i]
            if task in self.waiting and task not in self.ringing:
                return task
            self.waiting_list[i] = self.waiting_list[-1]
            self.waiting_list.pop()
        return None

    def step(self) -> None:
        self.now += STEP
        r = self.rng.random()
        e = self.e
        if r < 0.25 and self.connected:  # a call ends
            i = self.rng.randrange(len(self.connected))
            task = self.connected[i]
            self.connected[i] = self.connected[-1]
            self.connected.pop()
            self.timed(e.handle_call_ended, task, self.now)
        elif r < 0.60:
            self.arrive()
        elif r < 0.70:
            task = self.random_waiting()
            if task is not None:
                self.waiting.pop(task)
                self.timed(e.handle_task_left, task, self.now)
        elif r < 0.74 and self.ringing:
            task = next(iter(self.ringing))
            self.timed(e.handle_offer_rejected, task, self.ringing[task][0], self.now)
        elif r < 0.82:
            q = self.queues[self.rng.randrange(len(self.queues))]
            agent = self.members[q][self.rng.randrange(len(self.members[q]))]
            if (agent, q) not in self.paused:
                self.paused.append((agent, q))
                self.timed(e.handle_agent_paused, agent, q, self.now)
        elif r < 0.90 and self.paused:
            agent, q = self.paused.pop(self.rng.randrange(len(self.paused)))
            self.timed(e.handle_agent_resumed, agent, q, self.now)
        elif r < 0.95:
            q = self.queues[self.rng.randrange(len(self.queues))]
            agent = self.dynamic[q][self.rng.randrange(len(self.dynamic[q]))]
            if (agent, q) not in self.signed_out and (agent, q) not in self.paused:
                self.signed_out.append((agent, q))
                self.timed(e.handle_agent_signed_out, agent, q, self.now)
        elif self.signed_out:
            agent, q = self.signed_out.pop(self.rng.randrange(len(self.signed_out)))
            self.timed(e.handle_agent_signed_in, agent, q, self.now)
        # agents answer what rang (each answer is an input of its own)
        self.answer_all()
        deadline = e.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.timed(e.tick, self.now)
            self.answer_all()


def measure(engine: Any, config: AcdConfig, events: int, seconds: float) -> dict[str, Any]:
    driver = Driver(engine, config, seed=7)
    t0 = time.perf_counter()
    driver.setup(AGENTS)
    setup_s = time.perf_counter() - t0
    driver.decisions = 0
    gc.collect()
    gc.freeze()
    start = time.perf_counter()
    while len(driver.latencies) < events and time.perf_counter() - start < seconds:
        driver.step()
    elapsed = time.perf_counter() - start
    gc.unfreeze()
    lat = sorted(driver.latencies)
    wall = sorted(driver.wall)
    n = len(lat)
    busy = sum(lat) / 1e9
    return {
        "events": n, "seconds": elapsed, "setup_s": setup_s, "engine_s": busy,
        "events_per_s": n / busy, "events_per_s_wall": n / (sum(wall) / 1e9),
        "p50_ms": lat[n // 2] / 1e6, "p99_ms": lat[int(n * 0.99)] / 1e6,
        "wall_p99_ms": wall[int(n * 0.99)] / 1e6,
        "max_ms": lat[-1] / 1e6, "offers": driver.decisions,
        "waiting": len(driver.waiting), "talking": len(driver.connected),
    }


def main() -> int:
    config = build_config()
    print(f"ACD benchmark: {AGENTS} agents, {QUEUES} queues, {QUEUES_PER_AGENT} queues per "
          f"agent, {WAITING} waiting callers; one core", file=sys.stderr)
    ours = measure(Acd(config, seed=1), config, MEASURED_EVENTS, 300.0)
    base = measure(NaiveAcd(config, seed=1), config, BASELINE_EVENTS, BASELINE_SECONDS)
    nopoll = measure(NaiveAcd(config, seed=1, poll=False), config, BASELINE_EVENTS * 4,
                     BASELINE_SECONDS)
    rows = [("acd (indexed)", ours), ("naive scan (app_queue-style)", base),
            ("  same, without 1 s re-checks", nopoll)]
    print(f"{'engine':<30}{'events':>9}{'events/s':>10}{'(wall)':>9}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'(wall)':>9}{'max ms':>9}{'offers':>9}{'waiting':>9}")
    for name, r in rows:
        print(f"{name:<30}{r['events']:>9}{r['events_per_s']:>10.0f}"
              f"{r['events_per_s_wall']:>9.0f}{r['p50_ms']:>9.3f}"
              f"{r['p99_ms']:>9.3f}{r['wall_p99_ms']:>9.3f}{r['max_ms']:>9.2f}"
              f"{r['offers']:>9}{r['waiting']:>9}")
    print("events/s and latencies: CPU time of the benchmark thread inside the engine's "
          "handle_*/tick calls (the driver excluded; time the shared machine gives to other "
          "processes excluded); (wall): the same with wall-clock time. The peer's main row "
          "includes app_queue's once-a-second is_our_turn re-check of every waiting caller; "
          "the last row leaves it out (decisions only).")
    result = {
        "events_per_s": round(ours["events_per_s"]),
        "p50_ms": round(ours["p50_ms"], 4),
        "p99_ms": round(ours["p99_ms"], 4),
        "baseline_events_per_s": round(base["events_per_s"], 1),
        "speedup_vs_baseline": round(ours["events_per_s"] / base["events_per_s"], 1),
        "baseline_p99_ms": round(base["p99_ms"], 3),
        "events_per_s_wall": round(ours["events_per_s_wall"]),
        "baseline_without_recheck_events_per_s": round(nopoll["events_per_s"], 1),
        "p99_ms_wall": round(ours["wall_p99_ms"], 4),
        "agents": AGENTS, "queues": QUEUES, "waiting_callers": WAITING,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
